"""The exact maximum of a quadratic form over a ball: a trust-region subproblem."""

import numpy as np


def max_quadratic_on_ball(a, center, radius, iterations: int = 200):
    """max of w'Aw over ||w - center|| <= radius, exactly (a trust-region subproblem).

    numpy, batched over leading axes. By the S-lemma the maximum equals the
    minimum over nu >= max(lambda_max(A), 0) of the dual
    g(nu) = nu r^2 + sum_i c_i^2 nu e_i / (nu - e_i) (e, c: A's eigenvalues and
    the center in its eigenbasis). g is convex with g' = r^2 - phi(nu), where
    phi(nu) = sum_i c_i^2 e_i^2 / (nu - e_i)^2 decreases, so bisection on
    phi = r^2 finds the minimizer; if phi <= r^2 already at the lower end (the
    "hard case", or A negative semi-definite) the minimum is there. (Run on the
    host: as a lax loop inside the large vmapped float64 program it stalled XLA:CPU.)
    """
    e, q = np.linalg.eigh(np.asarray(a, np.float64))
    c2 = np.einsum("...ij,...i->...j", q, np.asarray(center, np.float64)) ** 2
    r2 = np.asarray(radius, np.float64) ** 2
    scale = np.abs(e).max(-1) + 1e-300
    lo = np.maximum(e[..., -1], 0.0) + 1e-12 * scale

    def safe_sum(terms_fn, nu):  # components with c_i = 0 contribute 0 (also at nu = e_i)
        gap = np.maximum(nu[..., None] - e, 1e-300)
        with np.errstate(over="ignore", invalid="ignore"):
            return np.where(c2 > 0, terms_fn(gap), 0.0).sum(-1)

    def phi(nu):
        return safe_sum(lambda gap: c2 * e**2 / gap**2, nu)

    left = lo
    right = lo + np.sqrt((c2 * e**2).sum(-1) / np.maximum(r2, 1e-300)) + scale  # phi <= r2
    for _ in range(iterations):
        mid = (left + right) / 2
        above = phi(mid) > r2
        left, right = np.where(above, mid, left), np.where(above, right, mid)
    nu = np.where(phi(lo) <= r2, lo, right)
    return nu * r2 + safe_sum(lambda gap: c2 * nu[..., None] * e / gap, nu)
