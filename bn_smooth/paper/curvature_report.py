"""REPORT.md's tables of what BatchNorm changes in the curvature (bn_smooth.summaries):
sharpness as minibatch SGD sees it, the outliers of the spectrum and the gradient's share
of the top eigenspace, and scale invariance. Each returns "" when its runs did not make
the probe it reads."""

from bn_smooth import summaries
from bn_smooth.paper.markdown import fmt, table
from bn_smooth.paper.panels import DLN_MAIN, VGG_MAIN
from bn_smooth.paper.sharpness_claim import SHARPNESS_PAIRS
from bn_smooth.summaries import EARLY

WHEN = ((True, f"first {EARLY:.0%}, after step 0"), (False, "the rest"))


def sharpness_variants(runs) -> str:
    names = [n for n in VGG_MAIN if n in runs and runs[n].rows.get("batch_sharpness")]
    rows = [
        [runs[n].label, when, *(fmt(v) for v in summaries.sharpness_variants(runs[n], e).values())]
        for n in names
        for e, when in WHEN
    ]
    if not rows:
        return ""
    section = runs[names[0]].config["probe"]["batch_sharpness"]
    return (
        "### Sharpness as SGD sees it\n\n"
        "Three sharpnesses, each times lr / 2 (1 at the stability threshold 2/lr), medians "
        "over the probed steps: lambda_1 of the step's own minibatch (the curvature probe), "
        "the batch sharpness E_B[g_B' H_B g_B / ||g_B||^2] (reported to settle at 2/lr "
        "under minibatch SGD: Andreyev and Beneventano 2024) and lambda_1 of the loss "
        f"averaged over {section['num_batches']} batches (the next ones), each batch with "
        "its own statistics: the training objective, not an evaluation-mode function.\n\n"
        + table(["network", "when", *summaries.sharpness_variants(runs[names[0]], True)], rows)
    )


def outliers(runs) -> str:
    rows = []
    for name in VGG_MAIN:
        if name not in runs:
            continue
        run = runs[name]
        modes = [("training", run), ("evaluation", run.in_evaluation_mode())]
        for mode, source in modes:
            for step, o in (summaries.outliers(source) if source else {}).items():
                rows.append(
                    [run.label, mode, f"{step:,}", fmt(o["edge"]), fmt(o["outliers"])]
                    + [fmt(o[k]) for k in ("lambda_1 / edge", "overlap top-1", "overlap top-k")]
                    + [o["k"]]
                )
    if not rows:
        return ""
    return (
        "### Outliers and the gradient's subspace\n\n"
        "From the spectral density (stochastic Lanczos quadrature) at the steps it was "
        "probed: the bulk's upper edge (the largest Lanczos node standing for at least "
        f"{summaries.BULK_EIGENVALUES} eigenvalues, i.e. of weight at least "
        f"{summaries.BULK_EIGENVALUES}/n for n parameters; an eigenvalue isolated above the "
        "bulk holds about 1/n), the number of nodes above it per starting vector (median: "
        "the outliers; Ghorbani, Krishnan and Xiao 2019; the count depends on that rule: "
        "the spectrum's tail thins out gradually), "
        "lambda_1 / edge, and the fraction of the gradient in the top-1 and top-k "
        "eigenspaces (Gur-Ari, Roberts and Dyer 2018), in the training mode and, for "
        "BatchNorm, the evaluation mode.\n\n"
        + table(
            [
                "network",
                "mode",
                "step",
                "bulk edge",
                "outliers",
                "lambda_1 / edge",
                "gradient in top-1",
                "gradient in top-k",
                "k",
            ],
            rows,
        )
    )


