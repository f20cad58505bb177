"""Line searches and 2D slices on a quadratic, where every quantity has a closed form."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bn_smooth import landscape
from bn_smooth.batching import STRATEGIES


@pytest.fixture(autouse=True)
def float64():
    with jax.enable_x64(True):
        yield


def quadratic(seed=0, dim=6):
    """f(w) = 1/2 w^T H w with a known SPD H, on a pytree of two leaves."""
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(dim, dim)))
    h = q @ np.diag(np.linspace(0.5, 8.0, dim)) @ q.T

    def flat(params):
        return jnp.concatenate([params["a"], params["b"].ravel()])

    def f(params):
        w = flat(params)
        return 0.5 * w @ jnp.asarray(h) @ w

    w = rng.normal(size=dim)
    params = {"a": jnp.asarray(w[:2]), "b": jnp.asarray(w[2:].reshape(2, 2))}
    return f, params, h, w, flat


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_gradient_line_search_on_a_quadratic(strategy):
    f, params, h, w, _ = quadratic()
    etas = np.array([0.0, 0.01, 0.05, 0.1, 0.3])
    res = jax.jit(lambda p: landscape.gradient_line_search(f, p, etas, strategy=strategy))(params)
    g = h @ w
    hg = h @ g
    expected_losses = [0.5 * (w - e * g) @ h @ (w - e * g) for e in etas]
    np.testing.assert_allclose(res.losses, expected_losses, rtol=1e-5)
    np.testing.assert_allclose(res.grad_dists, etas * np.linalg.norm(hg), rtol=1e-5, atol=1e-12)
    np.testing.assert_allclose(res.step_norms, etas * np.linalg.norm(g), rtol=1e-5)
    np.testing.assert_allclose(res.beta_eff, np.linalg.norm(hg) / np.linalg.norm(g), rtol=1e-5)
    np.testing.assert_allclose(res.loss0, 0.5 * w @ h @ w, rtol=1e-5)
    np.testing.assert_allclose(res.grad_norm, np.linalg.norm(g), rtol=1e-5)


def test_line_search_along_a_given_direction():
    f, params, h, w, flat = quadratic(seed=1)
    d = {"a": jnp.array([1.0, -2.0]), "b": jnp.array([[0.5, 0.0], [3.0, 1.0]])}
    dv = np.asarray(flat(d))
    etas = np.array([0.1, 0.2])
    res = landscape.gradient_line_search(f, params, etas, direction=d)
    np.testing.assert_allclose(
        res.losses, [0.5 * (w - e * dv) @ h @ (w - e * dv) for e in etas], rtol=1e-5
    )
    np.testing.assert_allclose(res.grad_dists, etas * np.linalg.norm(h @ dv), rtol=1e-5)
    np.testing.assert_allclose(res.beta_eff, np.linalg.norm(h @ dv) / np.linalg.norm(dv), rtol=1e-5)


def test_line_search_vmaps_over_step_sizes_and_parameter_sets():
    f, params, *_ = quadratic()
    etas = jnp.array([0.01, 0.1, 0.2])
    whole = landscape.gradient_line_search(f, params, etas)
    one_at_a_time = jax.vmap(lambda e: landscape.gradient_line_search(f, params, e[None]))(etas)
    np.testing.assert_allclose(one_at_a_time.losses[:, 0], whole.losses, rtol=1e-12)
    np.testing.assert_allclose(one_at_a_time.grad_dists[:, 0], whole.grad_dists, rtol=1e-12)

    stacked = jax.tree.map(lambda x: jnp.stack([x, 2 * x, -x]), params)
    batched = jax.vmap(lambda p: landscape.gradient_line_search(f, p, etas))(stacked)
    for i, scale in enumerate([1, 2, -1]):
        single = landscape.gradient_line_search(
            f, jax.tree.map(lambda x, s=scale: s * x, params), etas
        )
        np.testing.assert_allclose(batched.losses[i], single.losses, rtol=1e-12)
        np.testing.assert_allclose(batched.beta_eff[i], single.beta_eff, rtol=1e-12)


def test_loss_surface_on_a_quadratic():
    f, params, h, w, flat = quadratic()
    d1 = landscape.random_direction(jax.random.key(0), params)
    d2 = landscape.random_direction(jax.random.key(1), params)
    alphas, betas = np.array([-1.0, 0.0, 0.5]), np.array([0.0, 2.0])
    grid = landscape.loss_surface(f, params, d1, d2, alphas, betas)
    u, v = np.asarray(flat(d1)), np.asarray(flat(d2))
    expected = [
        [0.5 * (w + a * u + b * v) @ h @ (w + a * u + b * v) for b in betas] for a in alphas
    ]
    np.testing.assert_allclose(grid, expected, rtol=1e-10)


def test_filter_normalized_direction():
    params = {
        "conv": {
            "kernel": jnp.arange(2 * 2 * 3 * 4, dtype=float).reshape(2, 2, 3, 4) + 1,
            "bias": jnp.ones(4),
        }
    }
    d = landscape.random_direction(jax.random.key(0), params, filter_normalize=True)

    def filter_norms(k):
        return np.sqrt((np.asarray(k) ** 2).sum(axis=(0, 1, 2)))

    np.testing.assert_allclose(
        filter_norms(d["conv"]["kernel"]), filter_norms(params["conv"]["kernel"]), rtol=1e-6
    )
    np.testing.assert_array_equal(d["conv"]["bias"], 0.0)
    plain = landscape.random_direction(jax.random.key(0), params)
    assert float(jnp.abs(plain["conv"]["bias"]).sum()) > 0


def test_default_strategy_names_a_strategy_and_rejects_unknown_sets():
    from bn_smooth.batching import default_strategy

    assert {default_strategy("points"), default_strategy("layers")} <= set(STRATEGIES)
    with pytest.raises(ValueError, match="over must be"):
        default_strategy("steps")
