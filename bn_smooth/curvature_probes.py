"""The probes of the Hessian, registered in bn_smooth.probes' registry (which imports this
module): `curvature` (the top eigenvalues and the curvature along the gradient),
`batch_sharpness` (sharpness as minibatch SGD sees it), `scale` (what a normalization's
scale invariance makes of the weights), the running twins of
`landscape` and `curvature` (the evaluation-mode function, claim C7) and `spectrum`
(the spectral density). Each follows the probes' rules (bn_smooth.probes): the loss of
step t in the section's `mode`.
"""

import jax
import jax.numpy as jnp

from bn_smooth import curvature, scale_invariance, train
from bn_smooth.probes import REGISTRY, RUNNING_TWINS, Context, Probe, register


def two_over_lr(state) -> jax.Array:
    """The stability threshold 2/lr of the learning rate in `state`, not of the config:
    runs that differ only in their learning rate then share the compiled probe."""
    return 2.0 / train.learning_rate(state)


@register("curvature")
def curvature_probe(context: Context, section) -> Probe:
    """The top of the Hessian's spectrum and the curvature along the gradient, with the
    stability threshold 2/lr, and the fraction of the gradient in the top-j eigenspace for
    j = 1..k (`top_overlap`, Gur-Ari et al. 2018); with `exact`, the top eigenvalues of
    the whole Hessian too (small models: the DLN's 2,500 parameters); with `pair`, the
    same again one update later, under `next` (GD at the edge of stability alternates
    between two iterates)."""

    def at(state, data):
        loss_fn = train.step_loss_fn(context.task, state, data, section.mode)
        key = jax.random.fold_in(state.stream("probe"), state.step)
        top = curvature.top_eigenvalues(loss_fn, state.params, section.k, section.num_steps, key)
        along = curvature.gradient_curvature(loss_fn, state.params)
        out = {
            "eigenvalues": top.eigenvalues,
            "top_overlap": curvature.subspace_overlap(
                top.eigenvectors, jax.grad(loss_fn)(state.params)
            ),
            "rayleigh": along.rayleigh,
            "hg_norm": along.hg_norm,
            "grad_norm": along.grad_norm,
        }
        if section.exact:
            hessian = curvature.hessian_matrix(loss_fn, state.params)
            out["exact_eigenvalues"] = jnp.linalg.eigvalsh(hessian)[::-1][: section.k]
        return out

    def measure(state, data):
        if not section.pair:
            return {**at(state, data), "two_over_lr": two_over_lr(state)}
        # Both iterates through one compiled measurement (lax.map), not two copies of it.
        after = train.train_step(context.task, context.tx, state, data)[0]
        both = jax.lax.map(
            lambda s: at(s, data), jax.tree.map(lambda *x: jnp.stack(x), state, after)
        )
        return {
            **jax.tree.map(lambda x: x[0], both),
            "two_over_lr": two_over_lr(state),
            "next": jax.tree.map(lambda x: x[1], both),
        }

    return Probe(measure)


@register("batch_sharpness")
def batch_sharpness_probe(context: Context, section) -> Probe:
    """Sharpness as minibatch SGD sees it, over the batches of steps t, ..., t +
    `num_batches` - 1 (each with its own statistics): the batch sharpness E_B[g_B' H_B g_B
    / ||g_B||^2], and the top `k` eigenvalues of the loss averaged over those batches
    (`num_steps` Lanczos steps), beside 2/lr."""

    def measure(state, data):
        def batch_loss(params, j):
            return train.step_loss_fn(context.task, state, data, section.mode, j)(params)

        batches = state.step + jnp.arange(section.num_batches)
        key = jax.random.fold_in(state.stream("probe"), state.step)
        averaged = curvature.averaged_loss(batch_loss, batches)
        top = curvature.top_eigenvalues(averaged, state.params, section.k, section.num_steps, key)
        return {
            "batch_sharpness": curvature.batch_sharpness(batch_loss, state.params, batches),
            "averaged_eigenvalues": top.eigenvalues,
            "two_over_lr": two_over_lr(state),
        }

    return Probe(measure)


@register("scale")
def scale_probe(context: Context, section) -> Probe:
    """Scale invariance of each normalized layer (bn_smooth.scale_invariance): ||w||, the
    effective learning rate lr / ||w||^2, cos(w, g) (0 where scale-invariant), the angle
    of the step's update, and the top `k` eigenvalues in the layers' own units (of D H D
    over their block, `num_steps` Lanczos steps). `scale_invariant`: whether the run's
    norm makes these layers so."""
    layers = scale_invariance.normalized_layers(context.task.model, context.params)
    invariant = scale_invariance.is_scale_invariant(context.config.norm)

    def measure(state, data):
        loss_fn = train.step_loss_fn(context.task, state, data, section.mode)
        after = train.train_step(context.task, context.tx, state, data)[0].params
        w = scale_invariance.layer_norms(state.params, layers)
        f, u0 = scale_invariance.invariant_loss(loss_fn, state.params, layers)
        key = jax.random.fold_in(state.stream("probe"), state.step)
        top = curvature.top_eigenvalues(f, u0, section.k, section.num_steps, key)
        return {
            "weight_norm": w,
            "effective_lr": train.learning_rate(state) / w**2,
            "grad_cosine": scale_invariance.cosines(
                state.params, jax.grad(loss_fn)(state.params), layers
            ),
            "update_angle": scale_invariance.angles(state.params, after, layers),
            "invariant_eigenvalues": top.eigenvalues,
        }

    return Probe(measure, lambda out: {"layers": layers, "scale_invariant": invariant, **out})


@register("spectrum")
def spectrum_probe(context: Context, section) -> Probe:
    """The Hessian's spectral density by stochastic Lanczos quadrature (Ghorbani et al.
    2019): each starting vector's nodes and weights, and their Gaussian-smoothed average;
    `num_params`, the dimension (a node of weight w stands for about w * num_params
    eigenvalues)."""
    num_params = sum(x.size for x in jax.tree.leaves(context.params))

    def measure(state, data):
        loss_fn = train.step_loss_fn(context.task, state, data, section.mode)
        key = jax.random.fold_in(state.stream("probe"), state.step)
        return curvature.spectral_density(
            loss_fn,
            state.params,
            key,
            section.num_steps,
            section.num_vectors,
            section.num_points,
            strategy=section.strategy,
        )._asdict()

    return Probe(measure, lambda out: {**out, "num_params": num_params})


# The running twins (probes.RUNNING_TWINS) measure like their kinds.
for _twin, _kind in RUNNING_TWINS.items():
    register(_twin)(REGISTRY[_kind])
