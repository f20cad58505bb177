"""What the paper says of each claim, twice: in its text (quoted) and in its figures (its
series read back from the arXiv v3 PDF, bn_smooth/paper/data), beside what we measure.
Each claim of REPORT.md opens with these three lines (verdicts.three_lines)."""

import numpy as np

from bn_smooth.paper.markdown import fmt
from bn_smooth.paper.paper_values import PAPER_STEPS, line, paper_at, paper_median
from bn_smooth.paper.verdicts import three_lines
from bn_smooth.summaries import EARLY

PAPER_EARLY = int(EARLY * PAPER_STEPS)


def claim_1(measured: str) -> str:
    at = {
        (norm, lr): [paper_at("figure_01a", norm, s, lr) for s in (600, PAPER_EARLY)]
        for norm in ("none", "batch")
        for lr in (0.1, 0.5)
    }
    figure = "; ".join(
        f"lr {lr:g}: BatchNorm {fmt(at['batch', lr][0])}% / {fmt(at['batch', lr][1])}%, "
        f"standard {fmt(at['none', lr][0])}% / {fmt(at['none', lr][1])}%"
        for lr in (0.1, 0.5)
    )
    return three_lines(
        '"There is a consistent gain in training speed in models with BatchNorm layers."',
        f"figure 1(a), training accuracy at steps 600 / {PAPER_EARLY:,}: {figure}. The "
        "standard network at lr 0.5 stays at chance (10%) for all 15,000 steps.",
        measured,
    )


def claim_2(measured: str) -> str:
    values = {n: paper_at("figure_02a", n, PAPER_EARLY) for n in ("none", "batch", "noisy_batch")}
    return three_lines(
        "\"the 'noisy' BatchNorm model nearly matches the performance of standard "
        'BatchNorm model, despite complete distributional instability"',
        f"figure 2, training accuracy at step {PAPER_EARLY:,}: noisy BatchNorm "
        f"{fmt(values['noisy_batch'])}%, BatchNorm {fmt(values['batch'])}%, standard "
        f"{fmt(values['none'])}%.",
        measured,
    )


def claim_3(measured: str) -> str:
    lowest = {
        lr: min(
            paper_median(f"figure_03_dln_lr{lr}_layer{k}_cosine", "none", 100, 10_000, line)
            for k in (9, 17)
        )
        for lr in ("1e-06", "1e-07")
    }
    vgg = {
        n: paper_median("figure_03_vgg_lr0.1_layer5_l2", n, 100, PAPER_STEPS, line)
        for n in ("none", "batch")
    }
    return three_lines(
        '"networks with BatchNorm often exhibit an increase in ICS ... the standard network '
        '[DLN] experiences almost no ICS for the entirety of training"',
        f"figure 3, medians over steps after 100: VGG at lr 0.1, layer #5, l2 difference "
        f"standard {fmt(vgg['none'])}, BatchNorm {fmt(vgg['batch'])}; the standard DLN's "
        f"lowest median cosine of layers #9 and #17 is {fmt(lowest['1e-06'])} at lr 1e-6 "
        f"and {fmt(lowest['1e-07'])} at lr 1e-7 (both networks near 1 there).",
        measured,
    )


def claim_4(
    paper: float, paper_max: float, ours: float, dln: float, two_orders: float, same_steps=()
) -> str:
    return three_lines(
        '"Figure 4(b) shows a significant difference (close to two orders of magnitude) in '
        "such gradient predictiveness between the vanilla and BatchNorm networks, "
        'especially early in training."',
        f"figure 4(b), the per-step ratio of the largest gradient change, standard / "
        f"BatchNorm, over its probes in the first {EARLY:.0%} after step 0 (100-2,900): "
        f"median {fmt(paper)}x, largest {fmt(paper_max)}x. Two orders of magnitude "
        f"({two_orders:g}x or more) is not what the figure shows early.",
        f"VGG {fmt(ours)}x, the DLN {fmt(dln)}x (medians over seeds), in our first "
        f"{EARLY:.0%} after step 0"
        + (
            f"; not a check: over the figure's own steps, probes 100-{PAPER_EARLY - 100:,} "
            f"(our whole run), VGG {fmt(float(np.median(same_steps)))}x "
            f"({fmt(min(same_steps))}-{fmt(max(same_steps))} over seeds)."
            if same_steps
            else "."
        ),
    )


def claim_5(measured: str) -> str:
    vgg = {n: paper_at("figure_13a", n, PAPER_EARLY) for n in ("batch", "l1", "l2", "linf")}
    dln = {n: paper_at("figure_13b", n, 10_000) for n in ("none", "batch", "l1", "l2", "linf")}
    return three_lines(
        '"all lp normalization strategies perform comparably or even better than BatchNorm"',
        f"figure 13, VGG training accuracy at step {PAPER_EARLY:,}: BatchNorm "
        f"{fmt(vgg['batch'])}%, l1/l2/linf {fmt(vgg['l1'])}/{fmt(vgg['l2'])}/"
        f"{fmt(vgg['linf'])}%; DLN loss at step 10,000: standard {fmt(dln['none'])}, "
        f"BatchNorm {fmt(dln['batch'])}, l1/l2/linf {fmt(dln['l1'])}/{fmt(dln['l2'])}/"
        f"{fmt(dln['linf'])}.",
        measured,
    )


def claim_6(measured: str) -> str:
    return three_lines(
        "Theorems 4.1, 4.2, 4.4 and C.1, Observation 4.3 and Lemma 4.5, as printed.",
        "no figure: the statements are checked numerically (theory.md).",
        measured,
    )


def claim_7(measured: str) -> str:
    beta = {
        n: paper_median("figure_04c", n, 100, PAPER_STEPS, line) * 0.1 / 2
        for n in ("none", "batch")
    }
    return three_lines(
        "beyond the paper: its beta-smoothness read as curvature, and Cohen et al. (2021)'s "
        "edge of stability.",
        f"figure 4(c), beta_eff * lr / 2 (median over steps after 100, lr 0.1): standard "
        f"{fmt(beta['none'])}, BatchNorm {fmt(beta['batch'])}; 1 is the stability threshold "
        "2/lr: the paper's own runs sit at the edge of stability.",
        measured,
    )
