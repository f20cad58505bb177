"""One function per paper figure, drawn from run logs only (bn_smooth.results).

`figure_N(runs, stamp)` takes a suite's runs by name (named in
bn_smooth/configs/reproduce.py; each figure declares those it reads with
`panels.reads`) and returns a matplotlib Figure laid out like the paper's.
Figures are built without pyplot, so this module never touches a notebook's
backend.
`make_all` writes every figure it can as figure_NN.png (NN the paper's
number): this module's, the lp normalizations' of appendix B (figures 11-14,
bn_smooth.paper.lp_plots), and those of bn_smooth.paper.sharpness_plots and
bn_smooth.paper.mechanism_plots, which go beyond the paper;
the panels they are made of are in bn_smooth.paper.panels.
"""

from pathlib import Path

from bn_smooth import precision, summaries
from bn_smooth.paper import lp_plots, mechanism_plots, overlays, panels, sharpness_plots
from bn_smooth.paper.panels import (
    COLORS,
    DLN_MAIN,
    DLN_SLOW,
    SITE,
    VGG_HIGH_LR,
    VGG_LOW_LR,
    VGG_MAIN,
    VGG_NOISY,
    reads,
)
from bn_smooth.results import Run, task_descriptions


def stamp(suite, runs: dict[str, Run]) -> str:
    """What a figure was made from: scale, seed, and what each task trained."""
    return " | ".join(
        [
            f"bn_smooth, scale={suite.scale}, seed {suite.seed}",
            *task_descriptions(runs),
            precision.describe(run.config for run in runs.values()),
        ]
    )


# ---------------------------------------------------------------------------
# The figures


@reads(*VGG_MAIN, *VGG_HIGH_LR)
def figure_1(runs, stamp_text):
    """(a) training and (b) test accuracy of VGG at lr 0.1 and 0.5; (c) activations."""
    names = (*VGG_MAIN, *VGG_HIGH_LR)
    curves = [runs[n] for n in names]
    main = [runs[n] for n in VGG_MAIN]
    layers = panels.pick_layers(main[0].activation_layers(), 2)
    fig = panels.new(3, 4, width=3.3)
    grid = fig.add_gridspec(3, 4)
    panels.train_panel(
        fig.add_subplot(grid[0, :2]), curves, "accuracy", "training accuracy", base_lr=0.1
    )
    fig.axes[-1].set_title("(a) training accuracy (running mean)")
    overlays.draw(fig.axes[-1], "figure_01a", curves, scale=0.01)
    panels.eval_panel(
        fig.add_subplot(grid[0, 2:]), curves, "accuracy", "test accuracy", base_lr=0.1
    )
    fig.axes[-1].set_title("(b) test accuracy")
    overlays.draw(fig.axes[-1], "figure_01b", curves, scale=0.01)
    for i, layer in enumerate(layers):
        for j, run in enumerate(main):
            ax = fig.add_subplot(grid[1 + i, 2 * j : 2 * j + 2])
            panels.activation_panel(ax, run, layer)
            ax.set_title("(c) " + ax.get_title(), fontsize=8)
    fig.axes[2].legend(fontsize=6, loc="upper left")
    return panels.finish(
        fig,
        "Figure 1: VGG with and without BatchNorm; (c) activation distributions over training",
        stamp_text,
    )


@reads(*VGG_NOISY)
def figure_2(runs, stamp_text):
    """Standard, BatchNorm and "noisy" BatchNorm: training, and activation distributions."""
    trio = [runs[n] for n in VGG_NOISY]
    layers = panels.pick_layers(trio[0].activation_layers(), 2)
    fig = panels.new(3, 3, width=3.8)
    grid = fig.add_gridspec(3, 3)
    panels.train_panel(fig.add_subplot(grid[0, :]), trio, "accuracy", "training accuracy")
    fig.axes[-1].set_title("training accuracy (running mean)")
    overlays.draw(fig.axes[-1], "figure_02a", trio, scale=0.01)
    panels.activation_grid(fig, grid, trio, layers, first_row=1)
    return panels.finish(
        fig,
        'Figure 2: distributional stability and BatchNorm: "noisy" '
        "BatchNorm adds time-varying noise after every BatchNorm layer",
        stamp_text,
    )


def _ics_rows(runs):
    """(label, [standard, BatchNorm], log l2 axis, network) for VGG, the DLN, and, where
    the suite has them, VGG at lr 0.01 and the DLN at lr 1e-7 (the paper's second rows)."""
    rows = [("VGG", [runs[n] for n in VGG_MAIN], False, "vgg")]
    if all(name in runs for name in VGG_LOW_LR):
        rows.append(("VGG, LR=0.01", [runs[n] for n in VGG_LOW_LR], False, "vgg"))
    rows.append(("DLN", [runs[n] for n in DLN_MAIN], True, "dln"))
    if all(name in runs for name in DLN_SLOW):
        rows.append(("DLN, LR=1e-7", [runs[n] for n in DLN_SLOW], True, "dln"))
    return rows


