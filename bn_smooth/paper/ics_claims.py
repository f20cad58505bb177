"""The claims of the paper's section 2, "Batch normalization and internal covariate
shift": BatchNorm trains faster (C1), noisy BatchNorm trains about as well (C2), and
BatchNorm does not reduce ICS (C3). Each returns (summary of measured numbers, verdict,
markdown body) and declares the runs it reads; bn_smooth/paper/claims.py lists them all.
"""

import numpy as np

from bn_smooth import summaries
from bn_smooth.paper import calibration_report, paper_says
from bn_smooth.paper.markdown import fmt, table
from bn_smooth.paper.panels import (
    DLN_MAIN,
    DLN_SLOW,
    VGG_HIGH_LR,
    VGG_MAIN,
    VGG_NOISY,
    reads,
)
from bn_smooth.paper.verdicts import ABOUT_AS_WELL, checklist, higher, ratio, verdict
from bn_smooth.summaries import EARLY

CHANCE = 0.2  # "at chance" on CIFAR-10: 10% and noise, at most 20% training accuracy


@reads(*VGG_MAIN, *VGG_HIGH_LR)
def claim_1(runs, calibration=None):
    """`calibration`: the calibration's summary at the paper's width, cited when given."""
    lines, parts = [], []
    rows = []
    for names in (VGG_MAIN, VGG_HIGH_LR):
        none, batch = (runs[n] for n in names)
        early = int(EARLY * none.config["num_steps"])
        vals = {}
        for run in (none, batch):
            vals[run.norm] = (
                run.train_at("accuracy", early),
                run.final("accuracy"),
                run.final_test(),
            )
            rows.append(
                [
                    f"{run.label}, LR={run.lr:g}",
                    f"{run.num_steps:,}",
                    f"{fmt(vals[run.norm][0])} (step {early:,})",
                    fmt(vals[run.norm][1]),
                    fmt(vals[run.norm][2]),
                    run.status["message"],
                ]
            )
        parts += [
            (
                f"BatchNorm ahead at step {early:,}, lr {none.lr:g}",
                higher(vals["batch"][0], vals["none"][0]),
            ),
            (
                f"BatchNorm ahead at the end, lr {none.lr:g}",
                higher(vals["batch"][1], vals["none"][1]),
            ),
        ]
        lines.append(f"lr {none.lr:g}: {fmt(vals['none'][1])} vs {fmt(vals['batch'][1])}")
    # Figure 1: the paper's standard network at lr 0.5 stays at chance (10%) throughout.
    stuck = runs[VGG_HIGH_LR[0]].final("accuracy")
    parts.append(
        (
            f"as in figure 1, the standard network at lr 0.5 stays near chance (at most "
            f"{CHANCE:g}; here {fmt(stuck)})",
            stuck <= CHANCE,
        )
    )
    body = (
        f"Training accuracy (running mean over the last 1/30 of a run's steps) after "
        f"{EARLY:.0%} of its steps and at its end; test accuracy at the end (figure 1).\n\n"
        + table(
            [
                "run",
                "steps",
                f"train acc. after {EARLY:.0%}",
                "train acc., final",
                "test acc., final",
                "status",
            ],
            rows,
        )
        + "\nConfirmed when BatchNorm is ahead at both points, at both learning rates.\n"
        + checklist(parts)
    )
    if calibration:
        body = calibration_report.c1_note(calibration) + "\n" + body
    summary = "final training accuracy, none vs BN: " + "; ".join(lines)
    return summary, verdict(parts), paper_says.claim_1(summary) + "\n" + body


