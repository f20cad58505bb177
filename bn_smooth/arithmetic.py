"""What decides a run's float32 arithmetic beyond its config: the compiler's version, the
device and CPU it generates code for, and the XLA flags. Float32 VGG training on XLA:CPU
moves with the last two (another CPU, or another --xla_cpu_max_isa, trains another
trajectory; the entrypoints cap the ISA, experiments.cli.PINNED_CODEGEN), so each run's
config.json records them (`arithmetic`), one entry per setting it was trained under."""

import os
import platform
from pathlib import Path

import jax

KEY = "arithmetic"  # in config.json


def current() -> dict[str, str]:
    import jaxlib

    return {
        "jax": jax.__version__,
        "jaxlib": jaxlib.__version__,
        "backend": f"{jax.default_backend()} ({jax.device_count()} device(s), "
        f"{platform.machine()})",
        "CPU": cpu_model(),
        "XLA_FLAGS": os.environ.get("XLA_FLAGS") or "none",
    }


def history(old_config: dict | None) -> list[dict]:
    """The settings a run was trained under, this invocation's last (once)."""
    settings = list((old_config or {}).get(KEY, []))
    now = current()
    return settings if settings and settings[-1] == now else [*settings, now]


def cpu_model() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or "unknown"
    return next(
        (
            line.split(":", 1)[1].strip()
            for line in text.splitlines()
            if line.startswith("model name")
        ),
        "unknown",
    )
