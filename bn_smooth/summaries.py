"""The summary numbers of a run that the figures and REPORT.md show, each defined once:
medians of the landscape, of ICS and of the moments' changes, the sharpness against 2/lr,
and how often the loss rises.

    run = results.Run.load("runs/reproduce/vgg_batch")
    summaries.landscape_medians(run, early=True)   # REPORT.md's C4 numbers
"""

import numpy as np

from bn_smooth.norms import BatchNorm
from bn_smooth.results import Run

EARLY = 0.2  # "early in training": the first 20% of the steps


def matched_ratio(steps_a, a, steps_b, b) -> tuple[np.ndarray, np.ndarray]:
    """(steps, a / b) at the steps both series were measured (per-step ratios of two
    runs, e.g. standard / BatchNorm)."""
    common, ia, ib = np.intersect1d(steps_a, steps_b, return_indices=True)
    return common, np.asarray(a)[ia] / np.asarray(b)[ib]


def sharpness_median(run: Run, early: bool) -> float:
    """Median of lambda_1 * lr / 2 over the probed steps in the first EARLY of the run,
    or over the rest; with the probe's `pair`, over both iterates of each pair."""
    halves = [run.sharpness(), run.sharpness(next_step=True)]
    steps = np.concatenate([h[0] for h in halves])
    ratio = np.concatenate([h[1] for h in halves])
    keep = steps < EARLY * run.num_steps
    return float(np.nanmedian(ratio[keep if early else ~keep]))


def rising_between_probes(run: Run) -> tuple[np.ndarray, np.ndarray]:
    """(curvature probe steps, the fraction of rising steps from each to the next probe,
    or to the end of the run)."""
    steps = run.curvature()["steps"]
    bounds = [*steps, run.num_steps]
    return steps, np.array(
        [rising_fraction(run, a, b) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    )


def rising_fraction(run: Run, start: int = 0, stop: int | None = None) -> float:
    """The fraction of training steps in [start, stop) whose loss exceeds the previous
    step's: for full-batch GD, how often it oscillates instead of descending."""
    steps, loss = run.train_curve("loss")
    keep = (steps[1:] >= start) & (steps[1:] < (stop or run.num_steps))
    return float(np.mean(np.diff(loss)[keep] > 0))


def early_steps(steps: np.ndarray, num_steps: int) -> np.ndarray:
    """Which probed `steps` are early: after step 0 and in the first EARLY of the run (a
    run too short to probe inside it still has one early probe: its first)."""
    first = steps[steps > 0].min(initial=num_steps)
    return (steps > 0) & ((steps < EARLY * num_steps) | (steps == first))


def early_step_ratio(a: Run, b: Run, key: str = "gradient change") -> float:
    """The median over the early probes of the per-step ratio a / b of one of figure 4's
    measures (Run.smoothness): the number figure 4(b)'s reading compares."""
    x, y = a.smoothness(), b.smoothness()
    steps, r = matched_ratio(x["steps"], x[key], y["steps"], y[key])
    return float(np.nanmedian(r[early_steps(steps, a.num_steps)]))


def landscape_medians(run: Run, early: bool | None) -> dict:
    """Medians over probed steps of the loss range, the largest gradient change and
    beta_eff: over the first EARLY of the run after step 0 (`early`; with at least the
    first probe after it), over the whole run, or at step 0 alone (`early=None`: the
    initialization, where the standard network sits on a plateau with a tiny
    gradient)."""
    ls = run.landscape()
    steps = ls["steps"]
    keep = (
        steps == 0 if early is None else early_steps(steps, run.num_steps) if early else slice(None)
    )
    return {
        "loss range": float(np.nanmedian((ls["loss_max"] - ls["loss_min"])[keep])),
        "gradient change": float(np.nanmedian(ls["grad_dist_max"][keep])),
        "beta_eff": float(np.nanmedian(ls["beta_eff"][keep])),
    }


def ics_medians(run: Run) -> dict:
    """{l2, cosine: {layer: median over probed steps}}; the first layer (0 by
    definition) left out."""
    per_layer = {layer: run.ics(layer) for layer in run.ics_layers()[1:]}
    return {
        "l2": {k: float(np.nanmedian(v[1])) for k, v in per_layer.items()},
        "cosine": {k: float(np.nanmedian(v[2])) for k, v in per_layer.items()},
    }


def moment_changes(run: Run, layer: str, unit: int, site: str = "post_norm") -> dict:
    """|change| of one chosen unit's mean and variance from step t to step t+1 at each
    probed step t (figure 7), with the probe's `pair`; without it (older runs), between
    successive probed steps: {steps, mean, variance, between ("steps" or "probes")}."""
    a = run.activations(layer, site, unit)
    later = run.activations(layer, site, unit, next_step=True)
    if later["steps"].size:
        return {
            "steps": a["steps"],
            "mean": np.abs(later["mean"] - a["mean"]),
            "variance": np.abs(later["std"] ** 2 - a["std"] ** 2),
            "between": "steps",
        }
    return {
        "steps": a["steps"][1:],
        "mean": np.abs(np.diff(a["mean"])),
        "variance": np.abs(np.diff(a["std"] ** 2)),
        "between": "probes",
    }


def batchnorm_scale(run: Run, layer: str, unit: int) -> tuple[np.ndarray, np.ndarray]:
    """(sigma_j, |gamma_j|) of one probed unit of a BatchNorm layer at each probed step,
    read from its recorded standard deviations: before the norm sigma_j, after it (the
    same batch) |gamma_j| sigma_j / sqrt(sigma_j^2 + eps). Without affine parameters
    (the DLN) |gamma_j| reads 1."""
    eps = run.config.get("norm_kwargs", {}).get("epsilon", BatchNorm.epsilon)
    sigma = run.activations(layer, "pre_norm", unit)["std"]
    out = run.activations(layer, "post_norm", unit)["std"]
    return sigma, out * np.sqrt(sigma**2 + eps) / sigma


def moment_instability(run: Run, site: str = "post_norm") -> dict:
    """Median over layers, units and successive probes of |change| in mean and variance."""
    changes = [
        moment_changes(run, layer, unit, site)
        for layer in run.activation_layers()
        for unit in range(len(run.activation_units(layer)))
    ]
    return {
        k: float(np.nanmedian(np.concatenate([c[k] for c in changes])))
        for k in ("mean", "variance")
    }


def eta_medians(run: Run) -> tuple[np.ndarray, np.ndarray]:
    """(step sizes, the median over probed steps of the gradient's change at each): the
    curve of figure 10 that one number per step size summarizes."""
    ls = run.landscape()
    return np.nanmedian(ls["step_sizes"], axis=0), np.nanmedian(ls["grad_dists"], axis=0)
