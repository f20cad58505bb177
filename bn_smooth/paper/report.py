"""figures/REPORT.md: each claim of the paper, the numbers this suite measured, a verdict.

The claims and their verdicts are in bn_smooth/paper/claims.py; this module lays
them out with the suite's runs, timings and versions. Claim C4 also reads the C4
study's summary (c4_study.json, written by experiments.c4_study) and claim C8 the
learning-rate sweep's (lr_sweep.json, experiments.lr_sweep) when they are in the
same folder; the normalizer comparison's section (norm_comparison.json,
experiments.norm_comparison) is there when it is.
"""

import datetime
from pathlib import Path

from bn_smooth import precision
from bn_smooth.paper import (
    agreement,
    c4_analysis,
    calibration_report,
    lr_sweep_report,
    mechanism_report,
    norm_comparison,
    unstated,
)
from bn_smooth.paper.claims import CLAIMS
from bn_smooth.paper.markdown import fmt, read_summary, table
from bn_smooth.paper.panels import missing
from bn_smooth.paper.verdicts import NOT_MEASURED
from bn_smooth.results import Run, task_descriptions


def write(
    path, suite, runs: dict[str, Run], theory_rows, seconds: dict, versions: dict, command: str
):
    """Write REPORT.md; a claim whose runs (as it declares them) are missing names them
    instead of a verdict."""
    path = Path(path)
    study = read_summary(path.parent, c4_analysis.SUMMARY)
    calibration = calibration_report.load(path.parent)
    sweep = lr_sweep_report.load(path.parent)
    comparison = norm_comparison.load(path.parent)
    sections, summary_rows = [], []
    for cid, claim, figures, paper, fn, needs in CLAIMS:
        args = {
            "theory": (theory_rows,),
            "runs": (runs,),
            "runs+calibration": (runs, calibration),
            "runs+study": (runs, study, calibration),
            "runs+sweep": (runs, sweep),
        }[needs]
        lacking = missing(fn, runs) if needs != "theory" else []
        if lacking:
            summary, result = "n/a", NOT_MEASURED
            body = f"Missing run(s): {', '.join(lacking)}.\n"
        else:
            summary, result, body = fn(*args)
        summary_rows.append([cid, claim, paper, summary, f"**{result}**"])
        sections.append(f"## {cid}: {claim} ({figures})\n\n**Verdict: {result}.**\n\n{body}")
    total = sum(seconds.values())
    run_rows = [
        [
            name,
            " ".join(run_figures(suite, name)),
            run.status["message"],
            fmt(run.final("loss")),
            fmt(run.final("accuracy")) if run.config["task"] == "vgg_cifar" else "",
            fmt(run.final_test()) if run.config["task"] == "vgg_cifar" else "",
            f"{seconds.get(name, 0) / 60:.1f}",
        ]
        for name, run in runs.items()
    ]
    text = [
        '# Reproducing "How Does Batch Normalization Help Optimization?"\n',
        f"Made with `python -m experiments.reproduce {command}` from the code in this "
        f"repository, on {datetime.date.today().isoformat()}, at the **{suite.scale}** scale, "
        f"seed {suite.seed}: {'; '.join(task_descriptions(runs))}; "
        f"{precision.describe(run.config for run in runs.values())}. "
        + _shorter_runs(runs)
        + "The paper trains full-width networks for 15,000 steps: at a reduced scale the "
        "numbers differ from the paper's, and the verdicts say where that matters.\n",
        f"Suite wall time: **{total / 60:.1f} min** (sum over its parts below; runs skipped "
        "because they had already finished cost nothing).\n",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()) + ".\n",
        "## Claims\n",
        table(["", "claim", "the paper", "measured here", "verdict"], summary_rows),
        "## Agreement with the paper's figures\n",
        "The paper's series are read back from its arXiv v3 PDF (`python -m "
        "experiments.paper_data`; bn_smooth/paper/data) and drawn dashed on our figures. "
        "Each row compares one quantity of one figure: the paper's value at a step "
        "(interpolated between its plotted points) or its median over the probes of a "
        "window both cover, and ours; on the main pairs (VGG at lr 0.1, the DLN at lr "
        "1e-6), ours is the median over the suite's seeds (their range in brackets).\n",
        agreement.markdown(
            agreement.all_rows(runs)
            + (calibration_report.agreement_rows(calibration) if calibration else [])
        ),
        "Each claim below opens with what the paper's text says, what its figure shows and "
        "what we measure. Its checklist marks one check *(primary)*, fixed before the runs: "
        "it alone decides *confirmed* or *not confirmed*; the others qualify a "
        "confirmation (*confirmed, but ...*).\n",
        *sections,
        *([calibration_report.report_section(calibration)] if calibration else []),
        *([mechanism_report.report_section(runs)] if mechanism_report.rows(runs) else []),
        *([norm_comparison.report_section(comparison)] if comparison else []),
        "## Also measured\n",
        "Results that no claim's check decides, beside the sentence of the paper they bear on.\n",
        unstated.sections(runs),
        "## Runs\n",
        "Final values are running means over the last 1/30 of the steps; test accuracy "
        f"uses the running averages on {_test_images(runs)}.\n",
        table(
            [
                "run",
                "figures",
                "status",
                "final loss",
                "final train acc.",
                "test acc.",
                "wall time (min)",
            ],
            run_rows,
        ),
        "\nOther parts: "
        + ", ".join(f"{k} {v / 60:.1f} min" for k, v in seconds.items() if k not in runs)
        + ".\n",
    ]
    path.write_text("\n".join(text))


def _shorter_runs(runs: dict[str, Run]) -> str:
    """A sentence naming the runs that train fewer steps than their task's first run."""
    first, shorter = {}, {}
    for name, run in runs.items():
        first.setdefault(run.config["task"], run.num_steps)
        if run.num_steps < first[run.config["task"]]:
            shorter.setdefault(run.num_steps, []).append(name)
    return "".join(
        f"{', '.join(names)} {'trains' if len(names) == 1 else 'train'} {steps:,} steps. "
        for steps, names in shorter.items()
    )


def _test_images(runs: dict[str, Run]) -> str:
    """How many test images the reported accuracies used, as the eval rows record it."""
    known = sorted({run.num_test_examples for run in runs.values()} - {None})
    if not known:
        return "the CIFAR-10 test images (these runs did not record how many)"
    return " or ".join(f"{n:,}" for n in known) + " CIFAR-10 test images"


def run_figures(suite, name) -> tuple:
    return next((tuple(r.figures) for r in suite.runs if r.name == name), ())
