"""The calibration's report and figure (calibration.md, calibration.png), and what REPORT.md
cites of it: its section "At the paper's width" and the lines of claims C1 and C4. The
numbers are bn_smooth/paper/calibration.py's (calibration.json).
"""

import json
import math
from pathlib import Path

import matplotlib
import numpy as np

from bn_smooth import precision
from bn_smooth.configs.calibration import CANDIDATES, HIGH_LR, MAIN
from bn_smooth.paper import agreement, overlays, panels, sharpness_plots
from bn_smooth.paper.calibration import FIGURE_4, SUMMARY, WINDOW, summarize
from bn_smooth.paper.markdown import fmt, read_summary, table
from bn_smooth.paper.paper_values import series

MARKDOWN, FIGURE, GAP_FIGURE = "calibration.md", "calibration.png", "calibration_gap.png"
TITLE = "At the paper's width: VGG-11 at full width against figures 1 and 4"


def load(folder) -> dict | None:
    """The calibration's summary in `folder`, or None when it has not been run there."""
    return read_summary(folder, SUMMARY)


def times(ratio: float) -> str:
    return f"{fmt(ratio)}x" if math.isfinite(ratio) else "-"


def gate_verdict(summary) -> str:
    g = summary["gate"]
    passed = sum(c["passed"] for c in g["conditions"])
    return (
        f"{'passes' if g['passed'] else 'fails'} ({passed} of {len(g['conditions'])} "
        "conditions hold)"
    )


def tables(summary, heading: str = "##") -> str:
    """The gate, figure 4 beside the paper's data, and the sharpness against 2/lr."""
    gate_rows = [
        [c["condition"], fmt(c["paper"]), fmt(c["ours"]), "pass" if c["passed"] else "**fail**"]
        for c in summary["gate"]["conditions"]
    ]
    land_rows = [
        [r["quantity"], r["where"], fmt(r["paper"]), fmt(r["ours"]), times(r["ratio"])]
        for r in summary["landscape"]
    ]
    sharp_rows = [
        [r["network"], fmt(r["lambda_1"]), fmt(r["beta_eff"])] for r in summary["sharpness"]
    ]
    every = summary["paper_every"]
    return "\n".join(
        [
            f"{heading} The gate (fixed before the runs were looked at)\n",
            f"An accuracy at a step is the mean over the steps within {WINDOW} of it, on both "
            "sides (the paper plots one minibatch every 100 steps).\n",
            table(["condition", "paper (%)", "ours (%)", ""], gate_rows),
            f"\nThe gate **{gate_verdict(summary)}**.\n",
            f"{heading} Figure 4 beside the paper's data\n",
            f"Medians over the probes at the paper's probe steps (every {every}) in the "
            "window, ours and the paper's over the same steps.\n",
            table(["quantity", "where", "paper", "ours", "ours / paper"], land_rows),
            f"\n{heading} Sharpness against 2/lr\n",
            f"Medians over the probes from step {every} on; 1 is (S)GD's stability threshold.\n",
            table(["network", "lambda_1 lr/2", "beta_eff lr/2"], sharp_rows),
            f"\n{heading} What could close a gap: one change at a time\n",
            "The same pair at lr 0.1 with one thing changed, trained to the end of the gate's "
            "first window; training accuracy (%) there as the gate reads it. VGG-16 has 13 "
            "normalized layers, as the paper's figures 7 and 14 number them (VGG-11 has 8). "
            "Seed 1 is the control: how far a curve moves by chance. Figure "
            f"[{GAP_FIGURE}]({GAP_FIGURE}).\n",
            table(
                ["change", "network", "step", "paper", "VGG-11", "changed", "moved", "gap left"],
                [
                    [
                        r["change"],
                        r["network"],
                        f"{r['step']:,}",
                        fmt(r["paper"]),
                        fmt(r["vgg11"]),
                        fmt(r["changed"]),
                        f"{r['changed'] - r['vgg11']:+.1f}",
                        f"{r['changed'] - r['paper']:+.1f}",
                    ]
                    for r in summary["candidates"]
                ],
            ),
            "",
        ]
    )


def made_with(summary) -> str:
    return (
        f"`python -m experiments.calibration`, **{summary['scale']}** scale: "
        f"{summary['description']}, seed 0, {summary['minutes']:.0f} min on 2 cores"
    )


def markdown(summary, command: str) -> str:
    return "\n".join(
        [
            f"# {TITLE}\n",
            f"Made with `python -m experiments.calibration {command}` at the "
            f"**{summary['scale']}** scale ({summary['description']}, seed 0), "
            f"{summary['minutes']:.0f} min on this machine. The figure is [{FIGURE}]({FIGURE}); "
            "the paper's series are read from its PDF (arXiv v3).\n",
            tables(summary),
        ]
    )


def report_section(summary) -> str:
    """REPORT.md's section "At the paper's width"."""
    return (
        "## At the paper's width\n\n"
        f"The suite's VGG runs are at 1/8 width. The calibration ({made_with(summary)}; "
        f"[{MARKDOWN}]({MARKDOWN}), figure [{FIGURE}]({FIGURE})) trains VGG-11 at the "
        "paper's width and asks whether it is the paper's network, with a gate on figure 1 "
        "fixed before its runs were looked at.\n\n" + tables(summary, heading="###")
    )


def _row(summary, quantity: str) -> dict:
    return next(r for r in summary["landscape"] if r["quantity"] == quantity)


