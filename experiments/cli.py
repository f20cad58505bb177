"""What every entrypoint shares: its flags' parsing, its logging, and how it reports a
user's error (one line, exit code 2, nothing written)."""

import contextlib
import difflib
import logging as std_logging
import os
import platform
import shlex
import sys
from pathlib import Path

import jax
import ml_collections
from absl import app, flags, logging
from ml_collections.config_flags import config_flags

from bn_smooth.errors import ConfigError, DataError

USER_ERROR = 2  # the exit code of a bad input (as argparse and absl use)

# JAX's persistent compilation cache, unless $JAX_COMPILATION_CACHE_DIR names another
# folder (or "" for none): runs that differ only in their seed, and a resumed or repeated
# command, reuse the compiled programs instead of compiling them again (15-30 s per VGG
# run on 2 cores). The executables are the same, so are the results.
COMPILATION_CACHE = Path("~/.cache/bn_smooth/jax").expanduser()

# Float32 training on XLA:CPU follows the host CPU. Capped at AVX2 on x86 (XLA's default
# vector width, 256 bits, needs no more), XLA's own code no longer depends on
# --xla_cpu_prefer_vector_width or on AVX-512: measured here, a BatchNorm VGG that the
# flag moves from its first steps trains bit for bit as without it, and as before the cap.
# The cap does not reach the matrix products (YNNPACK picks its kernels by the host's
# vector instructions) nor the CPU's approximate rsqrt, so two CPUs still train apart
# (docs/reproduction.md, "Three machines, one code"). A --xla_cpu_max_isa of your own wins.
PINNED_CODEGEN = "--xla_cpu_max_isa=AVX2"


def pin_codegen():
    """Add PINNED_CODEGEN to $XLA_FLAGS on x86 (before XLA starts; the suite's worker
    processes inherit it)."""
    xla_flags = os.environ.get("XLA_FLAGS", "")
    if platform.machine().lower() in ("x86_64", "amd64") and "--xla_cpu_max_isa" not in xla_flags:
        os.environ["XLA_FLAGS"] = f"{xla_flags} {PINNED_CODEGEN}".strip()


# What a user need not see on every start: JAX's search for a TPU (an INFO line about
# libtpu.so on every machine without one).
QUIET_LOGGERS = ("jax._src.xla_bridge",)


def setup():
    """Logging and the compilation cache of every entrypoint (and of the suite's worker
    processes, which app.run does not start)."""
    if not flags.FLAGS.is_parsed():  # a worker: its parent parsed the flags
        flags.FLAGS.mark_as_parsed()  # (else absl warns "Logging before flag parsing")
    logging.use_absl_handler()
    logging.set_verbosity(logging.INFO)
    for name in QUIET_LOGGERS:
        std_logging.getLogger(name).setLevel(std_logging.WARNING)
    # Orbax logs every checkpoint step at INFO; keep the run's own progress readable.
    logging.get_absl_handler().addFilter(lambda record: "orbax" not in record.pathname)
    cache = os.environ.get("JAX_COMPILATION_CACHE_DIR", str(COMPILATION_CACHE))
    if cache:
        jax.config.update("jax_compilation_cache_dir", cache)
        # Cache every program that takes a while: the probes' small ones add up too.
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)


def check_no_arguments(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")


def user_error(message: str):
    print(f"error: {message}", file=sys.stderr)
    sys.exit(USER_ERROR)


def parse_flags(argv):
    """absl's flag parsing with a bad --config (or --config.FIELD) as one line, not the
    traceback of the config file or of ml_collections."""
    try:
        args = flags.FLAGS(argv)
        config = flags.FLAGS["config"] if "config" in flags.FLAGS else None
        if (
            config is not None
            and config.present
            and not isinstance(config.value, ml_collections.ConfigDict)
        ):
            path = config.config_filename
            user_error(
                f"--config: cannot load {path} from {os.getcwd()}"
                + (": no such file" if not Path(path).exists() else "")
            )
        return args
    except (flags.Error, AttributeError, KeyError) as e:
        unknown = _unknown_field(argv)
        if unknown:
            user_error(unknown)
        message = str(e).strip()
        if "\n" in message:  # the config file's traceback: only its own error counts
            while e.__cause__ or e.__context__:
                e = e.__cause__ or e.__context__
            message = str(e).strip().splitlines()[-1]
        user_error(message)


def _unknown_field(argv) -> str | None:
    """The first --config.FIELD that the config does not have, with the nearest fields."""
    config_arg = next((a.split("=", 1)[1] for a in argv if a.startswith("--config=")), None)
    try:
        config = config_flags.ConfigFileFlagParser("config").parse(config_arg)
    except Exception:  # the config file's own error: reported as that
        return None
    for arg in argv[1:]:
        if not arg.startswith("--config."):
            continue
        path = arg.removeprefix("--config.").split("=", 1)[0]
        node, parts = config, path.split(".")
        for depth, part in enumerate(parts):
            prefix = "config." + "".join(f"{p}." for p in parts[:depth])
            if not isinstance(node, ml_collections.ConfigDict):
                return f"--config.{path}: {prefix[:-1]} is a value, it has no fields"
            if part not in node:
                valid = sorted(node.keys())
                # A field of that name deeper down (`width` for `model.width`), then
                # names spelled nearly alike.
                deeper = [f for f in _fields(node) if f.endswith(f".{part}")]
                near = deeper + difflib.get_close_matches(part, valid, n=3, cutoff=0.6)
                hint = (
                    f"did you mean {', '.join(prefix + k for k in near)}?"
                    if near
                    else f"valid fields are {', '.join(prefix + k for k in valid)}"
                )
                return f"--config.{path}: {prefix}{part} does not exist; {hint}"
            node = node[part]
    return None


def _fields(node, prefix=""):
    """The dotted names of every field under a ConfigDict."""
    for key, value in node.items():
        yield prefix + key
        if isinstance(value, ml_collections.ConfigDict):
            yield from _fields(value, f"{prefix}{key}.")


def run(main):
    """app.run with one-line flag errors, the code generation pinned."""
    pin_codegen()
    app.run(main, flags_parser=parse_flags)


@contextlib.contextmanager
def user_errors(workdir):
    """Bad data, config or workdir: one line naming the problem, exit code 2; Ctrl-C: how
    to resume."""
    try:
        yield
    except (DataError, ConfigError) as e:  # anything else is a bug: its traceback shows
        user_error(str(e))
    except KeyboardInterrupt:
        sys.exit(
            f"interrupted; checkpoints and metrics are kept in {workdir}. "
            f"To resume, run the same command again: {command_line()}"
        )


def command_line() -> str:
    """This process's command, as the user typed it (`python -m module` for an entrypoint)."""
    spec = getattr(sys.modules["__main__"], "__spec__", None)
    program = f"python -m {spec.name}" if spec is not None else f"python {sys.argv[0]}"
    return " ".join([program, *map(shlex.quote, sys.argv[1:])])
