"""The batch-independent normalizations (bn_smooth.example_norms) against numpy forward
passes, and their mode rules: one function in both modes, no running averages, and an
example's output independent of the rest of its batch."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bn_smooth import models, norms, scale_invariance
from bn_smooth.errors import ConfigError

EPS = 1e-5
LAYOUTS = {"dense": (6, 32), "conv": (6, 4, 4, 32)}
# (name, group size in channels, centred) of the ones that standardize each example.
EXAMPLE_NORMS = {
    "layer": (None, True),
    "group": (16, True),
    "instance": (1, True),
    "rms": (None, False),
}
KERNEL_NORMS = ("weight_norm", "weight_standardization")


def numpy_example_norm(x, group_size, center, gamma, beta):
    """Each example standardized over its positions and each group's channels, in float64."""
    x = np.asarray(x, np.float64)
    c = x.shape[-1]
    size = c if group_size is None else group_size
    g = x.reshape(x.shape[0], -1, c // size, size)  # example, position, group, channel
    mean = g.mean(axis=(1, 3), keepdims=True) if center else 0.0
    var = ((g - mean) ** 2).mean(axis=(1, 3), keepdims=True)
    return gamma * ((g - mean) / np.sqrt(var + EPS)).reshape(x.shape) + beta


def numpy_kernel(name, w):
    """Weight normalization's v / ||v|| or weight standardization's (w - mean) / (std + eps),
    per output unit (the last axis), in float64."""
    w = np.asarray(w, np.float64).reshape(-1, w.shape[-1])
    if name == "weight_norm":
        return w / np.linalg.norm(w, axis=0)
    centred = w - w.mean(axis=0)
    return centred / (np.sqrt((centred**2).mean(axis=0)) + EPS)


def random_batch(shape, seed=0):
    return 3.0 * jax.random.normal(jax.random.key(seed), shape) + 1.5


def random_affine(c):
    return {
        "scale": jax.random.uniform(jax.random.key(2), (c,), minval=0.5, maxval=2.0),
        "bias": jax.random.normal(jax.random.key(3), (c,)),
    }


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("name", EXAMPLE_NORMS)
def test_example_norm_matches_numpy_in_both_modes(name, layout):
    if name == "instance" and layout == "dense":
        pytest.skip("instance normalization has no dense form (its own test)")
    x = random_batch(LAYOUTS[layout])
    module = norms.get_norm(name)()
    variables = module.init(jax.random.key(1), x, train=False)
    assert set(variables) == {"params"}  # no running averages
    variables = {"params": random_affine(x.shape[-1])}
    expected = numpy_example_norm(x, *EXAMPLE_NORMS[name], *variables["params"].values())
    for train in (True, False):
        y = module.apply(variables, x, train=train)
        np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-4)


def block_forward_numpy(name, params, x, conv):
    """A Block (linear map, norm; no ReLU) with a reparameterized kernel, by numpy for the
    kernel, the dense map and the norm, and XLA's native convolution for the conv."""
    linear = params["conv" if conv else "dense"]
    kernel = numpy_kernel(name, linear["kernel"]).reshape(linear["kernel"].shape)
    if conv:
        z = jax.lax.conv_general_dilated(
            np.asarray(x, np.float64), kernel, (1, 1), "SAME",
            dimension_numbers=("NHWC", "HWIO", "NHWC"), precision="highest",
        )  # fmt: skip
    else:
        z = np.asarray(x, np.float64) @ kernel
    gamma, beta = params["norm"]["scale"], params["norm"]["bias"]
    if name == "weight_norm":
        return gamma * np.asarray(z) + beta
    return numpy_example_norm(z, 16, True, gamma, beta)


@pytest.mark.parametrize("conv", [False, True], ids=["dense", "conv"])
@pytest.mark.parametrize("name", KERNEL_NORMS)
def test_kernel_norm_block_matches_numpy(name, conv):
    x = random_batch(LAYOUTS["conv" if conv else "dense"])[..., :8]
    block = models.Block(32, norms.get_norm(name), conv=conv, relu=False)
    params = block.init(jax.random.key(1), x, train=True)["params"]
    linear = "conv" if conv else "dense"
    assert set(params[linear]) == {"kernel"}  # the bias follows the normalization
    params["norm"] = random_affine(32)
    expected = block_forward_numpy(name, params, x, conv)
    for train in (True, False):
        y = block.apply({"params": params}, x, train=train)
        np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-4)


def tiny(name, network):
    if network == "vgg":
        model = models.VGG([16, "M", 32, "M"], norms.get_norm(name), num_classes=3)
        return model, random_batch((8, 8, 8, 3))
    return models.DeepLinearNet(4, 16, norms.get_norm(name)), random_batch((8, 16))


