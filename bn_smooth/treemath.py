"""Vector arithmetic on parameter pytrees."""

import jax
import jax.numpy as jnp


def add(a, b, scale=1.0):
    """a + scale * b."""
    return jax.tree.map(lambda x, y: x + scale * y, a, b)


def sub(a, b):
    return jax.tree.map(jnp.subtract, a, b)


def vdot(a, b):
    return sum(jnp.vdot(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b),
                                               strict=True))


def norm(a):
    """The l2 norm of all leaves together."""
    return jnp.sqrt(sum(jnp.sum(jnp.square(x)) for x in jax.tree.leaves(a)))