def scale(runs) -> str:
    rows = []
    for name in (*VGG_MAIN, *DLN_MAIN):
        if name not in runs or not runs[name].rows.get("scale"):
            continue
        run = runs[name]
        for early, when in WHEN:
            s = summaries.scale_summary(run, early)
            invariant = "yes" if s.pop("scale_invariant") else "no"
            net = "VGG" if run.config["task"] == "vgg_cifar" else "DLN"
            rows.append([f"{net}, {run.label}", invariant, when])
            rows[-1] += [fmt(v) for v in s.values()]
    if not rows:
        return ""
    return (
        "### Scale invariance\n\n"
        "A layer followed by BatchNorm computes the same function at w and c w, so its "
        "gradient is orthogonal to w, plain SGD only grows ||w||, and the step acts through "
        "the effective learning rate lr / ||w||^2; lambda_1 of such a layer scales as "
        "1 / ||w||^2. Lambda_1 in the layers' own units (the top eigenvalue of D H D, D "
        "scaling each layer's block by its ||w||; bn_smooth.scale_invariance) is a property "
        "of the function. Medians over the probed steps and the normalized layers (for the "
        "standard network, the same layers, which no norm makes invariant).\n\n"
        + table(
            [
                "network",
                "scale-invariant",
                "when",
                "||w||",
                "lr / ||w||^2",
                "update angle (rad)",
                "|cos(w, g)|",
                "lambda_1, own units",
            ],
            rows,
        )
    )


LOSS_FRACTIONS = (0.8, 0.6, 0.45)  # matched training losses: these fractions of the start's


def matched_sharpness(none, batch) -> list[tuple]:
    """(fraction, level, (step, lambda_1) standard, (step, lambda_1) BatchNorm) at each of
    LOSS_FRACTIONS of the standard network's loss at step 0 that both networks reach."""
    start = none.train_curve("loss")[1][0]
    out = []
    for fraction in LOSS_FRACTIONS:
        level = fraction * start
        a, b = (summaries.sharpness_at_loss(r, level) for r in (none, batch))
        if a[0] >= 0 and b[0] >= 0:
            out.append((fraction, level, a, b))
    return out


def fair_sharpness(runs) -> str:
    """Claim C7's lambda_1 where a common learning rate does not decide it: at a matched
    training loss, and before either network reaches 2/lr."""
    matched, before = [], []
    for what, none_name, batch_name in SHARPNESS_PAIRS:
        if none_name not in runs or batch_name not in runs:
            continue
        none, batch = runs[none_name], runs[batch_name]
        for fraction, level, (sa, la), (sb, lb) in matched_sharpness(none, batch):
            matched.append(
                [what, f"{fmt(level)} ({fraction:.0%} of step 0's)"]
                + [f"{fmt(la)} (step {sa:,})", f"{fmt(lb)} (step {sb:,})", fmt(la / lb)]
            )
        steps, la, lb = summaries.before_threshold(none, batch)
        for s, a, b in zip(steps, la, lb, strict=True):
            before.append([what, f"{s:,}", fmt(a), fmt(b), fmt(a / b), fmt(2 / none.lr)])
        if not steps.size:
            first = [r.sharpness()[1][0] * 2 / r.lr for r in (none, batch)]
            before.append(
                [what, "none (step 0: one is at 2/lr already)", *(fmt(v) for v in first)]
                + [fmt(first[0] / first[1]), fmt(2 / none.lr)]
            )
    if not matched and not before:
        return ""
    return (
        "### Lambda_1 where the learning rate does not decide it (claim C7)\n\n"
        "At a common learning rate both networks train at the edge of stability, so similar "
        "lambda_1 is near-certain there. At a matched training loss (the curvature probe "
        "nearest the first step at which each network's running-mean loss reaches the level) "
        "and before either reaches 2/lr, lambda_1 of each:\n\n"
        + table(
            ["pair", "training loss", "lambda_1, standard", "lambda_1, BatchNorm", "ratio"],
            matched,
        )
        + "\n"
        + table(
            ["pair", "step (both below 2/lr)", "standard", "BatchNorm", "ratio", "2/lr"],
            before,
        )
    )