@pytest.mark.parametrize("network", ["vgg", "dln"])
@pytest.mark.parametrize("name", sorted(norms.BATCH_INDEPENDENT))
def test_batch_independent_norm_ignores_the_batch_and_the_mode(name, network):
    if name == "instance" and network == "dln":
        pytest.skip("instance normalization needs a convolution")
    model, x = tiny(name, network)
    variables = model.init(jax.random.key(0), x, train=False)
    assert set(variables) <= {"params"}  # no running averages, no other state
    apply = jax.jit(model.apply, static_argnames="train")
    y = apply(variables, x, train=True)
    np.testing.assert_array_equal(apply(variables, x, train=False), y)
    order = np.random.default_rng(0).permutation(len(x))
    close = dict(rtol=1e-5, atol=1e-6 * float(jnp.abs(y).max()))  # a matmul's rounding
    np.testing.assert_allclose(apply(variables, x[order], train=True), y[order], **close)
    np.testing.assert_allclose(apply(variables, x[:3], train=True), y[:3], **close)


@pytest.mark.parametrize("name", sorted(norms.SCALE_INVARIANT & norms.BATCH_INDEPENDENT))
def test_scaling_a_normalized_layer_leaves_the_function_and_the_gradient_orthogonal(name):
    """The linear map before each of these norms is scale-invariant: the output at w and at
    3 w agree, and the gradient is orthogonal to w (Euler's identity), each unit's own for
    the kernel norms (tests/test_scale_invariance.py: the batch norms)."""
    model, x = tiny(name, "vgg")
    variables = model.init(jax.random.key(0), x, train=False)
    # Biases away from their zero start, so that a bias in the group is seen scaled.
    params = jax.tree_util.tree_map_with_path(
        lambda path, p: p + 0.3 if path[-1].key == "bias" else p, variables["params"]
    )

    @jax.jit
    def output(params):
        y, _ = model.apply({**variables, "params": params}, x, train=True, mutable=True)
        return y

    scaled = {**params, "layer_01": {**params["layer_01"]}}
    for key, part in scale_invariance.linear_part(params, "layer_01").items():
        scaled["layer_01"][key] = jax.tree.map(lambda w: 3.0 * w, part)
    np.testing.assert_allclose(output(scaled), output(params), rtol=1e-3, atol=1e-4)
    grad = jax.grad(lambda p: jnp.sum(jnp.sin(output(p))))(params)
    w, g = (scale_invariance.linear_part(t, "layer_01") for t in (params, grad))
    dot = sum(jnp.vdot(a, b) for a, b in zip(jax.tree.leaves(w), jax.tree.leaves(g), strict=True))
    scale = optax_norm(w) * optax_norm(g)
    assert abs(dot) < 1e-3 * scale, (name, dot, scale)


def optax_norm(tree):
    return jnp.sqrt(sum(jnp.sum(jnp.square(leaf)) for leaf in jax.tree.leaves(tree)))


def test_weight_norm_gradient_is_orthogonal_to_each_units_weights():
    model, x = tiny("weight_norm", "dln")
    params = model.init(jax.random.key(0), x)["params"]
    grad = jax.grad(lambda p: jnp.sum(jnp.sin(model.apply({"params": p}, x))))(params)
    v, g = params["layer_01"]["dense"]["kernel"], grad["layer_01"]["dense"]["kernel"]
    np.testing.assert_allclose(jnp.sum(v * g, axis=0), 0.0, atol=1e-5 * float(jnp.abs(g).max()))


def test_instance_norm_on_a_dense_layer_says_what_to_use():
    model, x = tiny("instance", "dln")
    with pytest.raises(ConfigError, match="'layer' or 'group'"):
        model.init(jax.random.key(0), x)


def test_group_size_that_does_not_divide_the_width_names_the_fix():
    module = norms.get_norm("group", group_size=6)()
    with pytest.raises(ConfigError, match="group_size"):
        module.init(jax.random.key(0), jnp.ones((2, 16)))


@pytest.mark.parametrize("width", [1 / 8, 1 / 4, 1])
@pytest.mark.parametrize("name", ["group", "weight_standardization"])
def test_default_group_size_works_at_every_vgg_width_and_on_the_dln(name, width):
    x = jnp.ones((2, 32, 32, 3))
    shapes = jax.eval_shape(
        models.VGG("vgg11", norms.get_norm(name), width).init, jax.random.key(0), x
    )
    assert "params" in shapes
    jax.eval_shape(
        models.DeepLinearNet(norm=norms.get_norm(name)).init, jax.random.key(0), x[:, 0, 0]
    )
