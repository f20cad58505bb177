"""Our numbers beside the paper's plotted ones (bn_smooth/paper/data): REPORT.md's agreement
table, one row per figure and quantity, judged by one rule (`RULE`) applied mechanically.

The paper's value is read from its series: at a named step (interpolated between its
plotted points), or as the median over the probes of a step window both runs cover. Ours
is the same quantity from our runs; on the main pairs (VGG at lr 0.1, the DLN at lr 1e-6),
the median over the suite's seeds (with their range), since one seed's VGG numbers move
with the machine and the DLN's line search with its rounding.
"""

import dataclasses
import math

import numpy as np

from bn_smooth import summaries
from bn_smooth.paper import paper_data, paper_values
from bn_smooth.paper.markdown import fmt, table
from bn_smooth.paper.panels import DLN_MAIN, VGG_MAIN
from bn_smooth.paper.paper_values import line, loss_range, paper_at, paper_median, paper_ratio, top
from bn_smooth.paper.seed_pairs import seed_runs, seeds

FACTOR, POINTS, COSINE = 2.0, 8.0, 0.1
RULE = (
    f"A row agrees when ours is within a factor of {FACTOR:g} of the paper's (magnitudes "
    f"and ratios), within {POINTS:g} points (accuracies, in %), or within {COSINE:g} "
    "(cosines)."
)
WINDOW_START = 100  # the first probe after the standard network's plateau at step 0


@dataclasses.dataclass(frozen=True)
class Row:
    figure: str
    quantity: str
    where: str  # the step, or the window of steps
    paper: float
    ours: float
    kind: str  # "factor", "points" or "cosine"
    spread: tuple = ()  # ours over the seeds, when there are several
    scale: str = ""  # how our runs differ from the paper's

    @property
    def agrees(self) -> bool:
        if not (math.isfinite(self.paper) and math.isfinite(self.ours)):
            return False
        if self.kind == "factor":
            return self.paper * self.ours > 0 and 1 / FACTOR <= self.ours / self.paper <= FACTOR
        tolerance = POINTS if self.kind == "points" else COSINE
        return abs(self.ours - self.paper) <= tolerance

    @property
    def comparison(self) -> str:
        if self.kind == "factor":
            return f"{fmt(self.ours / self.paper)}x" if self.paper else "-"
        return (
            f"{self.ours - self.paper:+.2f}"
            if self.kind == "cosine"
            else f"{self.ours - self.paper:+.1f}"
        )


# ---------------------------------------------------------------------------
# Ours


def window(run, paper_last: float) -> tuple[float, float]:
    """The probes both cover after the plateau: from WINDOW_START to our last probe within
    the paper's last one."""
    steps = run.landscape()["steps"]
    inside = steps[(steps >= WINDOW_START) & (steps <= paper_last)]
    return WINDOW_START, float(inside.max()) if inside.size else math.nan


def landscape_rows(runs, names, stems, label: str) -> list[Row]:
    """Figure 4 or 9: the median over the window of each measure, per network and as the
    per-step ratio standard / BatchNorm, ours over seeds."""
    pairs = seeds(runs, names)
    paper_last = max(paper_data.load(stems[0])["series"][0]["x"])
    lo, hi = window(pairs[0][0], paper_last)
    if not math.isfinite(hi):  # no probe after the plateau (a short run)
        return []
    where = f"probes {lo:,.0f}-{hi:,.0f}"
    scale = scale_note(pairs[0][0])
    rows = []
    for stem, quantity, value, ours_key in (
        (stems[0], "loss range", loss_range, "loss range"),
        (stems[1], "largest gradient change", top, "gradient change"),
        (stems[2], "beta_eff", line, "beta_eff"),
    ):
        per_seed = [ours_window(pair, ours_key, lo, hi) for pair in pairs]
        for i, norm in enumerate(("none", "batch")):
            values = [p[i] for p in per_seed]
            rows.append(
                Row(
                    f"{label} {stem[-1]}",
                    f"{quantity}, {'standard' if norm == 'none' else 'BatchNorm'}",
                    where,
                    paper_median(stem, norm, lo, hi, value),
                    float(np.median(values)),
                    "factor",
                    tuple(values) if len(values) > 1 else (),
                    scale,
                )
            )
        ratios = [p[2] for p in per_seed]
        rows.append(
            Row(
                f"{label} {stem[-1]}",
                f"{quantity}, standard / BatchNorm (per-step ratio)",
                where,
                paper_ratio(stem, lo, hi, value),
                float(np.median(ratios)),
                "factor",
                tuple(ratios) if len(ratios) > 1 else (),
                scale,
            )
        )
    return rows


