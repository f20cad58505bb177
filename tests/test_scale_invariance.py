"""Scale invariance (bn_smooth.scale_invariance, the `scale` probe, weight decay): exact
identities in float64 on the BatchNorm DLN at epsilon 0, where every layer but the last
is scale-invariant, and the probe's numbers under a rescaling of one layer."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bn_smooth import probes, scale_invariance, tasks, train
from tests.conftest import dln_config
from tests.test_probes import setup

LR = 1e-3


def float64_run(weight_decay=0.0, lr=LR, norm="batch"):
    """The 8-layer DLN with `norm` at epsilon 0 in float64: (task, tx, data, state, step)."""
    config = dln_config(norm, lr=lr, weight_decay=weight_decay)
    config.norm_kwargs.epsilon = 0.0
    task, data = tasks.make_task(config)
    data = jax.tree.map(lambda x: jnp.asarray(x, jnp.float64), data)
    tx = train.make_optimizer(config)
    state = train.init_state(task, tx, config.seed)
    params = jax.tree.map(lambda x: jnp.asarray(x, jnp.float64), state.params)
    state = state.replace(params=params, opt_state=tx.init(params))
    return task, tx, data, state, jax.jit(lambda s: train.train_step(task, tx, s, data)[0])


@pytest.mark.parametrize("norm", ["batch", "layer", "rms", "weight_norm"])
def test_a_scale_invariant_layers_gradient_is_orthogonal_and_its_norm_only_grows(norm):
    with jax.enable_x64(True):
        task, _, data, state, step = float64_run(norm=norm)
        layers = scale_invariance.normalized_layers(task.model, state.params)
        assert len(layers) == 7  # every layer but the last
        for _ in range(5):
            g = jax.grad(train.step_loss_fn(task, state, data))(state.params)
            after = step(state)
            before_sq = scale_invariance.layer_norms(state.params, layers) ** 2
            g_sq = scale_invariance.layer_norms(g, layers) ** 2
            after_sq = scale_invariance.layer_norms(after.params, layers) ** 2
            assert after.params["layer_00"]["dense"]["kernel"].dtype == jnp.float64
            np.testing.assert_allclose(after_sq, before_sq + LR**2 * g_sq, rtol=1e-12)
            np.testing.assert_allclose(
                scale_invariance.cosines(state.params, g, layers), 0, atol=1e-10
            )
            state = after
        # The last layer, not followed by a norm, is not scale-invariant.
        g = jax.grad(train.step_loss_fn(task, state, data))(state.params)
        assert abs(float(scale_invariance.cosines(state.params, g, ["layer_07"])[0])) > 1e-3


def test_weight_decay_is_sgd_on_an_exponentially_growing_learning_rate():
    """Li and Arora 2020: with every trained weight scale-invariant (the last layer held
    fixed), SGD with weight decay wd at lr equals SGD without it at lr (1 - lr wd)^(-2t-1),
    the weights divided by (1 - lr wd)^t, step by step."""
    wd, steps = 20.0, 8  # 1 - lr wd = 0.98: the learning rate grows 1.4x over the steps
    with jax.enable_x64(True):
        task, _, data, decayed, step = float64_run(weight_decay=wd)
        last = decayed.params["layer_07"]
        _, tx, _, plain, _ = float64_run()
        c = 1 - LR * wd
        for t in range(steps):
            decayed = step(decayed)
            decayed = decayed.replace(params={**decayed.params, "layer_07": last})
            plain.opt_state.hyperparams["learning_rate"] = jnp.asarray(LR * c ** (-2 * t - 1))
            plain = train.train_step(task, tx, plain, data)[0]
            plain = plain.replace(params={**plain.params, "layer_07": last})
            for layer in [f"layer_{i:02d}" for i in range(7)]:
                np.testing.assert_allclose(
                    decayed.params[layer]["dense"]["kernel"],
                    c ** (t + 1) * plain.params[layer]["dense"]["kernel"],
                    rtol=1e-9,
                )
        loss = train.step_loss_fn(task, decayed, data)
        assert float(loss(decayed.params)) == pytest.approx(float(loss(plain.params)), rel=1e-10)


def test_weight_decay_shrinks_every_parameter_before_the_step():
    with jax.enable_x64(True):
        task, tx, data, state, _ = float64_run(weight_decay=0.5)
        g = jax.grad(train.step_loss_fn(task, state, data))(state.params)
        after = train.train_step(task, tx, state, data)[0]
        expected = jax.tree.map(lambda w, d: w - LR * (d + 0.5 * w), state.params, g)
        for a, b in zip(jax.tree.leaves(after.params), jax.tree.leaves(expected), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-12)


def test_scale_probe_in_the_layers_own_units_does_not_see_a_rescaling():
    config = dln_config("batch", lr=1e-3)
    config.norm_kwargs.epsilon = 0.0
    config.probe.scale.update(every=1, k=1, num_steps=40)
    task, tx, data, state, _ = setup(config)
    probe = probes.Probes(task, tx, config, state.params)
    row = probe.run("scale", state, data)
    assert row["scale_invariant"] and len(row["layers"]) == 7
    layer = row["layers"][2]
    scaled = jax.tree.map(lambda x: x, state.params)
    scaled[layer]["dense"]["kernel"] = 3.0 * scaled[layer]["dense"]["kernel"]
    again = probe.run("scale", state.replace(params=scaled), data)
    np.testing.assert_allclose(
        again["invariant_eigenvalues"], row["invariant_eigenvalues"], rtol=1e-3
    )
    np.testing.assert_allclose(again["weight_norm"][2], 3 * row["weight_norm"][2], rtol=1e-6)
    np.testing.assert_allclose(again["effective_lr"][2], row["effective_lr"][2] / 9, rtol=1e-5)
    np.testing.assert_allclose(row["effective_lr"], 1e-3 / row["weight_norm"] ** 2, rtol=1e-6)
    np.testing.assert_allclose(row["grad_cosine"], 0, atol=1e-4)
    # The update's angle: tan(angle) = lr ||g|| / ||w|| for a gradient orthogonal to w.
    g = jax.grad(train.step_loss_fn(task, state, data))(state.params)
    g_norms = np.asarray(scale_invariance.layer_norms(g, row["layers"]))
    np.testing.assert_allclose(
        row["update_angle"], np.arctan(1e-3 * g_norms / row["weight_norm"]), rtol=1e-3
    )
    # ... while the gradient of the rescaled layer is a third of what it was.
    loss = train.step_loss_fn(task, state, data)
    np.testing.assert_allclose(
        jax.grad(loss)(scaled)[layer]["dense"]["kernel"],
        jax.grad(loss)(state.params)[layer]["dense"]["kernel"] / 3,
        rtol=1e-3,
        atol=1e-6 * float(jnp.abs(jax.grad(loss)(state.params)[layer]["dense"]["kernel"]).max()),
    )


def test_without_a_normalization_no_layer_is_scale_invariant():
    config = dln_config("none")
    config.probe.scale.update(every=1, num_steps=10)
    task, tx, data, state, _ = setup(config)
    row = probes.Probes(task, tx, config, state.params).run("scale", state, data)
    assert not row["scale_invariant"]
    assert np.abs(row["grad_cosine"]).max() > 1e-2
