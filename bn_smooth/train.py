"""Training: explicit state, a jitted step, evaluation, and the loop around them.

Randomness is a pure function of the seed and the step: the base key is split
into named streams, the batch of step t is drawn from the data stream and the
noise of step t is `fold_in(noise_key, t)`. A resumed run therefore repeats
the uninterrupted one exactly, and a probe at step t can rebuild the loss that
step t was trained on (`step_loss_fn`).
"""

import functools
import json
import math
import signal
import threading
import time
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
import orbax.checkpoint as ocp
from absl import logging
from flax import struct

from bn_smooth import data as data_lib
from bn_smooth import runlog, tasks

STREAMS = {"params": 0, "data": 1, "noise": 2, "probe": 3}


class TrainState(struct.PyTreeNode):
    params: Any
    batch_stats: Any
    opt_state: Any
    step: jax.Array
    key: jax.Array  # raw key data (uint32), so that checkpoints hold plain arrays

    def stream(self, name: str):
        return jax.random.fold_in(jax.random.wrap_key_data(self.key), STREAMS[name])

    def noise_key(self):
        """The key of the noisy_batch noise at this step."""
        return jax.random.fold_in(self.stream("noise"), self.step)


def make_optimizer(config) -> optax.GradientTransformation:
    return optax.sgd(config.lr, momentum=config.get("momentum") or None)


def init_state(task: tasks.Task, tx, seed: int) -> TrainState:
    key_data = jax.random.key_data(jax.random.key(seed))
    state = TrainState(None, None, None, jnp.int32(0), key_data)
    dummy = jnp.zeros((1, *task.input_shape), jnp.float32)
    variables = task.model.init(state.stream("params"), dummy, train=False)
    params = variables["params"]
    return state.replace(params=params, batch_stats=variables.get("batch_stats", {}),
                         opt_state=tx.init(params))


# ---------------------------------------------------------------------------
# Losses in training mode


def training_loss(task, params, batch_stats, batch, noise_key):
    """Training-mode loss: batch statistics, the step's noise.

    Returns (loss, (metrics, updated batch_stats)).
    """
    x, y = batch
    outputs, updates = task.model.apply(
        {"params": params, "batch_stats": batch_stats}, x, train=True,
        mutable=["batch_stats"], rngs={"noise": noise_key})
    loss, metrics = task.objective(outputs, y)
    return loss, (metrics, updates.get("batch_stats", {}))


def step_loss_fn(task, state: TrainState, data):
    """The loss that step `state.step` trains on, as a function of the parameters.

    Same batch, batch statistics and noise sample as the training step; the
    running averages it would update are discarded. This is what every probe
    measures (DESIGN.md, "Measurement modes").
    """
    batch = task.batch(data, state.stream("data"), state.step)
    noise_key = state.noise_key()

    def loss_fn(params):
        return training_loss(task, params, state.batch_stats, batch, noise_key)[0]

    return loss_fn


def train_step(task, tx, state: TrainState, data, perm=None):
    """One SGD (or full-batch GD) step in training mode; `perm`: the epoch's order."""
    batch = task.batch(data, state.stream("data"), state.step, perm)
    grad_fn = jax.value_and_grad(training_loss, argnums=1, has_aux=True)
    (loss, (metrics, batch_stats)), grads = grad_fn(
        task, state.params, state.batch_stats, batch, state.noise_key())
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    new_state = state.replace(params=optax.apply_updates(state.params, updates),
                              batch_stats=batch_stats, opt_state=opt_state, step=state.step + 1)
    return new_state, {"loss": loss, **metrics}


def make_train_step(task, tx):
    """The jitted (state, data, perm) -> (state, metrics).

    The loop calls it once a step: dispatch is asynchronous, so the host only
    waits when it reads the metrics. (On XLA:CPU, `lax.scan` over steps was
    measured ~9x slower per step than this.)
    """
    return jax.jit(functools.partial(train_step, task, tx))


