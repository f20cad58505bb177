"""Train N models (seeds, learning rates) in one compiled program with `jax.vmap`.

    states = sweep.init_states(task, tx, seeds=[0, 1, 2])
    step = sweep.make_sweep_step(task)
    order = sweep.SweepOrder(task, data, states)
    lrs = jnp.array([0.05, 0.1, 0.2])
    for t in range(num_steps):
        states, metrics = step(states, lrs, data, order(t))   # metrics["loss"]: (N,)

Model i follows exactly the run `train.train_step` would give with seed
seeds[i] and learning rate lrs[i] (same batches, same noise): the sweep is a
batched copy of N independent runs, not an approximation of them.
"""

import functools

import jax
import jax.numpy as jnp
import optax

from bn_smooth import data as data_lib
from bn_smooth import train


def stack(trees):
    return jax.tree.map(lambda *xs: jnp.stack(xs), *trees)


def unstack(tree, i: int):
    return jax.tree.map(lambda x: x[i], tree)


def init_states(task, tx, seeds) -> train.TrainState:
    """The initial states of `seeds`, stacked along a leading model axis."""
    return stack([train.init_state(task, tx, seed) for seed in seeds])


def make_sweep_step(task, momentum: float | None = None):
    """jit(vmap(train_step)) over (states, lrs, perms): SGD with a learning rate per model."""

    def step(state, lr, data, perm):
        return train.train_step(task, optax.sgd(lr, momentum=momentum), state, data, perm)

    return jax.jit(jax.vmap(step, in_axes=(0, 0, None, 0)))


@functools.partial(jax.jit, static_argnums=2)
def _permutations(keys, epoch, num_examples: int):
    return jax.vmap(lambda k: data_lib.epoch_permutation(k, epoch, num_examples))(keys)


class SweepOrder:
    """Each model's epoch permutation (from its own data stream), stacked, once per epoch."""

    def __init__(self, task, data, states: train.TrainState):
        self.task, self.data = task, data
        self.keys = jax.vmap(lambda s: s.stream("data"))(states)
        self.num_models = self.keys.shape[0]
        self.num_examples = data["train_inputs"].shape[0]
        self.epoch, self.perms = None, None

    def __call__(self, step: int):
        if self.task.batch_size is None:
            return jnp.zeros((self.num_models, 0), jnp.int32)  # full batch: unused
        epoch = self.task.epoch_of(self.data, step)
        if epoch != self.epoch:
            self.epoch = epoch
            self.perms = _permutations(self.keys, epoch, self.num_examples)
        return self.perms
