"""The paper's plotted data, read back from the vector figures of its arXiv PDF.

The paper's figures are matplotlib PDFs in seaborn's darkgrid style, embedded as form
XObjects: every line, band, gridline and tick label is an operator of a content stream.
bn_smooth.paper.pdf_content reads a form into paths and texts; `panels` finds each axes
(its grey background), calibrates its axes from its own white gridlines and their tick
labels (linear, or log when they are powers of ten), and tells its series apart by the
legend's colour and dash. bn_smooth.paper.paper_data says which forms are
which figures and writes the series.

Needs pypdf (the `paper` extra); the measurement library never imports this.
"""

import dataclasses
import math
import re

import numpy as np

from bn_smooth.paper.pdf_content import Path, Text

AXES_FACE = (0.918, 0.918, 0.949)  # seaborn darkgrid's axes background
GRID = (1.0,)  # its gridlines: white


def tick_value(label: str, superscript: str = "") -> float:
    """A tick label as a number: '5k' is 5,000, '0.5' is 0.5, '1e-06' is 1e-6, 10 with the
    superscript -2 is 0.01; ValueError for any other text."""
    if superscript:
        return tick_value(label) ** tick_value(superscript)
    match = re.fullmatch(
        r"(-?\d*\.?\d+(?:e[-+]?\d+)?)([kM]?)", label.replace("\u2212", "-").strip()
    )
    if not match:
        raise ValueError(f"{label!r} is not a tick label")
    return float(match[1]) * {"": 1.0, "k": 1e3, "M": 1e6}[match[2]]


@dataclasses.dataclass(frozen=True)
class Axis:
    """The map from the form's coordinate to data, fitted to the gridlines' tick labels:
    linear, or linear in log10 of the data (a log axis, labelled by powers of ten)."""

    positions: tuple  # gridline coordinates
    values: tuple  # their tick labels' values
    log: bool = False

    def _fit(self):
        values = np.log10(self.values) if self.log else np.asarray(self.values)
        return np.polyfit(self.positions, values, 1)

    def __call__(self, coordinate):
        slope, intercept = self._fit()
        mapped = slope * np.asarray(coordinate, dtype=float) + intercept
        return 10.0**mapped if self.log else mapped

    def residual(self) -> float:
        """The largest gap between a gridline mapped to data and its tick label, in units
        of the axis' span (decades on a log axis): 0 when every label is where the others
        put it; a mislabelled gridline shows as a large residual."""
        scale = np.log10 if self.log else np.asarray
        mapped, values = scale(self(self.positions)), scale(np.array(self.values))
        return float(np.max(np.abs(mapped - values)) / (values.max() - values.min()))


CLEARLY = 1e-6  # of the axis' span: far above float64 rounding, far below a misplaced label


@dataclasses.dataclass
class Panel:
    box: tuple  # x0, y0, x1, y1 of the axes background
    x: Axis
    y: Axis
    series: dict  # legend label -> the paths in its colour and dash, in drawing order
    labels: dict  # "title", "xlabel", "ylabel": the texts above, below and left of it
    paths: list  # every path drawn inside it but gridlines and the legend's


def _inside(path: Path, box, margin: float = 1.0) -> bool:
    x0, y0, x1, y1 = path.box
    return (
        x0 >= box[0] - margin
        and x1 <= box[2] + margin
        and y0 >= box[1] - margin
        and y1 <= box[3] + margin
    )


def _gridlines(paths, box, vertical: bool) -> list[float]:
    """The coordinates of the white lines that cross the whole axes."""
    found = []
    for p in paths:
        if p.op != "S" or p.stroke != GRID or len(p.points) != 2 or not _inside(p, box):
            continue
        (xa, ya), (xb, yb) = p.points
        if vertical and math.isclose(xa, xb) and abs(ya - yb) > 0.9 * (box[3] - box[1]):
            found.append(float(xa))
        if not vertical and math.isclose(ya, yb) and abs(xa - xb) > 0.9 * (box[2] - box[0]):
            found.append(float(ya))
    return sorted(found)


def _tick_label(t: Text, box, vertical: bool):
    """(distance from the gridline's coordinate, value) of a text that is a tick label of
    this axes, or None."""
    try:
        value = tick_value(t.base, t.superscript)
    except ValueError:
        return None
    if vertical:  # centred under the axes
        centre = (t.x + t.end) / 2
        beside = box[1] - 3 * t.size < t.y < box[1] and box[0] - t.size < centre < box[2] + t.size
        return (centre, value) if beside else None
    # Left of the axes, its digits' middle (a third of an em above the baseline) on the line
    beside = box[0] - 6 * t.size < t.x < box[0] and box[1] - t.size < t.y < box[3]
    return (t.y + 0.35 * t.size, value) if beside else None


def _axis(grid, texts, box, vertical: bool) -> Axis:
    """Each tick label with the gridline nearest its centre (the axes' white edges are
    lines too, but farther from any label)."""
    found = {}
    for t in texts:
        label = _tick_label(t, box, vertical)
        if label is None or not grid:
            continue
        at, value = label
        g = min(grid, key=lambda g: abs(g - at))
        if abs(g - at) < t.size and (g not in found or abs(g - at) < found[g][0]):
            found[g] = (abs(g - at), value, bool(t.superscript))
    positions = tuple(sorted(found))
    values = tuple(found[g][1] for g in positions)
    linear = Axis(positions, values)
    if len(positions) < 2 or min(values) <= 0:
        return linear
    # Powers of ten (10^k, or 1e-k evenly spaced on the page): a log axis. Two labels fit
    # either scale exactly, and which residual is the smaller is then the host's rounding
    # (it differed between two CPUs): log only when it fits clearly better.
    log = Axis(positions, values, log=True)
    powers = all(found[g][2] for g in positions)
    return log if powers or log.residual() < linear.residual() - CLEARLY else linear


