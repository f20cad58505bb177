"""The per-backend convolution and pooling against flax's nn.Conv and nn.max_pool."""

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bn_smooth import layers, models, norms


def rel_err(a, b):
    return float(jnp.linalg.norm(a - b) / jnp.linalg.norm(b))


@pytest.mark.parametrize("formulation", layers.FORMULATIONS)
@pytest.mark.parametrize("shape", [(4, 8, 8, 3), (2, 5, 7, 6), (3, 1, 1, 16)])
def test_conv3x3_matches_flax_conv(formulation, shape):
    x = jax.random.normal(jax.random.key(0), shape)
    ours = layers.Conv3x3(5, formulation=formulation)
    ref = nn.Conv(5, (3, 3), padding="SAME")
    params = ours.init(jax.random.key(1), x)
    # Same names and shapes as flax's: one set of parameters drives both.
    assert jax.tree.map(jnp.shape, params) == jax.tree.map(
        jnp.shape, ref.init(jax.random.key(1), x)
    )
    params = jax.tree.map(
        lambda p: p + 0.1 * jax.random.normal(jax.random.key(2), p.shape), params
    )  # a non-zero bias

    def value_grads(module, p, x):
        return module.apply(p, x), jax.grad(
            lambda p, x: jnp.sum(jnp.sin(module.apply(p, x))), argnums=(0, 1)
        )(p, x)

    got, want = (
        run_compiled_fast(functools.partial(value_grads, m), params, x) for m in (ours, ref)
    )
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
        assert rel_err(a, b) < 1e-5


@pytest.mark.parametrize("formulation", layers.FORMULATIONS)
@pytest.mark.parametrize("shape", [(2, 8, 8, 3), (1, 5, 7, 2)])
def test_max_pool_matches_flax(formulation, shape):
    x = jax.random.normal(jax.random.key(0), shape)
    ref = nn.max_pool(x, (2, 2), strides=(2, 2))
    np.testing.assert_allclose(layers.max_pool2x2(x, formulation), ref, rtol=1e-6)
    # Without ties, the gradient goes to the one maximum of each window, as flax's.
    g = jax.grad(lambda x: jnp.sum(jnp.cos(layers.max_pool2x2(x, formulation))))(x)
    g_ref = jax.grad(lambda x: jnp.sum(jnp.cos(nn.max_pool(x, (2, 2), strides=(2, 2)))))(x)
    np.testing.assert_allclose(g, g_ref, rtol=1e-6)


@pytest.mark.parametrize("formulation", layers.FORMULATIONS)
@pytest.mark.parametrize("shape", [(2, 8, 8, 3), (1, 5, 7, 2)])
def test_max_pool_routes_tied_gradients_to_the_first_maximum(formulation, shape):
    """Pixels from {0, 1, 2}: most windows have tied maxima. Every window's gradient goes
    to its first maximum in row-major order, for values, gradients and a forward-over-
    reverse HVP, in float64, as nn.max_pool's (a plain max would split it)."""
    x = np.random.default_rng(0).integers(0, 3, shape).astype(np.float64)
    with jax.enable_x64():
        x = jnp.asarray(x)
        weights = jnp.arange(1.0, 1.0 + shape[-1])

        def loss(pool, x):
            return jnp.sum(jnp.sin(pool(x)) ** 2 * weights)

        ours = functools.partial(layers.max_pool2x2, formulation=formulation)
        for f in (
            lambda pool: pool(x),
            lambda pool: jax.grad(loss, argnums=1)(pool, x),
            lambda pool: jax.jvp(lambda x: jax.grad(loss, argnums=1)(pool, x), (x,), (jnp.cos(x),))[
                1
            ],
        ):
            np.testing.assert_array_equal(f(ours), f(flax_max_pool))
        # By hand: one 2x2 window of ties sends all of its gradient to its top left.
        g = jax.grad(lambda x: ours(x).sum())(jnp.ones((1, 2, 2, 1)))
        np.testing.assert_array_equal(g[0, ..., 0], [[1.0, 0.0], [0.0, 0.0]])
        g = jax.grad(lambda x: ours(x).sum())(jnp.asarray([0.0, 2, 2, 2]).reshape(1, 2, 2, 1))
        np.testing.assert_array_equal(g[0, ..., 0], [[0.0, 1.0], [0.0, 0.0]])


def flax_max_pool(x):
    return nn.max_pool(x, (2, 2), strides=(2, 2))


