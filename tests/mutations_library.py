"""The mutation check's mistakes in the library: the probes, noisy BatchNorm, evaluation,
the model and its objective, the normalizations.
"""

from tests.mutation import (
    CURVATURE_ROW,
    DLN_LOSS,
    EVALUATION,
    FORWARD,
    FRESH_NOISE,
    INIT,
    LANDSCAPE_ROW,
    NORMS,
    Mutation,
    mutation,
)

MUTATIONS = [
    # The landscape and curvature probes, end to end
    mutation(
        "landscape-no-lr",
        "the line search's step sizes forget the learning rate",
        "bn_smooth/probes.py",
        "step_sizes = train.learning_rate(state) * relative",
        "step_sizes = relative",
        LANDSCAPE_ROW,
    ),
    mutation(
        "landscape-eval-mode",
        "the line search measures the evaluation-mode function",
        "bn_smooth/probes.py",
        "loss_fn = train.step_loss_fn(context.task, state, data, section.mode)\n"
        "        res = landscape",
        'loss_fn = train.step_loss_fn(context.task, state, data, "running")\n'
        "        res = landscape",
        LANDSCAPE_ROW,
    ),
    mutation(
        "landscape-next-step",
        "the line search measures the next step's loss",
        "bn_smooth/probes.py",
        "loss_fn = train.step_loss_fn(context.task, state, data, section.mode)\n"
        "        res = landscape",
        "loss_fn = train.step_loss_fn(context.task, state.replace(step=state.step + 1), "
        "data, section.mode)\n        res = landscape",
        LANDSCAPE_ROW,
    ),
    mutation(
        "curvature-eval-mode",
        "the curvature probe's Hessian is the evaluation mode's",
        "bn_smooth/curvature_probes.py",
        "loss_fn = train.step_loss_fn(context.task, state, data, section.mode)\n"
        '        key = jax.random.fold_in(state.stream("probe"), state.step)\n'
        "        top =",
        'loss_fn = train.step_loss_fn(context.task, state, data, "running")\n'
        '        key = jax.random.fold_in(state.stream("probe"), state.step)\n'
        "        top =",
        CURVATURE_ROW,
    ),
    mutation(
        "curvature-step-0-noise",
        "the curvature probe uses step 0's noise sample",
        "bn_smooth/curvature_probes.py",
        "loss_fn = train.step_loss_fn(context.task, state, data, section.mode)\n"
        '        key = jax.random.fold_in(state.stream("probe"), state.step)\n'
        "        top =",
        "loss_fn = train.step_loss_fn(context.task, state.replace(step=0), data, "
        "section.mode)\n"
        '        key = jax.random.fold_in(state.stream("probe"), state.step)\n'
        "        top =",
        CURVATURE_ROW,
    ),
    mutation(
        "line-search-uphill",
        "the line search steps up the gradient",
        "bn_smooth/landscape.py",
        "optax.tree.add_scale(params, -eta, d)",
        "optax.tree.add_scale(params, eta, d)",
        "tests/test_landscape.py",
    ),
    mutation(
        "line-search-grad-norm",
        "the gradient distance is ||G_k||, not ||G_k - g||",
        "bn_smooth/landscape.py",
        "optax.tree.norm(optax.tree.sub(grad, g))",
        "optax.tree.norm(grad)",
        "tests/test_landscape.py",
    ),
    mutation(
        "ics-mix-unrolled",
        "ICS mixes update layer i itself too (unrolled layers)",
        "bn_smooth/ics.py",
        "params_after[k] if index[k] < i else before",
        "params_after[k] if index[k] <= i else before",
        "tests/test_ics.py",
    ),
    mutation(
        "ics-mix-where",
        "ICS mixes update layer i itself too (mapped layers)",
        "bn_smooth/ics.py",
        "jnp.where(index[k] < i, a, b)",
        "jnp.where(index[k] <= i, a, b)",
        "tests/test_ics.py",
    ),
    # Noisy BatchNorm during training
    mutation(
        "noise-reused",
        "training reuses one noise sample at every step",
        "bn_smooth/train.py",
        'return jax.random.fold_in(self.stream("noise"), self.step)',
        'return self.stream("noise")',
        FRESH_NOISE,
    ),
    mutation(
        "noise-n-sigma",
        "Algorithm 1 with n_sigma = 1.4",
        "bn_smooth/norms.py",
        "n_sigma: float = 1.25",
        "n_sigma: float = 1.4",
        NORMS,
    ),
    mutation(
        "noise-r-mu",
        "Algorithm 1 with r_mu = 0.2",
        "bn_smooth/norms.py",
        "r_mu: float = 0.1",
        "r_mu: float = 0.2",
        NORMS,
    ),
    mutation(
        "noise-r-sigma",
        "Algorithm 1 with r_sigma = 0.15",
        "bn_smooth/norms.py",
        "r_sigma: float = 0.1",
        "r_sigma: float = 0.15",
        NORMS,
    ),
    mutation(
        "noise-pair-dependent",
        "the shift and scale noise of an element drawn from the same 16 bits",
        "bn_smooth/norms.py",
        "low = ((bits & 0xFFFF)",
        "low = ((bits >> 16)",
        NORMS,
    ),
    Mutation(
        "noise-before-affine",
        "the noise comes before gamma and beta",
        "bn_smooth/norms.py",
        (
            (
                "            y, mean, spread = self.standardize(x)\n",
                "            y, mean, spread = self.standardize(x)\n"
                "            y = self.perturb(y)\n",
            ),
            ("return self.perturb(y) if train else y", "return y"),
        ),
        (NORMS,),
    ),
    # Evaluation
    Mutation(
        "eval-training-split",
        "test loss and accuracy on the training split",
        "bn_smooth/train.py",
        (
            ("dynamic_slice_in_dim(data.test_inputs", "dynamic_slice_in_dim(data.train_inputs"),
            ("dynamic_slice_in_dim(data.test_targets", "dynamic_slice_in_dim(data.train_targets"),
        ),
        (EVALUATION,),
    ),
    mutation(
        "eval-batch-statistics",
        "evaluation with the test batch's statistics",
        "bn_smooth/train.py",
        "outputs, _ = apply_evaluation_mode(task, params, batch_stats, data.prepare(x))",
        "outputs, _ = apply_training_mode(task, params, batch_stats, data.prepare(x), "
        "jax.random.key(0))",
        EVALUATION,
    ),
    # The model and the objective
    Mutation(
        "relu-before-norm",
        "the ReLU comes before the normalization",
        "bn_smooth/models.py",
        (
            (
                "x = norm(x, train=train)",
                "x = norm(nn.relu(x) if self.relu else x, train=train)",
            ),
            ("        if self.relu:\n            x = nn.relu(x)\n", ""),
        ),
        (FORWARD,),
    ),
    mutation(
        "dln-mean-loss",
        "the DLN's loss is a mean, not the paper's sum",
        "bn_smooth/tasks.py",
        "return jnp.sum(jnp.square(outputs - targets)), {}",
        "return jnp.mean(jnp.square(outputs - targets)), {}",
        DLN_LOSS,
    ),
    mutation(
        "vgg-he-init",
        "the blocks' linear maps start from He's initialization",
        "bn_smooth/models.py",
        "self.features, use_bias=use_bias, kernel_init=glorot,",
        "self.features, use_bias=use_bias, kernel_init=nn.initializers.he_uniform(),",
        INIT,
    ),
    mutation(
        "summed-cross-entropy",
        "the cross-entropy summed over the batch",
        "bn_smooth/tasks.py",
        "(logits, labels).mean()",
        "(logits, labels).sum()",
        FORWARD,
    ),
    # The lp norms (the test that could not fail now calls the library)
    mutation(
        "lp-after-centering",
        "the lp norms measure s_p after centering by default",
        "bn_smooth/norms.py",
        "center_norm: bool = False",
        "center_norm: bool = True",
        NORMS,
    ),
    # BatchNorm's statistics and epsilon
    mutation(
        "bn-eps-outside-sqrt",
        "BatchNorm divides by sqrt(var) + eps",
        "bn_smooth/norms.py",
        "return (x - mean) / jnp.sqrt(var + epsilon), mean, var",
        "return (x - mean) / (jnp.sqrt(var) + epsilon), mean, var",
        NORMS,
    ),
    mutation(
        "bn-eps-value",
        "BatchNorm's epsilon 1e-3",
        "bn_smooth/norms.py",
        "epsilon: float = 1e-5",
        "epsilon: float = 1e-3",
        NORMS,
    ),
    mutation(
        "bn-unbiased-var",
        "BatchNorm's variance with Bessel's correction",
        "bn_smooth/norms.py",
        "var = jnp.mean(jnp.square(x - mean), axes)  # biased",
        "var = jnp.var(x, axes, ddof=1)",
        NORMS,
    ),
    mutation(
        "bn-per-position",
        "convolutions normalized per position, not over H and W",
        "bn_smooth/norms.py",
        "return tuple(range(x.ndim - 1))",
        "return (0,)",
        NORMS,
    ),
    mutation(
        "bn-momentum-swapped",
        "the running averages keep 10% of the old value",
        "bn_smooth/norms.py",
        "ra_mean.value = m * ra_mean.value + (1 - m) * mean",
        "ra_mean.value = (1 - m) * ra_mean.value + m * mean",
        NORMS,
    ),
    mutation(
        "batchnorm-scale-ratio",
        "gamma_j read as the ratio of the standard deviations after and before the norm",
        "bn_smooth/summaries.py",
        "return sigma, out * np.sqrt(sigma**2 + eps) / sigma",
        "return sigma, out / sigma",
        "tests/test_results.py::test_batchnorm_scale_reads_gamma_and_sigma_off_the_probed_units",
    ),
    mutation(
        "precision-not-applied",
        "a run's programs multiply at the backend's default whatever config.precision says",
        "bn_smooth/precision.py",
        "        with jax.default_matmul_precision(precision):\n"
        "            return fn(*args, **kwargs)",
        "        return fn(*args, **kwargs)",
        "tests/test_precision.py",
    ),
    mutation(
        "probe-vectors-always-highest",
        "the probes' own inner products ask for HIGHEST under precision.probes=default",
        "bn_smooth/precision.py",
        "return None if jax.config.jax_default_matmul_precision is not None else HIGHEST",
        "return HIGHEST",
        "tests/test_precision.py",
    ),
    mutation(
        "evaluation-precision-ignored",
        "the evaluation multiplies at the backend's default",
        "bn_smooth/train.py",
        "    with jax.default_matmul_precision(task.precision):\n",
        "    with jax.default_matmul_precision(None):\n",
        "tests/test_precision.py",
    ),
]
