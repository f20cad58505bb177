"""The training loop: resume, train, evaluate, probe, checkpoint, and say how it ended.

`train_and_evaluate(config, workdir)` is what the entrypoints call; everything
it writes is described in bn_smooth.runlog.
"""

import contextlib
import json
import os
import signal
import threading
import time
import traceback
from pathlib import Path

import jax
import numpy as np
from absl import logging

from bn_smooth import checks, distributed, probes, runlog, tasks, train, workdir_lock
from bn_smooth.errors import ConfigError

# Fields that may change when a run is resumed (to train it longer, or elsewhere, on
# any number of devices and processes).
RESUMABLE_CHANGES = {
    "num_steps",
    "log_every",
    "data_dir",
    "download",
    "num_devices",
    "train_loop",
    *distributed.FIELDS,
}


def _without_off_probes(config_dict: dict) -> dict:
    """The config without the sections of probe kinds that never run: their settings
    change nothing a run writes, so they do not stop it from resuming."""
    sections = config_dict.get("probe") or {}
    on = {
        k: v
        for k, v in sections.items()
        if not isinstance(v, dict) or v.get("every") or v.get("early_every")
    }
    return {**config_dict, "probe": on} if "probe" in config_dict else config_dict


def _check_resumable(workdir, config_dict):
    old = runlog.read_config(workdir)
    if old is None:
        return
    old = _without_off_probes(old)
    config_dict = _without_off_probes(json.loads(json.dumps(config_dict)))  # tuples -> lists
    changed = sorted(
        k
        for k in set(old) | set(config_dict)
        if k not in RESUMABLE_CHANGES and old.get(k) != config_dict.get(k)
    )
    if changed:
        raise ConfigError(
            f"{workdir} holds a run with a different config (differs in {', '.join(changed)}); "
            "use a new --workdir, or delete that one to start over."
        )


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


def _already_done(status, config) -> bool:
    """Diverged, or finished at least `num_steps` (a larger num_steps trains on)."""
    if not status:
        return False
    return status["status"] == "diverged" or (
        status["status"] == "finished" and status["step"] >= config.num_steps
    )


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
    """Train per `config` in `workdir`, resuming what is there; returns the final status.

    The config, the workdir and the data are all checked before anything is written
    (bn_smooth.checks), and one process at a time may hold a workdir
    (bn_smooth.workdir_lock). A run that raises is left `failed`, with its traceback
    in workdir/error.log.
    """
    workdir = Path(workdir)
    checks.check_config(config)
    checks.check_workdir(workdir)
    done = done_status(config, workdir)
    if done is not None:  # skipped without loading the data
        logging.info("%s: already %s, nothing to do", workdir, done["message"])
        return done
    config_dict = config.to_dict()
    task, data = tasks.make_task(config)
    checks.check_batch_size(task.batch_size, data.num_train)
    workdir.mkdir(parents=True, exist_ok=True)
    with workdir_lock.hold(workdir):
        status = _existing_status(workdir, config_dict)  # as of now that we hold the lock
        if _already_done(status, config):
            return status
        if status and status["status"] == "running":  # its process died without a word
            logging.warning(
                "%s: the process that ran it (pid %s) was killed at step %d or "
                "later; resuming from its last checkpoint",
                workdir,
                status.get("pid", "?"),
                status["step"],
            )
        runlog.write_config(workdir, config_dict)
        return _train_to_the_end(config, workdir, task, data)


def done_status(config, workdir) -> dict | None:
    """The final status of the run of `config` in `workdir` if it has nothing left to do
    (finished, or diverged), else None; raises if that workdir holds another config."""
    status = _existing_status(Path(workdir), config.to_dict())
    return status if _already_done(status, config) else None


def _existing_status(workdir, config_dict) -> dict | None:
    """The status of the run in `workdir`, if any, after checking it may be resumed."""
    _check_resumable(workdir, config_dict)
    return runlog.read_status(workdir)


