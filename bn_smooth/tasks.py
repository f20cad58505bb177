"""A task is what a run trains: a model, its data on the device and an objective.

`make_task(config)` builds one from an experiment config, so the training loop,
the probes and a notebook all see the same model, batches and loss.
"""

import dataclasses
from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from bn_smooth import arithmetic, cifar10, models, norms, precision, sharding
from bn_smooth import data as data_lib
from bn_smooth.errors import ConfigError


def cross_entropy(logits, labels):
    """Mean softmax cross-entropy and accuracy."""
    loss = optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()
    return loss, {"accuracy": jnp.mean(jnp.argmax(logits, -1) == labels)}


def summed_squared_error(outputs, targets):
    """||f(x) - Ax||^2 summed over the batch, the DLN loss of appendix A."""
    return jnp.sum(jnp.square(outputs - targets)), {}


@dataclasses.dataclass(frozen=True)
class Task:
    """A model, an objective and how to draw a batch from the on-device data.

    With a `mesh`, each batch is sharded over its 'data' axis (bn_smooth.sharding).
    `precision` is that of the training and evaluation programs' products
    (bn_smooth.precision; the probes have their own). `compiler_options`, XLA's (name,
    value) pairs, go to every program that trains or probes the task (`jit`).
    """

    name: str
    model: nn.Module
    objective: Callable
    batch_size: int | None  # None: full-batch
    input_shape: tuple
    mesh: jax.sharding.Mesh | None = None
    precision: str = "highest"
    compiler_options: tuple[tuple[str, str], ...] = ()

    def jit(self, fn, **kwargs):
        """`jax.jit(fn, **kwargs)`, compiled with the task's options."""
        return jax.jit(fn, compiler_options=dict(self.compiler_options) or None, **kwargs)

    def batch(self, data: data_lib.Dataset, key, step, perm=None):
        """The (inputs, targets) of training step `step` (`perm`: its epoch's order)."""
        x, y = data.train_inputs, data.train_targets
        if self.batch_size is not None:
            if perm is None:
                perm = self.epoch_order(data, key, step)
            idx = data_lib.batch_indices(step, data.num_train, self.batch_size, perm)
            x, y = x[idx], y[idx]
        x = data.prepare(x)
        if self.mesh is not None:
            x, y = jax.lax.with_sharding_constraint((x, y), sharding.batch_sharded(self.mesh))
        return x, y

    def replicate(self, tree):
        """`tree` on every device of the mesh (parameters, states, the dataset)."""
        if self.mesh is None:
            return jax.device_put(tree)
        return jax.device_put(tree, sharding.replicated(self.mesh))

    def epoch_of(self, data: data_lib.Dataset, step):
        return step // data_lib.steps_per_epoch(data.num_train, self.batch_size)

    def epoch_order(self, data: data_lib.Dataset, key, step):
        """The order of the training set in the epoch of `step`: the one definition of it."""
        return data_lib.epoch_permutation(key, self.epoch_of(data, step), data.num_train)


def make_norm(config):
    return norms.get_norm(config.norm, **config.get("norm_kwargs", {}))


def make_task(config) -> tuple[Task, data_lib.Dataset]:
    """The task and its data (on the devices) for an experiment config.

    The mesh spans `config.num_devices` devices (0 or absent: all visible ones).
    """
    norm = make_norm(config)  # an unknown name fails here, before any data is loaded
    mesh = sharding.data_mesh(config.get("num_devices", 0))
    if config.task == "vgg_cifar":
        raw = cifar10.load(config.get("data_dir"), config.get("download", False))
        limit = config.get("train_limit")  # a smaller training set, for smoke runs
        train_images = raw["train_images"][:limit] if limit else raw["train_images"]
        train_labels = raw["train_labels"][:limit] if limit else raw["train_labels"]
        mean, std = raw["train_mean"], raw["train_std"]
        if config.get("inputs", "standardized") == "unit":
            mean, std = np.zeros_like(mean), np.full_like(std, 255)
        data = data_lib.Dataset(
            train_images, train_labels, raw["test_images"], raw["test_labels"], mean, std
        )
        m = config.model
        model = models.VGG(
            m.cfg, norm, m.width, tuple(m.classifier), head_init=m.get("head_init", "glorot")
        )
        task = Task("vgg_cifar", model, cross_entropy, config.batch_size, (32, 32, 3), mesh)
    elif config.task == "dln":
        x, y = data_lib.gaussian_regression(config.seed, config.num_samples, config.model.dim)
        data = data_lib.Dataset(x, y)
        model = models.DeepLinearNet(config.model.depth, config.model.dim, norm)
        task = Task(
            "dln", model, summed_squared_error, config.get("batch_size"), (config.model.dim,), mesh
        )
        if not config.get("ynnpack_dots", True):
            options = arithmetic.cpu_options(arithmetic.NO_YNNPACK_DOTS)
            task = dataclasses.replace(task, compiler_options=options)
    else:
        raise ConfigError(f"unknown task {config.task!r}; valid tasks are vgg_cifar, dln")
    task = dataclasses.replace(task, precision=precision.of(config, "train"))
    sharding.check_divisible(task.batch_size or data.num_train, mesh)
    return task, task.replicate(data)
