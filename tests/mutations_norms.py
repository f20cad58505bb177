"""The mutation check's mistakes in the batch-independent normalizations
(bn_smooth.example_norms) and in how a Block applies a kernel reparameterization."""

from tests.mutation import mutation

NUMPY = "tests/test_example_norms.py::test_example_norm_matches_numpy_in_both_modes"
KERNEL = "tests/test_example_norms.py::test_kernel_norm_block_matches_numpy"
ALONE = "tests/test_example_norms.py::test_batch_independent_norm_ignores_the_batch_and_the_mode"
INVARIANT = (
    "tests/test_example_norms.py::"
    "test_scaling_a_normalized_layer_leaves_the_function_and_the_gradient_orthogonal"
)
GROUPS = "tests/test_example_norms.py::test_group_size_that_does_not_divide_the_width_names_the_fix"

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
]
