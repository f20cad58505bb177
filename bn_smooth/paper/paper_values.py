"""Numbers read off the paper's series (bn_smooth/paper/data): a value at a step, a median
over a window of steps, a per-step ratio standard / BatchNorm, as its figures plot them."""

import math

import numpy as np

from bn_smooth.paper import paper_data
from bn_smooth.summaries import EARLY

PAPER_STEPS = 15_000  # the paper's VGG runs


def paper_at(stem: str, norm: str, step: float, lr: float | None = None, key: str = "y") -> float:
    """The paper's series of `norm` in panel `stem` at `step`, between its plotted points."""
    s = series(stem, norm, lr)
    return float(np.interp(step, s["x"], s[key])) if s else math.nan


def paper_median(stem: str, norm: str, lo: float, hi: float, value) -> float:
    """The median over the paper's points in [lo, hi] of value(series, i)."""
    s = series(stem, norm)
    if not s:
        return math.nan
    keep = [i for i, x in enumerate(s["x"]) if lo <= x <= hi]
    return float(np.median([value(s, i) for i in keep])) if keep else math.nan


def paper_ratio(stem: str, lo: float, hi: float, value) -> float:
    """The median over the paper's probes in [lo, hi] of value(standard) / value(BatchNorm)
    at the same probe: figure 4's per-step ratio."""
    a, b = series(stem, "none"), series(stem, "batch")
    common = sorted(set(a["x"]) & set(b["x"]))
    ratios = [
        value(a, a["x"].index(x)) / value(b, b["x"].index(x)) for x in common if lo <= x <= hi
    ]
    return float(np.median(ratios)) if ratios else math.nan


def paper_early(stem: str, value, reduce=np.median) -> float:
    """`reduce` over the paper's probes in its first EARLY after step 0 (probes 100-2,900
    of 15,000) of the per-step ratio value(standard) / value(BatchNorm)."""
    a, b = series(stem, "none"), series(stem, "batch")
    last = max(a["x"])
    ratios = [
        value(a, i) / value(b, b["x"].index(x))
        for i, x in enumerate(a["x"])
        if 0 < x < EARLY * last and x in b["x"]
    ]
    return float(reduce(ratios))


def series(stem: str, norm: str, lr: float | None = None) -> dict | None:
    """The paper's series of `norm` (and `lr`, where its legend names one) in a panel."""
    for s in paper_data.load(stem)["series"]:
        if s.get("norm") == norm and (s.get("lr") is None or lr is None or s["lr"] == lr):
            return s
    return None


def loss_range(s, i):
    return s["upper"][i] - s["lower"][i]


def top(s, i):
    return s["upper"][i]


def line(s, i):
    return s["y"][i]
