"""Normalization layers, chosen by name through `get_norm`.

Every layer is called as `module(x, train=...)` on `(N, C)` or `(N, H, W, C)`
inputs. The batch norms here (`batch`, `noisy_batch`, the lp norms) normalize each
unit (the last axis) with statistics taken over all other axes: in training mode
they use the batch statistics and update running averages in the 'batch_stats'
collection; in evaluation mode they use those running averages. `noisy_batch`
draws its noise from the 'noise' RNG stream. The others (bn_smooth.example_norms)
normalize each example alone and are one function in both modes.
"""

import functools
import math
from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

from bn_smooth import example_norms
from bn_smooth.errors import ConfigError


def _batch_axes(x):
    """All axes but the unit axis: the batch and, for convolutions, H and W."""
    return tuple(range(x.ndim - 1))


class Identity(nn.Module):
    """The `none` normalization: returns its input unchanged."""

    @nn.compact
    def __call__(self, x, train: bool = True):
        del train
        return x


class _Normalization(nn.Module):
    """y = gamma * (x - mean) / divisor(spread) + beta, per unit.

    Subclasses say what the spread statistic is (`statistics`, or the whole
    training-mode `standardize`) and how it becomes a divisor; the running
    averages, the train/eval switch and the affine part live here.
    """

    momentum: float = 0.9
    epsilon: float = 1e-5
    use_scale: bool = True
    use_bias: bool = True
    spread_name = "spread"

    def statistics(self, x):
        raise NotImplementedError

    def divisor(self, spread):
        raise NotImplementedError

    def standardize(self, x):
        """Training mode: (x - mean) / divisor(spread) with the batch's statistics, and them."""
        mean, spread = self.statistics(x)
        return (x - mean) / self.divisor(spread), mean, spread

    def perturb(self, y):
        """Training-mode hook on the output; the identity but for noisy_batch."""
        return y

    @nn.compact
    def __call__(self, x, train: bool = True):
        features = x.shape[-1]
        shape = (features,)
        ra_mean = self.variable("batch_stats", "mean", jnp.zeros, shape, jnp.float32)
        ra_spread = self.variable("batch_stats", self.spread_name, jnp.ones, shape, jnp.float32)
        if train:
            y, mean, spread = self.standardize(x)
            # As flax's BatchNorm: initialization does not count as a training step.
            if not self.is_initializing():
                m = self.momentum
                ra_mean.value = m * ra_mean.value + (1 - m) * mean
                ra_spread.value = m * ra_spread.value + (1 - m) * spread
        else:
            y = (x - ra_mean.value) / self.divisor(ra_spread.value)
        if self.use_scale:
            y = y * self.param("scale", nn.initializers.ones, (features,), jnp.float32)
        if self.use_bias:
            y = y + self.param("bias", nn.initializers.zeros, (features,), jnp.float32)
        return self.perturb(y) if train else y


class BatchNorm(_Normalization):
    """Batch normalization (Ioffe & Szegedy 2015), biased batch variance."""

    spread_name = "var"

    def divisor(self, spread):
        return jnp.sqrt(spread + self.epsilon)

    def standardize(self, x):  # in place of statistics(), for its written-out derivative
        return batch_standardize(x, self.epsilon)


@functools.partial(jax.custom_jvp, nondiff_argnums=(1,))
def batch_standardize(x, epsilon):
    """(xhat, mean, var): xhat = (x - mean) / sqrt(var + epsilon), per unit (last axis).

    The derivative is written out (below) for speed: its transpose, the
    backward pass, makes two reductions over x and one elementwise pass, where
    autodiff of the formula makes three reductions and more passes (the gain
    on a VGG step is in docs/speed.md). A custom JVP, not a VJP,
    keeps forward mode and higher derivatives working.
    """
    axes = _batch_axes(x)
    mean = jnp.mean(x, axes)
    var = jnp.mean(jnp.square(x - mean), axes)  # biased
    return (x - mean) / jnp.sqrt(var + epsilon), mean, var


@batch_standardize.defjvp
def _batch_standardize_jvp(epsilon, primals, tangents):
    (x,), (dx,) = primals, tangents
    xhat, mean, var = batch_standardize(x, epsilon)
    axes = _batch_axes(x)
    std = jnp.sqrt(var + epsilon)
    d_mean = jnp.mean(dx, axes)
    d_proj = jnp.mean(xhat * dx, axes)  # d_var / (2 std)
    d_xhat = (dx - d_mean - xhat * d_proj) / std
    return (xhat, mean, var), (d_xhat, d_mean, 2 * std * d_proj)