def _key(path: Path) -> tuple:
    """What tells a series apart: a line's colour and dash, or a band's colour."""
    return ("line", path.stroke, path.dash) if path.op == "S" else ("band", path.fill)


def _legend(items, box) -> tuple[dict, list]:
    """({label: key}, the legend's own paths): a short path inside the axes followed by
    its text."""
    legend, entries = {}, []
    for item, following in zip(items, items[1:], strict=False):
        if not (isinstance(item, Path) and isinstance(following, Text)) or item.stroke == GRID:
            continue
        x0, y0, x1, y1 = item.box
        if len(item.points) <= 5 and x1 - x0 < 40 and y1 - y0 < 15 and _inside(item, box):
            legend[following.text] = _key(item)
            entries.append(item)
    return legend, entries


def _is_number(t: Text) -> bool:
    try:
        tick_value(t.base, t.superscript)
    except ValueError:
        return False
    return True


def _labels(texts, box) -> dict:
    words = [t for t in texts if not _is_number(t)]
    centre = (box[0] + box[2]) / 2
    below = [t for t in words if t.y < box[1] and abs((t.x + t.end) / 2 - centre) < 60]
    above = [t for t in words if t.y > box[3] and box[0] - 20 < t.x < box[2]]
    left = [t for t in words if t.x < box[0] and box[1] <= t.y <= box[3]]
    return {
        name: min(found, key=lambda t: abs(t.y - box[1]) + abs(t.x - box[0])).text
        for name, found in (("title", above), ("xlabel", below), ("ylabel", left))
        if found
    }


def panels(items) -> list[Panel]:
    """Each axes of a form, in drawing order: its calibrated axes, its series by legend
    label and its labels. An axes draws its background first, then its gridlines, ticks,
    series and legend, so its items are those up to the next axes' background. An axes
    without tick labels of its own shares them with the labelled axes in its row (y) or
    column (x); one without a legend uses the legends of the others."""
    starts = [
        i
        for i, it in enumerate(items)
        if isinstance(it, Path) and it.op == "f" and it.fill == AXES_FACE
    ]
    chunks = [items[a:b] for a, b in zip(starts, [*starts[1:], len(items)], strict=True)]
    boxes = [chunk[0].box for chunk in chunks]
    legends = [_legend(chunk, box) for chunk, box in zip(chunks, boxes, strict=True)]
    shared = {k: v for legend, _ in legends for k, v in legend.items()}
    entries = [e for _, found in legends for e in found]
    axes = []
    for chunk, box in zip(chunks, boxes, strict=True):
        paths = [it for it in chunk if isinstance(it, Path)]
        texts = [it for it in chunk if isinstance(it, Text)]
        axes.append([_axis(_gridlines(paths, box, v), texts, box, v) for v in (True, False)])
    out = []
    for i, (chunk, box) in enumerate(zip(chunks, boxes, strict=True)):
        x, y = axes[i]
        if len(x.values) < 2:  # the labelled axes in the same column
            x = next(
                (
                    a[0]
                    for a, b in zip(axes, boxes, strict=True)
                    if _same(b, box, 0) and len(a[0].values) > 1
                ),
                x,
            )
        if len(y.values) < 2:  # the labelled axes in the same row
            y = next(
                (
                    a[1]
                    for a, b in zip(axes, boxes, strict=True)
                    if _same(b, box, 1) and len(a[1].values) > 1
                ),
                y,
            )
        legend = legends[i][0] or shared
        paths = [it for it in chunk if isinstance(it, Path) and _inside(it, box)]
        series = {
            label: [p for p in paths if _key(p) == key and not any(p is e for e in entries)]
            for label, key in legend.items()
        }
        texts = [it for it in chunk if isinstance(it, Text)]
        drawn = [
            p
            for p in paths
            if not (p.op == "S" and p.stroke == GRID)
            and not (p.op == "f" and p.fill == AXES_FACE)
            and not any(p is e for e in entries)
        ]
        out.append(Panel(box, x, y, series, _labels(texts, box), drawn))
    return out


def _same(a, b, dim: int) -> bool:
    """Whether two axes boxes span the same x (dim 0) or y (dim 1) range."""
    return math.isclose(a[dim], b[dim], abs_tol=0.5) and math.isclose(
        a[dim + 2], b[dim + 2], abs_tol=0.5
    )


# ---------------------------------------------------------------------------
# Series in data units


def line(path: Path, panel: Panel) -> dict:
    """A plotted line: {x, y} in data units."""
    x, y = path.points.T
    return {"x": panel.x(x), "y": panel.y(y)}


def band(path: Path, panel: Panel) -> dict:
    """A fill_between band, {x, lower, upper}: its outline runs out along one edge and back
    along the other at the same x's, so at each x its lowest and highest points are the
    band's edges."""
    x, y = path.points.T
    xs = np.unique(x)
    return {
        "x": panel.x(xs),
        "lower": panel.y(np.array([y[x == v].min() for v in xs])),
        "upper": panel.y(np.array([y[x == v].max() for v in xs])),
    }
