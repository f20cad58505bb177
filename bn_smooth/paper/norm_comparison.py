"""Beyond BatchNorm (norm_comparison.json, .md, .png): per normalizer of the comparison
(bn_smooth/configs/norm_comparison.py), the training at lr 0.1 over three seeds, figure
4's early gradient change against the standard network's with its decomposition, lambda_1,
the scale-invariant quantities and the largest learning rate that trains; and the verdict
on "is BatchNorm's advantage specific to BatchNorm?".

The verdict's checks were fixed before any of the comparison's runs (with this file):

- primary: every normalizer that uses no batch statistics trains at WIDER times the
  largest learning rate at which the standard network trains, or more (C8's measure and
  factor, on the same grid and rule);
- secondary: at lr 0.1 each reaches a final training accuracy (median over seeds) no more
  than ABOUT_AS_WELL below BatchNorm's; each one's early gradient change, standard / it
  (figure 4's measure, the median over seeds of the per-seed medians), is at least 1.

"Confirmed" reads: the advantage is not specific to BatchNorm.
"""

import json
from pathlib import Path

import numpy as np

from bn_smooth import mechanism, summaries, sweep_results
from bn_smooth.configs.norm_comparison import EXTRA_SEEDS, run_name, sweep_name
from bn_smooth.norms import BATCH_INDEPENDENT, LABELS
from bn_smooth.paper import panels
from bn_smooth.paper.lr_claim import WIDER
from bn_smooth.paper.lr_sweep_report import largest
from bn_smooth.paper.markdown import fmt, read_summary, table
from bn_smooth.paper.verdicts import ABOUT_AS_WELL, NOT_MEASURED, checklist, verdict

SUMMARY, MARKDOWN, FIGURE = "norm_comparison.json", "norm_comparison.md", "norm_comparison.png"
CLAIM = (
    "BatchNorm's advantage is not specific to BatchNorm: the normalizers that use no batch "
    "statistics share it"
)


def _seeds(runs, norm) -> dict:
    """{k: the run of `norm` at lr 0.1 and the seed + k}, for the runs that exist."""
    names = {k: run_name(norm, k) for k in (0, *EXTRA_SEEDS)}
    return {k: runs[n] for k, n in names.items() if n in runs}


def _median(values) -> float:
    values = [v for v in values if v is not None and np.isfinite(v)]
    return float(np.median(values)) if values else float("nan")


def entry(runs, norm: str) -> dict:
    """What the comparison measured of `norm` (nan where a run is missing)."""
    by_seed, standard = _seeds(runs, norm), _seeds(runs, "none")
    seeds = list(by_seed.values())
    # Paired by seed: a seed either network lacks is left out of the ratios.
    pairs = [(standard[k], run) for k, run in by_seed.items() if k in standard]
    out = {
        "label": LABELS[norm],
        "batch_independent": norm in BATCH_INDEPENDENT,
        "seeds": len(seeds),
        "final_accuracy": [r.final("accuracy") for r in seeds],
        "test_accuracy": [r.final_test() for r in seeds],
        # Figure 4's early gradient change, standard / this normalizer, per seed.
        "gradient_change": [summaries.early_step_ratio(a, b) for a, b in pairs],
        "loss_range": [summaries.early_step_ratio(a, b, "loss range") for a, b in pairs],
    }
    decompositions = [(mechanism.decompose(a), mechanism.decompose(b), a) for a, b in pairs]
    out["decomposition"] = [
        mechanism.compare(
            da, db, da.relative_etas.size - 1, lambda s, n=a.num_steps: summaries.early_steps(s, n)
        )
        for da, db, a in decompositions
        if da.steps.size and db.steps.size
    ]
    main = runs.get(run_name(norm))
    if main is not None and main.sharpness()[0].size:
        out["lambda_1 lr/2"] = summaries.sharpness_median(main, early=True)
    if main is not None and main.rows.get("scale"):
        out["scale"] = summaries.scale_summary(main, early=True)
    sweep = runs.get(sweep_name(norm))
    if sweep is not None:
        out["sweep"] = sweep_results.summary(sweep)
    return out


def checks(norms: dict) -> list[tuple[str, bool]]:
    """The verdict's parts, the primary first (the module's docstring), over the
    batch-independent normalizers of `norms` ({name: entry})."""
    others = {n: e for n, e in norms.items() if e["batch_independent"] and n != "none"}
    base = norms["none"]["sweep"]["largest_trainable"]
    batch_acc = _median(norms["batch"]["final_accuracy"])

    def wider(e):
        lr = e["sweep"]["largest_trainable"]
        return lr is not None and (base is None or lr >= WIDER * base)

    lrs = ", ".join(f"{n} {largest(e['sweep'])}" for n, e in others.items())
    accs = ", ".join(f"{n} {fmt(_median(e['final_accuracy']))}" for n, e in others.items())
    changes = ", ".join(f"{n} {fmt(_median(e['gradient_change']))}x" for n, e in others.items())
    return [
        (
            f"each trains at {WIDER}x or more the largest lr the standard network does "
            f"({largest(norms['none']['sweep'])}): {lrs}",
            all(wider(e) for e in others.values()),
        ),
        (
            f"at lr 0.1 each reaches a final training accuracy within {ABOUT_AS_WELL * 100:g} "
            f"points of BatchNorm's ({fmt(batch_acc)}) or above: {accs}",
            all(_median(e["final_accuracy"]) >= batch_acc - ABOUT_AS_WELL for e in others.values()),
        ),
        (
            f"each one's early gradient change is at most the standard network's "
            f"(standard / it): {changes}",
            all(_median(e["gradient_change"]) >= 1 for e in others.values()),
        ),
    ]


