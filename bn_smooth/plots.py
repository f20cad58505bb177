"""One function per paper figure, drawn from run logs only (bn_smooth.results).

`figure_N(runs, stamp)` takes a suite's runs by name (see
experiments/configs/reproduce.py) and returns a matplotlib Figure laid out
like the paper's, or None when a run it needs is missing. Figures are built
without pyplot, so this module never touches a notebook's backend.
`make_all` writes every figure it can as figure_NN.png.

Activation distributions show each unit's 'post_norm' values: the layer's
output after its normalization and before the ReLU, i.e. what the rest of the
network receives (for the standard network, the pre-activation itself).
"""

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from bn_smooth.results import Run

COLORS = {"none": "tab:blue", "batch": "tab:orange", "noisy_batch": "tab:green",
          "l1": "tab:red", "l2": "tab:purple", "linf": "tab:brown"}
SITE = "post_norm"
VGG_MAIN, DLN_MAIN = ("vgg_none", "vgg_batch"), ("dln_none", "dln_batch")
VGG_NOISY = ("vgg_none", "vgg_batch", "vgg_noisy_batch")
VGG_LP = ("vgg_none", "vgg_batch", "vgg_l1", "vgg_l2", "vgg_linf")
DLN_LP = ("dln_none", "dln_batch", "dln_l1", "dln_l2", "dln_linf")


# ---------------------------------------------------------------------------
# Shared pieces


def stamp(suite, runs: dict[str, Run]) -> str:
    """What a figure was made from: scale, seed, and each task's model and steps."""
    parts = [f"bn_smooth, scale={suite.scale}, seed {suite.seed}"]
    for prefix in ("vgg", "dln"):
        run = next((r for n, r in runs.items() if n.startswith(prefix)), None)
        if run is None:
            continue
        c = run.config
        if prefix == "vgg":
            cfg = c["model"]["cfg"]
            cfg = cfg if isinstance(cfg, str) else "VGG " + "-".join(map(str, cfg))
            parts.append(f"{cfg} x{c['model']['width']:g} width, {c['num_steps']:,} steps "
                         f"of batch {c['batch_size']}")
        else:
            parts.append(f"DLN {c['model']['depth']}x{c['model']['dim']}, "
                         f"{c['num_steps']:,} full-batch steps")
    return " | ".join(parts)


def _need(runs, names):
    return all(n in runs for n in names)


def _label(run: Run) -> str:
    """The legend entry: normalization and learning rate (and a divergence)."""
    label = f"{run.label}, LR={run.lr:g}"
    if run.diverged_at is not None:
        label += f" (diverged at step {run.diverged_at:,})"
    return label


def _style(run: Run, base_lr: float | None = None) -> dict:
    dashed = base_lr is not None and run.lr != base_lr
    return {"color": COLORS.get(run.norm, "black"), "linestyle": "--" if dashed else "-"}


def _window(run: Run) -> int:
    return max(1, run.config["num_steps"] // 30)


def _new(rows, cols, width=4.0, height=3.0) -> Figure:
    return Figure(figsize=(width * cols, height * rows + 0.6), layout="constrained")


def _finish(fig: Figure, title: str, stamp_text: str) -> Figure:
    fig.suptitle(title, fontsize=12)
    fig.text(0.995, 0.002, stamp_text, ha="right", va="bottom", fontsize=7, color="0.35")
    fig.get_layout_engine().set(rect=(0, 0.03, 1, 0.97))
    return fig


def _train_panel(ax, runs, key, ylabel, log=False, base_lr=None):
    for run in runs:
        steps, values = run.train_curve(key, _window(run))
        ax.plot(steps, values, label=_label(run), lw=1.3, **_style(run, base_lr))
    ax.set(xlabel="step", ylabel=ylabel, yscale="log" if log else "linear")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)