def ours_window(pair, key: str, lo: float, hi: float) -> tuple[float, float, float]:
    """(standard, BatchNorm, median per-step ratio) of `key` over the probes in [lo, hi]."""
    series = []
    for run in pair:
        m = run.smoothness()
        keep = (m["steps"] >= lo) & (m["steps"] <= hi)
        if not keep.any():  # a run shorter than the window
            return math.nan, math.nan, math.nan
        series.append((m["steps"][keep], np.asarray(m[key])[keep]))
    _, r = summaries.matched_ratio(*series[0], *series[1])
    return float(np.median(series[0][1])), float(np.median(series[1][1])), float(np.median(r))


def scale_note(run) -> str:
    c = run.config
    if c["task"] == "vgg_cifar":
        return f"ours: width {c['model']['width']:g}, {c['num_steps']:,} steps"
    return f"ours: {c['num_steps']:,} steps"


def markdown(rows: list[Row]) -> str:
    header = ["figure", "quantity", "where", "paper", "ours", "ours vs paper", "agrees", "scale"]
    body = []
    for r in rows:
        ours = fmt(r.ours)
        if r.spread:
            ours += f" ({fmt(min(r.spread))}-{fmt(max(r.spread))}, {len(r.spread)} seeds)"
        body.append(
            [
                r.figure,
                r.quantity,
                r.where,
                fmt(r.paper),
                ours,
                r.comparison,
                "yes" if r.agrees else "**no**",
                r.scale,
            ]
        )
    agree = sum(r.agrees for r in rows)
    return f"{RULE} {agree} of {len(rows)} rows agree.\n\n" + table(header, body)


def accuracy_rows(runs, names, stem: str, label: str, key: str = "train") -> list[Row]:
    """Figure 1 or 2: accuracy (%) at the end of our early window and at our last step
    (training, a running mean; test: at our last evaluation), on the seeds there are."""
    rows = []
    for name in names:
        run = runs[name]
        runs_of = seed_runs(runs, name)
        if key == "train":
            steps = (int(summaries.EARLY * run.num_steps), run.num_steps - 1)
            ours = [[100 * r.train_at("accuracy", s) for r in runs_of] for s in steps]
        else:
            steps = (int(run.eval_curve("accuracy")[0][-1]),)
            ours = [[100 * r.final_test() for r in runs_of[:1]]]
        for step, values in zip(steps, ours, strict=True):
            rows.append(
                Row(
                    f"{label}",
                    f"{key} accuracy (%), {run.label}, lr {run.lr:g}",
                    f"step {step:,}",
                    paper_at(stem, run.norm, step, run.lr),
                    float(np.median(values)),
                    "points",
                    tuple(values) if len(values) > 1 else (),
                    scale_note(run),
                )
            )
    return rows


