"""The measurements made during training: one registry of probe kinds.

A probe kind is three things and nothing else:

1. a build function `build(context, section) -> Probe`, where `section` is
   the kind's config section and `Probe.measure(state, data)` returns arrays;
2. its registry entry, `@register("name")` on that function;
3. its config section `config.probe.<name>`, with `every` (0: off) and the
   kind's own fields; optionally `early_every` and `early_until`, to probe more
   densely early in training (every `early_every` steps before step
   `early_until`, every `every` steps from there on).

The loop runs every kind that `schedule(config)` names, at the steps it says;
the suite reads the same schedule. Each probe rebuilds the loss of step t with
`train.step_loss_fn`: the batch of step t, batch statistics, the noise sample
of step t, and running averages left untouched (DESIGN.md, "Measurement
modes"); a section's `mode: running` measures the evaluation-mode function
instead, to show what eval-mode tools see.
"""

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from bn_smooth import activations, curvature, ics, landscape, models, precision, sharding, train
from bn_smooth.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class Context:
    """What every probe of a run may read: its task, optimizer, config and initial params."""

    task: Any
    tx: Any
    config: Any
    params: Any

    @property
    def layers(self) -> list[str]:
        return models.layer_order(self.params)


@dataclasses.dataclass(frozen=True)
class Probe:
    """`measure`: (state, data) -> a pytree of arrays, jit-able. `to_row`: its host
    values -> the values of the kind's metrics.jsonl row."""

    measure: Callable
    to_row: Callable = dict


REGISTRY: dict[str, Callable[[Context, Any], Probe]] = {}


def register(kind: str):
    """Register `build(context, section) -> Probe` as the probe kind `kind`."""

    def add(build):
        if kind in REGISTRY:
            raise ValueError(f"probe kind {kind!r} is already registered")
        REGISTRY[kind] = build
        return build

    return add


