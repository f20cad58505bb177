"""The pieces the paper's figures are made of: styles, labels and panels (bn_smooth.paper.plots).

Activation panels show each unit's 'post_norm' values: the layer's output
after its normalization and before the ReLU, i.e. what the rest of the network
receives (for the standard network, the pre-activation itself).
"""

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure

from bn_smooth import summaries
from bn_smooth.configs import reproduce as suite
from bn_smooth.results import Run
from bn_smooth.summaries import matched_ratio

COLORS = {
    "none": "tab:blue",
    "batch": "tab:orange",
    "noisy_batch": "tab:green",
    "l1": "tab:red",
    "l2": "tab:purple",
    "linf": "tab:brown",
    "layer": "tab:pink",
    "group": "tab:gray",
    "instance": "tab:olive",
    "rms": "tab:cyan",
    "weight_norm": "black",
    "weight_standardization": "gold",
}
SITE = "post_norm"

# Runs of the suite (named in bn_smooth/configs/reproduce.py) that figures draw together.
VGG_MAIN, VGG_HIGH_LR, VGG_LOW_LR = suite.VGG_MAIN, suite.VGG_HIGH_LR, suite.VGG_LOW_LR
DLN_MAIN, DLN_SLOW = suite.DLN_MAIN, suite.DLN_SLOW
VGG_NOISY = (*suite.VGG_MAIN, suite.VGG_NOISY)
VGG_LP = (*suite.VGG_MAIN, *suite.VGG_LP)
DLN_LP = (*suite.DLN_MAIN, *suite.DLN_LP)


def reads(*names):
    """Declare the suite's runs that a figure or claim reads (`fn.runs`): it is made only
    when all of them exist (`missing`). Runs it uses where present are not listed."""

    def declare(fn):
        fn.runs = tuple(dict.fromkeys(names))  # in order, once each
        return fn

    return declare


def missing(fn, runs) -> list[str]:
    """The runs that `fn` declares (`reads`) and `runs` lacks."""
    return [name for name in fn.runs if name not in runs]


def label(run: Run) -> str:
    """The legend entry: normalization and learning rate (and a divergence)."""
    text = f"{run.label}, LR={run.lr:g}"
    if run.diverged_at is not None:
        text += f" (diverged at step {run.diverged_at:,})"
    return text


def style(run: Run, base_lr: float | None = None) -> dict:
    dashed = base_lr is not None and run.lr != base_lr
    return {"color": COLORS.get(run.norm, "black"), "linestyle": "--" if dashed else "-"}


def new(rows, cols, width=4.0, height=3.0) -> Figure:
    return Figure(figsize=(width * cols, height * rows + 0.6), layout="constrained")


def finish(fig: Figure, title: str, stamp_text: str) -> Figure:
    fig.suptitle(title, fontsize=12)
    fig.text(0.995, 0.002, stamp_text, ha="right", va="bottom", fontsize=7, color="0.35")
    fig.get_layout_engine().set(rect=(0, 0.03, 1, 0.97))
    return fig


def train_panel(ax, runs, key, ylabel, log=False, base_lr=None):
    for run in runs:
        steps, values = run.train_curve(key, run.window)
        ax.plot(steps, values, label=label(run), lw=1.3, **style(run, base_lr))
    ax.set(xlabel="step", ylabel=ylabel, yscale="log" if log else "linear")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)


def eval_panel(ax, runs, key, ylabel, base_lr=None):
    for run in runs:
        steps, values = run.eval_curve(key)
        ax.plot(steps, values, marker="o", ms=3, label=label(run), lw=1.3, **style(run, base_lr))
    ax.set(xlabel="step", ylabel=ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)


def pick_layers(layers, k):
    """k layers spread evenly over `layers` (the last one included)."""
    if len(layers) <= k:
        return list(layers)
    return [layers[int(round(i))] for i in np.linspace(len(layers) - 1, 0, k)[::-1]]


def display(layer: str) -> str:
    return f"layer #{int(layer.split('_')[1]) + 1}" if layer.startswith("layer_") else layer


