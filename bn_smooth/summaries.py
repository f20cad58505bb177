"""The summary numbers of a run that the figures and REPORT.md show, each defined once:
medians of the landscape, of ICS and of the moments' changes, the sharpness against 2/lr,
and how often the loss rises.

    run = results.Run.load("runs/reproduce/vgg_batch")
    summaries.landscape_medians(run, early=True)   # REPORT.md's C4 numbers
"""

import numpy as np

from bn_smooth import curvature
from bn_smooth.norms import BatchNorm
from bn_smooth.results import Run, floats

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


# ---------------------------------------------------------------------------
# What BatchNorm changes (bn_smooth.mechanism; the batch_sharpness, scale and spectrum probes)

# A Lanczos node of weight w stands for about w * n eigenvalues (n: the number of
# parameters): an eigenvalue isolated above the bulk holds about 1/n, a node of the bulk
# stands for at least this many.
BULK_EIGENVALUES = 10


def _chosen(run: Run, kind: str, early: bool) -> list[dict]:
    """The rows of probe `kind` early in the run (the first EARLY after step 0, as
    `early_steps` says) or late (the rest)."""
    rows = run.rows.get(kind, [])
    steps = np.array([r["step"] for r in rows], dtype=int)
    keep = early_steps(steps, run.num_steps) if early else steps >= EARLY * run.num_steps
    return [r for r, k in zip(rows, keep, strict=True) if k]


def sharpness_variants(run: Run, early: bool) -> dict:
    """Medians over the batch_sharpness probe's steps (early: the first EARLY of the run
    after step 0; else the rest), each times lr / 2 (1 at the threshold 2/lr): lambda_1 of
    the step's own minibatch (the curvature probe, at the same steps), the batch sharpness,
    and lambda_1 of the loss averaged over the probe's batches."""
    rows = _chosen(run, "batch_sharpness", early)
    steps, sharp = run.sharpness()
    one_batch = dict(zip(steps.tolist(), sharp.tolist(), strict=True))
    lambda_1 = [one_batch.get(r["step"], np.nan) for r in rows]
    batch = floats([r["batch_sharpness"] for r in rows])  # None: not finite
    averaged = floats([r["averaged_eigenvalues"][0] for r in rows])
    return {
        "lambda_1, one batch": float(np.nanmedian(lambda_1)),
        "batch sharpness": float(np.nanmedian(batch * run.lr / 2)),
        "lambda_1, averaged loss": float(np.nanmedian(averaged * run.lr / 2)),
    }


def outliers(run: Run) -> dict:
    """{step: {edge, outliers, lambda_1 / edge, overlap top-1, overlap top-k, k}} at each
    step with both a spectrum and a curvature probe: the bulk's edge and the outliers above
    it (curvature.bulk_edge, a bulk node standing for BULK_EIGENVALUES eigenvalues or
    more), and the fraction of the gradient in the top-1 and top-k eigenspaces (the
    curvature probe's k)."""
    curv = run.curvature()
    at = {s: i for i, s in enumerate(curv["steps"].tolist())}
    sizes = {r["step"]: r.get("num_params") for r in run.rows.get("spectrum", [])}
    out = {}
    for step, (nodes, weights) in run.spectra(("nodes", "weights")).items():
        if step not in at or "top_overlap" not in curv or not sizes[step]:
            continue
        min_weight = BULK_EIGENVALUES / sizes[step]
        edge, count = (float(x) for x in curvature.bulk_edge(nodes, weights, min_weight))
        top, overlap = curv["eigenvalues"][at[step]], curv["top_overlap"][at[step]]
        out[step] = {
            "edge": edge,
            "outliers": count,
            "lambda_1 / edge": float(top[0] / edge),
            "overlap top-1": float(overlap[0]),
            "overlap top-k": float(overlap[-1]),
            "k": len(overlap),
        }
    return out


def scale_summary(run: Run, early: bool) -> dict:
    """Medians over the scale probe's steps (early or late, as `sharpness_variants`) and
    over the normalized layers: ||w||, the effective learning rate lr / ||w||^2, the
    update's angle (radians), |cos(w, g)|; and lambda_1 in the layers' own units (of
    D H D: a number of the function, not to be held against 2/lr, which bounds lambda_1
    of H). `scale_invariant`: whether the run's norm makes the layers so."""
    rows = _chosen(run, "scale", early)

    def median(key, fn=np.asarray):
        return float(np.nanmedian(np.concatenate([np.ravel(fn(r[key])) for r in rows])))

    return {
        "||w||": median("weight_norm"),
        "effective lr": median("effective_lr"),
        "update angle": median("update_angle"),
        "|cos(w, g)|": median("grad_cosine", np.abs),
        "lambda_1, own units": median("invariant_eigenvalues", lambda v: v[0]),
        "scale_invariant": bool(rows and rows[0]["scale_invariant"]),
    }


def sharpness_at_loss(run: Run, level: float) -> tuple[int, float]:
    """(the curvature probe nearest the first step at which the training loss, as a
    running mean over `window` steps, is at or below `level`; lambda_1 there), or
    (-1, nan) if it never is: sharpness compared at a matched training loss."""
    steps, loss = run.train_curve("loss", run.window)
    below = np.flatnonzero(loss <= level)
    curv_steps, sharp = run.sharpness()
    if not below.size or not curv_steps.size:
        return -1, np.nan
    i = int(np.argmin(np.abs(curv_steps - steps[below[0]])))
    return int(curv_steps[i]), float(sharp[i] * 2 / run.lr)


def before_threshold(a: Run, b: Run) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(steps, lambda_1 of a, lambda_1 of b) at the curvature probes both made before
    either's lambda_1 first reached 2/lr: sharpness compared before the edge of stability
    pins it."""
    (sa, ra), (sb, rb) = a.sharpness(), b.sharpness()
    common, ia, ib = np.intersect1d(sa, sb, return_indices=True)
    at_edge = (ra[ia] >= 1) | (rb[ib] >= 1)
    first = int(np.argmax(at_edge)) if at_edge.any() else common.size
    return common[:first], ra[ia][:first] * 2 / a.lr, rb[ib][:first] * 2 / b.lr
