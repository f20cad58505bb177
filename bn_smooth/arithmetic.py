"""What decides a run's float32 arithmetic beyond its config: the compiler's version, the
device and CPU it runs on, and the XLA flags. Float32 VGG training on XLA:CPU moves with
the last two (another CPU, or another --xla_cpu_max_isa, trains another trajectory; the
entrypoints cap XLA's own code at AVX2, experiments.cli.PINNED_CODEGEN). The cap does not
reach the matrix products: XLA hands them to YNNPACK, which picks its kernels by the
host's widest vector instructions when the program runs. So each run's config.json
records the CPU by its vendor, family and model and by that instruction set, beside its
name (two AMD EPYCs that both call themselves "AMD EPYC" trained different VGG runs), one
entry per setting it was trained under (`arithmetic`); docs/reproduction.md has the three
machines measured."""

import functools
import os
import platform
from pathlib import Path

import jax
import jax.numpy as jnp

KEY = "arithmetic"  # in config.json
# XLA:CPU's products without YNNPACK's dot fusions (a task's `compiler_options`).
NO_YNNPACK_DOTS = (("xla_cpu_experimental_ynn_fusion_type", ""),)


def current() -> dict[str, str]:
    import jaxlib

    info = _cpuinfo()
    return {
        "jax": jax.__version__,
        "jaxlib": jaxlib.__version__,
        "backend": f"{jax.default_backend()} ({jax.device_count()} device(s), "
        f"{platform.machine()})",
        "CPU": cpu_model(info),
        "CPU identity": cpu_identity(info),
        "XLA_FLAGS": os.environ.get("XLA_FLAGS") or "none",
    }


def history(old_config: dict | None) -> list[dict]:
    """The settings a run was trained under, this invocation's last (once). A setting
    recorded before a field was added here is the same one if the fields it has agree."""
    settings = list((old_config or {}).get(KEY, []))
    now = current()
    same = settings and all(now.get(k) == v for k, v in settings[-1].items())
    return settings if same else [*settings, now]


def cpu_options(options: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    """`options` (XLA:CPU compile options, (name, value) pairs) on the CPU backend where this
    jaxlib has every one of them, else (): an unknown option fails the compile, and
    XLA:CPU's experimental ones come and go between releases."""
    if jax.default_backend() != "cpu" or not xla_accepts(options):
        return ()
    return options


@functools.cache
def xla_accepts(options: tuple[tuple[str, str], ...]) -> bool:
    """Whether a program compiles with these compile options ("No such compile option")."""
    try:
        jax.jit(jnp.negative, compiler_options=dict(options)).lower(jnp.zeros(())).compile()
    except jax.errors.JaxRuntimeError:
        return False
    return True


# The widest vector instruction sets YNNPACK has kernels for, widest first (x86 flag names).
VECTOR_ISAS = (("avx512f", "AVX-512"), ("avx2", "AVX2"), ("avx", "AVX"), ("sse2", "SSE2"))


def cpu_model(info: dict[str, str]) -> str:
    """The CPU's name from `info`, the first processor's fields of /proc/cpuinfo."""
    return info.get("model name") or platform.processor() or "unknown"


def cpu_identity(info: dict[str, str]) -> str:
    """'<vendor> family <f> model <m> stepping <s> (<widest vector ISA>)' from `info`, the
    first processor's fields of /proc/cpuinfo; the machine's name where there are none."""
    if "vendor_id" not in info:
        return platform.machine() or "unknown"
    flags = set(info.get("flags", "").split())
    isa = next((name for flag, name in VECTOR_ISAS if flag in flags), "no vector ISA listed")
    family, model, stepping = (info.get(k, "?") for k in ("cpu family", "model", "stepping"))
    return f"{info['vendor_id']} family {family} model {model} stepping {stepping} ({isa})"


def _cpuinfo() -> dict[str, str]:
    """The first processor's fields in /proc/cpuinfo ({} where there is none)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return {}
    first = text.split("\n\n", 1)[0]
    pairs = (line.split(":", 1) for line in first.splitlines() if ":" in line)
    return {key.strip(): value.strip() for key, value in pairs}
