"""Train N models (seeds, learning rates) in one compiled program with `jax.vmap`.

    tx = train.make_optimizer(config)
    states = sweep.init_states(task, tx, seeds=[0, 0, 0], learning_rates=[0.05, 0.1, 0.2])
    step, order = sweep.make_sweep_step(task, tx), sweep.epoch_order(task, data, states)
    for t in range(num_steps):
        states, metrics = step(states, data, order(t))   # metrics["loss"]: (3,)

Model i follows exactly the run `train.train_step` would give with seed
seeds[i] and learning rate learning_rates[i] (same batches, same noise): the
sweep is a batched copy of N independent runs, with the runs' own optimizer
(`train.make_optimizer`), not an approximation of them. The batched program rounds
differently (VGG's float32 losses agree with the runs alone to 2.3e-7 over the first 10
steps), so over hundreds of SGD steps a VGG model drifts from its run alone as a run
does on another machine.

A run whose config sets `sweep_lrs` is such a sweep, trained, checkpointed and resumed
by bn_smooth.loop like any run (`states_for`, `evaluate`); its rows hold one value per
model, and `bn_smooth.sweep_results` reads each model back as a run of its own.
"""

import jax
import jax.numpy as jnp
import numpy as np

from bn_smooth import precision, train


def stack(trees):
    return jax.tree.map(lambda *xs: jnp.stack(xs), *trees)


def unstack(tree, i: int):
    return jax.tree.map(lambda x: x[i], tree)


def init_states(task, tx, seeds, learning_rates=None) -> train.TrainState:
    """The initial states of `seeds`, stacked along a leading model axis.

    `learning_rates` (one per seed; None: the one `tx` was made with) go into
    each model's optimizer state, so `tx` must come from `train.make_optimizer`.
    """
    states = stack([train.init_state(task, tx, seed) for seed in seeds])
    if learning_rates is not None:
        hyperparams = states.opt_state.hyperparams
        lrs = jnp.asarray(learning_rates, hyperparams["learning_rate"].dtype)
        if lrs.shape != (len(seeds),):
            raise ValueError(f"{len(seeds)} seeds but learning_rates of shape {lrs.shape}")
        states = states.replace(
            opt_state=states.opt_state._replace(hyperparams={**hyperparams, "learning_rate": lrs})
        )
    return states


def make_sweep_step(task, tx):
    """jit(vmap(train_step)) over (states, perms): each model with its own learning rate."""

    def step(state, data, perm):
        return train.train_step(task, tx, state, data, perm)

    return task.jit(precision.traced_at(task.precision, jax.vmap(step, in_axes=(0, None, 0))))


def epoch_order(task, data, states: train.TrainState) -> train.EpochOrder:
    """Each model's epoch permutation (from its own data stream), stacked, once per epoch."""
    return train.EpochOrder(task, data, jax.vmap(lambda s: s.stream("data"))(states))


def states_for(task, tx, config) -> train.TrainState:
    """The initial states of a sweep run: one model per `config.sweep_lrs`, each at
    `config.seed`."""
    lrs = list(config.sweep_lrs)
    return init_states(task, tx, [config.seed] * len(lrs), lrs)


def evaluate(task, states: train.TrainState, data) -> dict:
    """`train.evaluate` of each model: {"loss": [one per model], ..., "num_examples": n}."""
    each = [train.evaluate(task, unstack(states, i), data) for i in range(len(states.step))]
    return {
        key: each[0][key] if key == "num_examples" else [e[key] for e in each] for key in each[0]
    }


def all_diverged(losses) -> np.ndarray:
    """Per step of a window (losses: (steps,) or (steps, models)): whether no model's loss
    is finite. A sweep goes on while one model trains; a run stops at its first nan."""
    losses = np.asarray(losses)
    return ~np.isfinite(losses.reshape(len(losses), -1)).any(axis=1)