def activation_panel(ax, run: Run, layer: str, site: str = SITE):
    """Percentile bands of one unit over training: 5-95 light, 25-75 dark, the median."""
    a = run.activations(layer, site)
    p, q = a["percentiles"], run.percentiles()
    color = COLORS.get(run.norm, "black")
    for lo, alpha in ((0, 0.2), (1, 0.45)):
        if len(q) > 2 * lo + 1:
            ax.fill_between(
                a["steps"],
                p[:, lo],
                p[:, -1 - lo],
                color=color,
                alpha=alpha,
                lw=0,
                label=f"{q[lo]:g}-{q[-1 - lo]:g}th percentile",
            )
    ax.plot(a["steps"], p[:, len(q) // 2], color=color, lw=1.2, label="median")
    ax.set_title(f"{label(run)}\n{display(layer)}, unit {a['unit']}", fontsize=8)
    ax.set(xlabel="step", ylabel="activation" if site == SITE else f"activation ({site})")
    ax.grid(alpha=0.3)


def activation_grid(fig, grid, runs, layers, first_row=0, site=SITE, sharey=True):
    axes = []
    for i, layer in enumerate(layers):
        row = []
        for j, run in enumerate(runs):
            ax = fig.add_subplot(grid[first_row + i, j], sharey=row[0] if row and sharey else None)
            activation_panel(ax, run, layer, site)
            row.append(ax)
        axes.append(row)
    axes[0][0].legend(fontsize=6, loc="upper left")
    return axes


def landscape_panels(axes, runs, log, eta_note):
    """(loss band, gradient-distance band, beta_eff) over the probed steps."""
    ax_loss, ax_grad, ax_beta = axes
    for run in runs:
        ls = run.landscape()
        color = COLORS.get(run.norm, "black")
        name = label(run)
        ax_loss.fill_between(
            ls["steps"], ls["loss_min"], ls["loss_max"], color=color, alpha=0.35, lw=0, label=name
        )
        ax_grad.fill_between(
            ls["steps"],
            ls["grad_dist_min"],
            ls["grad_dist_max"],
            color=color,
            alpha=0.35,
            lw=0,
            label=name,
        )
        ax_beta.plot(ls["steps"], ls["beta_eff"], color=color, lw=1.3, label=name)
    titles = (f"loss landscape ({eta_note})", "gradient predictiveness", '"effective" β-smoothness')
    ylabels = (
        "loss along the gradient",
        "ℓ2 change of the gradient",
        "max ℓ2 gradient change / distance",
    )
    for ax, title, ylabel in zip(axes, titles, ylabels, strict=True):
        ax.set(title=title, xlabel="step", ylabel=ylabel, yscale="log" if log else "linear")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)


def step_ratio_panel(ax, standard: Run, normalized: Run):
    """Per probed step, standard / normalized of the largest gradient change, of it over
    ||g||, and of beta_eff, on a log axis (above 1: the normalized network is smoother)."""
    a, b = standard.smoothness(), normalized.smoothness()
    for key, color in (
        ("gradient change", "black"),
        ("gradient change / ||g||", "tab:green"),
        ("beta_eff", "tab:purple"),
    ):
        steps, r = matched_ratio(a["steps"], a[key], b["steps"], b[key])
        ax.plot(steps, r, color=color, lw=1.0, label=key)
    ax.axhline(1, color="0.3", lw=0.8)
    ax.set(
        title=f"per-step ratio, {standard.label} / {normalized.label.split('+ ')[-1]}",
        xlabel="step",
        ylabel="ratio (above 1: smoother with the norm)",
        yscale="log",
    )
    ax.title.set_fontsize(8)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7)


def eta_panel(ax, run: Run, log: bool):
    """||grad L(w - eta g) - g|| against eta at every probed step (bwr colours: blue the
    first probe, red the last) and its median over the probes."""
    ls = run.landscape()
    steps, etas = ls["steps"], summaries.eta_medians(run)[0]
    shade = colormaps["bwr"]
    for i in range(len(steps)):
        ax.plot(etas, ls["grad_dists"][i], color=shade(i / max(len(steps) - 1, 1)), lw=0.6)
    ax.plot(etas, summaries.eta_medians(run)[1], color="black", lw=1.8, label="median")
    scale = "log" if log else "linear"
    ax.set(
        title=f"{label(run)}: steps {steps[0]:,} (blue) to {steps[-1]:,} (red)",
        xlabel="step size η (along the gradient)",
        ylabel="||∇L(w - ηg) - g||",
        xscale=scale,
        yscale=scale,
    )
    ax.title.set_fontsize(8)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=6)


def eta_note(run: Run) -> str:
    p = run.config["probe"]["landscape"]
    return f"η in [{p['eta_min']:g}, {p['eta_max']:g}] x lr"


def ics_panels(ax_l2, ax_cos, runs, layer, log_l2):
    for run in runs:
        steps, l2, cosine = run.ics(layer)
        line = {"color": COLORS.get(run.norm, "black"), "lw": 1.2, "label": label(run)}
        ax_l2.plot(steps, l2, **line)
        ax_cos.plot(steps, cosine, **line)
    ax_l2.set(
        title=f"{display(layer)}: ℓ2 difference",
        xlabel="step",
        ylabel="||G - G'||",
        yscale="log" if log_l2 else "linear",
    )
    ax_cos.set(
        title=f"{display(layer)}: cosine angle",
        xlabel="step",
        ylabel="cos(G, G')",
        ylim=(-1.05, 1.05),
    )
    for ax in (ax_l2, ax_cos):
        ax.grid(alpha=0.3)
    ax_cos.axhline(1.0, color="0.5", lw=0.6, ls=":")
    ax_l2.legend(fontsize=7)


def nearest_layer(layers, number: int) -> str:
    """Of the normalized layers among `layers` ("layer_00", ... in forward order; the
    first left out: its ICS is 0), the one nearest the paper's layer #number."""
    hidden = [layer for layer in layers[1:] if layer.startswith("layer_")]
    return min(hidden, key=lambda layer: abs(int(layer.split("_")[1]) + 1 - number))


def paper_layer_note(layer: str, number: int) -> str:
    """ " (paper: #number)" where ours is another layer than the paper's, else ""."""
    return "" if display(layer) == f"layer #{number}" else f" (paper: #{number})"


def ics_layers(run: Run, k: int) -> list[str]:
    """k layers to show, skipping the first (its ICS is 0 by definition)."""
    return pick_layers(run.ics_layers()[1:], k)
