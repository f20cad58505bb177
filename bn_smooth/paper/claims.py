"""The paper's claims, each turned into measured numbers and a verdict (REPORT.md).

Every number is read from the runs' own metrics through bn_smooth.results and
from the theory rows; the thresholds that turn numbers into verdicts are
stated next to each verdict in the report. Claim C7, beyond the paper, is in
bn_smooth/paper/sharpness_claim.py.
"""

import numpy as np

from bn_smooth import summaries
from bn_smooth.configs import reproduce as suite
from bn_smooth.paper import c4_report
from bn_smooth.paper.c4_report import TWO_ORDERS
from bn_smooth.paper.markdown import fmt, table
from bn_smooth.paper.panels import (
    DLN_LP,
    DLN_MAIN,
    DLN_SLOW,
    VGG_HIGH_LR,
    VGG_LP,
    VGG_MAIN,
    VGG_NOISY,
    reads,
)
from bn_smooth.paper.sharpness_claim import claim_7
from bn_smooth.paper.verdicts import checklist, higher, lower, ratio, verdict
from bn_smooth.summaries import EARLY

ABOUT_AS_WELL = 0.05  # training accuracy within 5 points counts as "about as well"
NORMS = ("none", "batch", *suite.LP)  # the order of VGG_LP and DLN_LP
BY_NORM = {
    "vgg": dict(zip(NORMS, VGG_LP, strict=True)),
    "dln": dict(zip(NORMS, DLN_LP, strict=True)),
}


# Each claim declares the runs it reads (`reads`) and returns (summary of measured
# numbers, verdict, markdown body).


@reads(*VGG_MAIN, *VGG_HIGH_LR)
def claim_1(runs):
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
                    fmt(vals[run.norm][0]),
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
    steps = runs[VGG_MAIN[0]].config["num_steps"]
    body = (
        f"Training accuracy (running mean over {runs[VGG_MAIN[0]].window} steps) at step "
        f"{int(EARLY * steps):,} and at the end ({steps:,} steps); test accuracy at the end "
        "(figure 1).\n\n"
        + table(
            [
                "run",
                f"train acc. @ {int(EARLY * steps):,}",
                "train acc., final",
                "test acc., final",
                "status",
            ],
            rows,
        )
        + "\nConfirmed when BatchNorm is ahead at both points, at both learning rates.\n"
        + checklist(parts)
    )
    summary = "final training accuracy, none vs BN: " + "; ".join(lines)
    return summary, verdict(parts), body


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
    return summary, verdict(parts), body


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
    return "; ".join(summary), verdict(parts), body


@reads(*VGG_MAIN, *DLN_MAIN)
def claim_4(runs, study=None):
    rows, parts, summary = [], [], []
    for net, names in (("VGG", VGG_MAIN), ("DLN", DLN_MAIN)):
        none, batch = runs[names[0]], runs[names[1]]
        for early, when in (
            (None, "step 0"),
            (True, f"first {EARLY:.0%} of steps, after 0"),
            (False, "whole run"),
        ):
            a, b = (
                summaries.landscape_medians(none, early),
                summaries.landscape_medians(batch, early),
            )
            ratios = {k: ratio(a[k], b[k]) for k in a}
            rows.append([net, when] + [f"{fmt(a[k])} / {fmt(b[k])} ({fmt(ratios[k])}x)" for k in a])
            if early is None:
                continue
            parts.append(
                (
                    f"{net}, {when}: every measure smaller with BatchNorm",
                    all(r > 1 for r in ratios.values()),
                )
            )
            if early:
                parts.append(
                    (
                        f"{net}, {when}: gradient change at least {TWO_ORDERS}x smaller "
                        "with BatchNorm",
                        ratios["gradient change"] >= TWO_ORDERS,
                    )
                )
                summary.append(f"{net} early gradient change {fmt(ratios['gradient change'])}x")
    body = (
        "Line search along the training gradient at every probe; medians over probed "
        "steps of the loss range (max - min), the largest gradient change and beta_eff, "
        "standard / BatchNorm (ratio) (figures 4, 9, 10). Step 0 is reported apart: the "
        "standard VGG starts on a plateau with a tiny gradient.\n\n"
        + table(["network", "when", "loss range", "gradient change", "beta_eff"], rows)
    )
    if study and study.get("verdict"):
        v = study["verdict"]
        parts.append(
            (
                f"the C4 study: some VGG setting's early per-step ratio of the gradient "
                f"change reaches {TWO_ORDERS}x (largest: {fmt(v['median'])}x)",
                v["reaches_two_orders"],
            )
        )
        summary.append(f"study: at most {fmt(v['median'])}x early at any depth, width, seed or lr")
        body += (
            "\n### The C4 study\n\n"
            "Does a deeper or wider VGG, another seed, or a larger BatchNorm step show the "
            f"paper's magnitude? The study (`python -m experiments.c4_study`, "
            f"{study['scale']} scale, {study['num_steps']:,} steps per run; full tables "
            "in [c4_study.md](c4_study.md), figure [c4_study.png](c4_study.png)) "
            "measures figure 4's quantities step by step. "
            + c4_report.windows_note(study)
            + "\n\n"
            + c4_report.ratio_table(
                study,
                measures=("gradient change", "gradient change / ||g||", "beta_eff", "lambda_1"),
            )
            + "\n"
            + c4_report.explanation(study)
            + "\n"
        )
    body += (
        f"\nConfirmed when every ratio exceeds 1 and the early gradient change differs "
        f'by at least {TWO_ORDERS}x ("close to two orders of magnitude") on each '
        "network, and in some setting of the study.\n" + checklist(parts)
    )
    return "; ".join(summary), verdict(parts), body


