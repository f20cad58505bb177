"""The loss landscape along a direction: line searches and 2D slices (section 3.1).

`gradient_line_search` steps from `params` along the gradient (or any
direction) with several step sizes and records, at each point, the loss and
how far its gradient has moved from the gradient at the start. Their ranges
are the "variation of the loss" and "gradient predictiveness" of figures 4,
9 and 10; the largest ratio of gradient change to step length is the
"effective beta-smoothness".
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from bn_smooth.batching import batched_map


class LineSearch(NamedTuple):
    losses: jax.Array  # [K] L(w - eta_k d)
    grad_dists: jax.Array  # [K] ||grad L(w - eta_k d) - grad L(w)||_2
    step_norms: jax.Array  # [K] eta_k ||d||_2
    beta_eff: jax.Array  # max_k grad_dists / step_norms, over eta_k != 0
    loss0: jax.Array  # L(w)
    grad_norm: jax.Array  # ||grad L(w)||_2


def gradient_line_search(
    loss_fn, params, step_sizes, direction=None, strategy: str | None = None
) -> LineSearch:
    """Line search from `params` along -direction (default: the gradient).

    `loss_fn: params -> scalar`. For eta_k in `step_sizes`: w_k = params - eta_k d,
    L_k = loss_fn(w_k), G_k = grad(loss_fn)(w_k). jit- and vmap-able;
    `strategy` says how the K points are evaluated (see bn_smooth.batching).
    """
    loss0, g = jax.value_and_grad(loss_fn)(params)
    d = g if direction is None else direction
    step_sizes = jnp.asarray(step_sizes, jnp.result_type(float))

    def at(eta):
        loss, grad = jax.value_and_grad(loss_fn)(optax.tree.add_scale(params, -eta, d))
        return loss, optax.tree.norm(optax.tree.sub(grad, g))

    losses, grad_dists = batched_map(at, step_sizes, strategy)
    step_norms = jnp.abs(step_sizes) * optax.tree.norm(d)
    ratios = jnp.where(step_norms > 0, grad_dists / jnp.where(step_norms > 0, step_norms, 1), 0)
    return LineSearch(losses, grad_dists, step_norms, jnp.max(ratios), loss0, optax.tree.norm(g))


def random_direction(key, params, filter_normalize: bool = False):
    """A Gaussian direction in parameter space.

    With `filter_normalize` (Li et al. 2018), each filter of the direction (a
    slice along the last, output axis of a kernel) is rescaled to the norm of
    the same filter in `params`, and vectors (biases, norm scales and shifts)
    get no component, so that directions compare across scale-invariant nets.
    """
    leaves, treedef = jax.tree.flatten(params)
    keys = jax.random.split(key, len(leaves))
    out = []
    for k, p in zip(keys, leaves, strict=True):
        d = jax.random.normal(k, p.shape, p.dtype)
        if filter_normalize:
            if p.ndim <= 1:
                d = jnp.zeros_like(p)
            else:
                d = d * (_filter_norms(p) / (_filter_norms(d) + 1e-10))
        out.append(d)
    return jax.tree.unflatten(treedef, out)


def _filter_norms(kernel):
    """The l2 norm of each output filter (the last axis) of a kernel."""
    return jnp.sqrt(jnp.sum(jnp.square(kernel), axis=tuple(range(kernel.ndim - 1))))


def loss_surface(loss_fn, params, d1, d2, alphas, betas, strategy: str | None = None):
    """losses[i, j] = loss_fn(params + alphas[i] d1 + betas[j] d2): a 2D slice."""
    alphas, betas = jnp.asarray(alphas), jnp.asarray(betas)
    grid = jnp.stack(jnp.meshgrid(alphas, betas, indexing="ij"), -1).reshape(-1, 2)

    def at(ab):
        return loss_fn(optax.tree.add_scale(optax.tree.add_scale(params, ab[0], d1), ab[1], d2))

    return batched_map(at, grid, strategy).reshape(len(alphas), len(betas))
