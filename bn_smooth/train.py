"""Training: explicit state, a jitted step, evaluation.

Randomness is a pure function of the seed and the step: the base key is split
into named streams, the batch of step t is drawn from the data stream and the
noise of step t is `fold_in(noise_key, t)`. A resumed run therefore repeats
the uninterrupted one exactly, and a probe at step t can rebuild the loss that
step t was trained on (`step_loss_fn`).
"""

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from flax import struct

from bn_smooth import data as data_lib
from bn_smooth import precision, tasks
from bn_smooth.errors import ConfigError

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

    @property
    def current_step(self) -> int:
        """The step as a Python int (the models of a sweep, stacked, share it)."""
        return int(jax.device_get(self.step).flat[0])


def make_optimizer(config) -> optax.GradientTransformation:
    """SGD at `config.lr`, its learning rate a hyperparameter in the optimizer state, with
    `config.weight_decay` (0, the paper's, by default): wd * w added to the gradient of
    every parameter before the step, as torch.optim.SGD's weight_decay does.

    The one optimizer of a run and of a sweep: `bn_smooth.sweep` gives each
    model its own learning rate through `opt_state.hyperparams`.
    """
    momentum, weight_decay = config.get("momentum") or None, config.get("weight_decay") or 0.0
    if not weight_decay:  # the optimizer state of runs made before the option
        return optax.inject_hyperparams(optax.sgd)(learning_rate=config.lr, momentum=momentum)
    return optax.inject_hyperparams(_sgd_with_weight_decay)(
        learning_rate=config.lr, weight_decay=weight_decay, momentum=momentum
    )


def _sgd_with_weight_decay(learning_rate, weight_decay, momentum=None):
    return optax.chain(optax.add_decayed_weights(weight_decay), optax.sgd(learning_rate, momentum))


def init_state(task: tasks.Task, tx, seed: int) -> TrainState:
    """The state at step 0 of a run of `task` with optimizer `tx` and seed `seed`."""
    key_data = jax.random.key_data(jax.random.key(seed))
    state = TrainState(None, None, None, jnp.int32(0), key_data)
    dummy = jnp.zeros((1, *task.input_shape), jnp.float32)
    variables = task.model.init(state.stream("params"), dummy, train=False)
    params = variables["params"]
    return task.replicate(
        state.replace(
            params=params, batch_stats=variables.get("batch_stats", {}), opt_state=tx.init(params)
        )
    )


class Start(NamedTuple):
    task: tasks.Task
    data: data_lib.Dataset  # on the devices
    tx: optax.GradientTransformation
    state: TrainState  # at step 0


def start(config) -> Start:
    """A run of `config` at step 0, as `loop.train_and_evaluate` begins it: its task, its
    data, its optimizer and its initial state.

        task, data, tx, state = train.start(vgg_cifar.get_config("norm=batch,scale=cpu"))
    """
    task, data = tasks.make_task(config)
    tx = make_optimizer(config)
    return Start(task, data, tx, init_state(task, tx, config.seed))


def batch_at(task, data, state: TrainState, step=None):
    """The (inputs, targets) that the run of `state` trains on at `step` (default:
    `state.step`), inputs standardized as the model sees them. The order of the batches
    depends only on the run's seed, so any state of the run, its initial one included,
    gives the batch of any step."""
    return task.batch(data, state.stream("data"), state.step if step is None else step)


def learning_rate(state: TrainState):
    """The learning rate in `state`'s optimizer (`make_optimizer`): the run's, or in a
    sweep (`bn_smooth.sweep`) each model's own."""
    return state.opt_state.hyperparams["learning_rate"]


# ---------------------------------------------------------------------------
# The model in training and in evaluation mode, and the losses of a step


def apply_evaluation_mode(task, params, batch_stats, x, collections=()):
    """The model in evaluation mode: running averages, no noise.

    Returns (outputs, the recorded `collections`, e.g. 'intermediates').
    """
    return task.model.apply(
        {"params": params, "batch_stats": batch_stats}, x, train=False, mutable=list(collections)
    )


def apply_training_mode(task, params, batch_stats, x, noise_key, collections=("batch_stats",)):
    """The model in training mode: batch statistics and the step's noise sample.

    Returns (outputs, the mutated `collections`); the caller decides whether the
    updated running averages are kept (a training step) or dropped (a probe).
    """
    return task.model.apply(
        {"params": params, "batch_stats": batch_stats},
        x,
        train=True,
        mutable=list(collections),
        rngs={"noise": noise_key},
    )


def training_loss(task, params, batch_stats, batch, noise_key):
    """Training-mode loss: batch statistics, the step's noise.

    Returns (loss, (metrics, updated batch_stats)).
    """
    x, y = batch
    outputs, updates = apply_training_mode(task, params, batch_stats, x, noise_key)
    loss, metrics = task.objective(outputs, y)
    return loss, (metrics, updates.get("batch_stats", {}))


MODES = ("batch", "running")


def check_mode(mode: str):
    if mode not in MODES:
        raise ConfigError(f"unknown measurement mode {mode!r}; valid: {', '.join(MODES)}")


def apply_in_mode(task, state: TrainState, params, x, mode: str, collections=()):
    """The model as a probe at `state` measures it, in measurement `mode`.

    'batch' is the training objective: batch statistics and the step's noise
    sample, with the running averages it would update left to the caller to
    drop (DESIGN.md, "Measurement modes"). 'running' is the evaluation-mode
    function (running averages, no noise): what eval-mode tools measure, a
    different function for a normalized network, kept to show the difference.
    Returns (outputs, the recorded `collections`).
    """
    check_mode(mode)
    if mode == "running":
        return apply_evaluation_mode(task, params, state.batch_stats, x, collections)
    return apply_training_mode(
        task,
        params,
        state.batch_stats,
        x,
        state.noise_key(),
        collections=("batch_stats", *collections),
    )


