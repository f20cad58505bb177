"""The training loop: resume, train, evaluate, probe, checkpoint, and say how it ended.

`train_and_evaluate(config, workdir)` is what the entrypoints call; everything
it writes is described in bn_smooth.runlog.
"""

import json
import math
import signal
import threading
import time
from pathlib import Path

import jax
import numpy as np
from absl import logging

from bn_smooth import runlog, tasks, train
from bn_smooth.probes import Probes

# Fields that may change when a run is resumed (to train it longer, or elsewhere).
RESUMABLE_CHANGES = {"num_steps", "log_every", "data_dir", "download", "num_devices",
                     "train_loop"}


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
    probe = config.get("probe") or {}
    return [v for v in (config.log_every, config.get("eval_every"),
                        config.get("checkpoint_every"), probe.get("every"),
                        probe.get("ics_every"), probe.get("activations_every")) if v]


def _next_stop(step: int, config) -> int:
    """The next step at which the loop must look at metrics, evaluate or checkpoint."""
    return min([config.num_steps] + [(step // k + 1) * k for k in _boundaries(config)])


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

    task, data = tasks.make_task(config)
    tx = train.make_optimizer(config)
    checkpoints = train.Checkpoints(workdir)
    state = checkpoints.restore(train.init_state(task, tx, config.seed))
    step = int(state.step)
    if step:
        logging.info("resuming %s from step %d", workdir, step)
    writer = runlog.MetricsWriter(workdir)
    writer.truncate(step)
    start_step = step
    run_window = _window_runner(task, tx, data, state, config.get("train_loop") or None)
    probes = Probes(task, tx, config, state.params) if config.get("probe") else None
    has_test = "test_inputs" in data
    clock = {"start": time.time(), "train_seconds": 0.0, "eval_seconds": 0.0,
             "probe_seconds": 0.0}

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
                    writer.write(step, "eval", train.evaluate(task, state, data))
                    clock["eval_seconds"] += time.time() - t0
                if step >= config.num_steps:
                    break
                if probes:
                    t0 = time.time()
                    for kind in probes.due(step):
                        writer.write(step, kind, probes.run(kind, state, data))
                    clock["probe_seconds"] += time.time() - t0
                stop = _next_stop(step, config)
                t0 = time.time()
                # `state` only advances once the window's rows are written, so an
                # interrupt or a divergence checkpoints a state consistent with the log.
                window_state, metrics = run_window(state, step, stop)
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