@reads(*VGG_NOISY)
def claim_2(runs):
    trio = [runs[n] for n in VGG_NOISY]
    acc = {r.norm: r.final("accuracy") for r in trio}
    moments = {r.norm: summaries.moment_instability(r) for r in trio}
    trains = acc["noisy_batch"] >= acc["batch"] - ABOUT_AS_WELL and higher(
        acc["noisy_batch"], acc["none"]
    )
    unstable = all(moments["noisy_batch"][m] > moments["none"][m] for m in ("mean", "variance"))
    rows = [
        [r.label, fmt(acc[r.norm]), fmt(moments[r.norm]["mean"]), fmt(moments[r.norm]["variance"])]
        for r in trio
    ]
    between = summaries.moment_changes(trio[0], trio[0].activation_layers()[0], 0)["between"]
    between = (
        "from step t to step t+1 at each probed step t, as the paper's figure 7 "
        "compares successive steps"
        if between == "steps"
        else "between successive probed steps"
    )
    body = (
        "Final training accuracy, and how much each unit's distribution moves "
        f"{between}: the median over layers, units and probes of |change| in the "
        "mean and variance of the post-normalization activations (figures 2 and 7).\n\n"
        + table(["run", "train acc., final", "|Δ mean|", "|Δ variance|"], rows)
        + f"\nConfirmed when noisy BatchNorm is within {ABOUT_AS_WELL:g} of BatchNorm's "
        "accuracy and above the standard network's, and its moments change more than "
        "the standard network's.\n"
    )
    parts = [
        (
            f"noisy BatchNorm within {ABOUT_AS_WELL:g} of BatchNorm and above the standard "
            f"network ({fmt(acc['noisy_batch'] - acc['batch'])} from BatchNorm)",
            trains,
        ),
        ("its mean and variance move more than the standard network's", unstable),
    ]
    body += checklist(parts)
    summary = (
        f"train acc. none / BN / noisy {fmt(acc['none'])} / {fmt(acc['batch'])} / "
        f"{fmt(acc['noisy_batch'])}; |Δ variance| noisy / none "
        f"{fmt(ratio(moments['noisy_batch']['variance'], moments['none']['variance']))}x"
    )
    return summary, verdict(parts), paper_says.claim_2(summary) + "\n" + body


@reads(*VGG_MAIN, *DLN_MAIN)  # and DLN_SLOW where the suite has it
def claim_3(runs):
    rows, parts, summary = [], [], []
    nets = [("VGG", VGG_MAIN), ("DLN", DLN_MAIN)]
    if all(n in runs for n in DLN_SLOW):
        nets.append((f"DLN, lr {runs[DLN_SLOW[0]].lr:g}", DLN_SLOW))
    medians = {n: summaries.ics_medians(runs[n]) for _, names in nets for n in names}
    for net, names in nets:
        none, batch = (medians[n] for n in names)
        med = {
            k: {q: float(np.median(list(v[q].values()))) for q in ("l2", "cosine")}
            for k, v in (("none", none), ("batch", batch))
        }
        better_l2 = med["batch"]["l2"] < med["none"]["l2"]
        better_cos = med["batch"]["cosine"] > med["none"]["cosine"]
        parts.append(
            (
                f"{net}: BatchNorm improves neither the l2 difference (standard / "
                f"BatchNorm {fmt(ratio(med['none']['l2'], med['batch']['l2']))}) nor the "
                f"cosine ({fmt(med['none']['cosine'])} -> {fmt(med['batch']['cosine'])})",
                not better_l2 and not better_cos,
            )
        )
        for name, m, per in (("Standard", med["none"], none), ("BatchNorm", med["batch"], batch)):
            rows.append(
                [
                    net,
                    name,
                    fmt(m["l2"]),
                    fmt(m["cosine"]),
                    fmt(min(per["cosine"].values())),
                    " ".join(f"{v:.2f}" for v in per["cosine"].values()),
                ]
            )
        summary.append(
            f"{net} l2 none/BN {fmt(ratio(med['none']['l2'], med['batch']['l2']))}x, "
            f"cos {fmt(med['none']['cosine'])} vs {fmt(med['batch']['cosine'])}"
        )
    for net, names in nets[1:]:
        lowest = min(medians[names[0]]["cosine"].values())
        parts.append(
            (
                f"{net}: every layer of the standard DLN keeps a median cosine >= 0.9 "
                f"(lowest {fmt(lowest)})",
                lowest >= 0.9,
            )
        )
    body = (
        "Definition 2.1 with each step's own update; medians over probed steps, then over "
        "layers (the first layer left out: its ICS is 0 by definition) (figures 3 and 6). "
        "The DLN is measured at the paper's lr 1e-6, where its full-batch GD oscillates, "
        "and, both networks alike, at lr 1e-7, where it does not.\n\n"
        + table(
            [
                "network",
                "run",
                "median l2",
                "median cosine",
                "lowest layer cosine",
                "cosine per layer (median over steps)",
            ],
            rows,
        )
        + "\nConfirmed when, on each network, BatchNorm improves neither the l2 "
        "difference nor the cosine, and every layer of the standard DLN keeps a median "
        'cosine of at least 0.9 ("almost no ICS").\n' + checklist(parts)
    )
    standard_dln = runs[DLN_MAIN[0]]
    rising = summaries.rising_fraction(standard_dln)
    body += (
        f"\nAt lr {standard_dln.lr:g}, {rising:.0%} of the standard DLN's full-batch "
        "GD steps increase the loss (GD oscillates across a valley, claim C7), so "
        "updating the lower layers turns the deeper layers' gradients around.\n"
    )
    return "; ".join(summary), verdict(parts), paper_says.claim_3("; ".join(summary)) + "\n" + body
