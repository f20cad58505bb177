"""Claim C8, beyond the paper: where BatchNorm's advantage lives. At a common learning rate
both networks train at the edge of stability (C7), so lambda_1 there cannot tell them
apart; the largest learning rate at which each trains (the learning-rate sweep,
bn_smooth/paper/lr_sweep_report.py) and lambda_1 at a matched training loss can."""

import numpy as np

from bn_smooth import summaries
from bn_smooth.configs import reproduce as suite
from bn_smooth.paper import paper_values
from bn_smooth.paper.curvature_report import matched_sharpness
from bn_smooth.paper.lr_sweep_report import largest
from bn_smooth.paper.markdown import fmt
from bn_smooth.paper.panels import reads
from bn_smooth.paper.verdicts import NOT_MEASURED, checklist, three_lines, verdict

WIDER = 2  # "trains at larger learning rates": at least one step of the factor-2 grid
COMMAND = (
    "python -m experiments.lr_sweep --config=bn_smooth/configs/lr_sweep.py:scale=cpu "
    "--workdir=runs/lr_sweep --figures=figures"
)


def wider(sweep: dict, task: str) -> tuple[bool, str]:
    """(BatchNorm trains at a learning rate at least WIDER times the largest at which the
    standard network does, its text). On a common grid, a standard network that trains at
    its top leaves nothing to exceed: the check fails, as it cannot be shown."""
    none, batch = sweep["runs"][f"{task}_none"], sweep["runs"][f"{task}_batch"]
    a, b = none["largest_trainable"], batch["largest_trainable"]
    holds = b is not None and (a is None or b >= WIDER * a)
    return holds, f"standard {largest(none)}, BatchNorm {largest(batch)}"


def matched_loss(runs) -> list[tuple[float, float]]:
    """(training-loss level, lambda_1 standard / BatchNorm there) on the main VGG pair, at
    each of curvature_report.LOSS_FRACTIONS of the standard network's loss at step 0 that
    both reach (curvature_report.matched_sharpness)."""
    none, batch = (runs[name] for name in suite.VGG_MAIN)
    return [(level, a[1] / b[1]) for _, level, a, b in matched_sharpness(none, batch)]


@reads(*suite.VGG_MAIN)
def claim_8(runs, sweep: dict | None):
    if sweep is None or not all(
        f"{t}_{n}" in sweep["runs"] for t in ("vgg", "dln") for n in ("none", "batch")
    ):
        return "n/a", NOT_MEASURED, f"The learning-rate sweep has not been run: `{COMMAND}`.\n"
    vgg_ok, vgg_text = wider(sweep, "vgg")
    dln_ok, dln_text = wider(sweep, "dln")
    matched = matched_loss(runs)
    parts = [
        (
            f"on VGG, BatchNorm trains at {WIDER}x or more the largest lr the standard "
            f"network does ({vgg_text})",
            vgg_ok,
        ),
        (f"the same on the DLN ({dln_text})", dln_ok),
        (
            "at a matched training loss, the main VGG pair's lambda_1 is lower with BatchNorm "
            "(standard / BatchNorm: "
            + ", ".join(f"{fmt(r)} at loss {fmt(level)}" for level, r in matched)
            + ")",
            bool(matched) and all(r > 1 for _, r in matched),
        ),
    ]
    paper = {
        norm: paper_values.paper_at("figure_01a", norm, 15_000, lr=0.5)
        for norm in ("none", "batch")
    }
    none, batch = (runs[name] for name in suite.VGG_MAIN)
    steps, la, lb = summaries.before_threshold(none, batch)
    first = [r.sharpness()[1][0] for r in (none, batch)] if none.sharpness()[0].size else []
    before = (
        f"at the {steps.size} curvature probes before either reaches 2/lr, standard / BatchNorm "
        f"{fmt(float(np.median(la / lb)))} (median)"
        if steps.size
        else "not measurable: at step 0 lambda_1 lr/2 is already "
        + " and ".join(f"{fmt(v)} ({r.label})" for v, r in zip(first, (none, batch), strict=True))
    )
    body = three_lines(
        'BatchNorm "enables us to use a broader range of (and thus larger) learning rates" '
        "(section 3.1, figure 10).",
        f"figure 1(a): at lr 0.5, the standard VGG's training accuracy at step 15,000 is "
        f"{fmt(paper['none'])}% (chance: 10%), BatchNorm's {fmt(paper['batch'])}%; no other "
        "learning rate is plotted.",
        f"the largest learning rate that trains, from one sweep per network ({sweep['scale']} "
        f"scale, seed {sweep['seed']}; [lr_sweep.md](lr_sweep.md), "
        f"[lr_sweep.png](lr_sweep.png)): VGG {vgg_text}; DLN {dln_text}.",
    )
    as_fixed = ", ".join(
        f"{t.upper()} standard {fmt(sweep['runs'][f'{t}_none']['largest_as_fixed'])}, "
        f"BatchNorm {fmt(sweep['runs'][f'{t}_batch']['largest_as_fixed'])}"
        for t in ("vgg", "dln")
    )
    body += (
        f"\nA model trains when its loss stays finite and its final loss is at most "
        f"{sweep['trains_rule']:g} times its reference loss: its loss at step 0, or VGG's "
        "chance loss ln 10 where that is lower. The rule fixed before the runs had the loss "
        "at step 0 alone, which BatchNorm's VGG, starting at 3.8, passed at learning rates "
        f"where its accuracy stayed at chance; by that rule the largest are {as_fixed} "
        f"([lr_sweep.md](lr_sweep.md) has both). Lambda_1 before either network reaches "
        f"2/lr (main VGG pair): {before}.\n"
    )
    body += checklist(parts)
    summary = f"largest lr that trains: VGG {vgg_text}; DLN {dln_text}"
    return summary, verdict(parts), body