def _eval_panel(ax, runs, key, ylabel, base_lr=None):
    for run in runs:
        steps, values = run.eval_curve(key)
        ax.plot(steps, values, marker="o", ms=3, label=_label(run), lw=1.3,
                **_style(run, base_lr))
    ax.set(xlabel="step", ylabel=ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)


def _pick_layers(layers, k):
    """k layers spread evenly over `layers` (the last one included)."""
    if len(layers) <= k:
        return list(layers)
    return [layers[int(round(i))] for i in np.linspace(len(layers) - 1, 0, k)[::-1]]


def _display(layer: str) -> str:
    return f"layer #{int(layer.split('_')[1]) + 1}" if layer.startswith("layer_") else layer


def _activation_panel(ax, run: Run, layer: str):
    """Percentile bands of one unit over training: 5-95 light, 25-75 dark, the median."""
    a = run.activations(layer, SITE)
    p, q = a["percentiles"], run.percentiles()
    color = COLORS.get(run.norm, "black")
    for lo, alpha in ((0, 0.2), (1, 0.45)):
        if len(q) > 2 * lo + 1:
            ax.fill_between(a["steps"], p[:, lo], p[:, -1 - lo], color=color, alpha=alpha, lw=0,
                            label=f"{q[lo]:g}-{q[-1 - lo]:g}th percentile")
    ax.plot(a["steps"], p[:, len(q) // 2], color=color, lw=1.2, label="median")
    ax.set_title(f"{_label(run)}\n{_display(layer)}, unit {a['unit']}", fontsize=8)
    ax.set(xlabel="step", ylabel="activation")
    ax.grid(alpha=0.3)


def _activation_grid(fig, grid, runs, layers, first_row=0):
    axes = []
    for i, layer in enumerate(layers):
        row = []
        for j, run in enumerate(runs):
            ax = fig.add_subplot(grid[first_row + i, j], sharey=row[0] if row else None)
            _activation_panel(ax, run, layer)
            row.append(ax)
        axes.append(row)
    axes[0][0].legend(fontsize=6, loc="upper left")
    return axes


def _landscape_panels(axes, runs, log, eta_note):
    """(loss band, gradient-distance band, beta_eff) over the probed steps."""
    ax_loss, ax_grad, ax_beta = axes
    for run in runs:
        ls = run.landscape()
        color = COLORS.get(run.norm, "black")
        label = _label(run)
        ax_loss.fill_between(ls["steps"], ls["loss_min"], ls["loss_max"], color=color,
                             alpha=0.35, lw=0, label=label)
        ax_grad.fill_between(ls["steps"], ls["grad_dist_min"], ls["grad_dist_max"],
                             color=color, alpha=0.35, lw=0, label=label)
        ax_beta.plot(ls["steps"], ls["beta_eff"], color=color, lw=1.3, label=label)
    titles = (f"loss landscape ({eta_note})", "gradient predictiveness", '"effective" β-smoothness')
    ylabels = ("loss along the gradient", "ℓ2 change of the gradient",
               "max ℓ2 gradient change / distance")
    for ax, title, ylabel in zip(axes, titles, ylabels, strict=True):
        ax.set(title=title, xlabel="step", ylabel=ylabel, yscale="log" if log else "linear")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)


def _eta_note(run: Run) -> str:
    p = run.config["probe"]
    return f"η in [{p['eta_min']:g}, {p['eta_max']:g}] x lr"


def _ics_panels(ax_l2, ax_cos, runs, layer, log_l2):
    for run in runs:
        steps, l2, cosine = run.ics(layer)
        style = {"color": COLORS.get(run.norm, "black"), "lw": 1.2, "label": _label(run)}
        ax_l2.plot(steps, l2, **style)
        ax_cos.plot(steps, cosine, **style)
    ax_l2.set(title=f"{_display(layer)}: ℓ2 difference", xlabel="step",
              ylabel="||G - G'||", yscale="log" if log_l2 else "linear")
    ax_cos.set(title=f"{_display(layer)}: cosine angle", xlabel="step", ylabel="cos(G, G')",
               ylim=(-1.05, 1.05))
    for ax in (ax_l2, ax_cos):
        ax.grid(alpha=0.3)
    ax_cos.axhline(1.0, color="0.5", lw=0.6, ls=":")
    ax_l2.legend(fontsize=7)


def _ics_layers(run: Run, k: int) -> list[str]:
    """k layers to show, skipping the first (its ICS is 0 by definition)."""
    return _pick_layers(run.ics_layers()[1:], k)


# ---------------------------------------------------------------------------
# The figures


def figure_1(runs, stamp_text):
    """(a) training and (b) test accuracy of VGG at lr 0.1 and 0.5; (c) activations."""
    names = (*VGG_MAIN, "vgg_none_lr0.5", "vgg_batch_lr0.5")
    if not _need(runs, names):
        return None
    curves = [runs[n] for n in names]
    main = [runs[n] for n in VGG_MAIN]
    layers = _pick_layers(main[0].activation_layers(), 2)
    fig = _new(3, 4, width=3.3)
    grid = fig.add_gridspec(3, 4)
    _train_panel(fig.add_subplot(grid[0, :2]), curves, "accuracy", "training accuracy",
                 base_lr=0.1)
    fig.axes[-1].set_title("(a) training accuracy (running mean)")
    _eval_panel(fig.add_subplot(grid[0, 2:]), curves, "accuracy", "test accuracy", base_lr=0.1)
    fig.axes[-1].set_title("(b) test accuracy")
    for i, layer in enumerate(layers):
        for j, run in enumerate(main):
            ax = fig.add_subplot(grid[1 + i, 2 * j:2 * j + 2])
            _activation_panel(ax, run, layer)
            ax.set_title("(c) " + ax.get_title(), fontsize=8)
    fig.axes[2].legend(fontsize=6, loc="upper left")
    return _finish(fig, "Figure 1: VGG with and without BatchNorm; (c) activation "
                   "distributions over training", stamp_text)


def figure_2(runs, stamp_text):
    """Standard, BatchNorm and "noisy" BatchNorm: training, and activation distributions."""
    if not _need(runs, VGG_NOISY):
        return None
    trio = [runs[n] for n in VGG_NOISY]
    layers = _pick_layers(trio[0].activation_layers(), 2)
    fig = _new(3, 3, width=3.8)
    grid = fig.add_gridspec(3, 3)
    _train_panel(fig.add_subplot(grid[0, :]), trio, "accuracy", "training accuracy")
    fig.axes[-1].set_title("training accuracy (running mean)")
    _activation_grid(fig, grid, trio, layers, first_row=1)
    return _finish(fig, 'Figure 2: distributional stability and BatchNorm: "noisy" '
                   "BatchNorm adds time-varying noise after every BatchNorm layer", stamp_text)


def figure_3(runs, stamp_text):
    """ICS (Definition 2.1) of two layers: (a) VGG, (b) DLN."""
    if not _need(runs, VGG_MAIN + DLN_MAIN):
        return None
    fig = _new(2, 4, width=3.3)
    axes = fig.subplots(2, 4)
    for row, names, log in ((0, VGG_MAIN, False), (1, DLN_MAIN, True)):
        pair = [runs[n] for n in names]
        for k, layer in enumerate(_ics_layers(pair[0], 2)):
            _ics_panels(axes[row, 2 * k], axes[row, 2 * k + 1], pair, layer, log)
        axes[row, 0].annotate("(a) VGG" if row == 0 else "(b) DLN", (0, 1.18),
                              xycoords="axes fraction", fontsize=10, weight="bold")
    return _finish(fig, "Figure 3: internal covariate shift (Definition 2.1): gradient "
                   "change of a layer after the update of the layers before it", stamp_text)


def figure_6(runs, stamp_text):
    """ICS of more layers, VGG and DLN."""
    if not _need(runs, VGG_MAIN + DLN_MAIN):
        return None
    k = 5
    fig = _new(4, k, width=3.0)
    axes = fig.subplots(4, k, squeeze=False)
    for row, names, log in ((0, VGG_MAIN, False), (2, DLN_MAIN, True)):
        pair = [runs[n] for n in names]
        layers = _ics_layers(pair[0], k)
        for j, layer in enumerate(layers):
            _ics_panels(axes[row, j], axes[row + 1, j], pair, layer, log)
        for j in range(len(layers), k):  # a network with fewer layers than columns
            axes[row, j].set_visible(False)
            axes[row + 1, j].set_visible(False)
        axes[row, 0].annotate("VGG" if row == 0 else "DLN", (0, 1.2), xycoords="axes fraction",
                              fontsize=10, weight="bold")
    return _finish(fig, "Figure 6: internal covariate shift across layers", stamp_text)


def _landscape_figure(runs, names, log, title, stamp_text):
    if not _need(runs, names):
        return None
    pair = [runs[n] for n in names]
    fig = _new(1, 3)
    _landscape_panels(fig.subplots(1, 3), pair, log=log, eta_note=_eta_note(pair[0]))
    return _finish(fig, title + " (shaded: min to max over the line search)", stamp_text)


def figure_4(runs, stamp_text):
    """VGG landscape along the gradient: loss range, gradient change, beta_eff."""
    return _landscape_figure(runs, VGG_MAIN, False, "Figure 4: optimization landscape of VGG "
                             "along the gradient", stamp_text)


def figure_9(runs, stamp_text):
    """The same for the deep linear network, on log scales."""
    return _landscape_figure(runs, DLN_MAIN, True, "Figure 9: optimization landscape of the "
                             "deep linear network", stamp_text)


def figure_10(runs, stamp_text):
    """Gradient predictiveness against the distance moved, at three probed steps."""
    if not _need(runs, VGG_MAIN + DLN_MAIN):
        return None
    fig = _new(1, 2, width=5.0, height=3.6)
    for ax, names, title in zip(fig.subplots(1, 2), (VGG_MAIN, DLN_MAIN), ("VGG", "DLN"),
                                strict=True):
        for run in (runs[n] for n in names):
            ls = run.landscape()
            picks = sorted({0, len(ls["steps"]) // 2, len(ls["steps"]) - 1})
            for style, i in zip(("-", "--", ":"), picks, strict=False):
                ax.plot(ls["step_norms"][i], ls["grad_dists"][i], ls=style, marker=".",
                        color=COLORS[run.norm], label=f"{_label(run)}, step {ls['steps'][i]:,}")
        ax.set(title=title, xlabel="distance moved along the gradient, η ||g||",
               ylabel="||∇L(w - ηg) - g||", xscale="log", yscale="log")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=6)
    return _finish(fig, "Figure 10: gradient predictiveness against distance", stamp_text)


def figure_7(runs, stamp_text):
    """Change of each unit's mean and variance between successive probed steps."""
    if not _need(runs, VGG_NOISY):
        return None
    trio = [runs[n] for n in VGG_NOISY]
    layers = _pick_layers(trio[0].activation_layers(), 2)
    fig = _new(2, 2, width=4.5)
    axes = fig.subplots(2, 2)
    for i, layer in enumerate(layers):
        for j, moment in enumerate(("mean", "variance")):
            ax = axes[i, j]
            for run in trio:
                a = run.activations(layer, SITE)
                value = a["mean"] if moment == "mean" else a["std"] ** 2
                ax.plot(a["steps"][1:], np.abs(np.diff(value)), color=COLORS[run.norm],
                        lw=1.2, label=_label(run))
            ax.set(title=f"{_display(layer)}, unit {a['unit']}: change in {moment}",
                   xlabel="step", ylabel=f"|Δ {moment}| between probes", yscale="log")
            ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=7)
    return _finish(fig, "Figure 7: change of the first two moments of an activation's "
                   "distribution between successive probed steps", stamp_text)


def figure_8(runs, stamp_text):
    """Activation distributions in three layers of the deep linear network."""
    if not _need(runs, DLN_MAIN):
        return None
    pair = [runs[n] for n in DLN_MAIN]
    layers = _pick_layers(pair[0].activation_layers(), 3)
    fig = _new(3, 2, width=4.0, height=2.6)
    _activation_grid(fig, fig.add_gridspec(3, 2), pair, layers)
    return _finish(fig, "Figure 8: activation distributions in the deep linear network",
                   stamp_text)


def _lp_figure(runs, names, key, ylabel, log):
    group = [runs[n] for n in names]
    fig = _new(1, 4, width=3.6, height=3.2)
    axes = fig.subplots(1, 4)
    _train_panel(axes[0], group, key, ylabel, log=log)
    axes[0].set_title("(a) training")
    _landscape_panels(axes[1:], group, log=log, eta_note=_eta_note(group[0]))
    for ax, letter in zip(axes[1:], "bcd", strict=True):
        ax.set_title(f"({letter}) {ax.get_title()}", fontsize=9)
    return fig


def figure_11(runs, stamp_text):
    """VGG with lp normalizations: training and landscape."""
    if not _need(runs, VGG_LP):
        return None
    fig = _lp_figure(runs, VGG_LP, "accuracy", "training accuracy", log=False)
    return _finish(fig, "Figure 11: VGG with ℓp normalizations", stamp_text)


def figure_12(runs, stamp_text):
    """The deep linear network with lp normalizations: training and landscape."""
    if not _need(runs, DLN_LP):
        return None
    fig = _lp_figure(runs, DLN_LP, "loss", "training loss", log=True)
    return _finish(fig, "Figure 12: deep linear network with ℓp normalizations", stamp_text)


def figure_13(runs, stamp_text):
    """Training with lp normalizations against BatchNorm: (a) VGG, (b) DLN."""
    if not _need(runs, VGG_LP + DLN_LP):
        return None
    fig = _new(1, 2, width=5.0, height=3.6)
    ax_vgg, ax_dln = fig.subplots(1, 2)
    _train_panel(ax_vgg, [runs[n] for n in VGG_LP], "accuracy", "training accuracy")
    ax_vgg.set_title("(a) VGG")
    _train_panel(ax_dln, [runs[n] for n in DLN_LP], "loss", "training loss", log=True)
    ax_dln.set_title("(b) deep linear network")
    return _finish(fig, "Figure 13: training with ℓp normalizations", stamp_text)


def figure_14(runs, stamp_text):
    """VGG activation distributions under every normalization."""
    if not _need(runs, VGG_LP):
        return None
    group = [runs[n] for n in VGG_LP]
    layers = _pick_layers(group[0].activation_layers(), 2)
    fig = _new(2, 5, width=3.0, height=2.8)
    _activation_grid(fig, fig.add_gridspec(2, 5), group, layers)
    return _finish(fig, "Figure 14: VGG activation distributions under different "
                   "normalizations", stamp_text)


FIGURES = {1: figure_1, 2: figure_2, 3: figure_3, 4: figure_4, 6: figure_6, 7: figure_7,
           8: figure_8, 9: figure_9, 10: figure_10, 11: figure_11, 12: figure_12,
           13: figure_13, 14: figure_14}


def make_all(runs: dict[str, Run], out_dir, stamp: str = "") -> list[Path]:
    """Every figure whose runs exist, as out_dir/figure_NN.png; returns the paths written."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for number, make in FIGURES.items():
        fig = make(runs, stamp)
        if fig is not None:
            path = out_dir / f"figure_{number:02d}.png"
            fig.savefig(path, dpi=110)
            written.append(path)
    return written
