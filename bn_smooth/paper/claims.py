"""The paper's claims, each turned into measured numbers and a verdict (REPORT.md).

Every number is read from the runs' own metrics through bn_smooth.results and
from the theory rows; the thresholds that turn numbers into verdicts are
stated next to each verdict in the report. The claims of the paper's
section 2 (C1-C3: training, noisy BatchNorm, ICS) are in bn_smooth/paper/ics_claims.py,
claim C7, beyond the paper, in bn_smooth/paper/sharpness_claim.py.
"""

import numpy as np

from bn_smooth import summaries
from bn_smooth.configs import reproduce as suite
from bn_smooth.paper import (
    agreement,
    c4_report,
    calibration_report,
    mechanism_report,
    paper_says,
    paper_values,
    seed_pairs,
)
from bn_smooth.paper.c4_analysis import TWO_ORDERS
from bn_smooth.paper.ics_claims import claim_1, claim_2, claim_3
from bn_smooth.paper.lr_claim import claim_8
from bn_smooth.paper.markdown import fmt, table
from bn_smooth.paper.panels import (
    DLN_LP,
    DLN_MAIN,
    VGG_LP,
    VGG_MAIN,
    reads,
)
from bn_smooth.paper.sharpness_claim import claim_7
from bn_smooth.paper.theory_claim import claim_6
from bn_smooth.paper.verdicts import ABOUT_AS_WELL, checklist, higher, lower, ratio, verdict
from bn_smooth.summaries import EARLY

NORMS = ("none", "batch", *suite.LP)  # the order of VGG_LP and DLN_LP
BY_NORM = {
    "vgg": dict(zip(NORMS, VGG_LP, strict=True)),
    "dln": dict(zip(NORMS, DLN_LP, strict=True)),
}


# Each claim declares the runs it reads (`reads`) and returns (summary of measured
# numbers, verdict, markdown body).


