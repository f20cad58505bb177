"""The main pairs (VGG at lr 0.1, the DLN at lr 1e-6) on every seed the suite trained, and
figure 4's measures over them: one seed's VGG numbers move with the machine, and the DLN's
line search at its largest step sizes with the rounding, so the claims and the agreement
table take medians over the seeds."""

import numpy as np

from bn_smooth import summaries
from bn_smooth.configs import reproduce as suite
from bn_smooth.paper.markdown import fmt
from bn_smooth.paper.panels import DLN_MAIN, VGG_MAIN
from bn_smooth.paper.verdicts import ratio


def seeds(runs, names) -> list[tuple]:
    """The (standard, BatchNorm) pairs of `names` on every seed the suite trained: the
    main pairs (VGG at lr 0.1, the DLN at lr 1e-6) on their extra seeds when those measured
    the line search too (the DLN's did not before C4 read them)."""
    pairs = [tuple(runs[n] for n in names)]
    extra_name = {VGG_MAIN: suite.vgg_seed, DLN_MAIN: suite.dln_seed}.get(tuple(names))
    for k in range(1, 10) if extra_name else ():
        extra = tuple(extra_name(n, k) for n in ("none", "batch"))
        if all(n in runs and runs[n].landscape()["steps"].size for n in extra):
            pairs.append(tuple(runs[n] for n in extra))
    return pairs


def seed_runs(runs, name: str) -> list:
    """`name`'s run on each seed of `seeds` (one seed but for the main VGG pair; figures 1
    and 2 read VGG only)."""
    names = VGG_MAIN if name in VGG_MAIN and all(n in runs for n in VGG_MAIN) else (name,)
    return [pair[names.index(name)] for pair in seeds(runs, names)]


def early_ratios(pairs) -> list[float]:
    """The early per-step ratio of the largest gradient change, standard / BatchNorm, of
    each (standard, BatchNorm) pair of `pairs` (one per seed)."""
    return [summaries.early_step_ratio(none, batch) for none, batch in pairs]


def landscape_over_seeds(pairs, early) -> tuple[dict, dict, dict]:
    """summaries.landscape_medians of the standard and the BatchNorm run, and their ratio,
    each the median over the (standard, BatchNorm) `pairs` of the seeds."""
    per_seed = [
        (summaries.landscape_medians(a, early), summaries.landscape_medians(b, early))
        for a, b in pairs
    ]

    def median(value):
        return {k: float(np.median([value(a, b, k) for a, b in per_seed])) for k in per_seed[0][0]}

    return (
        median(lambda a, b, k: a[k]),
        median(lambda a, b, k: b[k]),
        median(lambda a, b, k: ratio(a[k], b[k])),
    )


def over_seeds(values) -> str:
    """The seeds' values in brackets, when there are several."""
    return f" (seeds: {', '.join(fmt(v) for v in values)})" if len(values) > 1 else ""