class EpochOrder:
    """The permutation of each epoch, computed once per epoch on the device."""

    def __init__(self, task, data, key):
        self.task, self.data, self.key = task, data, key
        self.num_examples = data["train_inputs"].shape[0]
        self.epoch, self.perm = None, None

    def __call__(self, step: int):
        if self.task.batch_size is None:
            return None
        epoch = self.task.epoch_of(self.data, step)
        if epoch != self.epoch:
            self.epoch = epoch
            self.perm = _permutation(self.key, epoch, self.num_examples)
        return self.perm


_permutation = jax.jit(data_lib.epoch_permutation, static_argnums=2)


# ---------------------------------------------------------------------------
# Evaluation: running averages, no noise


@functools.partial(jax.jit, static_argnums=(0, 5))
def _eval_sums(task, params, batch_stats, data, start, size: int):
    x = jax.lax.dynamic_slice_in_dim(data["test_inputs"], start, size)
    y = jax.lax.dynamic_slice_in_dim(data["test_targets"], start, size)
    outputs = task.model.apply({"params": params, "batch_stats": batch_stats},
                               task.prepare(data, x), train=False)

    def one(o, t):
        loss, metrics = task.objective(o[None], t[None])
        return {"loss": loss, **metrics}

    return jax.tree.map(jnp.sum, jax.vmap(one)(outputs, y))


def evaluate(task, state: TrainState, data, batch_size: int = 1000) -> dict:
    """Mean test loss and metrics in evaluation mode."""
    n = data["test_inputs"].shape[0]
    totals = None
    for start in range(0, n, batch_size):
        sums = _eval_sums(task, state.params, state.batch_stats, data, start,
                          min(batch_size, n - start))
        totals = sums if totals is None else jax.tree.map(jnp.add, totals, sums)
    return {k: float(v) / n for k, v in jax.device_get(totals).items()}


# ---------------------------------------------------------------------------
# Checkpoints


class Checkpoints:
    """Orbax checkpoints of the train state under workdir/checkpoints."""

    def __init__(self, workdir, max_to_keep: int = 2):
        options = ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True,
                                               enable_async_checkpointing=False)
        self.manager = ocp.CheckpointManager(Path(workdir).absolute() / "checkpoints",
                                             options=options)

    def save(self, state: TrainState):
        step = int(state.step)
        if self.manager.latest_step() != step:
            self.manager.save(step, args=ocp.args.StandardSave(state), force=True)

    def restore(self, template: TrainState) -> TrainState:
        """The latest checkpoint, or the template when there is none."""
        step = self.manager.latest_step()
        if step is None:
            return template
        return self.manager.restore(step, args=ocp.args.StandardRestore(template))

    def close(self):
        self.manager.close()


# ---------------------------------------------------------------------------
# The loop

# Fields that may change when a run is resumed (e.g. to train it longer).
RESUMABLE_CHANGES = {"num_steps", "log_every", "data_dir", "download"}


def _check_resumable(workdir, config_dict):
    old = runlog.read_config(workdir)
    if old is None:
        return
    config_dict = json.loads(json.dumps(config_dict))  # tuples -> lists, as read back
    changed = sorted(k for k in set(old) | set(config_dict)
                     if k not in RESUMABLE_CHANGES and old.get(k) != config_dict.get(k))
    if changed:
        raise ValueError(
            f"{workdir} holds a run with a different config (differs in {', '.join(changed)}); "
            "use a new --workdir, or delete that one to start over.")


def _boundaries(config):
    return [v for v in (config.log_every, config.get("eval_every"),
                        config.get("checkpoint_every")) if v]


