"""What every entrypoint shares: its logging, and how it reports a user's error."""

import contextlib
import os
import sys
from pathlib import Path

import jax
from absl import app, logging

from bn_smooth.data import DataError

# JAX's persistent compilation cache, unless $JAX_COMPILATION_CACHE_DIR names another
# folder (or "" for none): runs that differ only in their seed, and a resumed or repeated
# command, reuse the compiled programs instead of compiling them again (15-30 s per VGG
# run on 2 cores). The executables are the same, so are the results.
COMPILATION_CACHE = Path("~/.cache/bn_smooth/jax").expanduser()


def setup():
    """Logging and the compilation cache of every entrypoint."""
    logging.set_verbosity(logging.INFO)
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


@contextlib.contextmanager
def user_errors(workdir):
    """Bad data or config: one line naming the problem; Ctrl-C: how to resume."""
    try:
        yield
    except (DataError, ValueError) as e:
        sys.exit(f"error: {e}")
    except KeyboardInterrupt:
        sys.exit(f"interrupted; checkpoints and metrics are kept in {workdir}. "
                 "Re-run the same command to resume.")
