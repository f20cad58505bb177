"""Internal covariate shift (Definition 2.1) on a linear network, against numpy by hand."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bn_smooth import ics
from bn_smooth.batching import STRATEGIES
from bn_smooth.landscape import gradient_line_search

LAYERS = ["layer_00", "layer_01", "layer_02"]


@pytest.fixture(autouse=True)
def float64():
    with jax.enable_x64(True):
        yield


def linear_net(seed):
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=(16, 3)), rng.normal(size=(16, 2))
    shapes = [(3, 4), (4, 5), (5, 2)]
    before = [rng.normal(size=s) for s in shapes]
    after = [w + 0.3 * rng.normal(size=w.shape) for w in before]

    def loss_fn(params):
        h = jnp.asarray(x)
        for name in LAYERS:
            h = h @ params[name]["kernel"]
        return jnp.sum((h - y) ** 2)

    def as_params(ws):
        return {name: {"kernel": jnp.asarray(w)} for name, w in zip(LAYERS, ws, strict=True)}

    return loss_fn, x, y, before, after, as_params


def numpy_grads(x, y, a, b, c):
    """Gradients of ||x A B C - y||^2 with respect to A, B and C."""
    r = 2 * (x @ a @ b @ c - y)
    return [x.T @ r @ (b @ c).T, (x @ a).T @ r @ c.T, (x @ a @ b).T @ r]


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_ics_matches_hand_computed_gradients(strategy):
    loss_fn, x, y, before, after, as_params = linear_net(0)
    out = jax.jit(lambda b, a: ics.internal_covariate_shift(loss_fn, b, a, LAYERS, strategy))(
        as_params(before), as_params(after)
    )
    g = numpy_grads(x, y, *before)
    for i, name in enumerate(LAYERS):
        mix = after[:i] + before[i:]
        g_mixed = numpy_grads(x, y, *mix)[i]
        l2 = np.linalg.norm(g[i] - g_mixed)
        cosine = np.sum(g[i] * g_mixed) / (np.linalg.norm(g[i]) * np.linalg.norm(g_mixed))
        np.testing.assert_allclose(out[name].l2, l2, rtol=1e-8, atol=1e-12)
        np.testing.assert_allclose(out[name].cosine, cosine, rtol=1e-8)
    assert float(out["layer_00"].l2) == 0.0 and float(out["layer_00"].cosine) == 1.0
    assert float(out["layer_02"].l2) > 0.1  # the later layers do see a shift


def test_ics_leaves_other_keys_at_before_and_vmaps_over_parameter_sets():
    loss_fn, x, y, before, after, as_params = linear_net(1)
    # Only the first two layers are "layers": the last stays at before in every mix.
    out = ics.internal_covariate_shift(loss_fn, as_params(before), as_params(after), LAYERS[:2])
    g_mixed = numpy_grads(x, y, after[0], before[1], before[2])[1]
    np.testing.assert_allclose(
        out["layer_01"].l2, np.linalg.norm(numpy_grads(x, y, *before)[1] - g_mixed), rtol=1e-8
    )

    stacked_before = jax.tree.map(
        lambda *a: jnp.stack(a), as_params(before), as_params([2 * w for w in before])
    )
    stacked_after = jax.tree.map(
        lambda *a: jnp.stack(a), as_params(after), as_params([2 * w for w in after])
    )
    batched = jax.vmap(lambda b, a: ics.internal_covariate_shift(loss_fn, b, a, LAYERS))(
        stacked_before, stacked_after
    )
    single = ics.internal_covariate_shift(
        loss_fn, as_params([2 * w for w in before]), as_params([2 * w for w in after]), LAYERS
    )
    for name in LAYERS:
        np.testing.assert_allclose(batched[name].l2[1], single[name].l2, rtol=1e-10)


def test_inner_products_ask_for_full_float32_precision():
    """Cosines must not be taken at reduced precision (TPUs, TF32 GPUs): every dot product
    in the compiled ICS and line search asks for HIGHEST. The loss has no dot products of
    its own, so every one found is a probe's."""
    with jax.enable_x64(False):
        params = {name: {"w": jnp.linspace(0.1, 1.0, 4 + i)} for i, name in enumerate(LAYERS)}
        after = jax.tree.map(lambda w: 1.1 * w, params)

        def loss_fn(p):
            return sum(jnp.sum(jnp.sin(p[k]["w"])) ** 2 for k in LAYERS)

        lowered = [
            jax.jit(lambda a, b: ics.internal_covariate_shift(loss_fn, a, b, LAYERS))
            .lower(params, after)
            .as_text(),
            jax.jit(lambda a: gradient_line_search(loss_fn, a, [0.1, 0.2])).lower(params).as_text(),
        ]
    dots = [line for text in lowered for line in text.splitlines() if "dot_general" in line]
    assert len(dots) >= len(LAYERS)  # the cosines' inner products
    assert all("precision = [HIGHEST, HIGHEST]" in line for line in dots), dots