# The layers figure 3 of the paper shows (its VGG has more normalized layers than ours:
# ours shows the nearest one).
PAPER_ICS_LAYERS = {"vgg": (5, 10), "dln": (9, 17)}
# Figure 7's first and last layers (it also shows #9, nearest ours is #8 as for #13).
PAPER_MOMENT_LAYERS = (2, 13)


@reads(*VGG_MAIN, *DLN_MAIN)
def figure_3(runs, stamp_text):
    """ICS (Definition 2.1) at the paper's two layers (or the nearest ours has), VGG at lr
    0.1 and 0.01, the DLN at lr 1e-6 and 1e-7, with the paper's series."""
    rows = _ics_rows(runs)
    fig = panels.new(len(rows), 4, width=3.3)
    axes = fig.subplots(len(rows), 4)
    for row, (name, pair, log, network) in enumerate(rows):
        for k, number in enumerate(PAPER_ICS_LAYERS[network]):
            layer = panels.nearest_layer(pair[0].ics_layers(), number)
            ax_l2, ax_cos = axes[row, 2 * k], axes[row, 2 * k + 1]
            panels.ics_panels(ax_l2, ax_cos, pair, layer, log)
            stem = f"figure_03_{network}_lr{pair[0].lr:g}_layer{number}"
            for ax, measure in ((ax_l2, "l2"), (ax_cos, "cosine")):
                overlays.draw(ax, f"{stem}_{measure}", pair)
                if note := panels.paper_layer_note(layer, number):
                    ax.set_title(ax.get_title() + note, fontsize=8)
        axes[row, 0].annotate(
            f"({'abcd'[row]}) {name}",
            (0, 1.18),
            xycoords="axes fraction",
            fontsize=10,
            weight="bold",
        )
    return panels.finish(
        fig,
        "Figure 3: internal covariate shift (Definition 2.1): gradient "
        "change of a layer after the update of the layers before it",
        stamp_text,
    )


@reads(*VGG_MAIN, *DLN_MAIN)
def figure_6(runs, stamp_text):
    """ICS of more layers: VGG, the DLN, and the DLN at lr 1e-7."""
    k, rows = 5, _ics_rows(runs)
    fig = panels.new(2 * len(rows), k, width=3.0)
    axes = fig.subplots(2 * len(rows), k, squeeze=False)
    for i, (name, pair, log, _) in enumerate(rows):
        row = 2 * i
        layers = panels.ics_layers(pair[0], k)
        for j, layer in enumerate(layers):
            panels.ics_panels(axes[row, j], axes[row + 1, j], pair, layer, log)
        for j in range(len(layers), k):  # a network with fewer layers than columns
            axes[row, j].set_visible(False)
            axes[row + 1, j].set_visible(False)
        axes[row, 0].annotate(name, (0, 1.2), xycoords="axes fraction", fontsize=10, weight="bold")
    return panels.finish(fig, "Figure 6: internal covariate shift across layers", stamp_text)


@reads(*VGG_MAIN)
def figure_4(runs, stamp_text):
    """VGG landscape along the gradient: loss range, gradient change and beta_eff on log
    axes, and (d) their per-step ratio standard / BatchNorm (the paper reads "orders of
    magnitude" off such plots)."""
    pair = [runs[n] for n in VGG_MAIN]
    fig = panels.new(1, 4, width=3.6)
    axes = fig.subplots(1, 4)
    panels.landscape_panels(axes[:3], pair, log=True, eta_note=panels.eta_note(pair[0]))
    overlays.landscape(axes[:3], ("figure_04a", "figure_04b", "figure_04c"), pair)
    panels.step_ratio_panel(axes[3], *pair)
    return panels.finish(
        fig,
        "Figure 4: optimization landscape of VGG along the gradient "
        "(shaded: min to max over the line search)",
        stamp_text,
    )


@reads(*DLN_MAIN)
def figure_9(runs, stamp_text):
    """The same for the deep linear network, and beside it at lr 1e-7, where the standard
    network's GD is stable."""
    slow = [runs[n] for n in DLN_SLOW if n in runs]
    pairs = [[runs[n] for n in DLN_MAIN]] + ([slow] if len(slow) == 2 else [])
    fig = panels.new(len(pairs), 4, width=3.6)
    axes = fig.subplots(len(pairs), 4, squeeze=False)
    for row, pair in zip(axes, pairs, strict=True):
        panels.landscape_panels(row[:3], pair, log=True, eta_note=panels.eta_note(pair[0]))
        if pair[0].name in DLN_MAIN:  # the paper's setting
            overlays.landscape(row[:3], ("figure_09a", "figure_09b", "figure_09c"), pair)
        panels.step_ratio_panel(row[3], *pair)
        row[0].annotate(
            f"LR={pair[0].lr:g}", (0, 1.15), xycoords="axes fraction", fontsize=10, weight="bold"
        )
    return panels.finish(
        fig,
        "Figure 9: optimization landscape of the deep linear network "
        "(shaded: min to max over the line search)",
        stamp_text,
    )


