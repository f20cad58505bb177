"""vmap sweeps: N models in one program are N independent runs, exactly."""

import jax
import numpy as np

from bn_smooth import sweep, tasks, train
from tests.conftest import dln_config, tiny_vgg_config


def separate_run(task, data, config, seed, lr, steps):
    """The run alone: its own config at `lr`, built as the training loop builds it."""
    config = config.copy_and_resolve_references()
    config.lr = lr
    tx = train.make_optimizer(config)
    state = train.init_state(task, tx, seed)
    step_fn = train.make_train_step(task, tx)
    order = train.EpochOrder(task, data, state.stream("data"))
    losses = []
    for t in range(steps):
        state, metrics = step_fn(state, data, order(t))
        losses.append(metrics["loss"])
    return state, np.array(losses)


def check_sweep(config, seeds, lrs, steps):
    task, data = tasks.make_task(config)
    tx = train.make_optimizer(config)
    states = sweep.init_states(task, tx, seeds, learning_rates=lrs)
    step, order = sweep.make_sweep_step(task, tx), sweep.epoch_order(task, data, states)
    losses = []
    for t in range(steps):
        states, metrics = step(states, data, order(t))
        losses.append(metrics["loss"])
    losses = np.array(losses)
    assert losses.shape == (steps, len(seeds))
    for i, (seed, lr) in enumerate(zip(seeds, lrs, strict=True)):
        alone, alone_losses = separate_run(task, data, config, seed, lr, steps)
        np.testing.assert_allclose(losses[:, i], alone_losses, rtol=1e-5)
        for a, b in zip(
            jax.tree.leaves(sweep.unstack(states, i)), jax.tree.leaves(alone), strict=True
        ):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    return losses


def test_vgg_sweep_over_seeds_and_learning_rates_equals_separate_runs(fake_cifar):
    # noisy_batch: each model must also draw its own noise; 8 steps cross an epoch (6 steps).
    config = tiny_vgg_config(fake_cifar, norm="noisy_batch")
    losses = check_sweep(config, seeds=[0, 1], lrs=[0.1, 0.05], steps=8)
    assert not np.allclose(losses[:, 0], losses[:, 1])  # the models really differ


def test_dln_sweep_over_learning_rates_equals_separate_runs():
    check_sweep(dln_config(norm="batch"), seeds=[0, 0], lrs=[1e-6, 3e-6], steps=4)
