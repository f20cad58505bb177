"""Which CPUs train bit for bit alike, and under which XLA flags: a fingerprint of this
machine's float32 arithmetic (docs/reproduction.md, "Three machines, one code").

    python -m experiments.arithmetic_fingerprint [--out=figures/arithmetic_fingerprints.json]

Trains the benchmark's 1/8-width VGG-11 without and with BatchNorm for 20 steps, and its
25-layer DLN under each normalizer for 500, on synthetic data (no CIFAR-10 needed), and
hashes each loss sequence's float32 bits: one subprocess per setting, since XLA reads its
flags once. The settings: the entrypoints' (XLA's code capped at AVX2), and the cap with
the flags that take out what the cap does not reach: the CPU's approximate rsqrt, then
also YNNPACK, whose kernels the host's vector instructions pick. About 1.5 minutes on 2
cores. The machine's record (its CPU by bn_smooth.arithmetic, jaxlib, the hashes) replaces
any earlier one of the same CPU and jaxlib in --out. Machines with equal hashes under a
setting train alike under it; a setting under which every recorded machine agrees is the
one to pin in experiments.cli.
"""

import datetime
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

from absl import flags

from bn_smooth import arithmetic
from experiments import cli

EXACT_RSQRT = "--xla_cpu_enable_platform_dependent_math=false"
NO_YNNPACK = "--xla_cpu_experimental_ynn_fusion_type="  # empty: no op goes to YNNPACK
SETTINGS = {
    "entrypoints": cli.PINNED_CODEGEN,
    "exact rsqrt": f"{cli.PINNED_CODEGEN} {EXACT_RSQRT}",
    "exact rsqrt, no YNNPACK": f"{cli.PINNED_CODEGEN} {EXACT_RSQRT} {NO_YNNPACK}",
}
# (network, normalizer, training steps)
PROGRAMS = (
    ("vgg", "none", 20),
    ("vgg", "batch", 20),
    *(("dln", norm, 500) for norm in ("none", "batch", "l2", "linf")),
)
VGG_WIDTH = 1 / 8

_OUT = flags.DEFINE_string(
    "out", "figures/arithmetic_fingerprints.json", "The JSON file of every machine's record."
)


def fingerprint(programs=PROGRAMS) -> dict[str, str]:
    """In this process, under its XLA flags: {'<network> <norm>': the first 12 hex digits of
    the SHA-1 of its training losses' float32 bytes}."""
    import numpy as np

    from experiments.benchmark_programs import Ours

    hashes = {}
    for network, norm, steps in programs:
        ours = Ours(network, norm, VGG_WIDTH)  # the DLN has no width
        _, metrics = ours.chunk_fn(ours.state, ours.data, steps)
        losses = np.asarray(metrics["loss"], np.float32)
        hashes[f"{network} {norm}"] = hashlib.sha1(losses.tobytes()).hexdigest()[:12]
    return hashes


def fingerprints(settings=SETTINGS, programs=PROGRAMS) -> dict[str, dict[str, str]]:
    """{setting: fingerprint(programs)}, each in a fresh process with exactly its XLA_FLAGS
    (a user's own are left out: they would be another setting)."""
    child = (
        "import json; from experiments.arithmetic_fingerprint import fingerprint; "
        f"print(json.dumps(fingerprint({list(programs)!r})))"
    )
    root = Path(__file__).resolve().parents[1]
    out = {}
    for name, xla_flags in settings.items():
        env = dict(os.environ, XLA_FLAGS=xla_flags, PYTHONPATH=str(root))
        result = subprocess.run(
            [sys.executable, "-c", child], env=env, cwd=root, capture_output=True, text=True
        )
        if result.returncode:
            raise RuntimeError(f"setting {name!r} ({xla_flags}) failed:\n{result.stderr[-2000:]}")
        out[name] = json.loads(result.stdout.strip().splitlines()[-1])
    return out


def merge(records: list[dict], record: dict) -> list[dict]:
    """`records` with `record` in place of any earlier one of the same CPU and jaxlib."""

    def key(r):
        return r["CPU identity"], r["jaxlib"]

    return [r for r in records if key(r) != key(record)] + [record]


def agreement(records: list[dict]) -> dict[str, bool]:
    """{setting: whether every record of the newest record's jaxlib has the same hashes}."""
    jaxlib = records[-1]["jaxlib"]
    same = [r for r in records if r["jaxlib"] == jaxlib]
    return {
        name: all(r["fingerprints"].get(name) == same[0]["fingerprints"].get(name) for r in same)
        for name in same[-1]["fingerprints"]
    }


def main(argv):
    del argv
    now = arithmetic.current()
    record = {
        "CPU": now["CPU"],
        "CPU identity": now["CPU identity"],
        "jaxlib": now["jaxlib"],
        "date": datetime.date.today().isoformat(),
        "settings": SETTINGS,
        "fingerprints": fingerprints(),
    }
    out = Path(_OUT.value)
    records = json.loads(out.read_text()) if out.exists() else []
    records = merge(records, record)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(records, indent=1) + "\n")
    print(f"{record['CPU']}, {record['CPU identity']}, jaxlib {record['jaxlib']}:")
    for name, hashes in record["fingerprints"].items():
        print(f"  {name}: " + ", ".join(f"{k} {v}" for k, v in hashes.items()))
    machines = sum(r["jaxlib"] == record["jaxlib"] for r in records)
    print(f"{machines} machine(s) with this jaxlib in {out}:")
    for name, agree in agreement(records).items():
        print(f"  under {name!r} they {'agree' if agree else 'differ'}")


if __name__ == "__main__":
    cli.run(main)
