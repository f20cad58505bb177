"""Claim C7, beyond the paper: the top of the Hessian's spectrum against the stability
threshold 2/lr (Cohen et al. 2021), with and without BatchNorm, and what evaluation-mode
tools read instead. Numbers from the curvature probes through bn_smooth.results."""

import numpy as np

from bn_smooth import summaries
from bn_smooth.configs import reproduce as suite
from bn_smooth.paper import paper_says
from bn_smooth.paper.markdown import fmt, table
from bn_smooth.paper.panels import reads
from bn_smooth.paper.verdicts import checklist, ratio, verdict
from bn_smooth.summaries import EARLY

LOWERS = 2  # "BatchNorm lowers the top of the spectrum": lambda_1 at most half the standard's
EDGE = (0.8, 1.25)  # "at the edge of stability": lambda_1 * lr / 2 within these bounds
OSCILLATES = 0.25  # full-batch GD "oscillates" when at least this fraction of steps rise
AGREE = 0.8  # "coincides": oscillation and lambda_1 >= 2/lr agree on this fraction of intervals
SHARPNESS_PAIRS = (
    ("VGG, lr 0.1", *suite.VGG_MAIN),
    ("VGG, lr 0.5", *suite.VGG_HIGH_LR),
    ("DLN, lr 1e-6", *suite.DLN_MAIN),
)
STANDARD_DLN = (suite.DLN_MAIN[0], suite.DLN_SLOW[0])


def _position(value: float) -> str:
    return "below" if value < EDGE[0] else "above" if value > EDGE[1] else "at"


def oscillation_intervals(run) -> list[tuple[int, float, float]]:
    """(probed step t, fraction of rising steps until the next probe, lambda_1 * lr / 2 at
    the sharper of steps t and t+1) for each interval between curvature probes."""
    steps, rising = summaries.rising_between_probes(run)
    now, later = run.sharpness()[1], run.sharpness(next_step=True)[1]
    sharper = np.maximum(now, later) if later.size else now
    return [(int(t), float(r), float(m)) for t, r, m in zip(steps, rising, sharper, strict=True)]


