"""The training loop: resume, train, evaluate, probe, checkpoint, and say how it ended.

`train_and_evaluate(config, workdir)` is what the entrypoints call; everything
it writes is described in bn_smooth.runlog.
"""

import contextlib
import json
import math
import signal
import threading
import time
from pathlib import Path

import jax
import numpy as np
from absl import logging

from bn_smooth import probes, runlog, tasks, train

# Fields that may change when a run is resumed (to train it longer, or elsewhere).
RESUMABLE_CHANGES = {"num_steps", "log_every", "data_dir", "download", "num_devices",
                     "train_loop"}


def _without_off_probes(config_dict: dict) -> dict:
    """The config without the sections of probe kinds that never run: their settings
    change nothing a run writes, so they do not stop it from resuming."""
    sections = config_dict.get("probe") or {}
    on = {k: v for k, v in sections.items()
          if not isinstance(v, dict) or v.get("every") or v.get("early_every")}
    return {**config_dict, "probe": on} if "probe" in config_dict else config_dict


def _check_resumable(workdir, config_dict):
    old = runlog.read_config(workdir)
    if old is None:
        return
    old = _without_off_probes(old)
    config_dict = _without_off_probes(json.loads(json.dumps(config_dict)))  # tuples -> lists
    changed = sorted(k for k in set(old) | set(config_dict)
                     if k not in RESUMABLE_CHANGES and old.get(k) != config_dict.get(k))
    if changed:
        raise ValueError(
            f"{workdir} holds a run with a different config (differs in {', '.join(changed)}); "
            "use a new --workdir, or delete that one to start over.")


def _next_stop(step: int, config) -> int:
    """The next step at which the loop must look at metrics, evaluate, probe or checkpoint."""
    every = [v for v in (config.log_every, config.get("eval_every"),
                         config.get("checkpoint_every")) if v]
    return int(min([config.num_steps] + [(step // k + 1) * k for k in every]
                   + [s.next_after(step) for s in probes.schedule(config).values()]))


def _already_done(status, config) -> bool:
    """Diverged, or finished at least `num_steps` (a larger num_steps trains on)."""
    if not status:
        return False
    return status["status"] == "diverged" or (status["status"] == "finished"
                                              and status["step"] >= config.num_steps)


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
    if _already_done(status, config):
        logging.info("%s: already %s, nothing to do", workdir, status["message"])
        return status
    runlog.write_config(workdir, config_dict)
    run = _Run(config, workdir)
    try:
        with _SigtermAsInterrupt():
            return run.train()
    except KeyboardInterrupt:
        run.checkpoints.save(run.state)
        run.finish("interrupted", f"interrupted at step {run.step}; re-run the same command "
                   "to resume")
        raise
    finally:
        run.checkpoints.close()


class _Run:
    """One invocation of a run: its state, its step, and what it writes."""

    def __init__(self, config, workdir: Path):
        self.config, self.workdir = config, workdir
        self.task, self.data = tasks.make_task(config)
        self.tx = train.make_optimizer(config)
        self.checkpoints = train.Checkpoints(workdir)
        self.state = self.checkpoints.restore(train.init_state(self.task, self.tx, config.seed))
        self.step = self.start_step = int(self.state.step)
        if self.step:
            logging.info("resuming %s from step %d", workdir, self.step)
        self.writer = runlog.MetricsWriter(workdir)
        self.writer.truncate(self.step)
        self.run_window = _window_runner(self.task, self.tx, self.data, self.state,
                                         config.get("train_loop"))
        self.probes = probes.Probes(self.task, self.tx, config, self.state.params)
        self.seconds = {"train_seconds": 0.0, "eval_seconds": 0.0, "probe_seconds": 0.0}
        self.start_time = time.time()

    def train(self) -> dict:
        runlog.write_status(self.workdir, "running", self.step, f"running, at step {self.step}")
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
            _log_progress(self.step, self.start_step, self.config.num_steps, metrics,
                          self.seconds["train_seconds"])
            if _due(self.step, self.config.get("checkpoint_every")):
                self.checkpoints.save(self.state)
        self.checkpoints.save(self.state)
        return self.finish("finished", f"finished {self.step} steps")

    def evaluate_if_due(self):
        if self.data.num_test and (_due(self.step, self.config.eval_every)
                                   or self.step == self.config.num_steps):
            with self._timed("eval_seconds"):
                self.writer.write(self.step, "eval",
                                  train.evaluate(self.task, self.state, self.data))

    def probe_if_due(self):
        with self._timed("probe_seconds"):
            for kind in self.probes.due(self.step):
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
        self.writer.write_rows([
            {"step": self.step + i, "kind": "train",
             **runlog.clean({k: v[i] for k, v in metrics.items()})}
            for i in range(count)])
        return int(bad[0]) if bad.size else None

    def finish(self, kind: str, message: str) -> dict:
        timing = {k: round(v, 2) for k, v in self.seconds.items()}
        timing["wall_seconds"] = round(time.time() - self.start_time, 2)
        runlog.write_status(self.workdir, kind, self.step, message, **timing)
        logging.info("%s: %s", self.workdir, message)
        return runlog.read_status(self.workdir)

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
        raise ValueError(f"unknown train_loop {train_loop!r}; valid: steps, scan")
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


def _log_progress(step, start_step, num_steps, metrics, train_seconds):
    rate = (step - start_step) / max(train_seconds, 1e-9)
    summary = "  ".join(f"{k} {np.mean(v):.4g}" for k, v in metrics.items())
    eta = (num_steps - step) / rate if rate else math.inf
    logging.info("step %d/%d  %s  %.1f steps/s  ETA %s", step, num_steps, summary, rate,
                 time.strftime("%H:%M:%S", time.gmtime(eta)) if math.isfinite(eta) else "?")
