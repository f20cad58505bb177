"""The calibration at the paper's width (experiments.calibration): is our full-width VGG-11
the paper's network? A gate on figure 1, fixed before the full-width runs were looked at,
then figure 4 beside the paper's plotted data (bn_smooth/paper/data).

The gate. The paper plots one minibatch's training accuracy every 100 steps, so an
accuracy "at step s" is, on both sides, the mean over the steps within WINDOW of s: the
paper's three plotted points there, and every step of ours there (at our last step, the
steps up to it: the paper's two points and our last WINDOW steps). It passes when
- the standard and the BatchNorm network at lr 0.1 are within POINTS of the paper at step
  600 and at our last step (2,000 at the cpu scale), and
- the standard network at lr 0.5 stays at or below CEILING % throughout: every
  consecutive WINDOW-step mean of its training accuracy.

The comparison: figure 4's loss range, largest gradient change and beta_eff, per network
and as the per-step ratio standard / BatchNorm, as medians over the probes at the paper's
probe steps (every 100) from step 100 to our last, against the paper's medians over the
same steps; and lambda_1 lr/2 and beta_eff lr/2 (1 at (S)GD's stability threshold 2/lr).
"""

import math

import numpy as np

from bn_smooth.configs.calibration import CANDIDATES, HIGH_LR, MAIN
from bn_smooth.paper.paper_values import line, loss_range, paper_median, paper_ratio, series, top
from bn_smooth.summaries import matched_ratio

POINTS = 8.0  # the gate's tolerance on an accuracy, in points (%)
CEILING = 20.0  # the standard network at lr 0.5: "at chance" (10%) means at most this
WINDOW = 100  # steps either side of a named step; the paper plots every 100th step
FIGURE_4 = (
    ("loss range", "figure_04a", loss_range, "loss range"),
    ("largest gradient change", "figure_04b", top, "gradient change"),
    ("beta_eff", "figure_04c", line, "beta_eff"),
)
SUMMARY = "calibration.json"  # beside the figures; REPORT.md reads it


# ---------------------------------------------------------------------------
# The gate


def accuracy_near(run, step: int) -> float:
    """Our training accuracy (%) at `step`: the mean over our steps within WINDOW of it."""
    steps, values = run.train_curve("accuracy")
    keep = np.abs(steps - step) <= WINDOW
    return 100 * float(np.mean(values[keep])) if keep.any() else math.nan


def paper_accuracy_near(norm: str, lr: float, step: int, last: int | None = None) -> float:
    """The paper's figure-1 training accuracy (%) at `step`: the mean of its plotted points
    within WINDOW of it, up to step `last` (our run's end: at our last step both sides
    average what comes before it)."""
    s = series("figure_01a", norm, lr)
    last = step + WINDOW if last is None else last
    near = [y for x, y in zip(s["x"], s["y"], strict=True) if abs(x - step) <= WINDOW and x <= last]
    return float(np.mean(near)) if near else math.nan


def paper_highest(norm: str, lr: float, last: int) -> float:
    """The paper's highest plotted training accuracy (%) up to step `last` (one minibatch
    each, every 100 steps)."""
    s = series("figure_01a", norm, lr)
    return max(y for x, y in zip(s["x"], s["y"], strict=True) if x <= last)


def highest_window_mean(run) -> float:
    """The highest mean training accuracy (%) over consecutive WINDOW-step blocks."""
    _, values = run.train_curve("accuracy")
    blocks = [values[i : i + WINDOW] for i in range(0, len(values), WINDOW)]
    return 100 * max(float(np.mean(b)) for b in blocks)


