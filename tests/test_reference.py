"""The model, the objective and evaluation against independent code.

The reference here is written from the paper and DESIGN.md in plain `jax.lax` and
numpy, sharing nothing with the library's modules: a VGG forward pass (conv -> norm ->
ReLU -> pool, Dense head, mean cross-entropy), the DLN's product of matrices and summed
squared error, Glorot's initialization, and the test split in evaluation mode. A mistake
that would change the paper's results (the ReLU before the norm, a mean for the DLN's sum,
another initialization, evaluation on the training split) fails here; the probes' rows are
checked the same way in test_probe_rows.py.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bn_smooth import models, norms, train
from tests.conftest import dln_config, tiny_vgg_config

EPS = 1e-5  # BatchNorm's epsilon (DESIGN.md)


# ---------------------------------------------------------------------------
# The reference


def reference_batch_norm(h, scale, bias, stats=None):
    """Per channel over every other axis; `stats` (mean, var): the running averages."""
    axes = tuple(range(h.ndim - 1))
    mean, var = stats if stats is not None else (h.mean(axes), h.var(axes))
    return scale * (h - mean) / jnp.sqrt(var + EPS) + bias


def reference_vgg(params, x, cfg, batch_stats=None):
    """Logits of VGG(cfg) with BatchNorm: 3x3 'SAME' convolutions with bias, each followed
    by BatchNorm (the batch's statistics, or `batch_stats`' running averages) and ReLU,
    2x2 max pooling at each 'M', then one Dense layer."""
    h, index = x, 0
    for v in cfg:
        if v == "M":
            n, height, width, c = h.shape
            h = h.reshape(n, height // 2, 2, width // 2, 2, c).max((2, 4))
            continue
        layer = params[f"layer_{index:02d}"]
        h = (
            jax.lax.conv_general_dilated(
                h,
                layer["conv"]["kernel"],
                (1, 1),
                "SAME",
                dimension_numbers=("NHWC", "HWIO", "NHWC"),
                precision="highest",
            )
            + layer["conv"]["bias"]
        )
        stats = None
        if batch_stats is not None:
            s = batch_stats[f"layer_{index:02d}"]["norm"]
            stats = (s["mean"], s["var"])
        h = jax.nn.relu(
            reference_batch_norm(h, layer["norm"]["scale"], layer["norm"]["bias"], stats)
        )
        index += 1
    h = h.reshape(h.shape[0], -1)
    return jnp.dot(h, params["head"]["kernel"], precision="highest") + params["head"]["bias"]


def reference_cross_entropy(logits, labels):
    """(mean loss, accuracy), in float64."""
    logits = np.asarray(logits, np.float64)
    shifted = logits - logits.max(-1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))
    labels = np.asarray(labels)
    return (-log_probs[np.arange(len(labels)), labels].mean(), (logits.argmax(-1) == labels).mean())


def reference_dln_loss(kernels, x, y, normalize):
    """||x W_1 ... W_k - y||^2 summed over the samples, in float64; with `normalize`,
    BatchNorm without affine parameters after every layer but the last."""
    h = np.asarray(x, np.float64)
    for i, w in enumerate(kernels):
        h = h @ np.asarray(w, np.float64)
        if normalize and i < len(kernels) - 1:
            h = (h - h.mean(0)) / np.sqrt(h.var(0) + EPS)
    return np.sum((h - np.asarray(y, np.float64)) ** 2)


def random_affine(params, seed=0):
    """Every BatchNorm scale and shift replaced by values far from 1 and 0."""
    out = dict(params)
    for i, name in enumerate(n for n in params if "norm" in params[n]):
        c = params[name]["norm"]["scale"].shape[0]
        keys = jax.random.split(jax.random.key(seed + i), 2)
        out[name] = {
            **params[name],
            "norm": {
                "scale": jax.random.uniform(keys[0], (c,), minval=0.5, maxval=2.0),
                "bias": jax.random.normal(keys[1], (c,)),
            },
        }
    return out


CFG = (8, "M", 16, "M")  # tiny_vgg_config's network


def trained_state(config, steps):
    """A run of `config` after `steps` training steps (and its task, optimizer, data)."""
    task, data, tx, state = train.start(config)
    state, _ = train.make_train_chunk(task, tx)(state, data, steps)
    return task, tx, data, state


# ---------------------------------------------------------------------------
# The model and the objective


def test_vgg_training_loss_is_the_reference_forward_pass(fake_cifar):
    config = tiny_vgg_config(fake_cifar, norm="batch")
    task, data, _, state = train.start(config)
    params = random_affine(state.params)
    batch = train.batch_at(task, data, state)

    @jax.jit
    def library(params):
        loss, (metrics, _) = train.training_loss(
            task, params, state.batch_stats, batch, state.noise_key()
        )
        logits, _ = train.apply_training_mode(
            task, params, state.batch_stats, batch[0], state.noise_key()
        )
        return loss, metrics["accuracy"], logits

    loss, accuracy, logits = library(params)
    expected = jax.jit(reference_vgg, static_argnums=2)(params, batch[0], CFG)
    np.testing.assert_allclose(logits, expected, rtol=1e-4, atol=1e-4)
    ref_loss, ref_accuracy = reference_cross_entropy(expected, batch[1])
    assert float(loss) == pytest.approx(ref_loss, rel=1e-5)
    assert float(accuracy) == pytest.approx(ref_accuracy)


@pytest.mark.parametrize("norm", ["none", "batch"])
def test_dln_loss_is_the_summed_squared_error_of_the_matrix_product(norm):
    config = dln_config(norm=norm)
    task, data, _, state = train.start(config)
    assert task.batch_size is None  # full-batch GD
    loss = train.step_loss_fn(task, state, data)(state.params)
    kernels = [state.params[f"layer_{i:02d}"]["dense"]["kernel"] for i in range(config.model.depth)]
    expected = reference_dln_loss(kernels, data.train_inputs, data.train_targets, norm == "batch")
    assert float(loss) == pytest.approx(expected, rel=1e-4)


def glorot_limit(kernel):
    receptive = int(np.prod(kernel.shape[:-2]))
    return np.sqrt(6 / (receptive * (kernel.shape[-2] + kernel.shape[-1])))


def test_vgg_initialization_is_glorot_uniform_with_zero_biases():
    model = models.VGG("vgg11", norms.get_norm("batch"), width=0.25)  # 432 to 36,864 weights
    init = jax.jit(lambda key: model.init(key, jnp.zeros((1, 32, 32, 3)), train=False))
    params = init(jax.random.key(0))["params"]
    kernels = {name: layer.get("conv", layer)["kernel"] for name, layer in params.items()}
    for name, kernel in kernels.items():
        kernel, limit = np.asarray(kernel, np.float64), glorot_limit(kernel)
        # Uniform on [-limit, limit]: reaches its bounds, variance limit^2 / 3.
        assert np.abs(kernel).max() <= limit * (1 + 1e-6), name
        assert np.abs(kernel).max() > 0.95 * limit, name
        np.testing.assert_allclose(kernel.var(), limit**2 / 3, rtol=0.15, err_msg=name)
        assert abs(kernel.mean()) < 0.1 * limit, name
    for layer in params.values():
        np.testing.assert_array_equal(layer.get("conv", layer)["bias"], 0.0)
        if "norm" in layer:
            np.testing.assert_array_equal(layer["norm"]["scale"], 1.0)
            np.testing.assert_array_equal(layer["norm"]["bias"], 0.0)


# ---------------------------------------------------------------------------
# Evaluation: the test split, running averages, no noise


@pytest.mark.parametrize("norm", ["batch", "noisy_batch"])
def test_evaluation_is_the_test_split_on_the_running_averages(fake_cifar, norm):
    config = tiny_vgg_config(fake_cifar, norm=norm)
    task, _, data, state = trained_state(config, steps=3)
    state = state.replace(params=random_affine(state.params))
    # 40 test images in batches of 16: the last batch is short.
    out = train.evaluate(task, state, data, batch_size=16)
    inputs = data.prepare(data.test_inputs)
    logits = reference_vgg(state.params, inputs, CFG, batch_stats=state.batch_stats)
    loss, accuracy = reference_cross_entropy(logits, data.test_targets)
    assert out["num_examples"] == 40
    assert out["loss"] == pytest.approx(loss, rel=1e-4)
    assert out["accuracy"] == pytest.approx(accuracy)
    # The same computation on the training split gives another loss: the check has teeth.
    train_logits = reference_vgg(
        state.params, data.prepare(data.train_inputs[:40]), CFG, batch_stats=state.batch_stats
    )
    assert abs(reference_cross_entropy(train_logits, data.train_targets[:40])[0] - loss) > 1e-3


# ---------------------------------------------------------------------------
# Noisy BatchNorm: a fresh sample at every training step


@pytest.mark.parametrize("norm", ["batch", "noisy_batch"])
def test_training_draws_fresh_noise_at_every_step(norm):
    """Full-batch GD at learning rate 0: the batch and the parameters never change, so
    the training loss moves from step to step only if the noise does."""
    config = dln_config(norm=norm, lr=0.0)
    task, data, tx, state = train.start(config)
    _, metrics = train.make_train_chunk(task, tx)(state, data, 4)
    losses = np.asarray(metrics["loss"])
    if norm == "batch":
        np.testing.assert_array_equal(losses, losses[0])
    else:
        assert len(set(losses.tolist())) == 4, losses
        # Each step's noise is that step's: fold_in(noise stream, t), as DESIGN.md fixes.
        for t in range(4):
            key = jax.random.fold_in(state.stream("noise"), t)
            loss, _ = train.training_loss(
                task, state.params, state.batch_stats, train.batch_at(task, data, state, t), key
            )
            assert float(loss) == pytest.approx(losses[t], rel=1e-6)