@reads(*VGG_MAIN, *DLN_MAIN)
def claim_4(runs, study=None, calibration=None):
    """`study`, `calibration`: the C4 study's and the calibration's summaries, cited when
    given."""
    paper = paper_values.paper_early("figure_04b", paper_values.top)
    paper_max = paper_values.paper_early("figure_04b", paper_values.top, max)
    vgg_pairs = seed_pairs.seeds(runs, VGG_MAIN)
    per_seed = seed_pairs.early_ratios(vgg_pairs)
    ours = float(np.median(per_seed))
    # Not a check: the same steps as the figure's early window, which is our whole run.
    hi = (EARLY * paper_values.PAPER_STEPS) - 1
    same_steps = [
        agreement.ours_window(pair, "gradient change", agreement.WINDOW_START, hi)[2]
        for pair in vgg_pairs
    ]
    same_steps = [r for r in same_steps if np.isfinite(r)]
    spread = seed_pairs.over_seeds(per_seed)
    parts = [
        (
            f"VGG, first {EARLY:.0%} of steps after 0: the per-step ratio of the largest "
            f"gradient change, standard / BatchNorm, median over {len(per_seed)} seed(s), is "
            f"above 1 and within a factor of {agreement.FACTOR:g} of figure 4(b)'s "
            f"({fmt(ours)}x{spread} against {fmt(paper)}x)",
            1 < ours and 1 / agreement.FACTOR <= ours / paper <= agreement.FACTOR,
        )
    ]
    rows, summary = [], [f"VGG early gradient change {fmt(ours)}x (figure 4(b): {fmt(paper)}x)"]
    for net, pairs in (("VGG", vgg_pairs), ("DLN", seed_pairs.seeds(runs, DLN_MAIN))):
        for early, when in (
            (None, "step 0"),
            (True, f"first {EARLY:.0%} of steps, after 0"),
            (False, "whole run"),
        ):
            a, b, ratios = seed_pairs.landscape_over_seeds(pairs, early)
            rows.append(
                [net, len(pairs), when]
                + [f"{fmt(a[k])} / {fmt(b[k])} ({fmt(ratios[k])}x)" for k in a]
            )
            if early is not None:
                parts.append(
                    (
                        f"{net}, {when}: every measure smaller with BatchNorm",
                        all(r > 1 for r in ratios.values()),
                    )
                )
        if net == "DLN":
            dln_seeds = seed_pairs.early_ratios(pairs)
            dln = float(np.median(dln_seeds))
            summary.append(
                f"DLN early gradient change {fmt(dln)}x{seed_pairs.over_seeds(dln_seeds)}"
            )
    body = paper_says.claim_4(paper, paper_max, ours, dln, TWO_ORDERS, same_steps)
    body += mechanism_report.carried_by(runs)
    if calibration:
        body += calibration_report.c4_note(calibration)
    body += (
        "\nLine search along the training gradient at every probe; medians over probed "
        "steps of the loss range (max - min), the largest gradient change and beta_eff, "
        "standard / BatchNorm (the ratio of each seed's medians), each then the median over "
        "the seeds (figures 4, 9, 10). Step 0 is reported apart: the standard VGG starts on "
        "a plateau with a tiny gradient.\n\n"
        + table(["network", "seeds", "when", "loss range", "gradient change", "beta_eff"], rows)
    )
    if study and study.get("verdict"):
        v = study["verdict"]
        summary.append(f"study: at most {fmt(v['median'])}x early at any depth, width, seed or lr")
        body += (
            "\n### The C4 study\n\n"
            "Does a deeper or wider VGG, another seed, or a larger BatchNorm step show the "
            f"magnitude the paper's text gives? The study (`python -m experiments.c4_study`, "
            f"{study['scale']} scale, {study['num_steps']:,} steps per run; full tables "
            "in [c4_study.md](c4_study.md), figure [c4_study.png](c4_study.png)) "
            "measures figure 4's quantities step by step. Its largest early median ratio "
            f"is {fmt(v['median'])}x, against figure 4(b)'s {fmt(paper)}x. "
            + c4_report.windows_note(study)
            + "\n\n"
            + c4_report.ratio_table(
                study,
                measures=(
                    "gradient change",
                    "gradient change / ||g||",
                    "loss range",
                    "beta_eff",
                    "lambda_1",
                    "non-linearity",  # the decomposition's third factor (mechanism section)
                ),
            )
            + "\n"
            + c4_report.explanation(study)
            + "\n"
        )
    body += (
        "\nThe primary check compares with figure 4(b)'s own series; the others ask whether "
        "every measure is smaller with BatchNorm, early and over the whole run, on each "
        "network.\n" + checklist(parts)
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
    # Paired by seed: each seed's lp runs against that seed's standard and BatchNorm runs.
    paired = sum(
        all(
            lower(seeds[n][k], seeds["none"][k]) and seeds[n][k] <= 2 * seeds["batch"][k]
            for n in lp
        )
        for k in range(count)
    )
    dln_ok = paired > count / 2
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
        + "\nThe primary check: on most seeds, every lp norm ends the DLN below that "
        "seed's standard network and within 2x of its BatchNorm (paired by seed). The "
        f"others: every lp norm trains VGG within {ABOUT_AS_WELL:g} of BatchNorm and above "
        "the standard network, l1 has the lowest DLN loss on most seeds, and every "
        "normalized network is smoother than the standard one.\n"
    )
    summary = (
        f"VGG acc. BN {fmt(vgg['batch'])}, l1/l2/linf {fmt(vgg['l1'])}/{fmt(vgg['l2'])}/"
        f"{fmt(vgg['linf'])}; DLN loss ({count} seeds) BN {fmt(dln['batch'])}, "
        f"l1/l2/linf {fmt(dln['l1'])}/{fmt(dln['l2'])}/{fmt(dln['linf'])}; l1 lowest on "
        f"{l1_wins} of {count} seeds"
    )
    parts = [
        (
            "every lp norm ends the DLN below the standard network and within 2x of "
            f"BatchNorm, paired by seed, on most seeds ({paired} of {count})",
            dln_ok,
        ),
        (
            f"every lp norm trains VGG within {ABOUT_AS_WELL:g} of BatchNorm and above the "
            "standard network",
            vgg_ok,
        ),
        (f"l1 reaches the lowest DLN loss on most seeds ({l1_wins} of {count})", l1_best),
        ("every normalized network is smoother than the standard one", smoother),
    ]
    body += checklist(parts)
    return summary, verdict(parts), paper_says.claim_5(summary) + "\n" + body


CLAIMS = [
    (
        "C1",
        "BatchNorm trains faster",
        "figures 1, 13",
        "83% vs 80% test accuracy (VGG, 15,000 steps); consistently faster training",
        claim_1,
        "runs+calibration",
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
    (
        "C8",
        "BatchNorm's advantage lives in the learning rates it trains at, not in a lower "
        "lambda_1 at a common one",
        "lr_sweep.png",
        "beyond the paper: its 'broader range of (and thus larger) learning rates', measured "
        "by one sweep per network",
        claim_8,
        "runs+sweep",
    ),
]
