"""Results that no claim's check decides, reported as measured beside the sentence of the
paper they bear on (REPORT.md's "Also measured" section)."""

import numpy as np

from bn_smooth import summaries
from bn_smooth.paper import panels
from bn_smooth.paper.markdown import fmt, table
from bn_smooth.paper.panels import DLN_MAIN, DLN_SLOW, VGG_LP, VGG_MAIN
from bn_smooth.paper.verdicts import ratio
from bn_smooth.summaries import EARLY, batchnorm_scale


def gradient_norms(runs) -> str:
    """Section 3.1: "the magnitudes of the gradients are smaller too" with BatchNorm."""
    rows = []
    for net, names in (("VGG", VGG_MAIN), ("DLN", DLN_MAIN), ("DLN, lr 1e-7", DLN_SLOW)):
        if not all(n in runs for n in names):
            continue
        norms = []
        for name in names:
            m = runs[name].smoothness()
            early = summaries.early_steps(m["steps"], runs[name].num_steps)
            norms.append(float(np.nanmedian(m["||g||"][early])))
        rows.append([net, fmt(norms[0]), fmt(norms[1]), f"{fmt(ratio(norms[1], norms[0]))}x"])
    return (
        "### The gradient's size\n\nSection 3.1: \"the magnitudes of the gradients are "
        f'smaller too". The median ||g|| over the probes of the first {EARLY:.0%} after step '
        "0:\n\n" + table(["network", "standard", "BatchNorm", "BatchNorm / standard"], rows)
    )


def slow_dln_landscape(runs) -> str:
    """Figure 9's measures on the DLN at lr 1e-7, where the standard network's GD does not
    oscillate: the paper does not run it."""
    if not all(n in runs for n in DLN_SLOW):
        return ""
    none, batch = (runs[n] for n in DLN_SLOW)
    rows = []
    for early, when in ((True, f"first {EARLY:.0%}, after 0"), (False, "whole run")):
        a, b = (summaries.landscape_medians(r, early) for r in (none, batch))
        rows.append([when, *(f"{fmt(ratio(a[k], b[k]))}x" for k in a)])
    return (
        f"### The DLN at lr {none.lr:g}\n\nFigure 9's measures, standard / BatchNorm (above "
        "1: smoother with BatchNorm), where the standard network's GD does not oscillate "
        "(claim C7); the paper measures the DLN at lr 1e-6 only.\n\n"
        + table(["when", "loss range", "gradient change", "beta_eff"], rows)
    )


def lp_distributions(runs) -> str:
    """Figure 14's caption: "the lp-normalization techniques leads to larger distributional
    covariate shift compared to normal networks"."""
    if not all(n in runs for n in VGG_LP):
        return ""
    rows = []
    for name in VGG_LP:
        m = summaries.moment_instability(runs[name])
        rows.append([runs[name].label, fmt(m["mean"]), fmt(m["variance"])])
    return (
        "### The lp norms' distributions\n\nFigure 14's caption: \"the lp-normalization "
        "techniques leads to larger distributional covariate shift compared to normal "
        'networks". The median over layers, units and probes of |change| in the mean and '
        "variance of the post-normalization activations, as claim C2 measures it:\n\n"
        + table(["VGG", "|Δ mean|", "|Δ variance|"], rows)
    )


def _scale_rows(run, layers) -> list:
    rows = []
    for layer in layers:
        units = range(len(run.activation_units(layer)))
        pairs = [batchnorm_scale(run, layer, u) for u in units]
        sigma, gamma = (np.concatenate([p[k] for p in pairs]) for k in (0, 1))
        factor = gamma / sigma
        rows.append(
            [
                panels.display(layer),
                fmt(float(np.nanmedian(sigma))),
                fmt(float(np.nanmin(sigma))),
                fmt(float(np.nanmedian(gamma))),
                fmt(float(np.nanmedian(factor))),
                f"{np.mean(factor < 1):.0%}",
            ]
        )
    return rows


def batchnorm_scales(runs) -> str:
    """Theorems 4.1-4.2 gain a factor gamma / sigma_j, "sigma_j tends to be large": sigma_j
    (a unit's standard deviation before its BatchNorm) and gamma_j, VGG and the DLN."""
    parts = []
    for net, name, drop in (("VGG", VGG_MAIN[1], 0), ("DLN", DLN_MAIN[1], 1)):
        if name in runs and runs[name].activation_layers():
            layers = runs[name].activation_layers()
            rows = _scale_rows(runs[name], layers[: len(layers) - drop])
            parts.append(f"{net}:\n\n" + table(SCALE_COLUMNS, rows))
    if not parts:
        return ""
    return (
        "### gamma_j and sigma_j with BatchNorm\n\nTheorems 4.1 and 4.2 bound the gradient "
        "with BatchNorm by that without it times gamma / sigma_j (squared in 4.1), and "
        '"sigma_j tends to be large in practice (cf. Appendix Figure 8)". sigma_j of the '
        "probed units before their BatchNorm and gamma_j in absolute value (read off the "
        "same batch's standard deviation after it; the DLN's BatchNorm has no gamma and it "
        "reads 1), over every probe; the DLN's last layer has no norm:\n\n" + "\n".join(parts)
    )


SCALE_COLUMNS = [
    "layer",
    "median sigma_j",
    "smallest",
    "median gamma_j",
    "median gamma_j / sigma_j",
    "probes with gamma_j / sigma_j < 1",
]


def sections(runs) -> str:
    """Every section whose runs the suite has."""
    parts = [
        s
        for s in (
            gradient_norms(runs),
            slow_dln_landscape(runs),
            lp_distributions(runs),
            batchnorm_scales(runs),
        )
        if s
    ]
    return "\n".join(parts)
