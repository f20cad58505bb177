"""The training loop: resume, train, evaluate, probe, checkpoint, and say how it ended.

`train_and_evaluate(config, workdir)` is what the entrypoints call; everything
it writes is described in bn_smooth.runlog.
"""

import contextlib
import os
import time
import traceback
from pathlib import Path

import jax
import numpy as np
from absl import logging

from bn_smooth import (
    arithmetic,
    checkpoints,
    checks,
    interrupts,
    probes,
    progress,
    resume,
    runlog,
    sweep,
    tasks,
    train,
    workdir_lock,
)
from bn_smooth.errors import ConfigError


def _next_stop(step: int, config) -> int:
    """The next step at which the loop must look at metrics, evaluate, probe or checkpoint."""
    every = [
        v for v in (config.log_every, config.get("eval_every"), config.get("checkpoint_every")) if v
    ]
    return int(
        min(
            [config.num_steps]
            + [(step // k + 1) * k for k in every]
            + [s.next_after(step) for s in probes.schedule(config).values()]
        )
    )


def _due(step: int, every) -> bool:
    return bool(every) and step % every == 0


def train_and_evaluate(config, workdir) -> dict:
    """Train per `config` in `workdir`, resuming what is there; returns the final status.

    The config, the workdir and the data are all checked before anything is written
    (bn_smooth.checks), and one process at a time may hold a workdir
    (bn_smooth.workdir_lock). A run that raises is left `failed`, with its traceback
    in workdir/error.log.
    """
    workdir = Path(workdir)
    checks.check_config(config)
    checks.check_workdir(workdir)
    done = resume.done_status(config, workdir)
    if done is not None:  # skipped without loading the data
        logging.info("%s: already %s, nothing to do", workdir, done["message"])
        return done
    config_dict = config.to_dict()
    task, data = tasks.make_task(config)
    checks.check_batch_size(task.batch_size, data.num_train)
    workdir.mkdir(parents=True, exist_ok=True)
    with workdir_lock.hold(workdir):
        status = resume.existing_status(workdir, config_dict)  # as of now that we hold the lock
        if resume.already_done(status, config):
            return status
        if status and status["status"] == "running":  # its process died without a word
            logging.warning(
                "%s: the process that ran it (pid %s) was killed at step %d or "
                "later; resuming from its last checkpoint",
                workdir,
                status.get("pid", "?"),
                status["step"],
            )
        old = runlog.read_config(workdir)
        runlog.write_config(workdir, {**config_dict, arithmetic.KEY: arithmetic.history(old)})
        return _train_to_the_end(config, workdir, task, data)


def _train_to_the_end(config, workdir, task, data) -> dict:
    run, reached = None, checkpoints.latest_step(workdir)
    # SIGTERM and Ctrl-C stop the run at the end of a window (bn_smooth.interrupts).
    with interrupts.stop_requests(str(workdir)) as stop:
        try:
            run = _Run(config, workdir, task, data, stop)
            return run.train()
        except KeyboardInterrupt:
            if run is None:  # while setting up
                runlog.write_status(workdir, "interrupted", reached, _interrupted(reached))
            else:
                run.checkpoints.save(run.state)
                run.finish("interrupted", _interrupted(run.step))
            raise
        except Exception as e:
            # A failure while setting up (restoring, compiling) leaves the run where it was.
            step = run.step if run is not None else reached
            runlog.write_failure(workdir, step, e, traceback.format_exc())
            raise
        finally:
            if run is not None:
                run.checkpoints.close()


def _interrupted(step: int) -> str:
    return f"interrupted at step {step}; re-run the same command to resume"


class _Run:
    """One invocation of a run: its state, its step, and what it writes."""

    def __init__(self, config, workdir: Path, task, data, stop=None):
        self.config, self.workdir = config, workdir
        self.task, self.data, self.stop = task, data, stop
        self.tx = train.make_optimizer(config)
        self.checkpoints = checkpoints.Checkpoints(workdir)
        try:
            self._set_up(config)
        except BaseException:
            self.checkpoints.close()  # else orbax's event loop complains at exit
            raise

    def _set_up(self, config):
        self.sweep = bool(config.get("sweep_lrs"))
        initial = (
            sweep.states_for(self.task, self.tx, config)
            if self.sweep
            else train.init_state(self.task, self.tx, config.seed)
        )
        self.state = self.checkpoints.restore(initial)
        self.step = self.state.current_step
        if self.step:
            logging.info("resuming %s from step %d", self.workdir, self.step)
        self.writer = runlog.MetricsWriter(self.workdir)
        self.writer.truncate(self.step)
        if self.sweep:  # step by step: its models share a step function, not a scan
            step_fn = sweep.make_sweep_step(self.task, self.tx)
            order = sweep.epoch_order(self.task, self.data, self.state)
            self.run_window = _stepwise(step_fn, order, self.data)
        else:
            self.run_window = _window_runner(
                self.task, self.tx, self.data, self.state, config.get("train_loop")
            )
        self.probes = probes.Probes(self.task, self.tx, config, self.state.params)
        self.seconds = {"train_seconds": 0.0, "eval_seconds": 0.0, "probe_seconds": 0.0}
        self.start_time = time.time()
        self.progress = progress.Progress(self.step, config.num_steps)
        self.compiled_probes = set()

    def train(self) -> dict:
        self.write_running()
        logging.info("compiling the training step (on a CPU, up to a minute for VGG)")
        while True:
            if self.stop is not None and self.stop.requested:
                raise KeyboardInterrupt(self.stop.requested)
            self.evaluate_if_due()
            if self.step >= self.config.num_steps:
                break
            self.probe_if_due()
            stop = _next_stop(self.step, self.config)
            window_state, metrics = self.train_window(stop)
            diverged = self.write_window(metrics)
            if diverged is not None:
                self.checkpoints.save(self.state)
                self.step += diverged
                return self.finish("diverged", f"diverged at step {self.step} (non-finite loss)")
            # `state` only advances once the window's rows are written, so an interrupt
            # or a divergence checkpoints a state consistent with the log.
            self.state, self.step = window_state, stop
            self.progress.update(self.step, metrics)
            self.write_running()
            if _due(self.step, self.config.get("checkpoint_every")):
                self.checkpoints.save(self.state)
        self.checkpoints.save(self.state)
        return self.finish("finished", f"finished {self.step} steps")

    def evaluate_if_due(self):
        if self.data.num_test and (
            _due(self.step, self.config.eval_every) or self.step == self.config.num_steps
        ):
            evaluate = sweep.evaluate if self.sweep else train.evaluate
            with self._timed("eval_seconds"):
                self.writer.write(self.step, "eval", evaluate(self.task, self.state, self.data))

    def probe_if_due(self):
        with self._timed("probe_seconds"):
            for kind in self.probes.due(self.step):
                if kind not in self.compiled_probes:
                    logging.info("step %d: the first %s probe (compiling it)", self.step, kind)
                    self.compiled_probes.add(kind)
                self.writer.write(self.step, kind, self.probes.run(kind, self.state, self.data))

    def train_window(self, stop: int):
        """(state, metrics) after steps self.step..stop-1: metrics as arrays over its steps."""
        with self._timed("train_seconds"):
            return self.run_window(self.state, self.step, stop)

    def write_window(self, metrics) -> int | None:
        """Write the window's training rows up to and including the first non-finite loss
        (of a sweep: the first step at which no model's loss is finite); returns that
        step's offset in the window, or None if there is none."""
        bad = np.flatnonzero(sweep.all_diverged(metrics["loss"]))
        count = len(metrics["loss"]) if bad.size == 0 else int(bad[0]) + 1
        self.writer.write_rows(
            [
                {
                    "step": self.step + i,
                    "kind": "train",
                    **runlog.clean({k: v[i] for k, v in metrics.items()}),
                }
                for i in range(count)
            ]
        )
        return int(bad[0]) if bad.size else None

    def timing(self) -> dict:
        timing = {k: round(v, 2) for k, v in self.seconds.items()}
        timing["wall_seconds"] = round(time.time() - self.start_time, 2)
        return timing

    def write_running(self):
        """status.json at every logging window: where the run is and when it should end."""
        runlog.write_status(
            self.workdir,
            "running",
            self.step,
            f"running, at step {self.step}",
            pid=os.getpid(),
            **self.progress.estimate(),
            **self.timing(),
        )

    def finish(self, kind: str, message: str) -> dict:
        status = runlog.write_status(self.workdir, kind, self.step, message, **self.timing())
        logging.info("%s: %s", self.workdir, message)
        return status

    @contextlib.contextmanager
    def _timed(self, part: str):
        start = time.time()
        try:
            yield
        finally:
            self.seconds[part] += time.time() - start


def _window_runner(task, tx, data, state, train_loop: str | None):
    """(state, start, stop) -> (state after steps start..stop-1, their metrics as arrays).

    'steps': one jitted step per iteration, dispatched asynchronously; 'scan':
    the window as one `lax.scan` chunk. Either way the host waits once, at the
    end of the window. The default is the one measured faster on the backend.
    """
    train_loop = train_loop or train.default_train_loop()
    if train_loop == "scan":
        chunk_fn = train.make_train_chunk(task, tx)

        def run_scan(state, start, stop):
            state, metrics = chunk_fn(state, data, stop - start)
            return state, {k: np.asarray(v) for k, v in jax.device_get(metrics).items()}

        return run_scan
    if train_loop != "steps":
        raise ConfigError(f"unknown train_loop {train_loop!r}; valid: steps, scan")
    step_fn = train.make_train_step(task, tx)
    return _stepwise(step_fn, train.EpochOrder(task, data, state.stream("data")), data)


def _stepwise(step_fn, order, data):
    """The 'steps' loop of `step_fn` (a run's or a sweep's) with `order`'s permutations."""

    def run_steps(state, start, stop):
        window = []
        for t in range(start, stop):
            state, metrics = step_fn(state, data, order(t))
            window.append(metrics)
        window = jax.device_get(window)
        return state, {k: np.array([m[k] for m in window]) for k in window[0]}

    return run_steps