def test_vgg_formulations_agree():
    """The whole network: same parameters, same loss and gradients either way, and with
    the CPU's per-layer default (None: shifted views, then Winograd at 16x16 32->32)."""
    x = jax.random.normal(jax.random.key(0), (4, 32, 32, 3))
    vggs = {
        f: models.VGG((8, "M", 32, 32, "M"), norms.get_norm("batch"), formulation=f)
        for f in (*layers.FORMULATIONS, None)
    }
    assert layers.default_formulation((4, 16, 16, 32)) == "winograd"
    variables = vggs["native"].init(jax.random.key(1), x, train=False)

    def loss(model, params):
        out, _ = model.apply(
            {**variables, "params": params}, x, train=True, mutable=["batch_stats"]
        )
        return jnp.sum(out**2)

    values = {
        f: run_compiled_fast(jax.value_and_grad(functools.partial(loss, m)), variables["params"])
        for f, m in vggs.items()
    }
    l_n, g_n = values["native"]
    for f in ("shifted", "winograd", None):
        l_f, g_f = values[f]
        assert abs(l_f - l_n) <= 1e-5 * abs(l_n), f
        # Over the whole gradient: the conv biases before BatchNorm have zero gradient
        # in exact arithmetic, so leaf by leaf they would compare rounding noise.
        flat = [jnp.concatenate([a.ravel() for a in jax.tree.leaves(g)]) for g in (g_f, g_n)]
        assert rel_err(*flat) < 1e-5, f


def value_grads_hvp(conv, x, k, r, tangents):
    """conv(x, k); the gradients in x and k of sum(tanh(conv) * r); their derivative
    along `tangents` (a forward-over-reverse HVP)."""

    def loss(x, k):
        return jnp.sum(jnp.tanh(conv(x, k)) * r)

    grad = jax.grad(loss, argnums=(0, 1))
    return conv(x, k), *grad(x, k), *jax.jvp(grad, (x, k), tangents)[1]


def run_compiled_fast(fn, *args):
    """fn(*args) as one program compiled at XLA's lowest optimization level: these tests
    compile dozens of programs and run each once, so compiling is most of their time."""
    return jax.jit(fn).lower(*args).compile({"xla_backend_optimization_level": 0})(*args)


@pytest.mark.parametrize("width", [0.125, 0.25, 1.0])
def test_conv_at_every_vgg11_shape_in_float64(width):
    """At every convolution shape of VGG-11 at `width`, the formulation the layer gets on
    CPU: values, gradients (input and kernel) and a forward-over-reverse HVP against XLA's
    native convolution (nn.Conv's), in float64."""
    used = set()
    with jax.enable_x64():
        for size, c_in, c_out, _ in dict.fromkeys(models.vgg_conv_shapes("vgg11", width)):
            rng = np.random.default_rng(size + c_in)
            x = jnp.asarray(rng.standard_normal((1, size, size, c_in)))
            k = jnp.asarray(rng.standard_normal((3, 3, c_in, c_out)) / np.sqrt(9 * c_in))
            r = jnp.asarray(rng.standard_normal((1, size, size, c_out)))
            tangents = tuple(jnp.asarray(rng.standard_normal(a.shape)) for a in (x, k))
            used.add(layers.default_formulation(x.shape))
            got = run_compiled_fast(
                functools.partial(value_grads_hvp, layers.conv3x3), x, k, r, tangents
            )
            want = run_compiled_fast(
                functools.partial(value_grads_hvp, layers.conv3x3_native), x, k, r, tangents
            )
            for a, b in zip(got, want, strict=True):
                assert rel_err(a, b) < 1e-12, f"{size}x{size} {c_in}->{c_out}"
    # Winograd on the wider layers (none at 1/8 width), the shifted views on the first.
    assert used == ({"shifted"} if width < 0.25 else {"shifted", "winograd"})


@pytest.mark.parametrize("width", [0.125, 0.25, 1.0])
def test_max_pool_at_every_vgg11_shape_in_float64(width):
    """At every pooling shape of VGG-11 at `width`, with tied maxima in most windows (pixels
    from {0, 1, 2}, as after ReLU): values, gradients and a forward-over-reverse HVP equal
    nn.max_pool's, in float64."""
    pooled = [
        (size, c_out) for size, _, c_out, pools in models.vgg_conv_shapes("vgg11", width) if pools
    ]

    def loss(pool, x, weights):
        return jnp.sum(jnp.sin(pool(x)) ** 2 * weights)

    def value_grad_hvp(pool, x, weights):
        grad = functools.partial(jax.grad(loss, argnums=1), pool, weights=weights)
        return pool(x), grad(x), jax.jvp(grad, (x,), (jnp.cos(x),))[1]

    with jax.enable_x64():
        for size, channels in pooled:
            x = np.random.default_rng(size).integers(0, 3, (2, size, size, channels))
            x, weights = jnp.asarray(x, jnp.float64), jnp.arange(1.0, 1.0 + channels)
            got = run_compiled_fast(
                functools.partial(value_grad_hvp, layers.max_pool2x2), x, weights
            )
            want = run_compiled_fast(functools.partial(value_grad_hvp, flax_max_pool), x, weights)
            for a, b in zip(got, want, strict=True):
                np.testing.assert_array_equal(a, b, err_msg=f"{size}x{size}x{channels}")


def test_unknown_formulation_names_the_valid_ones():
    with pytest.raises(ValueError, match="shifted, native, winograd"):
        layers.Conv3x3(2, formulation="fft").init(jax.random.key(0), jnp.ones((1, 4, 4, 1)))
