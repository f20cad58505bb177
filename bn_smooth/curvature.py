"""The curvature of a loss: Hessian-vector products, top eigenvalues, trace and spectrum.

Like the paper's probes, every function takes `loss_fn: params -> scalar`, so
the Hessian is that of whatever function the caller closes over; for a
training run, `train.step_loss_fn` gives the training objective of step t
(batch statistics, the step's noise sample), which is what a probe must
measure (DESIGN.md, "Measurement modes"). Everything is jit- and vmap-able;
step and sample counts are static.

- `hvp(loss_fn, params, v)`: H v, forward-over-reverse;
- `top_eigenvalues`: Lanczos with full reorthogonalization, one compiled loop;
- `hessian_trace`: Hutchinson's estimator, with its standard error;
- `spectral_density`: stochastic Lanczos quadrature (Ghorbani et al. 2019), and
  `bulk_edge`: where its bulk ends and how many outliers sit above it;
- `subspace_overlap`: the fraction of the gradient in the top eigenspace;
- `gradient_curvature`: the curvature along the gradient, g_hat' H g_hat and
  ||H g_hat||, one HVP (the paper's beta_eff tends to ||H g_hat|| as eta -> 0);
- `batch_sharpness` and `averaged_loss`: sharpness as minibatch SGD sees it, over
  several batches, each batch's loss with its own statistics;
- `hessian_matrix`: the whole Hessian, for small models and tests.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax
from jax.flatten_util import ravel_pytree

from bn_smooth.batching import batched_map
from bn_smooth.errors import ConfigError
from bn_smooth.precision import of_vectors, tree_vdot


def hvp(loss_fn, params, v):
    """H v, a pytree like `params`: the JVP of the gradient (forward-over-reverse)."""
    return jax.jvp(jax.grad(loss_fn), (params,), (v,))[1]


def _flat_hvp(loss_fn, params):
    """(matvec on flat vectors, the flat params, unravel)."""
    flat, unravel = ravel_pytree(params)

    def matvec(v):
        return ravel_pytree(hvp(loss_fn, params, unravel(v)))[0]

    return matvec, flat, unravel


# ---------------------------------------------------------------------------
# Lanczos


class Tridiagonal(NamedTuple):
    """The Lanczos decomposition A V' ~ V' T: T's diagonal and off-diagonal, and V."""

    alphas: jax.Array  # [m]
    betas: jax.Array  # [m - 1]; 0 where the iteration restarted (an invariant subspace)
    basis: jax.Array  # [m, n], orthonormal rows

    def eigh(self):
        """(Ritz values ascending, T's eigenvectors as columns)."""
        t = jnp.diag(self.alphas) + jnp.diag(self.betas, 1) + jnp.diag(self.betas, -1)
        return jnp.linalg.eigh(t)


def _orthogonalize(w, basis, upto):
    """w minus its projection on the rows of `basis` up to index `upto`, twice
    ("twice is enough": one pass leaves round-off of the size of the projection)."""
    mask = (jnp.arange(basis.shape[0]) <= upto)[:, None]
    active = jnp.where(mask, basis, 0)
    for _ in range(2):
        w = w - jnp.matmul(
            active.T, jnp.matmul(active, w, precision=of_vectors()), precision=of_vectors()
        )
    return w


def lanczos(matvec, v0, num_steps: int, key) -> Tridiagonal:
    """`num_steps` of Lanczos on the symmetric `matvec` from `v0`, fully reorthogonalized.

    When the Krylov space is exhausted (the new vector vanishes: an invariant
    subspace was found), it restarts from a random vector orthogonal to the
    basis, with a zero off-diagonal, so every Ritz value stays a true one.
    `num_steps` must not exceed the dimension.
    """
    n, dtype = v0.shape[0], v0.dtype
    if num_steps > n:
        raise ConfigError(f"num_steps {num_steps} exceeds the dimension {n}")
    basis = jnp.zeros((num_steps, n), dtype).at[0].set(v0 / jnp.linalg.norm(v0))
    tiny = 10 * jnp.finfo(dtype).eps

    def body(i, carry):
        basis, alphas, betas = carry
        w = matvec(basis[i])
        alpha = jnp.vdot(basis[i], w, precision=of_vectors())
        scale = jnp.linalg.norm(w)
        w = _orthogonalize(w, basis, i)
        beta = jnp.linalg.norm(w)
        restart = beta <= tiny * jnp.maximum(scale, jnp.abs(alpha))

        def fresh():  # only on a restart: a random vector orthogonal to the basis
            r = _orthogonalize(jax.random.normal(jax.random.fold_in(key, i), (n,), dtype), basis, i)
            return r / jnp.linalg.norm(r)

        nxt = jax.lax.cond(restart, fresh, lambda: w / beta)
        basis = basis.at[i + 1].set(nxt, mode="drop")  # the last step has no successor
        return basis, alphas.at[i].set(alpha), betas.at[i].set(jnp.where(restart, 0, beta))

    basis, alphas, betas = jax.lax.fori_loop(
        0, num_steps, body, (basis, jnp.zeros(num_steps, dtype), jnp.zeros(num_steps, dtype))
    )
    return Tridiagonal(alphas, betas[:-1], basis)


