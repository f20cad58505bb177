"""Distributions of chosen activations over the batch (figures 1c, 2, 7, 8, 14).

Each model layer records its input to the normalization ('pre_norm') and the
normalization's output ('post_norm') with `sow`. A few units per layer are
chosen once from the seed; at a probed step, each unit's distribution over
the batch (and H, W for convolutions) is summarized by its mean, standard
deviation and percentiles.
"""

import jax
import jax.numpy as jnp

from bn_smooth import models

SITES = ("pre_norm", "post_norm")


def layer_widths(params) -> dict[str, int]:
    """Output units of every layer but the head, read from its kernel."""
    widths = {}
    for name in models.layer_order(params):
        kernels = [p for p in jax.tree.leaves(params[name]) if p.ndim >= 2]
        if name.startswith("layer_") and kernels:
            widths[name] = kernels[0].shape[-1]
    return widths


def choose_units(key, params, layers=None, num_units: int = 4) -> dict[str, jax.Array]:
    """For each layer (default: all), `num_units` distinct random unit indices."""
    widths = layer_widths(params)
    layers = list(layers) if layers else list(widths)
    units = {}
    for i, name in enumerate(layers):
        n = min(num_units, widths[name])
        units[name] = jnp.sort(
            jax.random.choice(jax.random.fold_in(key, i), widths[name], (n,), replace=False)
        )
    return units


def summarize(x, units, percentiles):
    """Per chosen unit: mean, std and percentiles over all other axes."""
    values = x[..., units].reshape(-1, len(units))
    return {
        "mean": values.mean(0),
        "std": values.std(0),
        "percentiles": jnp.percentile(values, jnp.asarray(percentiles), axis=0).T,
    }


def activation_stats(intermediates, units, percentiles=(5, 25, 50, 75, 95)) -> dict:
    """{layer: {site: summary}} from a model's 'intermediates' collection."""
    return {
        name: {site: summarize(intermediates[name][site][0], idx, percentiles) for site in SITES}
        for name, idx in units.items()
    }