def dln_seed_losses(runs, norm: str) -> list[float]:
    """The final DLN loss of `norm` on every seed the suite trained: at its seed, then at
    seed + 1, + 2, ... (bn_smooth.configs.reproduce.dln_seed) while those runs exist."""
    names = [BY_NORM["dln"][norm]]
    while suite.dln_seed(norm, len(names)) in runs:
        names.append(suite.dln_seed(norm, len(names)))
    return [runs[n].final("loss") for n in names]


@reads(*VGG_LP, *DLN_LP)
def claim_5(runs):
    lp = NORMS[2:]
    vgg = {n: runs[BY_NORM["vgg"][n]].final("accuracy") for n in NORMS}
    seeds = {n: dln_seed_losses(runs, n) for n in NORMS}
    dln = {n: float(np.median(v)) for n, v in seeds.items()}
    count = min(len(v) for v in seeds.values())
    l1_wins = sum(
        all(seeds["l1"][k] <= seeds[n][k] for n in ("batch", "l2", "linf")) for k in range(count)
    )
    smooth = {}
    for net in ("vgg", "dln"):
        base = summaries.landscape_medians(runs[BY_NORM[net]["none"]], early=False)
        for n in NORMS[1:]:
            m = summaries.landscape_medians(runs[BY_NORM[net][n]], early=False)
            smooth[net, n] = (
                ratio(base["gradient change"], m["gradient change"]),
                ratio(base["beta_eff"], m["beta_eff"]),
            )
    vgg_ok = all(vgg[n] >= vgg["batch"] - ABOUT_AS_WELL and higher(vgg[n], vgg["none"]) for n in lp)
    dln_ok = all(lower(dln[n], dln["none"]) and dln[n] <= 2 * dln["batch"] for n in lp)
    l1_best = l1_wins > count / 2
    smoother = all(min(v) > 1 for v in smooth.values())
    rows = [
        [
            n,
            fmt(vgg[n]),
            f"{fmt(dln[n])} [{fmt(min(seeds[n]))}-{fmt(max(seeds[n]))}]",
            *(
                f"{fmt(smooth[net, n][0])}x / {fmt(smooth[net, n][1])}x"
                if n != "none"
                else "1x / 1x"
                for net in ("vgg", "dln")
            ),
        ]
        for n in NORMS
    ]
    body = (
        "Final training accuracy (VGG, seed 0) and loss (DLN, running mean; median "
        f"[min-max] over {count} seeds), and how much smoother than the standard network "
        "each is: the ratio standard / normalized of the whole-run median gradient change "
        "and beta_eff (seed 0) (figures 11, 12, 13, 14).\n\n"
        + table(
            [
                "norm",
                "VGG train acc.",
                f"DLN loss ({count} seeds)",
                "VGG smoother (grad / beta)",
                "DLN smoother (grad / beta)",
            ],
            rows,
        )
        + f"\nConfirmed when every lp norm trains VGG within {ABOUT_AS_WELL:g} of "
        "BatchNorm and above the standard network, reaches a median DLN loss below the "
        "standard network's and within 2x of BatchNorm's, l1 has the lowest DLN loss on "
        "most seeds, and every normalized network is smoother than the standard one.\n"
    )
    summary = (
        f"VGG acc. BN {fmt(vgg['batch'])}, l1/l2/linf {fmt(vgg['l1'])}/{fmt(vgg['l2'])}/"
        f"{fmt(vgg['linf'])}; DLN loss ({count} seeds) BN {fmt(dln['batch'])}, "
        f"l1/l2/linf {fmt(dln['l1'])}/{fmt(dln['l2'])}/{fmt(dln['linf'])}; l1 lowest on "
        f"{l1_wins} of {count} seeds"
    )
    parts = [
        (
            f"every lp norm trains VGG within {ABOUT_AS_WELL:g} of BatchNorm and above the "
            "standard network",
            vgg_ok,
        ),
        (
            "every lp norm ends the DLN below the standard network and within 2x of "
            "BatchNorm (medians over seeds)",
            dln_ok,
        ),
        (f"l1 reaches the lowest DLN loss on most seeds ({l1_wins} of {count})", l1_best),
        ("every normalized network is smoother than the standard one", smoother),
    ]
    body += checklist(parts)
    return summary, verdict(parts), body


