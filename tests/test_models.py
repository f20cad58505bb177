"""Model shapes, the by-layer parameter layout, and the DLN as a matrix product."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bn_smooth import models, norms

CONV_COUNTS = {"vgg11": 8, "vgg13": 10, "vgg16": 13, "vgg19": 16}


def shapes(model, x, **kw):
    variables = jax.eval_shape(lambda: model.init(jax.random.key(0), x, train=False, **kw))
    return jax.tree.map(lambda a: a.shape, variables)


@pytest.mark.parametrize("cfg", CONV_COUNTS)
def test_vgg_output_and_parameter_layout(cfg):
    model = models.VGG(cfg, norms.get_norm("batch"), width=1 / 8)
    x = jnp.zeros((3, 32, 32, 3))
    variables = shapes(model, x)
    params = variables["params"]
    layers = [models.layer_name(i) for i in range(CONV_COUNTS[cfg])]
    assert models.layer_order(params) == [*layers, "head"]
    for i, name in enumerate(layers):
        kernel = params[name]["conv"]["kernel"]
        assert kernel[:2] == (3, 3)
        assert params[name]["norm"] == {"scale": (kernel[3],), "bias": (kernel[3],)}
        assert variables["batch_stats"][name]["norm"] == {"mean": (kernel[3],), "var": (kernel[3],)}
        if i == 0:
            assert kernel[2] == 3
    assert params["head"]["kernel"] == (64, 10)  # 512/8 channels at 1x1 after 5 pools
    out = jax.eval_shape(
        lambda: model.apply(model.init(jax.random.key(0), x, train=False), x, train=False)
    )
    assert out.shape == (3, 10)


def test_vgg_width_and_classifier():
    model = models.VGG("vgg11", norms.get_norm("none"), width=0.25, classifier=(512,))
    params = shapes(model, jnp.zeros((2, 32, 32, 3)))["params"]
    assert params["layer_00"]["conv"]["kernel"] == (3, 3, 3, 16)
    assert params["layer_07"]["conv"]["kernel"] == (3, 3, 128, 128)
    assert params["layer_08"]["dense"]["kernel"] == (128, 128)
    assert "norm" not in params["layer_00"]  # 'none' has no parameters
    assert models.layer_order(params)[-2:] == ["layer_08", "head"]


@pytest.mark.parametrize("width", [1 / 8, 1.0])
def test_vgg_conv_shapes_are_the_models(width):
    model = models.VGG("vgg11", norms.get_norm("none"), width=width)
    params = shapes(model, jnp.zeros((1, 32, 32, 3)))["params"]
    conv_shapes = models.vgg_conv_shapes("vgg11", width)
    kernels = [params[models.layer_name(i)]["conv"]["kernel"] for i in range(8)]
    assert kernels == [(3, 3, c_in, c_out) for _, c_in, c_out, _ in conv_shapes]
    # Sizes halve after each pool; VGG-11 pools after convolutions 1, 2, 4, 6 and 8.
    assert [(size, pooled) for size, _, _, pooled in conv_shapes] == [
        (32, True),
        (16, True),
        (8, False),
        (8, True),
        (4, False),
        (4, True),
        (2, False),
        (2, True),
    ]


def test_vgg_norm_precedes_relu():
    model = models.VGG([4, "M"], norms.get_norm("batch"), num_classes=2)
    x = jax.random.normal(jax.random.key(0), (8, 4, 4, 3))
    variables = model.init(jax.random.key(1), x, train=False)
    _, state = model.apply(variables, x, train=True, mutable=["batch_stats", "intermediates"])
    inter = state["intermediates"]["layer_00"]
    post = inter["post_norm"][0]
    # Normalized before the non-linearity: per channel mean 0, so both signs occur.
    np.testing.assert_allclose(post.mean((0, 1, 2)), 0.0, atol=1e-5)
    assert (post < 0).any()


def test_dln_without_norm_is_the_matrix_product():
    model = models.DeepLinearNet(depth=5, dim=4)
    x = jax.random.normal(jax.random.key(0), (7, 4))
    variables = model.init(jax.random.key(1), x)
    params = variables["params"]
    assert models.layer_order(params) == [models.layer_name(i) for i in range(5)]
    product = np.eye(4)
    for name in models.layer_order(params):
        assert set(params[name]) == {"dense"} and set(params[name]["dense"]) == {"kernel"}
        product = product @ np.asarray(params[name]["dense"]["kernel"], np.float64)
    np.testing.assert_allclose(
        model.apply(variables, x), np.asarray(x) @ product, rtol=1e-4, atol=1e-5
    )


def test_dln_default_shape_and_norm_on_all_but_last_layer():
    model = models.DeepLinearNet(norm=norms.get_norm("batch", use_scale=False, use_bias=False))
    variables = shapes(model, jnp.zeros((5, 10)))
    assert len(variables["params"]) == 25
    assert all(
        variables["params"][models.layer_name(i)]["dense"]["kernel"] == (10, 10) for i in range(25)
    )
    assert sorted(variables["batch_stats"]) == [models.layer_name(i) for i in range(24)]


def test_glorot_initialization():
    model = models.DeepLinearNet(depth=1, dim=400)
    kernel = model.init(jax.random.key(0), jnp.zeros((1, 400)))["params"]["layer_00"]["dense"][
        "kernel"
    ]
    limit = np.sqrt(6 / (400 + 400))  # Glorot & Bengio's uniform
    assert np.abs(kernel).max() <= limit
    np.testing.assert_allclose(np.var(kernel), 2 / 800, rtol=0.02)


def test_the_head_starts_at_zero_with_head_init_zeros():
    x = jax.random.normal(jax.random.key(0), (4, 8, 8, 3))
    for head_init, zero in (("zeros", True), ("glorot", False)):
        model = models.VGG([4, "M"], norms.get_norm("batch"), head_init=head_init)
        variables = model.init(jax.random.key(1), x, train=False)
        assert (np.abs(variables["params"]["head"]["kernel"]).max() == 0) == zero
        logits = model.apply(variables, x, train=False)
        assert (np.abs(logits).max() == 0) == zero