def _next_stop(step: int, config) -> int:
    """The next step at which the loop must look at metrics, evaluate or checkpoint."""
    return min([config.num_steps] + [(step // k + 1) * k for k in _boundaries(config)])


def _due(step: int, every) -> bool:
    return bool(every) and step % every == 0


class _SigtermAsInterrupt:
    """Treat SIGTERM like Ctrl-C, so a killed run checkpoints and says so."""

    def __enter__(self):
        self.previous = None
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGTERM, self._raise)

    @staticmethod
    def _raise(signum, frame):
        raise KeyboardInterrupt("SIGTERM")

    def __exit__(self, *exc):
        if self.previous is not None:
            signal.signal(signal.SIGTERM, self.previous)


def train_and_evaluate(config, workdir) -> dict:
    """Train per `config` in `workdir`, resuming what is there; returns the final status."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    config_dict = config.to_dict()
    _check_resumable(workdir, config_dict)
    status = runlog.read_status(workdir)
    if status and status["status"] in ("finished", "diverged") and (
            status["status"] == "diverged" or status["step"] >= config.num_steps):
        logging.info("%s: already %s, nothing to do", workdir, status["message"])
        return status
    runlog.write_config(workdir, config_dict)

    task, data = tasks.make_task(config)
    tx = make_optimizer(config)
    checkpoints = Checkpoints(workdir)
    state = checkpoints.restore(init_state(task, tx, config.seed))
    step = int(state.step)
    if step:
        logging.info("resuming %s from step %d", workdir, step)
    writer = runlog.MetricsWriter(workdir)
    writer.truncate(step)
    start_step = step
    step_fn = make_train_step(task, tx)
    order = EpochOrder(task, data, state.stream("data"))
    has_test = "test_inputs" in data
    clock = {"start": time.time(), "train_seconds": 0.0, "eval_seconds": 0.0}

    def finish(kind, message, **extra):
        timing = {k: round(v, 2) for k, v in clock.items() if k != "start"}
        timing["wall_seconds"] = round(time.time() - clock["start"], 2)
        runlog.write_status(workdir, kind, step, message, **timing, **extra)
        logging.info("%s: %s", workdir, message)
        return runlog.read_status(workdir)

    runlog.write_status(workdir, "running", step, f"running, at step {step}")
    try:
        with _SigtermAsInterrupt():
            while True:
                if has_test and (_due(step, config.eval_every) or step == config.num_steps):
                    t0 = time.time()
                    writer.write(step, "eval", evaluate(task, state, data))
                    clock["eval_seconds"] += time.time() - t0
                if step >= config.num_steps:
                    break
                stop = _next_stop(step, config)
                t0 = time.time()
                # `state` only advances once the window's rows are written, so an
                # interrupt or a divergence checkpoints a state consistent with the log.
                window_state, window = state, []
                for t in range(step, stop):
                    window_state, metrics = step_fn(window_state, data, order(t))
                    window.append(metrics)
                metrics = {k: np.array([m[k] for m in jax.device_get(window)]) for k in window[0]}
                clock["train_seconds"] += time.time() - t0
                bad = np.flatnonzero(~np.isfinite(metrics["loss"]))
                last = stop - step if bad.size == 0 else int(bad[0]) + 1
                writer.write_rows([
                    {"step": step + i, "kind": "train",
                     **runlog.clean({k: v[i] for k, v in metrics.items()})}
                    for i in range(last)])
                if bad.size:
                    checkpoints.save(state)
                    step += int(bad[0])
                    return finish("diverged", f"diverged at step {step} (non-finite loss)")
                state, step = window_state, stop
                _log_progress(step, start_step, config.num_steps, metrics,
                              clock["train_seconds"])
                if _due(step, config.get("checkpoint_every")):
                    checkpoints.save(state)
            checkpoints.save(state)
            return finish("finished", f"finished {step} steps")
    except KeyboardInterrupt:
        checkpoints.save(state)
        finish("interrupted", f"interrupted at step {step}; re-run the same command to resume")
        raise
    finally:
        checkpoints.close()


def _log_progress(step, start_step, num_steps, metrics, train_seconds):
    rate = (step - start_step) / max(train_seconds, 1e-9)
    summary = "  ".join(f"{k} {np.mean(v):.4g}" for k, v in metrics.items())
    eta = (num_steps - step) / rate if rate else math.inf
    logging.info("step %d/%d  %s  %.1f steps/s  ETA %s", step, num_steps, summary, rate,
                 time.strftime("%H:%M:%S", time.gmtime(eta)) if math.isfinite(eta) else "?")