@dataclasses.dataclass(frozen=True)
class Every:
    """When a probe kind runs: every `every` steps (0: never), except before step
    `early_until`, where it runs every `early_every` steps instead (if not 0)."""

    every: int
    early_every: int = 0
    early_until: int = 0

    def _early(self, step: int) -> bool:
        return bool(self.early_every) and step < self.early_until

    def due(self, step: int) -> bool:
        every = self.early_every if self._early(step) else self.every
        return bool(every) and step % every == 0

    def next_after(self, step: int) -> float:
        """The first step after `step` at which the kind runs (inf: none)."""
        candidates = []
        if self._early(step):
            early = (step // self.early_every + 1) * self.early_every
            if early < self.early_until:
                candidates.append(early)
        if self.every:
            start = max(step + 1, self.early_until if self.early_every else 0)
            candidates.append(-(-start // self.every) * self.every)
        return min(candidates, default=math.inf)


def schedule(config) -> dict[str, Every]:
    """{kind: Every} of the probes `config` turns on, in registry order."""
    sections = config.get("probe") or {}
    unknown = sorted(set(sections) - set(REGISTRY))
    if unknown:
        raise ConfigError(
            f"unknown probe kind(s) {', '.join(unknown)} in config.probe; "
            f"registered kinds: {', '.join(REGISTRY)}"
        )
    out = {}
    for kind in REGISTRY:
        section = sections.get(kind) or {}
        every = Every(
            int(section.get("every", 0)),
            int(section.get("early_every", 0)),
            int(section.get("early_until", 0)),
        )
        if every.every or every.early_every:
            out[kind] = every
    return out


def turn_off(config, kind: str):
    """Never run probe `kind` (its `every` and any `early_every` set to 0)."""
    section = config.probe[kind]
    section.every = 0
    if "early_every" in section:
        section.early_every = 0


def build(kind: str, task, tx, config, params) -> Probe:
    """The compiled probe `kind` for a run: `measure` jitted once, for every probed step."""
    if kind not in REGISTRY:
        raise ConfigError(f"unknown probe kind {kind!r}; registered kinds: {', '.join(REGISTRY)}")
    probe = REGISTRY[kind](Context(task, tx, config, params), config.probe[kind])
    # Every value on every device: each process of a multi-process job reads them whole.
    out = sharding.replicated(task.mesh) if task.mesh is not None else None
    measure = precision.traced_at(precision.of(config, "probes"), probe.measure)
    return dataclasses.replace(probe, measure=task.jit(measure, out_shardings=out))


class Probes:
    """The scheduled probes of one run, each compiled once."""

    def __init__(self, task, tx, config, params):
        self.every = schedule(config)
        self.probes = {kind: build(kind, task, tx, config, params) for kind in self.every}

    def due(self, step: int) -> list[str]:
        """The probe kinds that run at `step`."""
        return [kind for kind, every in self.every.items() if every.due(step)]

    def run(self, kind: str, state, data) -> dict:
        """The row values of probe `kind` at `state`'s step, as host values."""
        probe = self.probes[kind]
        return probe.to_row(jax.device_get(probe.measure(state, data)))


# The line search and the curvature again on the evaluation-mode function, in the same run
# (their sections say mode 'running'): what eval-mode tools read, along the trajectory the
# training objective's probes see, without training it a second time (claim C7).
RUNNING_TWINS = {
    "landscape_running": "landscape",
    "curvature_running": "curvature",
    "spectrum_running": "spectrum",
}


# ---------------------------------------------------------------------------
# The paper's probes


def step_size_grid(section, lr: float) -> np.ndarray:
    """The line search's step sizes: [eta_min, eta_max] x lr, linear or log spaced."""
    space = np.geomspace if section.spacing == "log" else np.linspace
    return lr * space(section.eta_min, section.eta_max, section.num_etas)


@register("landscape")
def landscape_probe(context: Context, section) -> Probe:
    """The line search along the training gradient (figures 4, 9, 10, 11, 12), at step
    sizes relative to the learning rate in the state (in a sweep, each model's own), with
    the curvature along the gradient at its start (one HVP): the quadratic model's
    prediction of the gradient's change, eta ||g|| ||H g_hat|| (bn_smooth.mechanism)."""
    relative = jnp.asarray(step_size_grid(section, 1.0), jnp.float32)

    def measure(state, data):
        step_sizes = train.learning_rate(state) * relative
        loss_fn = train.step_loss_fn(context.task, state, data, section.mode)
        res = landscape.gradient_line_search(
            loss_fn, state.params, step_sizes, strategy=section.strategy
        )
        along = curvature.gradient_curvature(loss_fn, state.params)
        return {
            **res._asdict(),
            "hg_norm": along.hg_norm,
            "rayleigh": along.rayleigh,
            "step_sizes": step_sizes,
            "loss_min": res.losses.min(),
            "loss_max": res.losses.max(),
            "grad_dist_min": res.grad_dists.min(),
            "grad_dist_max": res.grad_dists.max(),
        }

    return Probe(measure)


@register("ics")
def ics_probe(context: Context, section) -> Probe:
    """Definition 2.1 per layer, with the actual update of the step (figures 3, 6)."""
    layers = context.layers

    def measure(state, data):
        # The actual update of this step: SGD on its batch, or GD for the DLN.
        after = train.train_step(context.task, context.tx, state, data)[0].params
        loss_fn = train.step_loss_fn(context.task, state, data, section.mode)
        out = ics.internal_covariate_shift(
            loss_fn, state.params, after, layers, strategy=section.strategy
        )
        return {
            "l2": jnp.stack([out[k].l2 for k in layers]),
            "cosine": jnp.stack([out[k].cosine for k in layers]),
        }

    return Probe(measure, to_row=lambda out: {"layers": layers, **out})


@register("activations")
def activations_probe(context: Context, section) -> Probe:
    """Distributions of a few random units per layer (figures 1c, 2, 7, 8, 14); with
    `pair`, the same one training step later, under `next` (figure 7 compares the
    distributions of successive steps)."""
    key = jax.random.fold_in(jax.random.key(context.config.seed), train.STREAMS["probe"])
    units = activations.choose_units(key, context.params, section.layers, section.num_units)
    percentiles = tuple(section.percentiles)

    def at(state, data):
        x, _ = train.batch_at(context.task, data, state)
        _, collections = train.apply_in_mode(
            context.task, state, state.params, x, section.mode, collections=("intermediates",)
        )
        return activations.chosen_values(collections["intermediates"], units)

    def measure(state, data):
        if not section.get("pair"):
            return at(state, data)
        # Step t+1's state on step t+1's batch (and noise sample), as training sees it.
        after = train.train_step(context.task, context.tx, state, data)[0]
        return {"this": at(state, data), "next": at(after, data)}

    def layers_row(values):
        stats = activations.activation_stats(values, percentiles)
        return {name: {"units": np.asarray(units[name]), **sites} for name, sites in stats.items()}

    def to_row(values):
        if not section.get("pair"):
            return {"layers": layers_row(values)}
        return {
            "layers": layers_row(values["this"]),
            "next": {"layers": layers_row(values["next"])},
        }

    return Probe(measure, to_row)


# The curvature kinds (curvature, batch_sharpness, spectrum and the running twins) are
# bn_smooth.curvature_probes'; importing it registers them, after the paper's.
from bn_smooth import curvature_probes  # noqa: E402, F401