class NoisyBatchNorm(BatchNorm):
    """BatchNorm followed by Algorithm 1 of appendix A.2.1 in training mode.

    Per unit j: mu_t ~ U(-n_mu, n_mu), sigma_t ~ U(1, n_sigma); per sample i
    (and position, for convolutions) m ~ U(mu_t - r_mu, mu_t + r_mu) and
    s ~ N(sigma_t, r_sigma); the output a becomes s * a + m. The noise acts on
    the layer's output (after gamma and beta), i.e. on what the next layer sees.
    """

    n_mu: float = 0.5
    n_sigma: float = 1.25
    r_mu: float = 0.1
    r_sigma: float = 0.1

    def perturb(self, a):
        k_mu, k_sigma, k_each = jax.random.split(self.make_rng("noise"), 3)
        units = (a.shape[-1],)
        mu = jax.random.uniform(k_mu, units, minval=-self.n_mu, maxval=self.n_mu)
        sigma = jax.random.uniform(k_sigma, units, minval=1.0, maxval=self.n_sigma)
        u_m, u_s = uniform_pair(k_each, a.shape)
        m = mu + self.r_mu * (2 * u_m - 1)
        s = sigma + self.r_sigma * math.sqrt(2) * jax.lax.erf_inv(2 * u_s - 1)  # N(0, 1) by its CDF
        return s * a + m


def uniform_pair(key, shape):
    """Two independent U(0, 1) arrays of `shape`, at 16-bit resolution, from one 32-bit
    draw per element: its high and low halves, each the midpoint of one of 2^16 equal
    bins (so never 0 or 1, and a normal taken through its inverse CDF stays within 4.33
    standard deviations). The random bits of noisy BatchNorm's per-sample noise cost
    more than the rest of a BatchNorm VGG step; one draw for both cuts the noise's share
    of a step by half (docs/speed.md)."""
    bits = jax.random.bits(key, shape, jnp.uint32)
    bin_width = 2.0**-16
    high = ((bits >> 16).astype(jnp.float32) + 0.5) * bin_width
    low = ((bits & 0xFFFF).astype(jnp.float32) + 0.5) * bin_width
    return high, low


class LpNorm(_Normalization):
    """Section 3.3: subtract the batch mean, divide by the average lp norm.

    s_p = (mean |x|^p)^(1/p) for finite p and max |x| for p = inf, measured
    BEFORE the mean is subtracted (the paper's wording), or after it with
    `center_norm=True`. y = gamma * (x - mean) / (s_p + eps) + beta.
    """

    p: float = 2.0
    center_norm: bool = False
    spread_name = "norm"

    def statistics(self, x):
        axes = _batch_axes(x)
        mean = jnp.mean(x, axes)
        magnitude = jnp.abs(x - mean) if self.center_norm else jnp.abs(x)
        if self.p == float("inf"):
            return mean, jnp.max(magnitude, axes)
        return mean, jnp.mean(magnitude**self.p, axes) ** (1.0 / self.p)

    def divisor(self, spread):
        return spread + self.epsilon


_NORMS: dict[str, Callable[..., nn.Module]] = {
    "none": Identity,
    "batch": BatchNorm,
    "noisy_batch": NoisyBatchNorm,
    "l1": functools.partial(LpNorm, p=1.0),
    "l2": functools.partial(LpNorm, p=2.0),
    "linf": functools.partial(LpNorm, p=float("inf")),
    "layer": example_norms.ExampleNorm,
    "group": functools.partial(example_norms.ExampleNorm, group_size=16),
    "instance": functools.partial(example_norms.ExampleNorm, group_size=1),
    "rms": functools.partial(example_norms.ExampleNorm, center=False),
    "weight_norm": example_norms.WeightNorm,
    "weight_standardization": example_norms.WeightStandardization,
}

NAMES = tuple(_NORMS)
LABELS = {  # as the paper's legends, for the figures
    "none": "Standard",
    "batch": "Standard + BatchNorm",
    "noisy_batch": 'Standard + "Noisy" BatchNorm',
    "l1": "Standard + L1 Norm",
    "l2": "Standard + L2 Norm",
    "linf": "Standard + L∞ Norm",
    "layer": "Standard + LayerNorm",
    "group": "Standard + GroupNorm",
    "instance": "Standard + InstanceNorm",
    "rms": "Standard + RMSNorm",
    "weight_norm": "Standard + Weight Norm",
    "weight_standardization": "Standard + Weight Std. + GroupNorm",
}
# The norms whose output for an example depends on that example alone: one function in
# training and running mode, and no running averages.
BATCH_INDEPENDENT = frozenset(NAMES) - {"batch", "noisy_batch", "l1", "l2", "linf"}
# The norms after which the preceding linear map's parameters are scale-invariant (each
# divides by a statistic of its input that scales with it, or reparameterizes the kernel
# by its direction; exactly so at epsilon 0).
SCALE_INVARIANT = frozenset(NAMES) - {"none"}


def get_norm(name: str, **kwargs) -> Callable[..., nn.Module]:
    """A module constructor for the normalization called `name`.

    kwargs are the layer's fields (momentum, epsilon, use_scale, use_bias, the
    noise constants of noisy_batch, center_norm of the lp norms, group_size of
    group and weight_standardization). 'none' accepts and ignores them, and the
    batch-independent norms ignore momentum, so one config can switch norms freely.
    """
    if name not in _NORMS:
        raise ConfigError(f"unknown normalization {name!r}; valid names are {', '.join(NAMES)}")
    if name == "none":
        return Identity
    return functools.partial(_NORMS[name], **kwargs)