def _train_to_the_end(config, workdir, task, data) -> dict:
    run = None
    try:
        run = _Run(config, workdir, task, data)
        with _SigtermAsInterrupt():
            return run.train()
    except KeyboardInterrupt:
        if run is not None:
            run.checkpoints.save(run.state)
            run.finish(
                "interrupted", f"interrupted at step {run.step}; re-run the same command to resume"
            )
        raise
    except Exception as e:
        step = run.step if run is not None else 0
        runlog.write_failure(workdir, step, e, traceback.format_exc())
        raise
    finally:
        if run is not None:
            run.checkpoints.close()


class _Run:
    """One invocation of a run: its state, its step, and what it writes."""

    def __init__(self, config, workdir: Path, task, data):
        self.config, self.workdir = config, workdir
        self.task, self.data = task, data
        self.tx = train.make_optimizer(config)
        self.checkpoints = train.Checkpoints(workdir)
        self.state = self.checkpoints.restore(train.init_state(self.task, self.tx, config.seed))
        self.step = int(self.state.step)
        if self.step:
            logging.info("resuming %s from step %d", workdir, self.step)
        self.writer = runlog.MetricsWriter(workdir)
        self.writer.truncate(self.step)
        self.run_window = _window_runner(
            self.task, self.tx, self.data, self.state, config.get("train_loop")
        )
        self.probes = probes.Probes(self.task, self.tx, config, self.state.params)
        self.seconds = {"train_seconds": 0.0, "eval_seconds": 0.0, "probe_seconds": 0.0}
        self.start_time = time.time()
        self.progress = _Progress(self.step, config.num_steps)
        self.compiled_probes = set()

    def train(self) -> dict:
        self.write_running()
        logging.info("compiling the training step (on a CPU, up to a minute for VGG)")
        while True:
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
            with self._timed("eval_seconds"):
                self.writer.write(
                    self.step, "eval", train.evaluate(self.task, self.state, self.data)
                )

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
        """Write the window's training rows up to and including the first non-finite loss;
        returns that step's offset in the window, or None if every loss is finite."""
        bad = np.flatnonzero(~np.isfinite(metrics["loss"]))
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
    order = train.EpochOrder(task, data, state.stream("data"))

    def run_steps(state, start, stop):
        window = []
        for t in range(start, stop):
            state, metrics = step_fn(state, data, order(t))
            window.append(metrics)
        window = jax.device_get(window)
        return state, {k: np.array([m[k] for m in window]) for k in window[0]}

    return run_steps


class _Progress:
    """Steps per second and the time left, measured from the end of the invocation's first
    window: the compiling before it would make the first estimate many times too long."""

    def __init__(self, step: int, num_steps: int):
        self.num_steps = num_steps
        self.origin = None  # (step, time) at the end of the first window
        self.step = step

    def update(self, step: int, metrics):
        self.step = step
        if self.origin is None:
            self.origin = (step, time.time())
        speed = self.estimate()
        summary = "  ".join(f"{k} {np.mean(v):.4g}" for k, v in metrics.items())
        logging.info(
            "step %d/%d  %s  %s",
            step,
            self.num_steps,
            summary,
            f"{speed['steps_per_second']:.1f} steps/s  ETA {_clock(speed['eta_seconds'])}"
            if speed
            else "(speed and ETA from the next window on: this one compiled)",
        )

    def estimate(self) -> dict:
        """{steps_per_second, eta_seconds} of the steps since the first window (all the
        work: training, probes, evaluation, checkpoints), or {} before there are any."""
        if self.origin is None or self.step <= self.origin[0]:
            return {}
        rate = (self.step - self.origin[0]) / max(time.time() - self.origin[1], 1e-9)
        return {
            "steps_per_second": round(rate, 3),
            "eta_seconds": round((self.num_steps - self.step) / rate, 1),
        }


def _clock(seconds: float) -> str:
    return time.strftime("%H:%M:%S", time.gmtime(seconds))
