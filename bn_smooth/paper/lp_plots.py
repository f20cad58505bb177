"""The paper's figures 11-14: VGG and the deep linear network under the lp normalizations
of section 3.3, against BatchNorm and the standard network.

Like bn_smooth.paper.plots, each figure takes the suite's runs by name, declares those it
reads, and returns a matplotlib Figure; `FIGURES` names them for `plots.make_all`.
"""

from bn_smooth.paper import overlays, panels
from bn_smooth.paper.panels import DLN_LP, VGG_LP, reads


def _lp_figure(runs, names, key, ylabel, log, paper: str, scale: float):
    """Training and the three landscape panels, with the paper's figure `paper` (panels
    a-d) drawn on them."""
    group = [runs[n] for n in names]
    fig = panels.new(1, 4, width=3.6, height=3.2)
    axes = fig.subplots(1, 4)
    panels.train_panel(axes[0], group, key, ylabel, log=log)
    axes[0].set_title("(a) training")
    overlays.draw(axes[0], f"{paper}a", group, scale)
    panels.landscape_panels(axes[1:], group, log=log, eta_note=panels.eta_note(group[0]))
    overlays.landscape(axes[1:], [f"{paper}{letter}" for letter in "bcd"], group)
    for ax, letter in zip(axes[1:], "bcd", strict=True):
        ax.set_title(f"({letter}) {ax.get_title()}", fontsize=9)
    return fig


@reads(*VGG_LP)
def figure_11(runs, stamp_text):
    """VGG with lp normalizations: training and landscape."""
    fig = _lp_figure(runs, VGG_LP, "accuracy", "training accuracy", False, "figure_11", 0.01)
    return panels.finish(fig, "Figure 11: VGG with ℓp normalizations", stamp_text)


@reads(*DLN_LP)
def figure_12(runs, stamp_text):
    """The deep linear network with lp normalizations: training and landscape."""
    fig = _lp_figure(runs, DLN_LP, "loss", "training loss", True, "figure_12", 1.0)
    return panels.finish(fig, "Figure 12: deep linear network with ℓp normalizations", stamp_text)


@reads(*VGG_LP, *DLN_LP)
def figure_13(runs, stamp_text):
    """Training with lp normalizations against BatchNorm: (a) VGG, (b) DLN."""
    fig = panels.new(1, 2, width=5.0, height=3.6)
    ax_vgg, ax_dln = fig.subplots(1, 2)
    panels.train_panel(ax_vgg, [runs[n] for n in VGG_LP], "accuracy", "training accuracy")
    ax_vgg.set_title("(a) VGG")
    overlays.draw(ax_vgg, "figure_13a", [runs[n] for n in VGG_LP], scale=0.01)
    panels.train_panel(ax_dln, [runs[n] for n in DLN_LP], "loss", "training loss", log=True)
    ax_dln.set_title("(b) deep linear network")
    overlays.draw(ax_dln, "figure_13b", [runs[n] for n in DLN_LP])
    return panels.finish(fig, "Figure 13: training with ℓp normalizations", stamp_text)


@reads(*VGG_LP)
def figure_14(runs, stamp_text):
    """VGG activation distributions under every normalization."""
    group = [runs[n] for n in VGG_LP]
    layers = panels.pick_layers(group[0].activation_layers(), 2)
    fig = panels.new(2, 5, width=3.0, height=2.8)
    panels.activation_grid(fig, fig.add_gridspec(2, 5), group, layers)
    return panels.finish(
        fig,
        "Figure 14: VGG activation distributions under different "
        f"normalizations (this VGG has {len(group[0].activation_layers())} "
        "normalized layers; the paper's layer #11 needs a deeper one, such "
        "as the C4 study's VGG-16)",
        stamp_text,
    )


FIGURES = {
    "figure_11": figure_11,
    "figure_12": figure_12,
    "figure_13": figure_13,
    "figure_14": figure_14,
}
