"""The paper's measurements, run during training on the state of step t.

Each probe rebuilds the loss of step t with `train.step_loss_fn`: the batch
of step t, batch statistics, the noise sample of step t, and running
averages left untouched. Each is jitted once per run; the public methods
return plain dicts for metrics.jsonl.
"""

import jax
import jax.numpy as jnp
import numpy as np

from bn_smooth import activations, ics, landscape, models, train


def step_size_grid(config) -> np.ndarray:
    """The line search's step sizes: [eta_min, eta_max] x lr, linear or log spaced."""
    p = config.probe
    space = np.geomspace if p.spacing == "log" else np.linspace
    return config.lr * space(p.eta_min, p.eta_max, p.num_etas)


class Probes:
    """Jitted landscape, ICS and activation probes for one task and optimizer."""

    def __init__(self, task, tx, config, params):
        self.task, self.tx = task, tx
        p = config.probe
        self.landscape_every, self.ics_every = p.every, p.ics_every
        self.activations_every = p.get("activations_every", p.every)
        self.step_sizes = jnp.asarray(step_size_grid(config), jnp.float32)
        self.strategy = p.get("strategy") or None
        self.percentiles = tuple(p.percentiles)
        self.layers = models.layer_order(params)
        key = jax.random.fold_in(jax.random.key(config.seed), train.STREAMS["probe"])
        self.units = activations.choose_units(key, params, p.get("activation_layers"),
                                              p.num_units)
        self._landscape_jit = jax.jit(self._landscape)
        self._ics_jit = jax.jit(self._ics)
        self._activations_jit = jax.jit(self._activations)

    # Jitted bodies: arrays in, arrays out.

    def _landscape(self, state, data):
        loss_fn = train.step_loss_fn(self.task, state, data)
        res = landscape.gradient_line_search(loss_fn, state.params, self.step_sizes,
                                             strategy=self.strategy)
        return {**res._asdict(), "step_sizes": self.step_sizes,
                "loss_min": res.losses.min(), "loss_max": res.losses.max(),
                "grad_dist_min": res.grad_dists.min(), "grad_dist_max": res.grad_dists.max()}

    def _ics(self, state, data):
        # The actual update of this step: SGD on its batch, or GD for the DLN.
        after = train.train_step(self.task, self.tx, state, data)[0].params
        loss_fn = train.step_loss_fn(self.task, state, data)
        out = ics.internal_covariate_shift(loss_fn, state.params, after, self.layers,
                                           strategy=self.strategy)
        return (jnp.stack([out[k].l2 for k in self.layers]),
                jnp.stack([out[k].cosine for k in self.layers]))

    def _activations(self, state, data):
        x, _ = self.task.batch(data, state.stream("data"), state.step)
        _, collections = train.apply_training_mode(
            self.task, state.params, state.batch_stats, x, state.noise_key(),
            collections=("batch_stats", "intermediates"))
        return activations.activation_stats(collections["intermediates"], self.units,
                                            self.percentiles)

    # Public: host values, ready for metrics.jsonl.

    def landscape(self, state, data) -> dict:
        return jax.device_get(self._landscape_jit(state, data))

    def ics(self, state, data) -> dict:
        l2, cosine = jax.device_get(self._ics_jit(state, data))
        return {"layers": self.layers, "l2": l2, "cosine": cosine}

    def activations(self, state, data) -> dict:
        stats = jax.device_get(self._activations_jit(state, data))
        return {"layers": {name: {"units": np.asarray(self.units[name]), **sites}
                           for name, sites in stats.items()}}

    def due(self, step: int) -> list[str]:
        """The probe kinds that run at `step`."""
        schedule = {"landscape": self.landscape_every, "ics": self.ics_every,
                    "activations": self.activations_every}
        return [kind for kind, every in schedule.items() if every and step % every == 0]

    def run(self, kind: str, state, data) -> dict:
        return getattr(self, kind)(state, data)