def ics_rows(runs, names, network: str, layers) -> list[Row]:
    """Figure 3: the median over the window of the l2 difference and the cosine, at the
    paper's layers (or the nearest ours has)."""
    from bn_smooth.paper.panels import nearest_layer

    rows = []
    for name in names:
        run = runs[name]
        if len(run.ics_layers()) < 2:  # no ICS probe
            continue
        for number in layers:
            layer = nearest_layer(run.ics_layers(), number)
            steps, l2, cosine = run.ics(layer)
            stem = f"figure_03_{network}_lr{run.lr:g}_layer{number}"
            for measure, ours, kind in (("l2", l2, "factor"), ("cosine", cosine, "cosine")):
                s = paper_values.series(f"{stem}_{measure}", run.norm)
                if s is None:  # not in the paper's figure
                    continue
                hi = min(float(steps.max()), max(s["x"]))
                keep = (steps >= WINDOW_START) & (steps <= hi)
                ours_layer = f"#{int(layer.split('_')[1]) + 1}"
                rows.append(
                    Row(
                        "3",
                        f"ICS {measure}, {run.label}, lr {run.lr:g}, layer #{number} "
                        f"(ours {ours_layer})",
                        f"steps {WINDOW_START}-{hi:,.0f}",
                        paper_median(f"{stem}_{measure}", run.norm, WINDOW_START, hi, line),
                        float(np.nanmedian(ours[keep])) if keep.any() else math.nan,
                        kind,
                        scale=scale_note(run),
                    )
                )
    return rows


def eta_rows(runs, names, network: str) -> list[Row]:
    """Figure 10: the median over probes of the gradient change at a step size, standard /
    BatchNorm, at the paper's step sizes that ours spans (interpolated in ours)."""
    curves = [paper_data.load(f"figure_10_{network}_{n}")["series"] for n in ("none", "batch")]
    etas = curves[0][0]["x"]
    paper = [np.median([c["y"] for c in cs], axis=0) for cs in curves]
    ours = [summaries.eta_medians(runs[n]) for n in names]
    rows = []
    for i, eta in enumerate(etas):
        if not all(x.min() * (1 - 1e-6) <= eta <= x.max() * (1 + 1e-6) for x, _ in ours):
            continue
        a, b = (float(np.interp(eta, x, y)) for x, y in ours)
        rows.append(
            Row(
                "10",
                f"{network.upper()} gradient change at η = {eta:g}, standard / BatchNorm "
                "(medians over probes)",
                "every probe",
                float(paper[0][i] / paper[1][i]),
                a / b,
                "factor",
                scale=scale_note(runs[names[0]]),
            )
        )
    return rows


def all_rows(runs) -> list[Row]:
    """Every row whose runs the suite has."""
    from bn_smooth.paper.panels import DLN_SLOW, VGG_HIGH_LR, VGG_LOW_LR, VGG_NOISY

    rows = []
    have = lambda names: all(n in runs for n in names)  # noqa: E731
    if have(VGG_MAIN + VGG_HIGH_LR):
        rows += accuracy_rows(runs, VGG_MAIN + VGG_HIGH_LR, "figure_01a", "1a")
        rows += accuracy_rows(runs, VGG_MAIN, "figure_01b", "1b", key="test")
    if have(VGG_NOISY):
        rows += accuracy_rows(runs, VGG_NOISY[2:], "figure_02a", "2")
    if have(VGG_MAIN):
        rows += ics_rows(runs, VGG_MAIN, "vgg", (5, 10))
        rows += landscape_rows(runs, VGG_MAIN, ("figure_04a", "figure_04b", "figure_04c"), "4")
        rows += eta_rows(runs, VGG_MAIN, "vgg")
    if have(DLN_MAIN):
        rows += ics_rows(runs, DLN_MAIN, "dln", (9, 17))
        rows += landscape_rows(runs, DLN_MAIN, ("figure_09a", "figure_09b", "figure_09c"), "9")
        rows += eta_rows(runs, DLN_MAIN, "dln")
    if have(DLN_SLOW):
        rows += ics_rows(runs, DLN_SLOW, "dln", (9, 17))
    if have(VGG_LOW_LR):
        rows += ics_rows(runs, VGG_LOW_LR, "vgg", (5, 10))
    return [r for r in rows if math.isfinite(r.paper) and math.isfinite(r.ours)]