@reads(*VGG_MAIN, *DLN_MAIN)
def figure_10(runs, stamp_text):
    """The gradient's change against the step size, one curve per probe coloured by its
    step (blue first, red last), their median (black) and the paper's median over its own
    probes (dashed): standard and BatchNorm, VGG and the DLN."""
    fig = panels.new(2, 2, width=4.2, height=3.4)
    axes = fig.subplots(2, 2)
    for row, names, network, log in (
        (axes[0], VGG_MAIN, "vgg", False),
        (axes[1], DLN_MAIN, "dln", True),
    ):
        for ax, name in zip(row, names, strict=True):
            panels.eta_panel(ax, runs[name], log)
            overlays.eta_median(ax, f"figure_10_{network}_{runs[name].norm}")
    return panels.finish(
        fig, "Figure 10: gradient predictiveness against the step size η", stamp_text
    )


@reads(*VGG_NOISY)
def figure_7(runs, stamp_text):
    """Change of a unit's mean and variance from each probed step to the next step, at the
    layers nearest the paper's first and last (#2 and #13), with the paper's series."""
    trio = [runs[n] for n in VGG_NOISY]
    numbers = PAPER_MOMENT_LAYERS
    layers = [panels.nearest_layer(trio[0].activation_layers(), n) for n in numbers]
    fig = panels.new(2, 2, width=4.5)
    axes = fig.subplots(2, 2)
    for i, layer in enumerate(layers):
        for j, moment in enumerate(("mean", "variance")):
            ax = axes[i, j]
            for run in trio:
                changes = summaries.moment_changes(run, layer, 0, SITE)
                ax.plot(
                    changes["steps"],
                    changes[moment],
                    color=COLORS[run.norm],
                    lw=1.2,
                    label=panels.label(run),
                )
            unit = trio[0].activation_units(layer)[0]
            note = panels.paper_layer_note(layer, numbers[i])
            ax.set(
                title=f"{panels.display(layer)}{note}, unit {unit}: {moment}",
                xlabel="step",
                ylabel=f"|Δ {moment}| between {changes['between']}",
                yscale="log",
            )
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7)
            if changes["between"] == "steps":  # the paper's measure: step t to t+1
                overlays.draw(ax, f"figure_07a_layer{numbers[i]}_{moment}", trio)
    between = "step t and t+1" if changes["between"] == "steps" else "successive probes"
    return panels.finish(
        fig, f"Figure 7: change of an activation's mean and variance between {between}", stamp_text
    )


@reads(*DLN_MAIN)
def figure_8(runs, stamp_text):
    """Activation distributions in three layers of the deep linear network, before the
    normalization: the paper cites it for how large sigma_j grows (after BatchNorm every
    unit has mean 0 and variance 1 by construction)."""
    pair = [runs[n] for n in DLN_MAIN]
    layers = panels.pick_layers(pair[0].activation_layers(), 3)
    fig = panels.new(3, 2, width=4.0, height=2.6)
    panels.activation_grid(fig, fig.add_gridspec(3, 2), pair, layers, site="pre_norm", sharey=False)
    return panels.finish(fig, "Figure 8: DLN activations before the normalization", stamp_text)


FIGURES = (
    {
        f"figure_{n:02d}": fn
        for n, fn in (
            (1, figure_1),
            (2, figure_2),
            (3, figure_3),
            (4, figure_4),
            (6, figure_6),
            (7, figure_7),
            (8, figure_8),
            (9, figure_9),
            (10, figure_10),
        )
    }
    | lp_plots.FIGURES
    | sharpness_plots.FIGURES
    | mechanism_plots.FIGURES
)

# The figures the paper has vector data for (bn_smooth/paper/data): each draws it.
OVERLAID = tuple(f"figure_{n:02d}" for n in (1, 2, 3, 4, 7, 9, 10, 11, 12, 13))


def make_all(
    runs: dict[str, Run], out_dir, stamp: str = ""
) -> tuple[list[Path], dict[str, list[str]]]:
    """Every figure whose runs exist, as out_dir/<name>.png: (the paths written, {figure:
    the runs it lacks} for the figures skipped; no runs: they hold nothing to draw)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written, skipped = [], {}
    for name, make in FIGURES.items():
        lacking = panels.missing(make, runs)
        if lacking:
            skipped[name] = lacking
            continue
        fig = make(runs, stamp)
        if fig is None:
            skipped[name] = []
            continue
        path = out_dir / f"{name}.png"
        fig.savefig(path, dpi=110)
        written.append(path)
    return written, skipped
