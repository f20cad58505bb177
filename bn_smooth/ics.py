"""Internal covariate shift in the gradient sense of Definition 2.1.

For layer i at step t, G_i is the gradient of the loss with respect to layer
i's parameters, and G'_i the same gradient after the layers before i have
taken the step-t update (layer i and those after it unchanged), on the same
batch. ICS is ||G_i - G'_i||_2; the cosine between them says how far the
direction moved.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from bn_smooth import precision
from bn_smooth.batching import batched_map


class ICS(NamedTuple):
    l2: jax.Array  # ||G_i - G'_i||_2
    cosine: jax.Array  # <G_i, G'_i> / (||G_i|| ||G'_i||)


def internal_covariate_shift(
    loss_fn, params_before, params_after, layers, strategy: str | None = None
) -> dict[str, ICS]:
    """ICS of every layer in `layers` (top-level keys, in forward order), in one call.

    mix_i takes layers[:i] from params_after and everything else from
    params_before; G'_i = grad(loss_fn)(mix_i)[layers[i]]. G_i comes out of the
    same batched computation (mix_0 == params_before), so the first layer has
    l2 == 0 exactly and cosine 1 by definition.
    """
    layers = list(layers)
    index = {name: i for i, name in enumerate(layers)}

    def grads_of_mix(i):
        def layer_params(k, before):
            if k not in index:
                return before
            if isinstance(i, np.integer):
                # Unrolled, i is static: the mixes then share their forward pass through
                # the updated layers, and XLA computes it once.
                return params_after[k] if index[k] < i else before
            # `where`, not before + mask * (after - before): the mix must be exact.
            return jax.tree.map(lambda b, a: jnp.where(index[k] < i, a, b), before, params_after[k])

        return jax.grad(loss_fn)({k: layer_params(k, v) for k, v in params_before.items()})

    grads = batched_map(grads_of_mix, np.arange(len(layers)), strategy, over="layers")
    out = {}
    for i, name in enumerate(layers):
        g = jax.tree.map(lambda x: x[0], grads[name])
        g_mixed = jax.tree.map(lambda x, i=i: x[i], grads[name])
        l2 = optax.tree.norm(optax.tree.sub(g, g_mixed))
        # At full float32 on TPUs and TF32 GPUs too, unless the program says otherwise.
        cosine = precision.tree_vdot(g, g_mixed) / (optax.tree.norm(g) * optax.tree.norm(g_mixed))
        out[name] = ICS(l2, jnp.where(l2 == 0, 1.0, cosine))
    return out
