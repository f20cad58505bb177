"""REPORT.md's decomposition of figure 4's gradient change (bn_smooth.mechanism): which of
||g||, ||H g_hat|| and the non-linearity factor carries the ratio standard / BatchNorm,
early in training, at the smallest step size, at the learning rate and at the largest."""

import numpy as np

from bn_smooth import mechanism, summaries
from bn_smooth.paper import curvature_report, seed_pairs
from bn_smooth.paper.markdown import fmt, table
from bn_smooth.paper.panels import DLN_MAIN, DLN_SLOW, VGG_MAIN
from bn_smooth.summaries import EARLY

NETWORKS = (("VGG, lr 0.1", VGG_MAIN), ("DLN, lr 1e-6", DLN_MAIN), ("DLN, lr 1e-7", DLN_SLOW))


def eta_indices(relative_etas) -> dict[str, int]:
    """{label: index} of the step sizes the table shows: the smallest (nearest the
    quadratic model), eta = lr where the grid has it, and the largest (where figure 4's
    largest change sits)."""
    r = np.asarray(relative_etas)
    out = {f"{r[0]:g} lr": 0}
    if np.isclose(r, 1).any():
        out["lr"] = int(np.flatnonzero(np.isclose(r, 1))[0])
    out[f"{r[-1]:g} lr"] = r.size - 1
    return out


def comparisons(runs) -> list[dict]:
    """For each network whose pair the suite has, with the curvature along the gradient
    measured: {network, eta, seeds: [mechanism.compare of each seed's pair]}, early."""
    out = []
    for net, names in NETWORKS:
        if not all(n in runs for n in names):
            continue
        pairs = [
            (mechanism.decompose(a), mechanism.decompose(b), a.num_steps)
            for a, b in seed_pairs.seeds(runs, names)
        ]
        pairs = [p for p in pairs if p[0].steps.size and p[1].steps.size]
        if not pairs:
            continue
        for label, i in eta_indices(pairs[0][0].relative_etas).items():
            seeds = [
                mechanism.compare(a, b, i, keep=lambda s, n=n: summaries.early_steps(s, n))
                for a, b, n in pairs
            ]
            out.append({"network": net, "eta": label, "seeds": seeds})
    return out


def _across(seeds, key, field, unit="") -> str:
    """The median over seeds of one number, with the seeds' range when several."""
    values = [s[key][field] for s in seeds]
    text = fmt(float(np.median(values))) + unit
    return text + (f" ({fmt(min(values))} to {fmt(max(values))})" if len(values) > 1 else "")


def rows(runs) -> list[list]:
    out = []
    for c in comparisons(runs):
        seeds = c["seeds"]
        cells = [
            f"{_across(seeds, k, 'geomean', 'x')}, share {_across(seeds, k, 'share')}"
            for k in mechanism.FACTORS
        ]
        carriers = [mechanism.carrier(s) for s in seeds]
        out.append(
            [
                c["network"],
                c["eta"],
                f"{len(seeds)} x {seeds[0]['steps']}",
                _across(seeds, "change", "geomean", "x"),
                *cells,
                ", ".join(dict.fromkeys(carriers)),
            ]
        )
    return out


def carried_by(runs, network: str = NETWORKS[0][0]) -> str:
    """One sentence for claim C4: the decomposition of `network`'s early ratio at the
    largest step size, where figure 4's largest change sits."""
    found = [c for c in comparisons(runs) if c["network"] == network]
    if not found:
        return ""
    last, seeds = found[-1]["eta"], found[-1]["seeds"]
    names = dict(NETWORKS)[network]
    at_last = [mechanism.at_largest_step(mechanism.decompose(runs[n])) for n in names]
    parts = " x ".join(f"{k} {_across(seeds, k, 'geomean', 'x')}" for k in mechanism.FACTORS)
    carriers = ", ".join(dict.fromkeys(mechanism.carrier(s) for s in seeds))
    return (
        f"\nDecomposed ({network}, eta = {last}, the step size of figure 4's largest change "
        f"in {min(at_last):.0%} or more of each network's probes; geometric means over the "
        f"early probes, median over {len(seeds)} seed(s)): the change's ratio "
        f"{_across(seeds, 'change', 'geomean', 'x')} = {parts}; the largest share of it: "
        f'{carriers} (section "What carries figure 4\'s difference").\n'
    )


def report_section(runs) -> str:
    """REPORT.md's section (its runs must have measured the curvature along the gradient at
    their line-search probes: `rows(runs)` not empty)."""
    return (
        "## What BatchNorm changes, measured (beyond the paper)\n\n"
        "### What carries figure 4's difference\n\n"
        "At every line-search probe the gradient's change at step size eta is exactly "
        "eta x ||g|| x ||H g_hat|| x the non-linearity factor (the measured change over the "
        "quadratic model's prediction eta ||g|| ||H g_hat||: 1 on a quadratic, below 1 where "
        "the gradient grows more slowly along the ray than the curvature at the start "
        "predicts; bn_smooth.mechanism). So the per-step ratio standard / BatchNorm is the "
        "product of three ratios, and over a window their geometric means multiply: each "
        "factor's *share* is its part of log(the change's ratio) (the shares sum to 1; a "
        f"negative share works against the ratio). Probes of the first {EARLY:.0%} after "
        "step 0; each cell is the median over seeds (their range in brackets).\n\n"
        + table(
            [
                "network",
                "eta",
                "seeds x probes",
                "change, standard / BatchNorm",
                *(f"{k} ratio" for k in mechanism.FACTORS),
                "largest share",
            ],
            rows(runs),
        )
        + "".join(
            "\n" + part
            for part in (
                curvature_report.sharpness_variants(runs),
                curvature_report.outliers(runs),
                curvature_report.scale(runs),
                curvature_report.fair_sharpness(runs),
            )
            if part
        )
    )