def claim_6(theory_rows):
    holds = [r for r in theory_rows if r["verdict"].startswith("holds")]
    false = [r for r in theory_rows if not r["verdict"].startswith("holds")]
    rows = [
        [r["statement"], r["form"], r["instances"], r["verdict"].split(";")[0]] for r in theory_rows
    ]
    body = (
        "Every statement of section 4 and appendix C on random instances in float64 "
        "(full table and notes: [theory.md](theory.md)).\n\n"
        + table(["statement", "form", "instances", "verdict"], rows)
        + "\nConfirmed when every statement holds as printed; partly when the printed "
        "form of some fails but a corrected or as-proved form holds.\n"
    )
    printed_false = sorted({r["statement"] for r in false})
    theorem_41 = [
        r for r in holds if r["statement"] == "Theorem 4.1" and "identical-gradient" in r["form"]
    ]
    summary = (
        f"{len(holds)} of {len(theory_rows)} forms hold; Theorem 4.1 "
        f"{'holds with equality' if theorem_41 else 'fails'} under its proof's "
        "identical-gradient assumption; false as printed: " + ", ".join(printed_false)
    )
    parts = [
        ("every statement holds as printed", not false),
        (
            "Theorem 4.1 holds, with equality, under the identical-gradient assumption its "
            "proof states (dL/dy_j = dL^/dz_j); read literally, with the standard network's "
            "own gradient, it "
            + ("fails" if any(r["statement"] == "Theorem 4.1" for r in false) else "holds"),
            bool(theorem_41),
        ),
        ("a corrected or as-proved form holds", bool(holds)),
    ]
    return summary, verdict(parts), body + checklist(parts)


CLAIMS = [
    (
        "C1",
        "BatchNorm trains faster",
        "figures 1, 13",
        "83% vs 80% test accuracy (VGG, 15,000 steps); consistently faster training",
        claim_1,
        "runs",
    ),
    (
        "C2",
        "noisy BatchNorm trains about as well as BatchNorm, although its distributions "
        "are less stable than the standard network's",
        "figures 2, 7",
        "nearly matches BatchNorm despite complete distributional instability",
        claim_2,
        "runs",
    ),
    (
        "C3",
        "BatchNorm does not reduce ICS, and the standard DLN has almost none",
        "figures 3, 6",
        "similar or even worse ICS with BatchNorm; the standard DLN almost none",
        claim_3,
        "runs",
    ),
    (
        "C4",
        "BatchNorm makes the loss and its gradients smoother",
        "figures 4, 9, 10",
        "narrower loss range, gradient predictiveness close to two orders of magnitude better "
        "early, lower beta_eff",
        claim_4,
        "runs+study",
    ),
    (
        "C5",
        "lp normalizations help about as much; l1 best on the DLN",
        "figures 11-14",
        "comparable to BatchNorm; l1 better than BatchNorm on the DLN",
        claim_5,
        "runs",
    ),
    (
        "C6",
        "the theory of section 4 and appendix C",
        "theory.md",
        "Theorems 4.1, 4.2, 4.4, C.1, Lemma 4.5",
        claim_6,
        "theory",
    ),
    (
        "C7",
        "BatchNorm lowers the top of the Hessian's spectrum; training sits at the edge "
        "of stability",
        "figures sharpness, spectrum",
        "beyond the paper: its beta-smoothness read as curvature, and Cohen et al. (2021)'s "
        "edge of stability, lambda_1 near 2/lr",
        claim_7,
        "runs",
    ),
]