def c1_note(summary) -> str:
    """Claim C1's line: the training accuracies at the paper's width against figure 1."""
    *accuracies, high = summary["gate"]["conditions"]
    parts = [
        f"{c['network']} at step {c['step']:,}: {fmt(c['ours'])}% (paper {fmt(c['paper'])}%)"
        for c in accuracies
    ]
    return (
        f"\nAt the paper's width ([{MARKDOWN}]({MARKDOWN}), {summary['description']}): "
        + "; ".join(parts)
        + f"; the standard network at lr 0.5 "
        f"{'stays at chance' if high['passed'] else 'leaves chance'}, its highest {WINDOW}-step "
        f"mean {fmt(high['ours'])}% (the paper's stays at chance). The calibration gate "
        f"{gate_verdict(summary)}.\n"
    )


def c4_note(summary) -> str:
    """Claim C4's line: figure 4's per-step ratios at the paper's width."""
    ratios = [
        _row(summary, f"{quantity}, standard / BatchNorm (per-step ratio)")
        for quantity, _, _, _ in FIGURE_4
    ]
    where = ratios[0]["where"]
    return (
        f"\nAt the paper's width ([{MARKDOWN}]({MARKDOWN}), {summary['description']}), "
        f"{where}, per-step ratio standard / BatchNorm: "
        + ", ".join(
            f"{r['quantity'].split(',')[0]} {times(r['ours'])} (paper, same steps: "
            f"{times(r['paper'])})"
            for r in ratios
        )
        + ".\n"
    )


def agreement_rows(summary) -> list[agreement.Row]:
    """REPORT.md's agreement rows at the paper's width, beside the suite's: figure 1's
    training accuracies as the gate reads them, and figure 4's medians and ratios."""
    scale = f"ours: {summary['description']} (the calibration)"
    rows = [
        agreement.Row(
            "1a",
            f"train accuracy (%), {c['network']}",
            f"step {c['step']:,}, mean over ±{WINDOW}",
            c["paper"],
            c["ours"],
            "points",
            (),
            scale,
        )
        for c in summary["gate"]["conditions"]
        if c["step"] is not None
    ]
    rows += [
        agreement.Row("4", r["quantity"], r["where"], r["paper"], r["ours"], "factor", (), scale)
        for r in summary["landscape"]
    ]
    return [r for r in rows if math.isfinite(r.paper) and math.isfinite(r.ours)]


def figure(runs, stamp_text: str):
    """(a) training accuracy with the paper's, (b) the per-step
    ratio, (c) lambda_1 lr/2, and figure 4's three panels with the paper's."""
    curves = [runs[n] for n in (*MAIN, HIGH_LR)]
    pair = [runs[n] for n in MAIN]
    fig = panels.new(2, 3, width=4.2)
    axes = fig.subplots(2, 3)
    panels.train_panel(axes[0, 0], curves, "accuracy", "training accuracy", base_lr=0.1)
    axes[0, 0].set_title("(a) training accuracy (running mean)")
    overlays.draw(axes[0, 0], "figure_01a", curves, scale=0.01)
    panels.step_ratio_panel(axes[0, 1], *pair)
    axes[0, 1].set_title("(b) " + axes[0, 1].get_title(), fontsize=8)
    sharpness_plots.sharpness_panel(axes[0, 2], pair)
    axes[0, 2].set_title("(c) top Hessian eigenvalue against 2/lr", fontsize=8)
    panels.landscape_panels(axes[1], pair, log=True, eta_note=panels.eta_note(pair[0]))
    overlays.landscape(axes[1], [stem for _, stem, _, _ in FIGURE_4], pair)
    return panels.finish(fig, TITLE, stamp_text)


def gap_figure(runs, config, stamp_text: str):
    """Per network, the training accuracy of VGG-11 and of each change (CANDIDATES) to the
    end of the gate's first window, with the paper's and the window shaded."""
    fig = panels.new(1, 2, width=5.0, height=3.6)
    colors = matplotlib.colormaps["tab10"].colors
    title = "What could close a gap to figure 1: one change at a time"
    for ax, name in zip(fig.subplots(1, 2), MAIN, strict=True):
        base = runs[name]
        steps, values = base.train_curve("accuracy", base.window)
        keep = steps <= config.candidate_steps
        ax.plot(steps[keep], values[keep], color="0.45", lw=2.2, label="VGG-11 (the gate's)")
        for i, candidate in enumerate(config.candidates):
            change, _ = CANDIDATES[candidate]
            run = runs[f"{candidate}_{base.norm}"]
            ax.plot(*run.train_curve("accuracy", base.window), color=colors[i], lw=1, label=change)
        ax.axvspan(config.early_step - WINDOW, config.early_step + WINDOW, color="0.92")
        x, y = overlays.clipped(series("figure_01a", base.norm, base.lr), config.candidate_steps)
        ax.plot(x, np.array(y) / 100, color="black", **overlays.DASHED, label=overlays.SOURCE)
        ax.legend(fontsize=6)
        ax.set(title=f"{base.label}, lr {base.lr:g}", xlabel="step", ylabel="training accuracy")
    return panels.finish(fig, title, stamp_text)


def write(figures, runs, config, seconds: dict, command: str) -> dict:
    """calibration.json, calibration.md, calibration.png and calibration_gap.png in
    `figures`; the summary."""
    figures = Path(figures)
    summary = summarize(runs, config, seconds)
    (figures / SUMMARY).write_text(json.dumps(summary, indent=1, allow_nan=True))
    (figures / MARKDOWN).write_text(markdown(summary, command))
    stamp_text = (
        f"bn_smooth calibration, scale={config.scale}: {summary['description']}; "
        + precision.describe(run.config for run in runs.values())
    )
    figure(runs, stamp_text).savefig(figures / FIGURE, dpi=110)
    gap_figure(runs, config, stamp_text).savefig(figures / GAP_FIGURE, dpi=110)
    return summary
