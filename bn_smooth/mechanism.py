"""What figure 4's gradient change is made of: gradient size, curvature and non-linearity.

Along the line search's ray w - eta g, the gradient changes to first order by -eta H g,
of norm eta ||g|| ||H g_hat|| (g_hat = g / ||g||): the quadratic model's prediction.
The measured change ||g(w - eta g) - g(w)|| over that prediction is the *non-linearity
factor*: 1 on a quadratic, below 1 where the gradient grows more slowly along the ray
than the curvature at w predicts, above 1 where it grows faster. At every probe and
step size, exactly,

    change = eta * ||g|| * ||H g_hat|| * factor,

so at a common eta the per-step ratio of two networks' changes (standard / BatchNorm)
is the product of the ratios of ||g||, ||H g_hat|| and the factor. Logarithms add:
over a window, the geometric mean of the change's ratio is the product of the three
geometric means, and each factor's share of log(change ratio) says which one carries
the difference (shares sum to 1).

    standard = mechanism.decompose(results.Run.load("runs/reproduce/vgg_none"))
    batchnorm = mechanism.decompose(results.Run.load("runs/reproduce/vgg_batch"))
    early = lambda steps: summaries.early_steps(steps, 3_000)  # the first 20%, after 0
    mechanism.compare(standard, batchnorm, eta_index=-1, keep=early)  # the largest eta
"""

from typing import NamedTuple

import numpy as np

FACTORS = ("||g||", "||H g_hat||", "non-linearity")


class Decomposition(NamedTuple):
    steps: np.ndarray  # [P] probed steps
    relative_etas: np.ndarray  # [K] eta / lr
    grad_norm: np.ndarray  # [P] ||g||
    hg_norm: np.ndarray  # [P] ||H g_hat||
    change: np.ndarray  # [P, K] ||g(w - eta g) - g(w)||, measured
    predicted: np.ndarray  # [P, K] eta ||g|| ||H g_hat||, the quadratic model's
    factor: np.ndarray  # [P, K] change / predicted

    def factors(self) -> dict[str, np.ndarray]:
        """{factor: [P, K]}: the three factors of FACTORS (||g|| and ||H g_hat||
        repeated over the step sizes)."""
        k = self.relative_etas.size
        return {
            "||g||": np.repeat(self.grad_norm[:, None], k, 1),
            "||H g_hat||": np.repeat(self.hg_norm[:, None], k, 1),
            "non-linearity": self.factor,
        }


def decompose(run) -> Decomposition:
    """The decomposition at every landscape probe of `run` (a bn_smooth.results.Run) that
    measured the curvature along the gradient (probes without it are left out)."""
    ls = run.landscape()
    keep = np.isfinite(ls["hg_norm"]) if ls["steps"].size else np.zeros(0, bool)
    etas = ls["step_sizes"][keep]
    predicted = etas * (ls["grad_norm"] * ls["hg_norm"])[keep, None]
    change = ls["grad_dists"][keep]
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = change / predicted
    return Decomposition(
        ls["steps"][keep],
        etas[0] / run.lr if etas.size else np.zeros(0),
        ls["grad_norm"][keep],
        ls["hg_norm"][keep],
        change,
        predicted,
        factor,
    )


def compare(a: Decomposition, b: Decomposition, eta_index: int, keep=None) -> dict:
    """The per-step ratios a / b at the steps both probed (those that `keep`, a function
    of the steps' array returning a mask, accepts), at step size `eta_index`: {quantity:
    {median, geomean, share}} for "change" and each of FACTORS, and "steps": the number
    of steps compared. `share`
    is log(geomean of the factor's ratio) / log(geomean of the change's ratio): the three
    shares sum to 1, exactly."""
    if not np.allclose(a.relative_etas, b.relative_etas):
        raise ValueError("the two runs' line searches used different step sizes")
    common, ia, ib = np.intersect1d(a.steps, b.steps, return_indices=True)
    keep = np.ones(common.size, bool) if keep is None else np.asarray(keep(common), bool)
    fa, fb = a.factors(), b.factors()
    ratios = {"change": a.change[ia, eta_index] / b.change[ib, eta_index]}
    ratios |= {k: fa[k][ia, eta_index] / fb[k][ib, eta_index] for k in FACTORS}
    ok = keep & np.all([np.isfinite(r) & (r > 0) for r in ratios.values()], axis=0)
    logs = {k: np.log(r[ok]) for k, r in ratios.items()}
    total = logs["change"].mean() if ok.any() else np.nan
    out = {"steps": int(ok.sum())}
    for k, r in ratios.items():
        mean_log = logs[k].mean() if ok.any() else np.nan
        out[k] = {
            "median": float(np.median(r[ok])) if ok.any() else np.nan,
            "geomean": float(np.exp(mean_log)),
            "share": float(mean_log / total) if total else np.nan,
        }
    return out


def carrier(comparison: dict) -> str:
    """The factor with the largest share of the change's ratio (FACTORS' name)."""
    return max(FACTORS, key=lambda k: comparison[k]["share"])


def at_largest_step(d: Decomposition) -> float:
    """The fraction of probes whose largest change (figure 4's measure) is at the largest
    step size: where it is, figure 4's ratio is the decomposition's at that step size."""
    return float(np.mean(np.argmax(d.change, axis=1) == d.change.shape[1] - 1))
