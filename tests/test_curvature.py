"""Curvature on cases with known answers: quadratics with a known spectrum, and the deep
linear network against its whole Hessian, in float64."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bn_smooth import curvature, landscape, models, norms


@pytest.fixture(autouse=True)
def float64():
    with jax.enable_x64(True):
        yield


def symmetric(eigenvalues, seed=0):
    """A symmetric matrix with the given spectrum and a random eigenbasis."""
    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(len(eigenvalues),) * 2))
    return q @ np.diag(eigenvalues) @ q.T


def quadratic(a):
    """f(w) = 1/2 w'Aw on a two-leaf pytree: the Hessian is A."""
    n = a.shape[0]

    def loss_fn(params):
        w = jnp.concatenate([params["a"], params["b"].ravel()])
        return 0.5 * w @ jnp.asarray(a) @ w

    rng = np.random.default_rng(1)
    return loss_fn, {
        "a": jnp.asarray(rng.normal(size=3)),
        "b": jnp.asarray(rng.normal(size=(n - 3) // 2 * 2).reshape(-1, 2)),
    }


SPECTRUM = np.array([7.0, 3.5, 3.0, 1.0, 0.2, 0.0, -0.5, -2.0, -4.0, 6.0, -9.0])


def test_hvp_is_the_hessian_times_a_vector():
    a = symmetric(SPECTRUM)
    loss_fn, params = quadratic(a)
    v = jax.tree.map(lambda x: jnp.arange(x.size, dtype=x.dtype).reshape(x.shape) - 2.0, params)
    flat_v = np.concatenate([np.asarray(v["a"]), np.asarray(v["b"]).ravel()])
    hv = curvature.hvp(loss_fn, params, v)
    np.testing.assert_allclose(np.concatenate([hv["a"], hv["b"].ravel()]), a @ flat_v, rtol=1e-12)
    np.testing.assert_allclose(
        curvature.hessian_matrix(loss_fn, params, batch_size=4), a, atol=1e-12
    )


def test_top_eigenvalues_of_a_quadratic_with_negative_eigenvalues():
    a = symmetric(SPECTRUM)
    loss_fn, params = quadratic(a)
    top = jax.jit(
        lambda p: curvature.top_eigenvalues(loss_fn, p, k=4, num_steps=11, key=jax.random.key(0))
    )(params)
    expected = np.sort(np.linalg.eigvalsh(a))[::-1][:4]  # 7, 6, 3.5, 3
    np.testing.assert_allclose(top.eigenvalues, expected, rtol=1e-6)
    for i, value in enumerate(expected):  # the Ritz vectors are unit eigenvectors
        u = np.concatenate([top.eigenvectors["a"][i], top.eigenvectors["b"][i].ravel()])
        np.testing.assert_allclose(np.linalg.norm(u), 1.0, rtol=1e-9)
        np.testing.assert_allclose(a @ u, value * u, atol=1e-6)


def test_lanczos_restarts_when_the_krylov_space_is_exhausted():
    # Three distinct eigenvalues: a random start spans a 3-dimensional Krylov space, and
    # the other 8 steps must restart rather than invent eigenvalues (spurious zeros).
    spectrum = np.array([5.0] * 4 + [2.0] * 4 + [-1.0] * 3)
    a = symmetric(spectrum, seed=2)
    tri = curvature.lanczos(lambda v: jnp.asarray(a) @ v, jnp.ones(11), 11, jax.random.key(3))
    values, _ = tri.eigh()
    np.testing.assert_allclose(np.sort(values), np.sort(spectrum), atol=1e-8)
    np.testing.assert_allclose(tri.basis @ tri.basis.T, np.eye(11), atol=1e-10)
    assert int(np.sum(np.asarray(tri.betas) == 0)) >= 2


def test_spectral_density_puts_its_mass_on_the_eigenvalues():
    a = symmetric(SPECTRUM)
    loss_fn, params = quadratic(a)
    d = curvature.spectral_density(
        loss_fn,
        params,
        jax.random.key(0),
        num_steps=11,
        num_vectors=64,
        num_points=2048,
        sigma=0.02,
    )
    np.testing.assert_allclose(np.asarray(d.weights).sum(-1), 1.0, rtol=1e-9)
    heavy = np.asarray(d.nodes)[np.asarray(d.weights) > 1e-9]
    assert np.abs(heavy[:, None] - SPECTRUM).min(-1).max() < 1e-8
    np.testing.assert_allclose(np.trapezoid(d.density, d.grid), 1.0, rtol=1e-3)
    # Each eigenvalue carries 1/11 of the mass in expectation (64 vectors: +-0.016).
    grid = np.asarray(d.grid)
    for value in SPECTRUM:
        near = np.abs(grid - value) < 0.09  # 4.5 sigma; the closest eigenvalues are 0.2 apart
        assert 0.045 < np.trapezoid(np.asarray(d.density)[near], grid[near]) < 0.14


def dln_loss(norm_name, depth=25, dim=10, samples=200, seed=0):
    norm = (
        norms.get_norm(norm_name, use_scale=False, use_bias=False)
        if norm_name != "none"
        else norms.get_norm("none")
    )
    model = models.DeepLinearNet(depth, dim, norm)
    key_x, key_a, key_p = jax.random.split(jax.random.key(seed), 3)
    x = jax.random.normal(key_x, (samples, dim), jnp.float64)
    y = x @ jax.random.normal(key_a, (dim, dim), jnp.float64)
    variables = jax.tree.map(lambda v: v.astype(jnp.float64), model.init(key_p, x, train=False))

    def loss_fn(params):  # training mode: batch statistics
        out, _ = model.apply(
            {**variables, "params": params}, x, train=True, mutable=["batch_stats"]
        )
        return jnp.sum((out - y) ** 2)

    return loss_fn, variables["params"]


@pytest.mark.parametrize("norm", ["none", "batch"])
def test_dln_top_eigenvalues_match_the_whole_hessian(norm):
    loss_fn, params = dln_loss(norm, depth=12)  # 1,200 parameters
    hessian = np.asarray(curvature.hessian_matrix(loss_fn, params))
    np.testing.assert_allclose(hessian, hessian.T, atol=1e-8 * np.abs(hessian).max())
    exact = np.sort(np.linalg.eigvalsh(hessian))[::-1][:5]
    top = jax.jit(
        lambda p: curvature.top_eigenvalues(loss_fn, p, k=5, num_steps=120, key=jax.random.key(1))
    )(params)
    np.testing.assert_allclose(top.eigenvalues, exact, rtol=1e-6)

    exact_trace = np.trace(hessian)
    plain = curvature.hessian_trace(loss_fn, params, jax.random.key(2), num_samples=128)
    assert abs(float(plain.estimate) - exact_trace) < 3 * float(plain.stderr)
    hutchpp = curvature.hessian_trace(loss_fn, params, jax.random.key(2), num_samples=64, sketch=32)
    assert abs(float(hutchpp.estimate) - exact_trace) < 3 * float(hutchpp.stderr)
    # For the same 128 HVPs, Hutch++ has the smaller error: large eigenvalues dominate.
    assert float(hutchpp.stderr) < float(plain.stderr) / 1.5


@pytest.mark.parametrize("norm", ["none", "batch"])
def test_beta_eff_at_a_tiny_step_is_the_curvature_along_the_gradient(norm):
    loss_fn, params = dln_loss(norm, depth=6)
    gc = curvature.gradient_curvature(loss_fn, params)
    eta = 1e-7 / float(gc.grad_norm)  # a step of length 1e-7
    search = landscape.gradient_line_search(loss_fn, params, [eta])
    np.testing.assert_allclose(search.beta_eff, gc.hg_norm, rtol=1e-2)
    assert abs(float(gc.rayleigh)) <= float(gc.hg_norm) * (1 + 1e-12)
    hessian = np.asarray(curvature.hessian_matrix(loss_fn, params))
    assert float(gc.hg_norm) <= np.abs(np.linalg.eigvalsh(hessian)).max() * (1 + 1e-9)


def test_batch_sharpness_and_the_averaged_loss_on_quadratics_with_per_batch_hessians():
    # Batch b's loss: 1/2 (w - c_b)' A_b (w - c_b); its gradient A_b (w - c_b), Hessian A_b.
    rng = np.random.default_rng(3)
    hessians = np.stack([symmetric(rng.uniform(0.1, 5.0, 6), seed=s) for s in range(4)])
    centers = rng.normal(size=(4, 6))
    w = rng.normal(size=6)

    def batch_loss(params, b):
        d = params - jnp.asarray(centers)[b]
        return 0.5 * d @ jnp.asarray(hessians)[b] @ d

    batches = jnp.arange(4)
    grads = [h @ (w - c) for h, c in zip(hessians, centers, strict=True)]
    expected = np.mean([g @ h @ g / (g @ g) for g, h in zip(grads, hessians, strict=True)])
    got = curvature.batch_sharpness(batch_loss, jnp.asarray(w), batches)
    assert float(got) == pytest.approx(expected, rel=1e-10)
    averaged = curvature.averaged_loss(batch_loss, batches)
    top = curvature.top_eigenvalues(averaged, jnp.asarray(w), 2, 6, jax.random.key(0))
    np.testing.assert_allclose(
        top.eigenvalues, np.linalg.eigvalsh(hessians.mean(0))[::-1][:2], rtol=1e-9
    )
    # Neither is one batch's top eigenvalue.
    assert all(abs(expected - np.linalg.eigvalsh(h)[-1]) > 1e-3 for h in hessians)


def test_planted_outliers_above_the_bulk_and_a_planted_gradient_in_their_span():
    # 1,995 eigenvalues spread over [0, 1] and 5 outliers at 4, 6, 9, 14, 20; the gradient
    # 0.8 u_1 + 0.6 (a unit vector of the bulk): 64% of it in the top-1 eigenspace.
    n, planted = 2000, np.array([20.0, 14.0, 9.0, 6.0, 4.0])
    rng = np.random.default_rng(0)
    spectrum = np.concatenate([planted, rng.uniform(0, 1, n - 5)])
    q, _ = np.linalg.qr(rng.normal(size=(n, n)))
    a = q @ np.diag(spectrum) @ q.T

    def loss_fn(w):
        return 0.5 * w @ jnp.asarray(a) @ w

    density = curvature.spectral_density(loss_fn, jnp.zeros(n), jax.random.key(1), 40, 3)
    edge, count = curvature.bulk_edge(density.nodes, density.weights, 1e-3)
    assert 0.8 < float(edge) <= 1.0 and float(count) == 5
    g = 0.8 * q[:, 0] + 0.6 * q[:, 7]  # eigenvalue 20, and one of the bulk
    top = curvature.top_eigenvalues(loss_fn, jnp.zeros(n), 5, 60, jax.random.key(2))
    np.testing.assert_allclose(top.eigenvalues, planted, rtol=1e-8)
    overlap = curvature.subspace_overlap(top.eigenvectors, jnp.asarray(g))
    np.testing.assert_allclose(overlap, [0.64] * 5, atol=1e-8)
    g2 = 0.6 * q[:, 1] + 0.8 * q[:, 4]  # eigenvalues 14 and 4: top-2 and top-5
    overlap = curvature.subspace_overlap(top.eigenvectors, jnp.asarray(g2))
    np.testing.assert_allclose(overlap, [0, 0.36, 0.36, 0.36, 1.0], atol=1e-8)
