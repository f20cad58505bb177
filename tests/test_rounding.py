"""Reduced-precision products emulated on the CPU (bn_smooth.rounding) and the emulation of
their effect on the DLN's measurements (bn_smooth.precision_emulation)."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bn_smooth import curvature, precision_emulation, rounding, tasks, train
from bn_smooth.paper import precision_report
from tests.conftest import dln_config


def values():
    key = jax.random.key(0)
    x = jax.random.normal(key, (20_000,))
    return x * 10.0 ** jax.random.uniform(jax.random.key(1), x.shape, minval=-3, maxval=3)


def test_rounding_to_7_bits_is_bfloat16s_and_to_10_bits_is_float16s_mantissa():
    x = values()
    bf16 = x.astype(jnp.bfloat16).astype(jnp.float32)
    np.testing.assert_array_equal(rounding.round_mantissa(x, 7), bf16)
    half = np.asarray(x).astype(np.float16).astype(np.float32)  # TF32's 10 bits, a narrower range
    normal = (np.abs(x) > 6.2e-5) & (np.abs(x) < 6e4)
    np.testing.assert_array_equal(np.asarray(rounding.round_mantissa(x, 10))[normal], half[normal])
    np.testing.assert_array_equal(rounding.round_mantissa(x, 23), x)
    # Ties go to even: 1 + 2^-8 is halfway between 1 and 1 + 2^-7 (last bit 0: stays 1);
    # 1 + 3 * 2^-8 is halfway between 1 + 2^-7 (odd) and 1 + 2^-6 (even).
    ties = jnp.array([1 + 2**-8, 1 + 3 * 2**-8, -(1 + 3 * 2**-8)], jnp.float32)
    np.testing.assert_array_equal(rounding.round_mantissa(ties, 7), [1, 1 + 2**-6, -(1 + 2**-6)])


def test_every_product_of_a_rounded_matmul_and_of_its_derivatives_rounds_its_operands():
    r = functools.partial(rounding.round_mantissa, bits=7)
    a, b, w = (jax.random.normal(jax.random.key(i), (5, 5)) for i in range(3))
    mm = rounding.rounded_matmul(7)
    exact = functools.partial(jnp.matmul, precision="highest")
    np.testing.assert_allclose(mm(a, b), exact(r(a), r(b)), rtol=1e-6)
    # The backward pass: d/da sum(w * (a @ b)) = w @ b.T, each operand rounded.
    grad_a = jax.grad(lambda a: jnp.sum(w * mm(a, b)))(a)
    np.testing.assert_allclose(grad_a, exact(r(w), r(b).T), rtol=1e-6)
    assert np.abs(grad_a - exact(w, b.T)).max() > 1e-4  # and rounding shows
    # Reverse over reverse: with 23 bits it is the exact Hessian-vector product.
    mm23 = rounding.rounded_matmul(23)

    def loss(a, matmul):
        return jnp.sum(matmul(matmul(a, b), a) ** 2)

    def hvp(matmul, v):
        return jax.grad(lambda a: jnp.vdot(jax.grad(loss)(a, matmul), v))(a)

    np.testing.assert_allclose(hvp(mm23, w), curvature.hvp(lambda a: loss(a, exact), a, w), 1e-5)


@pytest.mark.parametrize("norm", ["none", "batch"])
def test_the_functional_dln_is_the_librarys(norm):
    config = dln_config(norm)
    task, data = tasks.make_task(config)
    state = train.init_state(task, train.make_optimizer(config), config.seed)
    x, y = data.train_inputs, data.train_targets
    library = train.step_loss_fn(task, state, data)(state.params)
    for fmt in ("float32", "bfloat16"):
        ours = precision_emulation.dln_loss(
            state.params, x, y, precision_emulation.matmul_of(fmt), norm == "batch"
        )
        # float32 is the library's loss; bfloat16 differs, by about its 2^-8 rounding
        np.testing.assert_allclose(ours, library, rtol=1e-5 if fmt == "float32" else 3e-2)


def test_float32_agrees_with_float64_and_rounding_costs_digits():
    config = dln_config("batch")  # four layers, three step sizes: compiled in seconds
    config.model.depth, config.probe.landscape.num_etas = 4, 3
    config.probe.curvature.num_steps = 20  # lambda_1 converged, in either precision
    rows = precision_emulation.relative_errors(config, steps=5)
    assert {(r["step"], r["measure"]) for r in rows} == {
        (s, m) for s in (0, 5) for m in precision_emulation.MEASURES
    }
    for r in rows:
        assert r["float32"] < 1e-3, r  # float32 (the library's) against float64
    loss = [r for r in rows if r["measure"] == "loss"]
    assert all(r["bfloat16"] > 10 * r["float32"] for r in loss)


def test_the_emulation_page_has_a_row_per_network_state_and_measure():
    """The page's rows are relative_errors' (tested above), formatted; made by hand here."""

    def made(norm):
        return [
            dict(step=s, measure=m, float64=1.5, float32=1e-7, tf32=1e-3, bfloat16=0.25)
            for s in (0, 5)
            for m in precision_emulation.MEASURES
        ]

    text = precision_report.markdown({n: made(n) for n in precision_report.NETWORKS}, "smoke", 5)
    rows = [line for line in text.splitlines() if line.startswith("| Standard")]
    assert len(rows) == 2 * 2 * len(precision_emulation.MEASURES)
    assert rows[-1] == "| Standard + BatchNorm | lambda_1 | 5 | 1.5 | 1.00e-07 | 1.00e-03 | 0.25 |"
    assert "--scale=smoke --steps=5`: the 8-layer DLN" in text