class Eigen(NamedTuple):
    eigenvalues: jax.Array  # [k], largest first
    eigenvectors: object  # pytree like params, with a leading axis of k unit vectors


def top_eigenvalues(loss_fn, params, k: int, num_steps: int, key, init=None) -> Eigen:
    """The k largest (algebraic) Hessian eigenvalues of `loss_fn` at `params`, and their
    Ritz vectors.

    `num_steps` Lanczos steps (HVPs) from `init` (a pytree like params: for
    example the top Ritz vector of the previous probe) or a random direction.
    """
    matvec, flat, unravel = _flat_hvp(loss_fn, params)
    start_key, restart_key = jax.random.split(key)
    v0 = (
        jax.random.normal(start_key, flat.shape, flat.dtype)
        if init is None
        else ravel_pytree(init)[0]
    )
    tri = lanczos(matvec, v0, num_steps, restart_key)
    values, vectors = tri.eigh()
    top = jnp.argsort(values)[::-1][:k]
    ritz = jnp.matmul(vectors[:, top].T, tri.basis, precision=of_vectors())  # [k, n]
    return Eigen(values[top], jax.vmap(unravel)(ritz))


# ---------------------------------------------------------------------------
# Trace and spectral density


class Trace(NamedTuple):
    estimate: jax.Array  # tr(Q'HQ) + the mean of the samples
    stderr: jax.Array  # the standard error of that mean
    samples: jax.Array  # [num_samples] g'Hg, g = (I - QQ') v for Rademacher v
    sketched: jax.Array  # tr(Q'HQ): the exact part (0 without a sketch)


def hessian_trace(
    loss_fn, params, key, num_samples: int, sketch: int = 0, strategy: str | None = None
) -> Trace:
    """An unbiased estimate of tr(H), with its standard error.

    `sketch` 0: Hutchinson, the mean of v'Hv over Rademacher v (E[vv'] = I).
    `sketch` s > 0: Hutch++ (Meyer et al. 2021): the range Q of H S for s
    Rademacher columns S is taken exactly, tr(Q'HQ), and Hutchinson estimates
    only the rest, on vectors with Q projected out. Where a few eigenvalues
    dominate, as in deep networks, its error is far smaller for the same
    number of HVPs (2 s + num_samples). `num_samples` must be at least 2.
    """
    matvec, flat, _ = _flat_hvp(loss_fn, params)
    sketch_key, sample_key = jax.random.split(key)
    if sketch:
        columns = jax.random.rademacher(sketch_key, (sketch, flat.shape[0]), flat.dtype)
        q = jnp.linalg.qr(batched_map(matvec, columns, strategy).T)[0].T  # [s, n]
        sketched = jnp.sum(q * batched_map(matvec, q, strategy))
    else:
        q, sketched = jnp.zeros((0, flat.shape[0]), flat.dtype), jnp.zeros((), flat.dtype)

    def quadratic_form(k):
        v = jax.random.rademacher(k, flat.shape, flat.dtype)
        g = v - jnp.matmul(q.T, jnp.matmul(q, v, precision=of_vectors()), precision=of_vectors())
        return jnp.vdot(g, matvec(g), precision=of_vectors())

    samples = batched_map(quadratic_form, jax.random.split(sample_key, num_samples), strategy)
    return Trace(
        sketched + samples.mean(), samples.std(ddof=1) / jnp.sqrt(num_samples), samples, sketched
    )


class Density(NamedTuple):
    grid: jax.Array  # [G] eigenvalue axis
    density: jax.Array  # [G] Gaussian-smoothed density of eigenvalues (integrates to 1)
    nodes: jax.Array  # [V, m] Ritz values of each starting vector
    weights: jax.Array  # [V, m] their weights, each row summing to 1


def spectral_density(
    loss_fn,
    params,
    key,
    num_steps: int,
    num_vectors: int,
    num_points: int = 512,
    sigma: float | None = None,
    strategy: str | None = None,
) -> Density:
    """Stochastic Lanczos quadrature of the Hessian's spectrum.

    For each of `num_vectors` Gaussian starting vectors, `num_steps` Lanczos
    steps give nodes (T's eigenvalues) and weights (the squared first
    components of T's eigenvectors); the density is their average, each node
    smoothed by a Gaussian of width `sigma` (default: 1% of the nodes' range),
    on `num_points` points spanning the nodes and 3 sigma beyond.
    """
    matvec, flat, _ = _flat_hvp(loss_fn, params)

    def quadrature(k):
        start, restart = jax.random.split(k)
        values, vectors = lanczos(
            matvec, jax.random.normal(start, flat.shape, flat.dtype), num_steps, restart
        ).eigh()
        return values, vectors[0] ** 2

    nodes, weights = batched_map(quadrature, jax.random.split(key, num_vectors), strategy)
    lo, hi = nodes.min(), nodes.max()
    width = (hi - lo) * 0.01 if sigma is None else sigma
    width = jnp.where(width > 0, width, 1.0)
    grid = jnp.linspace(lo - 3 * width, hi + 3 * width, num_points)
    gauss = jnp.exp(-0.5 * ((grid[:, None, None] - nodes) / width) ** 2) / (
        width * jnp.sqrt(2 * jnp.pi)
    )
    return Density(grid, jnp.mean(jnp.sum(weights * gauss, -1), -1), nodes, weights)


