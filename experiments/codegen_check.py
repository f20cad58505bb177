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
from bn_smooth.paper import agreement
from bn_smooth.paper.claims import CLAIMS
from bn_smooth.paper.markdown import fmt, table
from bn_smooth.paper.panels import missing
from experiments import cli

_CONFIG = config_flags.DEFINE_config_file("config", None, "Suite config file[:args].")
_A = flags.DEFINE_string("a", None, "The suite workdir of the first setting.")
_B = flags.DEFINE_string("b", None, "The suite workdir of the second setting.")
_LABELS = flags.DEFINE_list("labels", ["default", "other"], "The two settings' names.")
_OUT = flags.DEFINE_string(
    "out", None, "Where to write the comparison (default: B/codegen.md, beside its runs)."
)
flags.mark_flags_as_required(["config", "a", "b"])


def verdicts(runs) -> dict[str, tuple[str, str]]:
    """{claim: (verdict, summary)} of every claim its runs allow (not the theory's)."""
    out = {}
    for cid, _, _, _, fn, needs in CLAIMS:
        if needs != "theory" and not missing(fn, runs):
            summary, verdict, _ = fn(*((runs,) if needs == "runs" else (runs, None)))
            out[cid] = (verdict, summary)
    return out


def compare(a: dict, b: dict, labels) -> str:
    """The markdown of two settings' verdicts and agreement rows."""
    va, vb = verdicts(a), verdicts(b)
    claim_rows = [
        [cid, va[cid][0], vb[cid][0], "same" if va[cid][0] == vb[cid][0] else "**moved**"]
        for cid in va
        if cid in vb
    ]
    rows_a = {(r.figure, r.quantity, r.where): r for r in agreement.all_rows(a)}
    rows_b = {(r.figure, r.quantity, r.where): r for r in agreement.all_rows(b)}
    number_rows = [
        [
            *key[:2],
            fmt(ra.ours),
            fmt(rows_b[key].ours),
            _moved(ra, rows_b[key]),
            "yes" if ra.agrees == rows_b[key].agrees else "**no**",
        ]
        for key, ra in rows_a.items()
        if key in rows_b
    ]
    moved = sum(r[3] == "**moved**" for r in claim_rows)
    return (
        f"# Two code-generation settings: {labels[0]} and {labels[1]}\n\n"
        f"Compared on the {len(a)} runs both trained to the end.\n\n"
        f"{len(claim_rows) - moved} of {len(claim_rows)} verdicts are the same under both.\n\n"
        + table(["claim", labels[0], labels[1], ""], claim_rows)
        + "\nWhat each claim measures (REPORT.md's summary column), under both:\n\n"
        + table(["claim", labels[0], labels[1]], [[c, va[c][1], vb[c][1]] for c in va if c in vb])
        + "\nEvery number of REPORT.md's agreement table (ours), under both settings:\n\n"
        + table(
            ["figure", "quantity", labels[0], labels[1], "moved", "same agreement"], number_rows
        )
    )


def finished(runs: dict) -> dict:
    """The runs that ended (finished or diverged), not those interrupted."""
    return {n: r for n, r in runs.items() if r.status["status"] in ("finished", "diverged")}


def _moved(a, b) -> str:
    if a.kind == "factor":
        return f"{fmt(b.ours / a.ours)}x" if a.ours else "-"
    return f"{b.ours - a.ours:+.2f}"


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