def step_loss_fn(task, state: TrainState, data, mode: str = "batch", step=None):
    """The loss of step `state.step`'s batch in measurement `mode` (`apply_in_mode`), as
    a function of the parameters; mode 'batch' (the default) is the loss that step trains
    on, and what every probe measures. `step` (may be traced): another step's batch,
    at the same parameters, statistics of its own and the same noise sample."""
    check_mode(mode)  # now, not when the loss is first traced
    x, y = batch_at(task, data, state, step)

    def loss_fn(params):
        outputs, _ = apply_in_mode(task, state, params, x, mode)
        return task.objective(outputs, y)[0]

    return loss_fn


def train_step(task, tx, state: TrainState, data, perm=None):
    """One SGD (or full-batch GD) step in training mode; `perm`: the epoch's order."""
    batch = task.batch(data, state.stream("data"), state.step, perm)
    grad_fn = jax.value_and_grad(training_loss, argnums=1, has_aux=True)
    (loss, (metrics, batch_stats)), grads = grad_fn(
        task, state.params, state.batch_stats, batch, state.noise_key()
    )
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    new_state = state.replace(
        params=optax.apply_updates(state.params, updates),
        batch_stats=batch_stats,
        opt_state=opt_state,
        step=state.step + 1,
    )
    return new_state, {"loss": loss, **metrics}


def make_train_step(task, tx):
    """The jitted (state, data, perm) -> (state, metrics).

    The 'steps' loop calls it once a step: dispatch is asynchronous, so the
    host only waits when it reads the metrics. `default_train_loop` says why
    the default loop is `make_train_chunk` instead.
    """
    return task.jit(precision.traced_at(task.precision, functools.partial(train_step, task, tx)))


def default_train_loop() -> str:
    """'scan' (`make_train_chunk`) on every backend.

    On accelerators it saves the per-step dispatch; on XLA:CPU it was measured
    faster than a jitted step per iteration, because a window's temporaries
    are allocated once (docs/speed.md). 'steps' remains for debugging and for
    code that wraps the step.
    """
    return "scan"


def make_train_chunk(task, tx):
    """The jitted (state, data, num_steps) -> (state, metrics stacked over the steps).

    `num_steps` steps in one `lax.scan`, with no host round trip between them.
    The epoch's permutation rides in the carry and is recomputed (under
    `lax.cond`) only when a step starts a new epoch, so a chunk may cross epochs
    and gives exactly the metrics of `make_train_step` called step by step.
    """

    def chunk(state, data, num_steps: int):
        def order(step):
            return task.epoch_order(data, state.stream("data"), step)

        def body(carry, _):
            state, perm = carry
            if task.batch_size is not None:
                per_epoch = data_lib.steps_per_epoch(data.num_train, task.batch_size)
                starts_epoch = state.step % per_epoch == 0
                perm = jax.lax.cond(starts_epoch, order, lambda _: perm, state.step)
            state, metrics = train_step(task, tx, state, data, perm)
            return (state, perm), metrics

        perm = order(state.step) if task.batch_size is not None else None
        (state, _), metrics = jax.lax.scan(body, (state, perm), None, length=num_steps)
        return state, metrics

    return task.jit(precision.traced_at(task.precision, chunk), static_argnums=2)


class EpochOrder:
    """The permutation of each epoch, computed on the device once per epoch.

    `key`: a run's data stream, or a stack of them (a sweep), for a stack of
    permutations. Called with a step, returns its epoch's order (None for
    full-batch tasks, which have none).
    """

    def __init__(self, task, data, key):
        self.task, self.data, self.key = task, data, key
        order = task.epoch_order  # (data, key, step)
        self._order = task.jit(jax.vmap(order, in_axes=(None, 0, None)) if key.ndim else order)
        self.epoch, self.perm = None, None

    def __call__(self, step: int):
        if self.task.batch_size is None:
            return None
        epoch = self.task.epoch_of(self.data, step)
        if epoch != self.epoch:
            self.epoch, self.perm = epoch, self._order(self.data, self.key, step)
        return self.perm


# ---------------------------------------------------------------------------
# Evaluation: running averages, no noise


@functools.partial(jax.jit, static_argnums=(0, 5))
def _eval_sums(task, params, batch_stats, data, start, size: int):
    x = jax.lax.dynamic_slice_in_dim(data.test_inputs, start, size)
    y = jax.lax.dynamic_slice_in_dim(data.test_targets, start, size)
    with jax.default_matmul_precision(task.precision):
        outputs, _ = apply_evaluation_mode(task, params, batch_stats, data.prepare(x))

    def one(o, t):
        loss, metrics = task.objective(o[None], t[None])
        return {"loss": loss, **metrics}

    return jax.tree.map(jnp.sum, jax.vmap(one)(outputs, y))


def evaluate(task, state: TrainState, data, batch_size: int = 1000) -> dict:
    """Mean test loss and metrics in evaluation mode, and `num_examples`, the test set's size."""
    n = data.num_test
    totals = None
    for start in range(0, n, batch_size):
        sums = _eval_sums(
            task, state.params, state.batch_stats, data, start, min(batch_size, n - start)
        )
        totals = sums if totals is None else jax.tree.map(jnp.add, totals, sums)
    return {**{k: float(v) / n for k, v in jax.device_get(totals).items()}, "num_examples": n}


# ---------------------------------------------------------------------------
# Checkpoints