def gate(runs, early_step: int) -> dict:
    """{"conditions": [{network, step, condition, paper, ours, passed}], "passed": all of
    them}: the accuracies at `early_step` and at the last step."""
    conditions = []
    for name in MAIN:
        run = runs[name]
        for step in (early_step, run.num_steps):
            ours = accuracy_near(run, step)
            paper = paper_accuracy_near(run.norm, run.lr, step, last=run.num_steps)
            conditions.append(
                dict(
                    network=f"{run.label}, lr {run.lr:g}",
                    step=step,
                    condition=f"{run.label}, lr {run.lr:g}: training accuracy at step "
                    f"{step:,} within {POINTS:g} points of the paper's",
                    paper=paper,
                    ours=ours,
                    passed=bool(abs(ours - paper) <= POINTS),
                )
            )
    high = runs[HIGH_LR]
    ours = highest_window_mean(high)
    conditions.append(
        dict(
            network=f"{high.label}, lr {high.lr:g}",
            step=None,
            condition=f"{high.label}, lr {high.lr:g}: at or below {CEILING:g}% throughout "
            f"({high.num_steps:,} steps; the highest {WINDOW}-step mean)",
            paper=paper_highest(high.norm, high.lr, high.num_steps),
            ours=ours,
            passed=bool(ours <= CEILING),
        )
    )
    return {"conditions": conditions, "passed": all(c["passed"] for c in conditions)}


# ---------------------------------------------------------------------------
# The comparison


def at_paper_probes(run, every: int) -> dict:
    """Figure 4's measures of `run` at the paper's probe steps (every `every`, the first
    one after the standard network's plateau at step 0 on)."""
    m = run.smoothness()
    keep = (m["steps"] >= every) & (m["steps"] % every == 0)
    return {k: np.asarray(v)[keep] for k, v in m.items()}


def landscape(runs, every: int) -> list[dict]:
    """Per measure of figure 4: each network's median and the median per-step ratio,
    ours and the paper's over the same probe steps."""
    pair = [at_paper_probes(runs[n], every) for n in MAIN]
    lo, hi = every, int(pair[0]["steps"].max())
    rows = []
    for quantity, stem, value, key in FIGURE_4:
        for name, m in zip(MAIN, pair, strict=True):
            rows.append(
                dict(
                    quantity=f"{quantity}, {runs[name].label}",
                    paper=paper_median(stem, runs[name].norm, lo, hi, value),
                    ours=float(np.median(m[key])),
                )
            )
        _, ratio = matched_ratio(pair[0]["steps"], pair[0][key], pair[1]["steps"], pair[1][key])
        rows.append(
            dict(
                quantity=f"{quantity}, standard / BatchNorm (per-step ratio)",
                paper=paper_ratio(stem, lo, hi, value),
                ours=float(np.median(ratio)),
            )
        )
    for row in rows:
        row.update(where=f"probes {lo:,}-{hi:,}", ratio=row["ours"] / row["paper"])
    return rows


def sharpness(runs, first: int) -> list[dict]:
    """Median lambda_1 lr/2 and beta_eff lr/2 over the probes from step `first` on."""
    rows = []
    for name in MAIN:
        run = runs[name]
        steps, lam = run.sharpness()
        m = run.smoothness()
        rows.append(
            dict(
                network=f"{run.label}, lr {run.lr:g}",
                lambda_1=float(np.median(lam[steps >= first])),
                beta_eff=float(np.median(m["beta_eff lr/2"][m["steps"] >= first])),
            )
        )
    return rows


def candidates(runs, names, early_step: int) -> list[dict]:
    """The experiments on the gap (`names` of CANDIDATES): per candidate and network, the
    training accuracy (%) at `early_step` of VGG-11 as the gate reads it, of the
    candidate, and the paper's."""
    rows = []
    for candidate in names:
        change, _ = CANDIDATES[candidate]
        for name in MAIN:
            base = runs[name]
            rows.append(
                dict(
                    candidate=candidate,
                    change=change,
                    network=f"{base.label}, lr {base.lr:g}",
                    step=early_step,
                    paper=paper_accuracy_near(base.norm, base.lr, early_step),
                    vgg11=accuracy_near(base, early_step),
                    changed=accuracy_near(runs[f"{candidate}_{base.norm}"], early_step),
                )
            )
    return rows


def summarize(runs, config, seconds: dict) -> dict:
    return dict(
        scale=config.scale,
        description=runs[MAIN[0]].description(),
        minutes=sum(seconds.values()) / 60,
        gate=gate(runs, config.early_step),
        paper_every=config.paper_every,
        landscape=landscape(runs, config.paper_every),
        sharpness=sharpness(runs, config.paper_every),
        candidates=candidates(runs, config.candidates, config.early_step),
    )
