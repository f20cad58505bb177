"""Normalizations that never look at the other examples of a batch.

`ExampleNorm` standardizes each example with statistics over its own positions (H, W)
and the channels of a group: one group is layer normalization (Ba et al. 2016, over
every feature of an example), groups of `group_size` channels group normalization (Wu
and He 2018), groups of one channel instance normalization (Ulyanov et al. 2016), and
one uncentred group RMSNorm (Zhang and Sennrich 2019). Weight normalization (Salimans
and Kingma 2016) and weight standardization (Qiao et al. 2019) reparameterize the
kernel of the linear map before them instead: `kernel_transform` says how (the Block
applies it), and `linear_bias = False` moves the map's bias after the normalization,
so that the kernel alone is the scale-invariant group.

None keeps running averages: each is the same function in training and running mode.
All take the batch norms' keyword arguments (`momentum` is accepted and unused).
"""

import flax.linen as nn
import jax.numpy as jnp

from bn_smooth.errors import ConfigError

WEIGHT_STANDARDIZATION_EPSILON = 1e-5  # added to the kernel's std, as Qiao et al.'s code


def unit_kernel(kernel):
    """Each output unit's weights (the kernel's last axis) divided by their norm."""
    fan_in = tuple(range(kernel.ndim - 1))
    return kernel / jnp.sqrt(jnp.sum(jnp.square(kernel), fan_in, keepdims=True))


def standardized_kernel(kernel):
    """Each output unit's weights less their mean, over their std (biased) plus epsilon."""
    fan_in = tuple(range(kernel.ndim - 1))
    centred = kernel - jnp.mean(kernel, fan_in, keepdims=True)
    std = jnp.sqrt(jnp.mean(jnp.square(centred), fan_in, keepdims=True))
    return centred / (std + WEIGHT_STANDARDIZATION_EPSILON)


class Affine(nn.Module):
    """gamma * standardize(x) + beta per unit (the last axis); standardize: the identity."""

    momentum: float = 0.9  # unused: no running averages
    epsilon: float = 1e-5  # unused: nothing is divided by a statistic
    use_scale: bool = True
    use_bias: bool = True
    kernel_transform = None  # a function of the preceding linear map's kernel, or None
    linear_bias = True  # whether that map keeps its bias

    def standardize(self, x):
        return x

    @nn.compact
    def __call__(self, x, train: bool = True):
        del train  # the same function in both modes
        y = self.standardize(x)
        features = (x.shape[-1],)
        if self.use_scale:
            y = y * self.param("scale", nn.initializers.ones, features, jnp.float32)
        if self.use_bias:
            y = y + self.param("bias", nn.initializers.zeros, features, jnp.float32)
        return y


class WeightNorm(Affine):
    """w = g v / ||v|| per unit: the kernel v through `unit_kernel`, then g and the bias."""

    kernel_transform = staticmethod(unit_kernel)
    linear_bias = False


class ExampleNorm(Affine):
    """gamma * (x - mean) / sqrt(var + eps) + beta, the statistics of each example over its
    positions and the channels of its group: groups of min(group_size, C) channels (None:
    one group of all C). `center=False` divides by the root mean square instead."""

    group_size: int | None = None
    center: bool = True

    def standardize(self, x):
        channels = x.shape[-1]
        size = channels if self.group_size is None else min(self.group_size, channels)
        if channels % size:
            raise ConfigError(
                f"{channels} channels do not split into groups of {size}: set "
                "norm_kwargs.group_size to a divisor of every normalized layer's width"
            )
        if x.ndim == 2 and size == 1:
            raise ConfigError(
                "instance normalization of a dense layer divides each feature by itself: it "
                "needs a convolution's positions; use 'layer' or 'group' on dense networks"
            )
        groups = x.reshape(*x.shape[:-1], channels // size, size)
        axes = (*range(1, x.ndim - 1), x.ndim)  # the positions and the group's channels
        if self.center:
            groups = groups - jnp.mean(groups, axes, keepdims=True)
        var = jnp.mean(jnp.square(groups), axes, keepdims=True)
        return (groups / jnp.sqrt(var + self.epsilon)).reshape(x.shape)


class WeightStandardization(ExampleNorm):
    """Group normalization after a linear map whose kernel is standardized per unit."""

    group_size: int | None = 16
    kernel_transform = staticmethod(standardized_kernel)
    linear_bias = False