@reads(*(name for _, *pair in SHARPNESS_PAIRS for name in pair), *STANDARD_DLN)
def claim_7(runs):
    rows, summary, lowers = [], [], []
    for what, none_name, batch_name in SHARPNESS_PAIRS:
        none, batch = runs[none_name], runs[batch_name]
        late = {r.norm: summaries.sharpness_median(r, early=False) for r in (none, batch)}
        early = {r.norm: summaries.sharpness_median(r, early=True) for r in (none, batch)}
        lowered = ratio(late["none"], late["batch"])
        rows.append(
            [
                what,
                fmt(early["none"]),
                fmt(early["batch"]),
                fmt(late["none"]),
                fmt(late["batch"]),
                fmt(lowered),
            ]
        )
        lowers.append((what, lowered))
        summary.append(f"{what} λ1·lr/2 none {fmt(late['none'])}, BN {fmt(late['batch'])}")
    parts = [  # the headline, the primary check: BatchNorm lowers lambda_1 on every pair
        (
            f"BatchNorm's lambda_1 at most 1/{LOWERS} of the standard network's after the "
            f"first {EARLY:.0%}, on every pair (standard / BatchNorm: "
            + ", ".join(f"{what} {fmt(r)}" for what, r in lowers)
            + ")",
            all(r >= LOWERS for _, r in lowers),
        )
    ]
    edge_rows = []
    for name in (
        *suite.VGG_MAIN,
        *suite.VGG_HIGH_LR,
        *suite.DLN_MAIN,
        *(
            n
            for n in (*suite.DLN_LP, suite.DLN_SLOW[0])
            if n in runs and runs[n].sharpness()[0].size
        ),
    ):
        value = summaries.sharpness_median(runs[name], early=False)
        edge_rows.append([name, f"{runs[name].lr:g}", fmt(value), _position(value)])
    at_edge = [r[0] for r in edge_rows if r[3] == "at"]
    parts.append(
        (
            f"every network trains at the edge of stability (late median lambda_1 * lr "
            f"/ 2 within [{EDGE[0]:g}, {EDGE[1]:g}]): {len(at_edge)} of {len(edge_rows)} "
            "do",
            len(at_edge) == len(edge_rows),
        )
    )
    intervals = [(name, *i) for name in STANDARD_DLN for i in oscillation_intervals(runs[name])]
    agree = [(rising >= OSCILLATES) == (sharp >= 1) for _, _, rising, sharp in intervals]
    counts = []
    for name in STANDARD_DLN:
        mine = [(r >= OSCILLATES, m >= 1) for n, _, r, m in intervals if n == name]
        counts.append(
            [
                name,
                len(mine),
                *(
                    sum(1 for c in mine if c == want)
                    for want in ((True, True), (False, False), (True, False), (False, True))
                ),
            ]
        )
    exceptions = [
        f"`{n}` from step {t:,}: {r:.0%} rising, lambda_1 * lr / 2 = {fmt(m)}"
        for (n, t, r, m), ok in zip(intervals, agree, strict=True)
        if not ok
    ]
    parts.append(
        (
            f"the standard DLN's oscillation coincides with lambda_1 >= 2/lr: they agree "
            f"on {np.mean(agree):.0%} of {len(agree)} probe intervals (lr 1e-6 and "
            f"1e-7)",
            np.mean(agree) >= AGREE,
        )
    )
    summary.append(f"DLN oscillation and λ1 ≥ 2/lr agree on {np.mean(agree):.0%} of intervals")
    body = (
        "The top Hessian eigenvalue lambda_1 of the training objective (batch statistics, "
        "the step's batch) against the stability threshold 2/lr of (S)GD: "
        "lambda_1 * lr / 2 = 1 at the threshold, from Lanczos (VGG: 16 steps; DLN: 60 "
        "steps, at each probed step t and one update later, since full-batch GD can "
        "alternate between two iterates) (figure `sharpness`). "
        f"Medians over the probes in the first {EARLY:.0%} of the run and over the rest.\n\n"
        + table(
            [
                "networks",
                "standard, early",
                "BatchNorm, early",
                "standard, late",
                "BatchNorm, late",
                "standard / BatchNorm, late",
            ],
            rows,
        )
        + "\nWhere each run sits (late median of lambda_1 * lr / 2):\n\n"
        + table(["run", "lr", "λ1 · lr / 2", "against 2/lr"], edge_rows)
        + f"\nThe standard DLN, per interval between curvature probes: does GD oscillate "
        f"(at least {OSCILLATES:.0%} of its steps raise the loss), and is lambda_1 >= 2/lr "
        "at the sharper of the probed step t and t+1?\n\n"
        + table(
            [
                "run",
                "intervals",
                "oscillates, λ1 ≥ 2/lr",
                "neither",
                "oscillates, λ1 < 2/lr",
                "descends, λ1 ≥ 2/lr",
            ],
            counts,
        )
        + (
            "\nThe intervals where they disagree: " + "; ".join(exceptions) + ".\n"
            if exceptions
            else ""
        )
        + _eval_mode_misreading(runs)
        + f"\nConfirmed when BatchNorm's late lambda_1 is at most 1/{LOWERS} of the "
        f"standard network's on each pair, every run sits within [{EDGE[0]:g}, {EDGE[1]:g}] "
        f"of 2/lr, and the standard DLN's intervals with at least {OSCILLATES:.0%} rising "
        f"steps are those with lambda_1 >= 2/lr on at least {AGREE:.0%} of intervals.\n"
        + checklist(parts)
    )
    return "; ".join(summary), verdict(parts), paper_says.claim_7("; ".join(summary)) + "\n" + body


def _eval_mode_misreading(runs) -> str:
    """What an eval-mode tool reads on the BatchNorm VGG: the running-average function's
    lambda_1 and beta_eff against the training objective's, at the same steps."""
    batchnorm = runs.get(suite.VGG_MAIN[1])
    running = batchnorm.in_evaluation_mode() if batchnorm is not None else None
    if running is None:
        return ""

    def by_step(run):
        c, ls = run.curvature(), run.landscape()
        return (
            dict(zip(c["steps"], c["eigenvalues"][:, 0], strict=True)),
            dict(zip(ls["steps"], ls["beta_eff"], strict=True)),
        )

    (lam_b, beta_b), (lam_r, beta_r) = by_step(batchnorm), by_step(running)
    rows = [
        [
            f"{t:,}",
            fmt(lam_b[t]),
            fmt(lam_r[t]),
            fmt(ratio(lam_r[t], lam_b[t])),
            *(
                [fmt(beta_b[t]), fmt(beta_r[t]), fmt(ratio(beta_r[t], beta_b[t]))]
                if t in beta_b and t in beta_r
                else ["", "", ""]
            ),
        ]
        for t in sorted(lam_b.keys() & lam_r.keys())
    ]
    return (
        "\nWhat evaluation-mode tools read on the BatchNorm VGG (run "
        f"`{batchnorm.name}`'s probes of its evaluation-mode function: the same steps, "
        "measured on the running averages):\n\n"
        + table(
            [
                "step",
                "λ1, training objective",
                "λ1, eval mode",
                "eval / training",
                "β_eff, training",
                "β_eff, eval mode",
                "eval / training",
            ],
            rows,
        )
    )
