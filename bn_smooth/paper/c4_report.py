"""The C4 study's report (c4_study.md): what each setting measured, the tables of the
per-step ratios standard / BatchNorm and of the levels, and the explanation of the verdict.
The numbers and the verdict are bn_smooth/paper/c4_analysis.py's.
"""

import json
from pathlib import Path

import numpy as np

from bn_smooth.paper.c4_analysis import (
    LR,
    LR_HIGH,
    SUMMARY,
    TWO_ORDERS,
    member_key,
)
from bn_smooth.paper.markdown import fmt, table
from bn_smooth.paper.sharpness_claim import EDGE


def explanation(summary) -> str:
    """Why the ratios are what they are, in numbers: where every run's top eigenvalue sits
    against its stability threshold 2/lr, and what a larger BatchNorm step changes."""

    def early(key, measure, settings=summary["settings"]):
        return [
            v
            for s in settings
            if key in s["members"]
            for v in s["members"][key]["early"][measure]
            if np.isfinite(v)
        ]

    def ratios(key, measure):
        return {
            _setting(s): s["ratios"][key][measure]["early"]["median"]
            for s in summary["settings"]
            if key in s["ratios"]
        }

    low, high = member_key("batch", LR), member_key("batch", LR_HIGH)
    sharp = {k: early(k, "lambda_1 lr/2") for k in (member_key("none", LR), low, high)}
    if not all(sharp.values()):
        return ""

    def span(v):
        return fmt(min(v)) if fmt(min(v)) == fmt(max(v)) else f"{fmt(min(v))}-{fmt(max(v))}"

    grad = ratios(low, "gradient change")
    lam_low, lam_high = ratios(low, "lambda_1"), ratios(high, "lambda_1")
    grad_high = ratios(high, "gradient change")
    beta = early(member_key("none", LR), "beta_eff lr/2")
    each = [
        (s, key, seed, lam, drop)
        for s in summary["settings"]
        for key, m in s["members"].items()
        for seed, lam, drop in zip(
            m["seeds"], m["early"]["lambda_1 lr/2"], m["loss drop"], strict=True
        )
    ]
    below = [e for e in each if e[3] < EDGE[0]]
    until = summary["early_until"]
    text = (
        f"**Why.** Early in training {len(each) - len(below)} of {len(each)} runs have "
        f"lambda_1 lr/2 of at least {EDGE[0]:g}: they train at or above the edge of "
        "stability (1 is (S)GD's threshold 2/lr; early-window medians per run): "
        f"{span(sharp[member_key('none', LR)])} for the standard network, "
        f"{span(sharp[low])} with BatchNorm at lr {LR:g} and {span(sharp[high])} with "
        f"BatchNorm at lr {LR_HIGH:g}; the standard network's beta_eff lr/2 is "
        f"{span(beta)}. "
    )
    if 2 * len(below) < len(each):
        top = max(e[3] for e in each)
        text += (
            "(S)GD raises the sharpness to about 2/lr and holds it near there (Cohen et "
            f"al., 2021; with minibatches, up to {fmt(top)}x here), so at a common "
            "learning rate a network that trains is about as sharp as that rate allows, "
            "with or without BatchNorm. "
        )
    if below:
        text += (
            "Below it: "
            + "; ".join(
                f"{_setting(s)}, {_member(key).lower()}, seed {seed}: {fmt(lam)}, its training "
                f"loss {drop:.0%} below its start by step {until:,}"
                for s, key, seed, lam, drop in below
            )
            + ". Such a run is flat because it has barely started to train: the paper's "
            "measures call a plateau smooth. "
        )
    return text + (
        f"The early per-step ratio of lambda_1, standard / BatchNorm at lr {LR:g}, is "
        f"{span(list(lam_low.values()))}x across settings, and that of the gradient change "
        f"{span(list(grad.values()))}x. At lr {LR_HIGH:g}, BatchNorm's lambda_1 is "
        f"{span(list(lam_high.values()))}x below the standard network's at lr {LR:g} (the "
        f"two thresholds differ by {LR_HIGH / LR:g}x), and its gradient change "
        f"{span(list(grad_high.values()))}x. By setting, the lr-{LR:g} ratio of the gradient "
        "change is " + "; ".join(f"{k}: {fmt(v)}x" for k, v in grad.items()) + "."
    )


# ---------------------------------------------------------------------------
# Markdown


def _setting(s) -> str:
    return f"{s['label']} at {fmt(s['width'])} width"


def _member(key: str) -> str:
    norm, lr = key.split("_lr")
    return f"{'Standard' if norm == 'none' else 'BatchNorm'}, lr {lr}"


def _spread(values) -> str:
    v = [x for x in values if np.isfinite(x)]
    if not v:
        return "n/a"
    if len(v) == 1:
        return fmt(v[0])
    return f"{fmt(float(np.median(v)))} [{fmt(min(v))}-{fmt(max(v))}]"


