"""Our side of experiments/benchmark.py: the programs it times, built as the training loop
and the probes build them, and the model FLOPs it divides by."""

import dataclasses

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from bn_smooth import curvature, models, norms, probes, sweep, tasks, train
from bn_smooth.configs.common import probe_sections
from bn_smooth.data import Dataset
from experiments.torch_reference import (
    BATCH,
    LANCZOS_STEPS,
    LR,
    NUM_ETAS,
    STEPS_PER_CALL,
    gaussian_regression,
    images,
)

# ---------------------------------------------------------------------------
# FLOPs


def vgg_forward_flops(width: float, batch: int = BATCH) -> float:
    convs = models.vgg_conv_shapes("vgg11", width)
    flops = sum(2 * size * size * 9 * c_in * c_out for size, c_in, c_out, _ in convs)
    return batch * (flops + 2 * convs[-1][2] * 10)


def dln_forward_flops(depth=25, dim=10, samples=1000) -> float:
    return 2 * samples * dim * dim * depth


# ---------------------------------------------------------------------------
# bn_smooth


def probe_config(lr, eta_min, eta_max, spacing, strategy=None):
    config = ml_collections.ConfigDict(dict(seed=0, lr=lr))
    config.probe = probe_sections(1, eta_min, eta_max, NUM_ETAS, spacing, strategy)
    return config


class Ours:
    """The library's own step and probes on a VGG or DLN task with in-memory data."""

    def __init__(self, kind, norm, width=1.0, precision="highest"):
        if kind == "vgg":
            x, y = images()
            data = Dataset(
                x, y, mean=np.full(3, 120.0, np.float32), std=np.full(3, 64.0, np.float32)
            )
            model = models.VGG("vgg11", norms.get_norm(norm), width)
            self.task = tasks.Task("vgg", model, tasks.cross_entropy, BATCH, (32, 32, 3))
            self.lr, self.config = LR, probe_config(LR, 0.5, 4.0, "linear")
        else:
            data = Dataset(*gaussian_regression())
            kwargs = {"use_scale": False, "use_bias": False} if norm != "none" else {}
            model = models.DeepLinearNet(25, 10, norms.get_norm(norm, **kwargs))
            self.task = tasks.Task("dln", model, tasks.summed_squared_error, None, (10,))
            self.lr, self.config = 1e-6, probe_config(1e-6, 0.01, 30.0, "log", "map")
        self.config.norm = norm  # the scale probe reads whether the norm is scale-invariant
        # bn_smooth.precision: the training step's and the probes' products
        self.task = dataclasses.replace(self.task, precision=precision)
        self.config.precision = ml_collections.ConfigDict(dict(train=precision, probes=precision))
        self.data = jax.device_put(data)
        self.tx = train.make_optimizer(self.config)  # as training builds it: probes read its lr
        self.state = train.init_state(self.task, self.tx, 0)
        self.chunk_fn = train.make_train_chunk(self.task, self.tx)

    def steps(self):
        """STEPS_PER_CALL training steps as the training loop runs them: one lax.scan."""
        jax.block_until_ready(self.chunk_fn(self.state, self.data, STEPS_PER_CALL))

    def hessian(self):
        """A jitted HVP and a jitted 20-step Lanczos on the training-mode loss of step 0."""
        loss_fn = train.step_loss_fn(self.task, self.state, self.data)
        ones = jax.tree.map(jnp.ones_like, self.state.params)
        hvp = jax.jit(lambda p: curvature.hvp(loss_fn, p, ones))
        top = jax.jit(
            lambda p: curvature.top_eigenvalues(loss_fn, p, 1, LANCZOS_STEPS, jax.random.key(0))
        )
        return (
            lambda: jax.block_until_ready(hvp(self.state.params)),
            lambda: jax.block_until_ready(top(self.state.params)),
        )

    def probe(self, kind):
        """Time one compiled probe of the library, as the training loop runs it."""
        probe = probes.build(kind, self.task, self.tx, self.config, self.state.params)
        return lambda: jax.block_until_ready(probe.measure(self.state, self.data))


class OursSweep(Ours):
    """N models in one vmapped program."""

    def __init__(self, norm, width, n):
        super().__init__("vgg", norm, width)
        self.states = sweep.init_states(self.task, self.tx, list(range(n)))
        self.sweep_fn = sweep.make_sweep_step(self.task, self.tx)
        self.sweep_order = sweep.epoch_order(self.task, self.data, self.states)
        self.step_fn = train.make_train_step(self.task, self.tx)
        self.order = train.EpochOrder(self.task, self.data, self.state.stream("data"))

    def sweep_step(self):
        _, metrics = self.sweep_fn(self.states, self.data, self.sweep_order(0))
        jax.block_until_ready(metrics)

    def single_step(self):
        """One model's step as the sweep runs it: a jitted step, not a scan window."""
        jax.block_until_ready(self.step_fn(self.state, self.data, self.order(0)))


# ---------------------------------------------------------------------------
# The table
