"""The mutation check's mistakes in what BatchNorm changes: the decomposition of figure 4's
gradient change (bn_smooth.mechanism), the batch sharpness, scale invariance and weight
decay.
"""

from tests.mutation import mutation

BATCH_SHARPNESS_ROW = (
    "tests/test_probe_rows.py::test_batch_sharpness_row_is_that_of_the_next_batches_whole_hessians"
)
MECHANISM = "tests/test_mechanism.py"
SCALE = "tests/test_scale_invariance.py"
PLANTED = (
    "tests/test_curvature.py::"
    "test_planted_outliers_above_the_bulk_and_a_planted_gradient_in_their_span"
)

MUTATIONS = [
    mutation(
        "decomposition-without-curvature",
        "the quadratic prediction of the gradient's change forgets ||H g_hat||",
        "bn_smooth/mechanism.py",
        'predicted = etas * (ls["grad_norm"] * ls["hg_norm"])[keep, None]',
        'predicted = etas * ls["grad_norm"][keep, None]',
        MECHANISM,
    ),
    mutation(
        "shares-of-the-median",
        "a factor's share is read off medians, which do not multiply",
        "bn_smooth/mechanism.py",
        '"share": float(mean_log / total) if total else np.nan,',
        '"share": float(np.log(np.median(r[ok])) / total) if total else np.nan,',
        MECHANISM,
    ),
    mutation(
        "landscape-curvature-eval-mode",
        "the line search's curvature along the gradient is the evaluation mode's",
        "bn_smooth/probes.py",
        "along = curvature.gradient_curvature(loss_fn, state.params)",
        "along = curvature.gradient_curvature(\n"
        '            train.step_loss_fn(context.task, state, data, "running"), state.params\n'
        "        )",
        "tests/test_probe_rows.py::test_landscape_row_is_a_line_search_of_its_steps_loss",
    ),
    mutation(
        "batch-sharpness-one-batch",
        "the batch sharpness reads step t's batch num_batches times",
        "bn_smooth/curvature_probes.py",
        "batches = state.step + jnp.arange(section.num_batches)",
        "batches = state.step + jnp.zeros(section.num_batches, int)",
        BATCH_SHARPNESS_ROW,
    ),
    mutation(
        "averaged-loss-first-batch",
        "the averaged loss is its first batch's",
        "bn_smooth/curvature.py",
        "return jnp.mean(jax.vmap(lambda b: batch_loss_fn(params, b))(batches))",
        "return batch_loss_fn(params, batches[0])",
        BATCH_SHARPNESS_ROW,
    ),
    mutation(
        "weight-decay-ignored",
        "config.weight_decay builds plain SGD",
        "bn_smooth/train.py",
        "    if not weight_decay:  # the optimizer state",
        "    if True:  # the optimizer state",
        SCALE,
    ),
    mutation(
        "effective-lr-not-squared",
        "the effective learning rate is lr / ||w||",
        "bn_smooth/curvature_probes.py",
        '"effective_lr": train.learning_rate(state) / w**2,',
        '"effective_lr": train.learning_rate(state) / w,',
        SCALE,
    ),
    mutation(
        "scale-invariant-includes-the-last-dln-layer",
        "the DLN's last layer, which no norm follows, counts as scale-invariant",
        "bn_smooth/scale_invariance.py",
        "return layers[:-1] if isinstance(model, models.DeepLinearNet) else layers",
        "return layers",
        SCALE,
    ),
    mutation(
        "bulk-edge-any-weight",
        "the bulk's edge is the largest Lanczos node, outliers included",
        "bn_smooth/curvature.py",
        "heavy = jnp.where(weights >= min_weight, nodes, -jnp.inf)",
        "heavy = jnp.where(weights > 0, nodes, -jnp.inf)",
        PLANTED,
    ),
    mutation(
        "overlap-not-cumulative",
        "the gradient's share of the top-j eigenspace is that of the j-th vector alone",
        "bn_smooth/curvature.py",
        "return jnp.cumsum(coefficients**2) / jnp.vdot(",
        "return (coefficients**2) / jnp.vdot(",
        PLANTED,
    ),
    mutation(
        "matched-loss-last-step",
        "lambda_1 at a matched loss is read where the loss is last below the level",
        "bn_smooth/summaries.py",
        "i = int(np.argmin(np.abs(curv_steps - steps[below[0]])))",
        "i = int(np.argmin(np.abs(curv_steps - steps[below[-1]])))",
        MECHANISM,
    ),
    mutation(
        "before-threshold-includes-the-edge",
        "the comparison before the threshold includes the first probe at 2/lr",
        "bn_smooth/summaries.py",
        "first = int(np.argmax(at_edge)) if at_edge.any() else common.size",
        "first = int(np.argmax(at_edge)) + 1 if at_edge.any() else common.size",
        MECHANISM,
    ),
]
