"""The paper's own series drawn on our figures' axes (bn_smooth/paper/data, read from its
arXiv v3 PDF), dashed, in the colour of the run they match, over the steps both cover.

A run matches a paper series of its normalization, and of its learning rate where the
paper's legend names one. Units follow ours: the paper's accuracies in percent are drawn
as fractions.
"""

import numpy as np
from matplotlib.lines import Line2D

from bn_smooth.paper import paper_data
from bn_smooth.paper.panels import COLORS
from bn_smooth.paper.paper_values import series

DASHED = {"lw": 1.0, "ls": (0, (4, 2)), "alpha": 0.9}
SOURCE = "the paper (arXiv v3, read from its PDF)"
LABEL = f"dashed: {SOURCE}"


def clipped(s: dict, until: float, keys=("y",)) -> tuple:
    """A paper series' x and its `keys`, up to step `until`."""
    keep = [i for i, x in enumerate(s["x"]) if x <= until]
    return ([s["x"][i] for i in keep], *([s[k][i] for i in keep] for k in keys))


def draw(ax, stem: str, runs, scale: float = 1.0) -> int:
    """Each run's paper series in the panel `stem` on `ax` (a band as its two edges), up
    to the run's last step; adds one legend entry for all of them. Returns how many were
    drawn."""
    drawn = 0
    for run in runs:
        s = series(stem, run.norm, run.lr)
        if s is None:
            continue
        keys = ("lower", "upper") if s["kind"] == "band" else ("y",)
        x, *ys = clipped(s, run.num_steps, keys)
        for y in ys:
            ax.plot(x, [v * scale for v in y], color=COLORS.get(run.norm, "black"), **DASHED)
        drawn += 1
    if drawn:
        handles, labels = ax.get_legend_handles_labels()
        handles.append(Line2D([], [], color="0.3", **DASHED))
        ax.legend(handles, [*labels, LABEL], fontsize=6)
    return drawn


def eta_median(ax, stem: str) -> None:
    """The median over the paper's probes of its figure-10 curves (all at the same step
    sizes), dashed black."""
    curves = paper_data.load(stem)["series"]
    x = curves[0]["x"]
    median = np.median([c["y"] for c in curves], axis=0)
    ax.plot(x, median, color="black", **DASHED, label="the paper's median (arXiv v3, PDF)")
    ax.legend(fontsize=6)


def landscape(axes, stems, runs) -> int:
    """The paper's loss range, gradient predictiveness and beta-smoothness panels on our
    three landscape axes."""
    return sum(draw(ax, stem, runs) for ax, stem in zip(axes, stems, strict=True))