def summarize(config, runs) -> dict:
    norms = {norm: entry(runs, norm) for norm in config.norms}
    complete = all(e.get("sweep") is not None and e["seeds"] for n, e in norms.items()) and {
        "none",
        "batch",
    } <= set(norms)
    parts = checks(norms) if complete else []
    return {
        "scale": config.scale,
        "seed": config.seed,
        "lr": config.lr,
        "claim": CLAIM,
        "norms": norms,
        "checks": [{"text": t, "holds": h} for t, h in parts],
        "verdict": verdict(parts) if parts else NOT_MEASURED,
    }


def _spread(values) -> str:
    values = [v for v in values if v is not None and np.isfinite(v)]
    if not values:
        return "n/a"
    text = fmt(float(np.median(values)))
    return text + (f" ({fmt(min(values))}-{fmt(max(values))})" if len(values) > 1 else "")


def markdown_table(summary: dict) -> str:
    head = [
        "normalizer",
        "final train acc.",
        "test acc.",
        "largest lr that trains",
        "early gradient change, standard / it",
        "its non-linearity factor, standard / it",
        "lambda_1 lr/2, early",
        "lambda_1, own units",
    ]
    rows = []
    for e in summary["norms"].values():
        factor = [d["non-linearity"]["geomean"] for d in e["decomposition"]]
        rows.append(
            [
                e["label"],
                _spread(e["final_accuracy"]),
                _spread(e["test_accuracy"]),
                largest(e["sweep"]) if "sweep" in e else "n/a",
                _spread(e["gradient_change"]) + "x",
                _spread(factor) + "x",
                fmt(e.get("lambda_1 lr/2", float("nan"))),
                fmt(e["scale"]["lambda_1, own units"]) if "scale" in e else "n/a",
            ]
        )
    return table(head, rows)


def load(folder) -> dict | None:
    return read_summary(folder, SUMMARY)


def verdict_lines(summary: dict) -> list[str]:
    parts = [(c["text"], c["holds"]) for c in summary["checks"]]
    return [
        f"**Verdict: {summary['verdict']}.** {summary['claim']} (beyond the paper, whose "
        "section 3.3 compares lp normalizations only; the checks were fixed before the runs).",
        checklist(parts) if parts else "Not every run of the comparison exists yet.\n",
    ]


def report_section(summary: dict) -> str:
    """REPORT.md's section, from norm_comparison.json when the comparison has run."""
    return "\n".join(
        [
            "## Beyond BatchNorm: is its advantage specific to BatchNorm?\n",
            f"From `python -m experiments.norm_comparison` at the {summary['scale']} scale "
            "([norm_comparison.md](norm_comparison.md), "
            "[norm_comparison.png](norm_comparison.png)); medians over seeds, their range "
            "in brackets.\n",
            markdown_table(summary),
            *verdict_lines(summary),
        ]
    )


def write(figures, summary: dict, seconds: dict, command: str):
    figures = Path(figures)
    (figures / SUMMARY).write_text(json.dumps(summary, indent=1, allow_nan=True))
    lines = [
        "# Beyond BatchNorm: the normalizers researchers use, under the same instruments\n",
        f"Made with `python -m experiments.norm_comparison {command}` at the "
        f"**{summary['scale']}** scale, seed {summary['seed']} (and the next seeds, at lr "
        f"{summary['lr']:g}): {sum(seconds.values()) / 60:.1f} min of runs on this machine. "
        f"The figure is [{FIGURE}]({FIGURE}).\n",
        "Medians over seeds, with their range. The early gradient change is figure 4's "
        "largest ||g(w - eta g) - g(w)|| on the line, over the probes in the first 20% of "
        "the run, each seed's median of the per-step ratio standard / this normalizer; its "
        "non-linearity factor is that of the decomposition (REPORT.md, *What BatchNorm "
        "changes*) at the largest step size. The largest learning rate that trains comes "
        "from one vmapped sweep per normalizer, with claim C8's grid and rule.\n",
        markdown_table(summary),
        "## Verdict\n",
        *verdict_lines(summary),
    ]
    (figures / MARKDOWN).write_text("\n".join(lines))


def figure(summary: dict, runs, stamp: str):
    """(a) training accuracy at lr 0.1, seed 0, per normalizer; (b) the early gradient
    change, standard / it, per seed; (c) the largest learning rate that trains."""
    fig = panels.new(1, 3, width=4.2)
    acc, change, lrs = fig.subplots(1, 3)
    names = list(summary["norms"])
    for i, (norm, e) in enumerate(summary["norms"].items()):
        color = panels.COLORS[norm]
        run = runs.get(run_name(norm))
        if run is not None:
            steps, values = run.train_curve("accuracy", run.window)
            acc.plot(steps, values, color=color, label=e["label"])
        change.plot([i] * len(e["gradient_change"]), e["gradient_change"], "o", color=color)
        top = e.get("sweep", {}).get("largest_trainable")
        lrs.bar(i, top or 0, color=color)
    acc.set(xlabel="step", ylabel="training accuracy", title=f"(a) lr {summary['lr']:g}")
    acc.legend(fontsize=7)
    change.axhline(1, color="0.4", linestyle="--", linewidth=1)
    change.set(yscale="log", ylabel="early gradient change, standard / it", title="(b)")
    lrs.set(ylabel="largest learning rate that trains (0: none)", title="(c)")
    if any(e.get("sweep", {}).get("largest_trainable") for e in summary["norms"].values()):
        lrs.set_yscale("log")
    for ax in (change, lrs):
        ax.set_xticks(range(len(names)), names, rotation=45, ha="right", fontsize=7)
    return panels.finish(fig, "Beyond BatchNorm: VGG with each normalizer", stamp)
