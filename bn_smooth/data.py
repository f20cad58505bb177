"""The data a task trains on: a Dataset of device arrays and its batches, and the deep
linear network's Gaussian regression. CIFAR-10's files are `bn_smooth.cifar10`'s job."""

import jax
import jax.numpy as jnp
from flax import struct

# How stored pixels become model inputs: per channel with the training set's mean and std
# (the default), or pixels / 255 (in [0, 1], not centered).
INPUTS = ("standardized", "unit")


def standardize(images, mean, std):
    return (jnp.asarray(images, jnp.float32) - mean) / std


# ---------------------------------------------------------------------------
# Gaussian regression for the deep linear network


def gaussian_regression(seed: int, num_samples: int = 1000, dim: int = 10):
    """Inputs x ~ N(0, I) and targets A x with A of i.i.d. N(0, 1) entries."""
    key_x, key_a = jax.random.split(jax.random.key(seed))
    x = jax.random.normal(key_x, (num_samples, dim))
    a = jax.random.normal(key_a, (dim, dim))
    return x, x @ a.T


# ---------------------------------------------------------------------------
# The dataset a task trains on, and its batches drawn on the device


class Dataset(struct.PyTreeNode):
    """A training set, an optional test set and an optional input standardization.

    A pytree of arrays, passed to jitted functions as an argument (never closed
    over, so that it is not baked into programs as constants).
    """

    train_inputs: jax.Array
    train_targets: jax.Array
    test_inputs: jax.Array | None = None  # None: no test set (the DLN)
    test_targets: jax.Array | None = None
    mean: jax.Array | None = None  # per-channel standardization; None: inputs as stored
    std: jax.Array | None = None

    @property
    def num_train(self) -> int:
        return self.train_inputs.shape[0]

    @property
    def num_test(self) -> int:
        return 0 if self.test_inputs is None else self.test_inputs.shape[0]

    def prepare(self, x):
        """Stored inputs to model inputs (CIFAR: uint8 -> standardized float)."""
        return x if self.mean is None else standardize(x, self.mean, self.std)


def epoch_permutation(key, epoch, num_examples: int):
    """The order of the examples in `epoch`, a pure function of (key, epoch)."""
    return jax.random.permutation(jax.random.fold_in(key, epoch), num_examples)


def batch_indices(step, num_examples: int, batch_size: int, perm):
    """Indices of the batch at `step`: its slice of `perm`, the order of its epoch.

    The last partial batch of an epoch is dropped.
    """
    position = step % (num_examples // batch_size)
    return jax.lax.dynamic_slice_in_dim(perm, position * batch_size, batch_size)


def steps_per_epoch(num_examples: int, batch_size: int | None) -> int:
    return 1 if batch_size is None else num_examples // batch_size