# ---------------------------------------------------------------------------
# Along the gradient, and the whole Hessian


class GradientCurvature(NamedTuple):
    rayleigh: jax.Array  # g_hat' H g_hat
    hg_norm: jax.Array  # ||H g_hat||
    grad_norm: jax.Array  # ||g||


def gradient_curvature(loss_fn, params) -> GradientCurvature:
    """The curvature along the gradient, with g_hat = g / ||g||: one HVP.

    |g_hat' H g_hat| <= ||H g_hat|| <= max |lambda|, and the paper's beta_eff
    (the gradient's change over the distance moved) tends to ||H g_hat|| as
    the step goes to 0.
    """
    g = jax.grad(loss_fn)(params)
    grad_norm = optax.tree.norm(g)
    g_hat = optax.tree.scale(1 / grad_norm, g)
    hg = hvp(loss_fn, params, g_hat)
    return GradientCurvature(tree_vdot(g_hat, hg), optax.tree.norm(hg), grad_norm)


def batch_sharpness(batch_loss_fn, params, batches) -> jax.Array:
    """E_B[g_B' H_B g_B / ||g_B||^2] over `batches` (an array whose leading axis indexes
    them; `batch_loss_fn(params, batch)`): the curvature of each batch's own loss along
    its own gradient, averaged, one HVP a batch. Under minibatch SGD it is this quantity,
    not lambda_1 of one batch's loss, that is reported to settle at 2/lr (Andreyev and
    Beneventano 2024)."""
    per_batch = jax.lax.map(
        lambda b: gradient_curvature(lambda p: batch_loss_fn(p, b), params).rayleigh, batches
    )
    return jnp.mean(per_batch)


def averaged_loss(batch_loss_fn, batches):
    """params -> the mean over `batches` of `batch_loss_fn(params, batch)`: the training
    objective over those batches, each with its own statistics (not an evaluation-mode
    function); its Hessian is the mean of the batches' Hessians. The batches are vmapped
    (memory: all of them at once): through lax.map, the HVP of a BatchNorm VGG read NaN
    when XLA:CPU compiled at --xla_backend_optimization_level=0, and each batch alone
    did not."""

    def loss_fn(params):
        return jnp.mean(jax.vmap(lambda b: batch_loss_fn(params, b))(batches))

    return loss_fn


def subspace_overlap(eigenvectors, g) -> jax.Array:
    """[k]: the fraction of ||g||^2 in the span of the first j of `eigenvectors` (a pytree
    with a leading axis of k orthonormal vectors, as `top_eigenvalues` returns them), for
    j = 1..k: sum_{i <= j} (u_i . g)^2 / ||g||^2 (Gur-Ari, Roberts and Dyer 2018)."""
    flat_g = ravel_pytree(g)[0]
    vectors = jax.vmap(lambda v: ravel_pytree(v)[0])(eigenvectors)  # [k, n]
    coefficients = jnp.matmul(vectors, flat_g, precision=of_vectors())
    return jnp.cumsum(coefficients**2) / jnp.vdot(flat_g, flat_g, precision=of_vectors())


def bulk_edge(nodes, weights, min_weight: float):
    """(the bulk's upper edge, the number of outliers) from stochastic Lanczos quadrature
    (`spectral_density`'s nodes and weights, [V, m]). An eigenvalue isolated above the
    bulk holds about 1/n of each starting vector's weight, the bulk's nodes far more: the
    edge is the largest node of weight at least `min_weight` (over all vectors), and the
    outliers are the nodes above it, counted per vector, the median over vectors."""
    heavy = jnp.where(weights >= min_weight, nodes, -jnp.inf)
    edge = jnp.max(heavy)
    return edge, jnp.median(jnp.sum(nodes > edge, axis=1))


def hessian_matrix(loss_fn, params, batch_size: int = 64) -> jax.Array:
    """The Hessian over the flattened parameters (ravel_pytree's order), [n, n]: one HVP
    per basis vector, `batch_size` at a time (memory stays that of a few HVPs)."""
    matvec, flat, _ = _flat_hvp(loss_fn, params)
    return jax.lax.map(matvec, jnp.eye(flat.shape[0], dtype=flat.dtype), batch_size=batch_size)
