"""Each normalization against a numpy computation, in both layouts and both modes."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bn_smooth import norms

LAYOUTS = {"dense": (64, 5), "conv": (8, 4, 4, 5)}
EPS = 1e-5


def numpy_norm(name, x, gamma, beta, center_norm=False):
    axes = tuple(range(x.ndim - 1))
    x = np.asarray(x, np.float64)
    mean = x.mean(axes)
    if name == "none":
        return x
    if name in ("batch", "noisy_batch"):
        return gamma * (x - mean) / np.sqrt(x.var(axes) + EPS) + beta
    mag = np.abs(x - mean) if center_norm else np.abs(x)
    s = {"l1": mag.mean(axes), "l2": np.sqrt((mag**2).mean(axes)), "linf": mag.max(axes)}[name]
    return gamma * (x - mean) / (s + EPS) + beta


def random_batch(shape, seed=0):
    # Non-zero mean and non-unit scale, so centering and scaling both matter.
    return 3.0 * jax.random.normal(jax.random.key(seed), shape) + 1.5


def init_with_random_affine(module, x):
    variables = module.init(jax.random.key(1), x, train=False)
    if "params" in variables:
        c = x.shape[-1]
        variables["params"] = {
            "scale": jax.random.uniform(jax.random.key(2), (c,), minval=0.5, maxval=2.0),
            "bias": jax.random.normal(jax.random.key(3), (c,)),
        }
    return variables


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("name", ["none", "batch", "l1", "l2", "linf"])
def test_training_output_matches_numpy(name, layout):
    x = random_batch(LAYOUTS[layout])
    module = norms.get_norm(name)()
    variables = init_with_random_affine(module, x)
    y, _ = module.apply(variables, x, train=True, mutable=["batch_stats"])
    p = variables.get("params", {"scale": 1.0, "bias": 0.0})
    expected = numpy_norm(name, x, np.asarray(p["scale"]), np.asarray(p["bias"]))
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_batch_norm_epsilon_is_inside_the_square_root_in_both_modes(layout):
    # A variance near epsilon (9e-6 against 1e-5), where sqrt(var + eps) and
    # sqrt(var) + eps, or another epsilon, disagree by a third.
    x = 1e-3 * random_batch(LAYOUTS[layout])
    module = norms.get_norm("batch", momentum=0.0)()  # running averages := the batch's
    variables = init_with_random_affine(module, x)
    y, updates = module.apply(variables, x, train=True, mutable=["batch_stats"])
    p = {k: np.asarray(v) for k, v in variables["params"].items()}
    expected = numpy_norm("batch", x, p["scale"], p["bias"])
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-4)
    y_eval = module.apply({**variables, **updates}, x, train=False)
    np.testing.assert_allclose(y_eval, expected, rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("name", ["l1", "l2", "linf"])
def test_center_norm_measures_after_centering(name):
    x = random_batch(LAYOUTS["conv"])
    module = norms.get_norm(name, center_norm=True)()
    variables = module.init(jax.random.key(1), x, train=False)
    y, _ = module.apply(variables, x, train=True, mutable=["batch_stats"])
    np.testing.assert_allclose(
        y, numpy_norm(name, x, 1.0, 0.0, center_norm=True), rtol=1e-4, atol=1e-4
    )


@pytest.mark.parametrize("name", ["l1", "l2", "linf"])
def test_lp_norm_is_measured_before_centering_by_default(name):
    x = random_batch(LAYOUTS["dense"])  # mean 1.5: the two readings must disagree

    def library(**kwargs):
        module = norms.get_norm(name, **kwargs)()
        variables = module.init(jax.random.key(1), x, train=False)
        return np.asarray(module.apply(variables, x, train=True, mutable=["batch_stats"])[0])

    before, after = library(), library(center_norm=True)
    np.testing.assert_allclose(before, numpy_norm(name, x, 1.0, 0.0), rtol=1e-4, atol=1e-4)
    assert np.abs(before - after).max() > 0.05


@pytest.mark.parametrize("name", ["batch", "noisy_batch", "l1", "l2", "linf"])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_running_averages_move_in_training_and_serve_evaluation(name, layout):
    x = random_batch(LAYOUTS[layout])
    module = norms.get_norm(name, momentum=0.9)()
    variables = module.init(jax.random.key(1), x, train=False)
    spread_key = "var" if "batch" in name else "norm"
    init_stats = variables["batch_stats"]
    np.testing.assert_array_equal(init_stats["mean"], 0.0)  # init is not a training step
    _, updates = module.apply(
        variables, x, train=True, mutable=["batch_stats"], rngs={"noise": jax.random.key(4)}
    )
    stats = updates["batch_stats"]
    axes = tuple(range(x.ndim - 1))
    xn = np.asarray(x, np.float64)
    batch_spread = {"var": xn.var(axes), "norm": None}[spread_key]
    if spread_key == "norm":
        mag = np.abs(xn)
        batch_spread = {
            "l1": mag.mean(axes),
            "l2": np.sqrt((mag**2).mean(axes)),
            "linf": mag.max(axes),
        }[name]
    np.testing.assert_allclose(stats["mean"], 0.1 * xn.mean(axes), rtol=1e-4)
    np.testing.assert_allclose(stats[spread_key], 0.9 + 0.1 * batch_spread, rtol=1e-4)

    # Evaluation uses the running averages (and no noise), not the batch's statistics.
    y_eval = module.apply({**variables, "batch_stats": stats}, x, train=False)
    mean, spread = np.asarray(stats["mean"]), np.asarray(stats[spread_key])
    divisor = np.sqrt(spread + EPS) if spread_key == "var" else spread + EPS
    np.testing.assert_allclose(y_eval, (xn - mean) / divisor, rtol=1e-4, atol=1e-5)


def noisy_outputs(x, steps):
    module = norms.get_norm("noisy_batch")()
    variables = module.init(jax.random.key(1), x, train=False)

    @jax.jit
    def at_step(t):
        key = jax.random.fold_in(jax.random.key(7), t)
        return module.apply(variables, x, train=True, mutable=["batch_stats"], rngs={"noise": key})[
            0
        ]

    return np.stack([at_step(t) for t in range(steps)]), module, variables


@pytest.mark.parametrize("layout", LAYOUTS)
def test_noisy_batch_shift_and_scale_follow_algorithm_1(layout):
    # Many samples per unit, so per-unit moments estimate (mu_t, sigma_t) well.
    shape = (2048, 6) if layout == "dense" else (32, 8, 8, 6)
    x = random_batch(shape)
    ys, _, _ = noisy_outputs(x, steps=100)
    clean = numpy_norm("batch", x, 1.0, 0.0)
    axes = tuple(range(1, x.ndim))  # per step, per unit
    shift = ys.mean(axes)  # E[s a + m] = mu_t, as a has mean 0 and s is independent of a
    scale = ys.std(axes)  # sqrt(sigma_t^2 + r_sigma^2 + r_mu^2 / 3)
    assert shift.min() >= -0.6 and shift.max() <= 0.6
    assert scale.min() >= 0.8 and scale.max() <= 1.45
    # ... and the draws cover the ranges of U(-0.5, 0.5) and U(1, 1.25), not a corner.
    assert shift.min() < -0.4 and shift.max() > 0.4
    assert scale.min() < 1.05 and scale.max() > 1.2
    # Per-sample noise: the output is not one affine map per unit of the clean
    # output (whose per-unit std is 1), as it would be with per-unit noise only.
    residual = ys[0] - (scale[0] * clean + shift[0])
    assert np.abs(residual).max() > 0.05


@pytest.mark.parametrize("layout", LAYOUTS)
def test_noisy_batch_is_algorithm_1_on_the_affine_output(layout):
    """Algorithm 1's constants and order, with a scale and shift far from 1 and 0.

    Per step and unit, the output y = s a + m of the clean output a = gamma xhat + beta,
    with s ~ N(sigma_t, r_sigma) and m ~ U(mu_t - r_mu, mu_t + r_mu) per sample, regressed
    on a has slope sigma_t ~ U(1, n_sigma) and intercept mu_t ~ U(-n_mu, n_mu), and its
    residual's variance is r_sigma^2 a^2 + r_mu^2 / 3. Noise applied before the affine part
    would give the intercept beta (1 - sigma_t) + gamma mu_t instead."""
    shape = (4096, 16) if layout == "dense" else (64, 8, 8, 16)  # 4,096 values per unit
    x = random_batch(shape)
    module = norms.get_norm("noisy_batch")()
    variables = module.init(jax.random.key(1), x, train=False)
    gamma = np.linspace(2.0, 3.0, 16)
    beta = np.linspace(-3.0, 3.0, 16)
    variables["params"] = {
        "scale": jnp.asarray(gamma, jnp.float32),
        "bias": jnp.asarray(beta, jnp.float32),
    }
    apply = jax.jit(
        lambda key: module.apply(
            variables, x, train=True, mutable=["batch_stats"], rngs={"noise": key}
        )[0]
    )
    a = numpy_norm("batch", x, gamma, beta).reshape(-1, 16)
    # Least squares per step and unit: y = slope a + intercept + residual.
    y = np.stack(
        [
            np.asarray(apply(jax.random.fold_in(jax.random.key(5), t)), np.float64).reshape(-1, 16)
            for t in range(25)
        ]
    )
    a_centered = a - a.mean(0)
    slopes = (a_centered * (y - y.mean(1, keepdims=True))).sum(1) / (a_centered**2).sum(0)
    intercepts = y.mean(1) - slopes * a.mean(0)
    residuals = y - slopes[:, None] * a - intercepts[:, None]
    slopes, intercepts = slopes.reshape(-1), intercepts.reshape(-1)
    # sigma_t ~ U(1, 1.25) and mu_t ~ U(-0.5, 0.5), per unit: 400 draws cover each range.
    assert 0.98 < slopes.min() < 1.02 and 1.23 < slopes.max() < 1.27
    assert -0.55 < intercepts.min() < -0.45 and 0.45 < intercepts.max() < 0.55
    assert slopes[:16].std() > 0.03  # each unit its own draw
    # The residual variance against a^2: r_sigma^2 = 0.01 and r_mu^2 / 3 = 0.0033.
    r_sigma_sq, r_mu_sq_third = np.polyfit(
        np.broadcast_to(a**2, y.shape).reshape(-1), residuals.reshape(-1) ** 2, 1
    )
    np.testing.assert_allclose(r_sigma_sq, 0.1**2, rtol=0.05)
    np.testing.assert_allclose(r_mu_sq_third, 0.1**2 / 3, rtol=0.2)


def test_noisy_batch_fresh_noise_each_step_none_in_evaluation():
    x = random_batch(LAYOUTS["conv"])
    ys, module, variables = noisy_outputs(x, steps=3)
    assert not np.allclose(ys[0], ys[1]) and not np.allclose(ys[1], ys[2])
    again, _, _ = noisy_outputs(x, steps=1)
    np.testing.assert_array_equal(again[0], ys[0])  # same key, same noise
    bn = norms.get_norm("batch")()
    evals = [module.apply(variables, x, train=False) for _ in range(2)]
    np.testing.assert_array_equal(evals[0], evals[1])
    np.testing.assert_array_equal(evals[0], bn.apply(variables, x, train=False))


def test_noisy_batch_constants_are_configurable():
    x = random_batch((4096, 3))
    module = norms.get_norm("noisy_batch", n_mu=0.0, n_sigma=1.0, r_mu=0.0, r_sigma=0.0)()
    variables = module.init(jax.random.key(1), x, train=False)
    y, _ = module.apply(
        variables, x, train=True, mutable=["batch_stats"], rngs={"noise": jax.random.key(0)}
    )
    np.testing.assert_allclose(y, numpy_norm("batch", x, 1.0, 0.0), rtol=1e-4, atol=1e-4)


def test_unknown_name_lists_valid_names():
    with pytest.raises(ValueError) as err:
        norms.get_norm("spectral")
    for name in norms.NAMES:
        assert name in str(err.value)


def test_none_accepts_norm_kwargs_and_has_no_state():
    module = norms.get_norm("none", use_scale=False)()
    x = random_batch(LAYOUTS["dense"])
    assert module.init(jax.random.key(0), x) == {}
    np.testing.assert_array_equal(module.apply({}, x, train=True), x)


def test_no_affine_option():
    module = norms.get_norm("batch", use_scale=False, use_bias=False)()
    assert "params" not in module.init(jax.random.key(0), jnp.ones((4, 3)), train=False)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_batch_standardize_derivatives_match_autodiff(layout):
    """The written-out JVP of BatchNorm's standardization against autodiff of its formula:
    forward mode, reverse mode (with cotangents on the statistics too, as the running
    averages would carry) and a Hessian-vector product, forward over reverse."""

    def by_formula(x):
        axes = tuple(range(x.ndim - 1))
        mean = jnp.mean(x, axes)
        var = jnp.mean(jnp.square(x - mean), axes)
        return (x - mean) / jnp.sqrt(var + EPS), mean, var

    def ours(x):
        return norms.batch_standardize(x, EPS)

    x = random_batch(LAYOUTS[layout])
    keys = jax.random.split(jax.random.key(4), 4)
    tangent = jax.random.normal(keys[0], x.shape)
    cotangents = (
        jax.random.normal(keys[1], x.shape),
        jax.random.normal(keys[2], x.shape[-1:]),
        jax.random.normal(keys[3], x.shape[-1:]),
    )

    def close(a, b):
        for u, v in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
            np.testing.assert_allclose(u, v, rtol=1e-4, atol=1e-5)

    close(jax.jvp(ours, (x,), (tangent,)), jax.jvp(by_formula, (x,), (tangent,)))
    close(jax.vjp(ours, x)[1](cotangents), jax.vjp(by_formula, x)[1](cotangents))

    def loss(f):
        return lambda x: jnp.sum(jnp.sin(f(x)[0]) * cotangents[0])

    hvp = jax.jvp(jax.grad(loss(ours)), (x,), (tangent,))[1]
    close(hvp, jax.jvp(jax.grad(loss(by_formula)), (x,), (tangent,))[1])


def test_the_noise_draws_two_independent_uniforms_per_element():
    """noisy_batch's per-sample noise takes m and s from one 32-bit draw: its halves must
    be two independent U(0, 1), neither 0 nor 1, and their inverse normal CDF N(0, 1)."""
    high, low = map(np.asarray, norms.uniform_pair(jax.random.key(3), (1 << 18,)))
    for u in (high, low):
        assert 0 < u.min() < 1e-4 and 1 - 1e-4 < u.max() < 1
        np.testing.assert_allclose([u.mean(), u.var()], [0.5, 1 / 12], atol=2e-3)
        assert np.histogram(u, bins=16, range=(0, 1))[0].min() > 0.95 * u.size / 16
    assert abs(np.corrcoef(high, low)[0, 1]) < 0.01
    z = np.sqrt(2) * np.asarray(jax.lax.erf_inv(2 * low - 1), np.float64)
    np.testing.assert_allclose([z.mean(), z.std()], [0.0, 1.0], atol=5e-3)
    assert 4.0 < np.abs(z).max() < 4.4