def _dist(stats) -> str:
    if not stats["count"]:
        return "n/a"
    return (
        f"**{fmt(stats['median'])}x** ({fmt(stats['p10'])}-{fmt(stats['p90'])}, "
        f"max {fmt(stats['max'])})"
    )


def windows_note(summary) -> str:
    starts = ", ".join(f"{_setting(s)} from step {s['early_start']}" for s in summary["settings"])
    return (
        f"Windows: step 0 apart; early = from the end of the standard network's "
        f"initialization plateau (its training loss 2% below the start; {starts}) to "
        f"step {summary['early_until']:,}; late = from step {summary['early_until']:,} "
        f"to the end ({summary['num_steps']:,} steps)."
    )


def ratio_table(
    summary,
    measures=(
        "gradient change",
        "gradient change / ||g||",
        "beta_eff",
        "loss range",
        "lambda_1",
        "non-linearity",
    ),
) -> str:
    """Per setting and comparison: the early per-step ratio standard / BatchNorm, median
    (10th-90th percentile, max) pooled over seeds, with step 0 and the late median."""
    rows = []
    for s in summary["settings"]:
        for key, r in s["ratios"].items():
            seeds = len(s["members"][key]["seeds"])
            rows.append(
                [
                    _setting(s),
                    f"{_member(key)} ({seeds} seed{'s' * (seeds > 1)})",
                    fmt(r["gradient change"]["step 0"]["median"]),
                    *(_dist(r[m]["early"]) for m in measures),
                    fmt(r["gradient change"]["late"]["median"]),
                ]
            )
    return table(
        [
            "setting",
            "BatchNorm run",
            "step 0",
            *(f"{m}, early" for m in measures),
            "gradient change, late",
        ],
        rows,
    )


def level_table(
    summary,
    measures=(
        "gradient change",
        "||g||",
        "gradient change / ||g||",
        "beta_eff lr/2",
        "lambda_1 lr/2",
        "||H g_hat||",
        "non-linearity",
    ),
) -> str:
    """Per setting and run: the early-window median of each measure, median over seeds
    [min-max]."""
    rows = []
    for s in summary["settings"]:
        for key, m in s["members"].items():
            rows.append(
                [
                    _setting(s),
                    _member(key),
                    len(m["seeds"]),
                    fmt(np.median(m["step 0"]["gradient change"])),
                    *(_spread(m["early"][k]) for k in measures),
                ]
            )
    return table(
        ["setting", "run", "seeds", "gradient change, step 0", *(f"{k}, early" for k in measures)],
        rows,
    )


def write(figures, summary, study, seconds: dict, command: str):
    """figures/c4_study.json and figures/c4_study.md."""
    figures = Path(figures)
    (figures / SUMMARY).write_text(json.dumps(summary, indent=1, allow_nan=True))
    total = sum(seconds.values())
    v = summary["verdict"]
    lines = [
        "# The C4 study: how much smoother does BatchNorm make VGG?\n",
        f"Made with `python -m experiments.c4_study {command}` at the **{study.scale}** "
        f"scale: {len(study.runs)} runs of {summary['num_steps']:,} steps, "
        f"{total / 60:.1f} min on this machine; {summary['measured_with']}. "
        "The figure is [c4_study.png](c4_study.png).\n",
        windows_note(summary) + "\n",
        "## Per-step ratio standard / BatchNorm\n",
        "At every probed step of a seed, the standard run's value over the BatchNorm run's "
        "(same seed, same batches); pooled over the seeds: median (10th-90th percentile, "
        "max). BatchNorm is smoother where the ratio exceeds 1. *non-linearity* is the "
        "gradient change at the largest step size over the quadratic model's prediction "
        "eta ||g|| ||H g_hat|| (bn_smooth.mechanism): the change's ratio is exactly that of "
        "||g||, of ||H g_hat|| (measured by the line search) and of this factor.\n",
        ratio_table(summary),
        "\n## Each run's values\n",
        "Early-window medians, median over seeds [min-max]. beta_eff lr/2 and lambda_1 lr/2 "
        "are against (S)GD's stability threshold 2/lr (1 at the threshold).\n",
        level_table(summary),
    ]
    if v:
        lines.append(
            f"\nLargest early median ratio of the gradient change: **{fmt(v['median'])}x** "
            f"({v['label']} at {fmt(v['width'])} width, {_member(v['member'])}); the "
            f"largest single step: {fmt(v['max_single_step'])}x "
            f"({v['max_single_step_setting']}). "
            f"{'At least' if v['reaches_two_orders'] else 'No setting reaches'} "
            f'{TWO_ORDERS}x ("close to two orders of magnitude")'
            f"{' here' if v['reaches_two_orders'] else ''}.\n"
        )
    lines.append(explanation(summary) + "\n")
    if summary["missing"]:
        lines.append("Missing or diverged runs, left out: " + ", ".join(summary["missing"]) + ".\n")
    (figures / "c4_study.md").write_text("\n".join(lines))
