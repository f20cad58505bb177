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
SWEEP_ALONE = "tests/test_lr_sweep.py::test_sweep_run_trains_each_model_as_its_run_alone"
SWEEP_EVAL = "tests/test_lr_sweep.py::test_vgg_sweep_run_evaluates_each_model"
TRAINS_RULE = "tests/test_lr_sweep.py::test_trains_rule_on_known_curves"
CHANCE_RULE = "tests/test_lr_sweep.py::test_a_classifier_at_chance_does_not_train_from_above_it"
UNFINISHED = "tests/test_lr_sweep.py::test_an_unfinished_sweep_trains_at_no_learning_rate"
C8_CHECKS = "tests/test_lr_claim.py::test_c8_each_check_fails_alone"
C8_MATCHED = "tests/test_lr_claim.py::test_c8_matched_loss_check_needs_batchnorm_lower"
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
    mutation(
        "sweep-stops-at-the-first-nan",
        "a sweep stops when one model's loss goes non-finite, taking the others with it",
        "bn_smooth/sweep.py",
        "return ~np.isfinite(losses.reshape(len(losses), -1)).any(axis=1)",
        "return ~np.isfinite(losses.reshape(len(losses), -1)).all(axis=1)",
        SWEEP_ALONE,
    ),
    mutation(
        "sweep-models-share-one-lr",
        "every model of a sweep trains at config.lr",
        "bn_smooth/sweep.py",
        "return init_states(task, tx, [config.seed] * len(lrs), lrs)",
        "return init_states(task, tx, [config.seed] * len(lrs))",
        SWEEP_ALONE,
    ),
    mutation(
        "sweep-evaluates-the-first-model",
        "each model of a sweep is evaluated with the first model's parameters",
        "bn_smooth/sweep.py",
        "each = [train.evaluate(task, unstack(states, i), data) for i in range(len(states.step))]",
        "each = [train.evaluate(task, unstack(states, 0), data) for i in range(len(states.step))]",
        SWEEP_EVAL,
    ),
    mutation(
        "sweep-models-in-reverse",
        "a sweep's models are read back against the learning rates in reverse",
        "bn_smooth/sweep_results.py",
        "return [_model(run, i, lr) for i, lr in enumerate(lrs)]",
        "return [_model(run, i, lr) for i, lr in enumerate(lrs[::-1])]",
        TRAINS_RULE,
    ),
    mutation(
        "trains-rule-strict",
        "a model whose final loss is exactly 0.75 of its start does not train",
        "bn_smooth/sweep_results.py",
        'return model.status["status"] == "finished" and final <= TRAINS * reference_loss(',
        'return model.status["status"] == "finished" and final < TRAINS * reference_loss(',
        TRAINS_RULE,
    ),
    mutation(
        "trains-while-interrupted",
        "a model of a sweep that did not finish counts as trained",
        "bn_smooth/sweep_results.py",
        'return model.status["status"] == "finished" and final <= TRAINS * reference_loss(',
        'return model.status["status"] != "failed" and final <= TRAINS * reference_loss(',
        UNFINISHED,
    ),
    mutation(
        "c8-any-larger-lr",
        "C8's primary check is met by BatchNorm training at the standard network's own lr",
        "bn_smooth/paper/lr_claim.py",
        "holds = b is not None and (a is None or b >= WIDER * a)",
        "holds = b is not None and (a is None or b >= a)",
        C8_CHECKS,
    ),
    mutation(
        "c8-matched-loss-reversed",
        "C8's matched-loss check asks for BatchNorm's lambda_1 to be the higher",
        "bn_smooth/paper/lr_claim.py",
        "bool(matched) and all(r > 1 for _, r in matched),",
        "bool(matched) and all(r < 1 for _, r in matched),",
        C8_MATCHED,
    ),
    mutation(
        "c4-nonlinearity-at-the-smallest-eta",
        "the C4 study's non-linearity factor is read at the smallest step size",
        "bn_smooth/paper/c4_analysis.py",
        'out["non-linearity"] = (parts.steps, parts.factor[:, -1] if parts.steps.size',
        'out["non-linearity"] = (parts.steps, parts.factor[:, 0] if parts.steps.size',
        "tests/test_c4_study.py::test_smoke_study_table_is_the_runs_own_metrics",
    ),
    mutation(
        "trains-from-above-chance",
        "a classifier that starts above chance trains by reaching chance",
        "bn_smooth/sweep_results.py",
        'chance = math.inf if as_fixed else CHANCE.get(model.config["task"], math.inf)',
        "chance = math.inf",
        CHANCE_RULE,
    ),
]
