"""Do REPORT.md's verdicts and numbers survive another code-generation setting?

Float32 VGG training on XLA:CPU depends on the host CPU (its code, and the YNNPACK kernels
its vector instructions pick), and SGD's chaos amplifies it: another machine moves every
VGG number (docs/reproduction.md, "Three machines, one code"). The entrypoints
pin the instruction set (experiments.cli.PINNED_CODEGEN), which makes
--xla_cpu_prefer_vector_width=512 change nothing; an instruction set of the user's own
wins over the pin. This trains nothing: it compares two suite workdirs trained under two
settings, for example

    XLA_FLAGS=--xla_cpu_max_isa=SSE4_2 python -m experiments.reproduce \\
        --config=bn_smooth/configs/reproduce.py:scale=cpu --workdir=runs/reproduce_sse42 \\
        --figures=runs/figures_sse42
    python -m experiments.codegen_check --config=bn_smooth/configs/reproduce.py:scale=cpu \\
        --a=runs/reproduce --b=runs/reproduce_sse42 --out=figures/codegen.md

and writes every claim's verdict under both (C6, the theory, trains nothing) and how far
each number of the agreement table moved.
"""

from pathlib import Path

from absl import flags
from ml_collections import config_flags

from bn_smooth import results
from bn_smooth.paper.codegen_report import compare
from experiments import cli

_CONFIG = config_flags.DEFINE_config_file("config", None, "Suite config file[:args].")
_A = flags.DEFINE_string("a", None, "The suite workdir of the first setting.")
_B = flags.DEFINE_string("b", None, "The suite workdir of the second setting.")
_LABELS = flags.DEFINE_list("labels", ["default", "other"], "The two settings' names.")
_OUT = flags.DEFINE_string(
    "out", None, "Where to write the comparison (default: B/codegen.md, beside its runs)."
)
flags.mark_flags_as_required(["config", "a", "b"])


def finished(runs: dict) -> dict:
    """The runs that ended (finished or diverged), not those interrupted."""
    return {n: r for n, r in runs.items() if r.status["status"] in ("finished", "diverged")}


def main(argv):
    cli.check_no_arguments(argv)
    names = [run.name for run in _CONFIG.value.runs]
    suites = [finished(results.load_runs(Path(w), names)) for w in (_A.value, _B.value)]
    both = set(suites[0]) & set(suites[1])  # like with like: the runs both settings trained
    suites = [{n: r for n, r in s.items() if n in both} for s in suites]
    text = compare(*suites, _LABELS.value)
    out = Path(_OUT.value or Path(_B.value) / "codegen.md")
    out.write_text(text)
    print(text.split("\n\n")[1])
    print(f"wrote {out}")


if __name__ == "__main__":
    cli.run(main)
