"""The mutation check's mistakes in the batch-independent normalizations
(bn_smooth.example_norms), in how a Block applies a kernel reparameterization, and in the
normalizer comparison's verdict (bn_smooth/paper/norm_comparison.py)."""

from tests.mutation import mutation

NUMPY = "tests/test_example_norms.py::test_example_norm_matches_numpy_in_both_modes"
KERNEL = "tests/test_example_norms.py::test_kernel_norm_block_matches_numpy"
ALONE = "tests/test_example_norms.py::test_batch_independent_norm_ignores_the_batch_and_the_mode"
INVARIANT = (
    "tests/test_example_norms.py::"
    "test_scaling_a_normalized_layer_leaves_the_function_and_the_gradient_orthogonal"
)
GROUPS = "tests/test_example_norms.py::test_group_size_that_does_not_divide_the_width_names_the_fix"
CONFIRMED = (
    "tests/test_norm_comparison.py::"
    "test_confirmed_when_every_batch_independent_norm_trains_at_twice_the_standard_lr"
)
EACH_CHECK = "tests/test_norm_comparison.py::test_each_check_fails_alone"
ENTRY = "tests/test_norm_comparison.py::test_entry_reads_the_runs_numbers"
PAIRED = (
    "tests/test_norm_comparison.py::test_entry_pairs_the_networks_by_seed_when_a_run_is_missing"
)

MUTATIONS = [
    mutation(
        "example-norm-over-the-batch",
        "a per-example normalization takes its statistics over the batch axis too",
        "bn_smooth/example_norms.py",
        "axes = (*range(1, x.ndim - 1), x.ndim)  # the positions and the group's channels",
        "axes = (*range(0, x.ndim - 1), x.ndim)  # the positions and the group's channels",
        ALONE,
    ),
    mutation(
        "example-norm-positions-only",
        "each channel of a group is standardized alone (instance norm for every name)",
        "bn_smooth/example_norms.py",
        "axes = (*range(1, x.ndim - 1), x.ndim)  # the positions and the group's channels",
        "axes = (*range(1, x.ndim - 1),)  # the positions and the group's channels",
        NUMPY,
    ),
    mutation(
        "rms-norm-centred",
        "RMSNorm subtracts the mean, as LayerNorm",
        "bn_smooth/example_norms.py",
        "        if self.center:\n",
        "        if True:\n",
        NUMPY,
    ),
    mutation(
        "epsilon-outside-the-root",
        "the per-example norms divide by sqrt(var) + eps",
        "bn_smooth/example_norms.py",
        "return (groups / jnp.sqrt(var + self.epsilon)).reshape(x.shape)",
        "return (groups / (jnp.sqrt(var) + 1e-2)).reshape(x.shape)",
        NUMPY,
    ),
    mutation(
        "group-size-ignored-when-it-does-not-divide",
        "a group size that does not divide the width falls back to one group silently",
        "bn_smooth/example_norms.py",
        "        if channels % size:\n",
        "        if channels % size and False:\n",
        GROUPS,
    ),
    mutation(
        "weight-norm-by-the-whole-kernel",
        "weight normalization divides by the norm of the whole kernel, not each unit's",
        "bn_smooth/example_norms.py",
        "return kernel / jnp.sqrt(jnp.sum(jnp.square(kernel), fan_in, keepdims=True))",
        "return kernel / jnp.sqrt(jnp.sum(jnp.square(kernel)))",
        KERNEL,
    ),
    mutation(
        "weight-standardization-uncentred",
        "weight standardization divides by the std but keeps the kernel's mean",
        "bn_smooth/example_norms.py",
        "    return centred / (std + WEIGHT_STANDARDIZATION_EPSILON)",
        "    return kernel / (std + WEIGHT_STANDARDIZATION_EPSILON)",
        KERNEL,
    ),
    mutation(
        "kernel-transform-dropped",
        "the Block ignores the norm's kernel reparameterization",
        "bn_smooth/models.py",
        'kernel_transform = getattr(norm, "kernel_transform", None)',
        "kernel_transform = None",
        KERNEL,
    ),
    mutation(
        "linear-bias-kept-before-weight-norm",
        "the linear map keeps a bias before weight normalization (its kernel alone is not "
        "the scale-invariant group)",
        "bn_smooth/models.py",
        'use_bias = self.use_bias and getattr(norm, "linear_bias", True)',
        "use_bias = self.use_bias",
        INVARIANT,
        KERNEL,
    ),
    mutation(
        "comparison-counts-batchnorm",
        "the comparison's checks count BatchNorm among the normalizers without batch statistics",
        "bn_smooth/paper/norm_comparison.py",
        'others = {n: e for n, e in norms.items() if e["batch_independent"] and n != "none"}',
        'others = {n: e for n, e in norms.items() if n != "none"}',
        CONFIRMED,
    ),
    mutation(
        "comparison-any-wider",
        "the primary check holds when any one normalizer trains at a larger lr",
        "bn_smooth/paper/norm_comparison.py",
        "all(wider(e) for e in others.values()),",
        "any(wider(e) for e in others.values()),",
        EACH_CHECK,
    ),
    mutation(
        "comparison-ratio-inverted",
        "the early gradient change is taken as it / standard",
        "bn_smooth/paper/norm_comparison.py",
        '"gradient_change": [summaries.early_step_ratio(a, b) for a, b in pairs],',
        '"gradient_change": [summaries.early_step_ratio(b, a) for a, b in pairs],',
        ENTRY,
    ),
    mutation(
        "comparison-pairs-by-position",
        "the comparison pairs the standard network's runs with a normalizer's by position, "
        "not by seed",
        "bn_smooth/paper/norm_comparison.py",
        "pairs = [(standard[k], run) for k, run in by_seed.items() if k in standard]",
        "pairs = list(zip(standard.values(), seeds, strict=False))",
        PAIRED,
    ),
]
