"""Reduced-precision products, emulated on a CPU: what a TPU's bfloat16 pass or a GPU's
TensorFloat-32 does to a float32 matrix product (round each operand's mantissa, multiply
and accumulate in float32), for measuring on this machine what bn_smooth.precision's
`default` would change on those (docs/precision.md).
"""

import jax
import jax.numpy as jnp

# Explicit mantissa bits of each format's products' operands (float32 itself has 23).
MANTISSA_BITS = {"bfloat16": 7, "tf32": 10, "float32": 23}


def round_mantissa(x, bits: int):
    """float32 `x` rounded to `bits` mantissa bits, to nearest, ties to even (as the
    hardware converts); the exponent range stays float32's."""
    x = jnp.asarray(x, jnp.float32)
    drop = 23 - bits
    if drop == 0:
        return x
    i = jax.lax.bitcast_convert_type(x, jnp.uint32)
    odd = (i >> drop) & 1  # the last kept bit: a tie rounds toward making it 0
    i = (i + (1 << (drop - 1)) - 1 + odd) & ~jnp.uint32((1 << drop) - 1)
    return jax.lax.bitcast_convert_type(i, jnp.float32)


def rounded_matmul(bits: int):
    """a @ b with both operands rounded to `bits` mantissa bits, in the forward pass and in
    every product of its derivatives (the backward pass's, and theirs in turn: reverse
    over reverse), as the hardware rounds every product a program runs."""

    @jax.custom_vjp
    def matmul(a, b):
        return jnp.matmul(
            round_mantissa(a, bits), round_mantissa(b, bits), precision=jax.lax.Precision.HIGHEST
        )

    def forward(a, b):
        return matmul(a, b), (a, b)

    def backward(saved, g):
        a, b = saved
        return matmul(g, b.T), matmul(a.T, g)

    matmul.defvjp(forward, backward)
    return matmul
