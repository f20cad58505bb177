"""Scale invariance: what a normalization after a linear map makes of its weights.

A layer's linear map (its kernel and bias, `params[layer]` without the norm's own
scale and shift) followed by a batch-statistics normalization gives the same function
at w and c w for every c > 0 (up to the norm's epsilon). Then, for that group,

- the gradient is orthogonal to w (Euler's identity), so plain SGD only grows it:
  ||w_{t+1}||^2 = ||w_t||^2 + lr^2 ||g_t||^2;
- the gradient and Hessian scale as 1/c and 1/c^2, so the step's effect on the
  function is that of the *effective learning rate* lr / ||w||^2, and lambda_1 of a
  layer followed by BatchNorm says as much about ||w|| as about the function;
- lambda_1 in the layers' own units, the top eigenvalue of D H D over the groups (D
  scales each group by its norm), is a property of the function: `invariant_loss`
  gives the loss whose Hessian that is.

With weight decay wd, SGD on a model whose every trained weight is scale-invariant
equals SGD without it at the growing learning rate lr (1 - lr wd)^(-2t-1), the
weights rescaled by (1 - lr wd)^t (Li and Arora 2020); tests/test_scale_invariance.py
checks both identities step by step in float64.
"""

import jax
import jax.numpy as jnp
import optax

from bn_smooth import models, norms
from bn_smooth.precision import tree_vdot


def linear_part(params, layer: str) -> dict:
    """A layer's linear map: its parameters without its normalization's."""
    return {k: v for k, v in params[layer].items() if k != "norm"}


def normalized_layers(model, params) -> list[str]:
    """The layers whose linear map feeds the model's normalization: every `layer_*` but
    the deep linear network's last."""
    layers = [k for k in models.layer_order(params) if k.startswith("layer_")]
    return layers[:-1] if isinstance(model, models.DeepLinearNet) else layers


def is_scale_invariant(norm: str) -> bool:
    """Whether the linear maps that `norm` follows are scale-invariant (norms.SCALE_INVARIANT)."""
    return norm in norms.SCALE_INVARIANT


def layer_norms(params, layers) -> jax.Array:
    """||w|| of each layer's linear map, [L]."""
    return jnp.stack([optax.tree.norm(linear_part(params, k)) for k in layers])


def angles(a, b, layers) -> jax.Array:
    """The angle between a_l and b_l of each layer's linear map, [L], in radians: 2
    atan2(||a_hat - b_hat||, ||a_hat + b_hat||), accurate for the small angles of a step
    (arccos of the cosine is not)."""

    def unit(tree, k):
        part = linear_part(tree, k)
        return optax.tree.scale(1 / optax.tree.norm(part), part)

    return jnp.stack(
        [
            2
            * jnp.arctan2(
                optax.tree.norm(optax.tree.sub(unit(a, k), unit(b, k))),
                optax.tree.norm(optax.tree.add(unit(a, k), unit(b, k))),
            )
            for k in layers
        ]
    )


def cosines(a, b, layers) -> jax.Array:
    """cos(a_l, b_l) of the layers' linear maps of two pytrees like params, [L]."""
    return jnp.stack(
        [
            tree_vdot(linear_part(a, k), linear_part(b, k))
            / (optax.tree.norm(linear_part(a, k)) * optax.tree.norm(linear_part(b, k)))
            for k in layers
        ]
    )


def invariant_loss(loss_fn, params, layers):
    """(f, u0): f(u) = loss_fn(params with each layer's linear map set to ||w_l|| u_l), the
    other parameters held, and u0 the maps' directions w_l / ||w_l||. The Hessian of f at
    u0 is D H D over the layers' block; for scale-invariant layers its spectrum does not
    change when any layer's w_l is rescaled."""
    scales = {k: optax.tree.norm(linear_part(params, k)) for k in layers}
    u0 = {k: optax.tree.scale(1 / scales[k], linear_part(params, k)) for k in layers}

    def f(u):
        inner = {
            k: {**params[k], **optax.tree.scale(scales[k], u[k])} if k in u else params[k]
            for k in params
        }
        return loss_fn(inner)

    return f, u0
