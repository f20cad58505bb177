"""Distributions of chosen activations over the batch (figures 1c, 2, 7, 8, 14).

Each model layer records its input to the normalization ('pre_norm') and the
normalization's output ('post_norm') with `sow`. A few units per layer are
chosen once from the seed; at a probed step, each unit's values over the batch
(and H, W for convolutions) are gathered on the device (`chosen_values`) and
summarized on the host by their mean, standard deviation and percentiles
(`summarize`): NumPy's percentile (a partition) took a tenth of the time of
XLA:CPU's sort for a VGG layer's 131,072 values, and the sort made the probe
cost 7.6 training steps instead of 2.4.
"""

import jax
import jax.numpy as jnp
import numpy as np

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


def chosen_values(intermediates, units) -> dict:
    """{layer: {site: the chosen units' values, (batch and positions, unit)}} from a
    model's 'intermediates' collection; jit-able."""
    return {
        name: {site: intermediates[name][site][0][..., idx].reshape(-1, len(idx)) for site in SITES}
        for name, idx in units.items()
    }


def summarize(values, percentiles=(5, 25, 50, 75, 95)) -> dict:
    """Per unit (the last axis of `values`, on the host): mean, std and percentiles over
    all other axes."""
    values = np.asarray(values)
    values = values.reshape(-1, values.shape[-1])
    return {
        "mean": values.mean(0),
        "std": values.std(0),
        "percentiles": np.percentile(values, percentiles, axis=0).T.astype(values.dtype),
    }


def activation_stats(values, percentiles=(5, 25, 50, 75, 95)) -> dict:
    """{layer: {site: summary}} from `chosen_values`'s output, on the host."""
    return {
        name: {site: summarize(v, percentiles) for site, v in sites.items()}
        for name, sites in values.items()
    }
