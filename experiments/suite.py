"""Training a list of runs (the reproduction suite, the C4 study) in one workdir.

A suite config has `scale`, `seed`, `data_dir`, `download` and `runs`, each run
made by `bn_smooth.configs.common.run_spec`. Runs already finished are skipped
and interrupted ones resume; a run that diverges is reported and the others go
on. The suite holds its workdir's lock for its whole life (each run holds its
own too), and checks every run's config before it writes anything.
"""

import concurrent.futures
import contextlib
import importlib
import itertools
import json
import multiprocessing
import os
import signal
import statistics
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED
from pathlib import Path
from typing import NamedTuple

import jax
from absl import logging

from bn_smooth import (
    checks,
    cifar10,
    distributed,
    interrupts,
    loop,
    probes,
    resume,
    workdir_lock,
)
from bn_smooth.errors import ConfigError
from experiments import cli, figures_dir

TIMES = "suite.json"  # per run: the seconds this suite spent on it, summed over invocations
# On a CPU the suite trains its runs side by side, one worker process per core (at most
# MAX_WORKERS): XLA keeps two cores only partly busy, even for VGG. Measured on 2 cores,
# two runs side by side take 1.3x (VGG-11 at width 1/8), 1.2x (width 1/2) and about 2x
# (the DLN) less time than one after the other (the cpu suite: 28.8 instead of 34.3
# minutes), and each is the run it would be alone.
MAX_WORKERS = 4
# In suite.json, minus the time that runs side by side overlapped: every part's seconds
# still sum to the suite's wall time.
OVERLAP = "overlap of runs side by side"
RUNS_STOP = "its runs stop at the end of their training windows, with a checkpoint"
SIGNAL_POLL = 0.5  # seconds between looks at whether a signal asked the suite to stop


def run_config(suite, run):
    """The experiment config of one run of the suite, at the suite's scale and seed."""
    module = importlib.import_module(f"bn_smooth.configs.{run.experiment}")
    # The run's own arguments come last and win (a study run names its seed).
    config = module.get_config(f"scale={suite.scale},seed={suite.seed},{run.arg}")
    for kind, every in run.every.items():
        config.probe[kind].every = every
    for kind, every in run.early_every.items():
        config.probe[kind].update(dict(early_every=every, early_until=run.early_until))
    for kind in probes.schedule(config):
        if kind not in run.probes:
            probes.turn_off(config, kind)
    off = sorted(set(run.probes) - set(probes.schedule(config)))
    if off:
        raise ConfigError(
            f"run {run.name} lists probe(s) {', '.join(off)} that its config "
            "turns off; give their interval in the run's `every`"
        )
    if run.num_steps:
        config.num_steps = run.num_steps
    if run.get("sweep_lrs"):
        config.sweep_lrs = tuple(run.sweep_lrs)
    if "data_dir" in config:
        config.data_dir = suite.data_dir or config.data_dir
        config.download = suite.download
    return config


class Times:
    """Seconds spent per part of the suite, kept in workdir/suite.json across invocations."""

    def __init__(self, workdir):
        self.path = Path(workdir) / TIMES
        self.seconds = json.loads(self.path.read_text()) if self.path.exists() else {}

    def add(self, name, seconds):
        """Work that resumes across invocations (a run) adds up."""
        self.set(name, self.seconds.get(name, 0.0) + seconds)

    def set(self, name, seconds):
        """Work that is redone from scratch (the figures) counts once."""
        self.seconds[name] = round(seconds, 1)
        if distributed.is_writer():
            self.path.write_text(json.dumps(self.seconds, indent=1))


class SideJob(NamedTuple):
    """Work besides the runs (the theory checks) that shares the suite's workers. It
    starts first, as `function(*args)` in a worker, and `done(result)` takes its result
    in this process (process 0 of a multi-process job, the only one that runs it). A
    failing check shows at the start, not after the runs; on 2 cores the theory took 110 s
    there against 62 s alone after the runs, so it saves the suite only a few seconds."""

    name: str
    function: Callable
    args: tuple
    done: Callable


def train_runs(suite, workdir, times, side: SideJob | None = None) -> dict[str, str]:
    """Train (or resume) every run not done yet, starting them in order (after `side`),
    side by side on a CPU; returns each run's final message."""
    runs, messages = suite.runs, {}
    configs = [run_config(suite, run) for run in runs]
    for run, config in zip(runs, configs, strict=True):  # no worker needed for these
        status = resume.done_status(config, workdir / run.name)
        if status is not None:
            messages[run.name] = status["message"]
    if messages:
        logging.info("%d of %d runs are done already", len(messages), len(runs))
    todo = [i for i, run in enumerate(runs) if run.name not in messages]
    jobs = [(_train, configs[i], workdir / runs[i].name) for i in todo]
    if side is not None and distributed.is_writer():
        jobs.insert(0, (_timed, side.function, *side.args))
        todo.insert(0, None)
    workers = max(1, min(len(jobs), _workers()))

    def starting(k):
        if todo[k] is None:
            logging.info("%s: in a worker beside the runs", side.name)
            return
        run = runs[todo[k]]
        logging.info(
            "[%d/%d] %s: %s %s%s",
            todo[k] + 1,
            len(runs),
            run.name,
            run.experiment,
            run.arg,
            _progress(runs, messages, times.seconds, workers),
        )

    start, run_seconds = time.time(), 0.0
    # Closed however the loop ends, so that an interrupt stops the workers too.
    with contextlib.closing(_train_all(jobs, workers, starting)) as ended:
        for k, (status, seconds) in ended:
            run_seconds += seconds
            if todo[k] is None:
                times.add(side.name, seconds)
                side.done(status)
                continue
            run = runs[todo[k]]
            times.add(run.name, seconds)
            messages[run.name] = status["message"]
            if status["status"] == "diverged":
                logging.warning("%s %s; the suite goes on", run.name, status["message"])
    if workers > 1:  # so that the parts still sum to the wall time
        times.add(OVERLAP, (time.time() - start) - run_seconds)
    return messages


def _workers() -> int:
    """One run per core on a CPU; one at a time on an accelerator or in a multi-process
    job, whose devices every run uses."""
    if jax.default_backend() != "cpu" or jax.process_count() > 1:
        return 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(cores or 1, MAX_WORKERS))


def _train(config, workdir) -> tuple[dict, float]:
    """(final status, seconds) of one run."""
    return _timed(loop.train_and_evaluate, config, workdir)


def _timed(function, *args) -> tuple[object, float]:
    start = time.time()
    result = function(*args)
    return result, time.time() - start


def _train_all(jobs, workers: int, starting):
    """Yield (job index, its function's (result, seconds)) as each job (function,
    *args) ends, calling starting(k) as job k starts: one after the other in this
    process, or side by side on `workers` fresh worker processes (JAX does not survive
    a fork), each taking the next job in order when its last one is done. After an
    error (or Ctrl-C, or SIGTERM) nothing more starts."""
    if workers == 1:
        for k, (function, *args) in enumerate(jobs):
            starting(k)
            yield k, function(*args)
        return
    waiting, running = iter(enumerate(jobs)), {}
    context = multiprocessing.get_context("spawn")
    # A signal only raises a flag here, read between waits: a KeyboardInterrupt raised
    # wherever the signal finds this process (inside concurrent.futures, holding a lock
    # its result thread needs) could leave the suite waiting forever.
    with (
        concurrent.futures.ProcessPoolExecutor(
            workers, mp_context=context, initializer=_worker_setup
        ) as pool,
        interrupts.stop_requests("the suite", then=RUNS_STOP) as stop,
    ):
        try:
            while True:
                for k, job in itertools.islice(waiting, workers - len(running)):
                    starting(k)
                    running[pool.submit(*job)] = k
                if not running:
                    return
                done, _ = concurrent.futures.wait(
                    running, timeout=SIGNAL_POLL, return_when=FIRST_COMPLETED
                )
                if stop.requested:
                    raise KeyboardInterrupt(stop.requested)
                for future in done:
                    yield running.pop(future), future.result()
        except (KeyboardInterrupt, GeneratorExit):
            _stop(pool, running)
            raise


def _worker_setup():
    """A worker process's start. Between runs it ignores SIGINT and SIGTERM (a run
    handles them while it trains: bn_smooth.interrupts): a worker killed while it waits
    for its next run can take the pool's queue lock with it and hang the suite."""
    cli.setup()
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, signal.SIG_IGN)


def _stop(pool, running):
    """Send the workers SIGTERM (Ctrl-C in a terminal reaches them too, a scheduler's
    SIGTERM does not), so that each run stops at the end of its window, checkpoints and
    says it was interrupted, and wait until they have. Sent again while they train on: a
    run still setting up, where the signal finds no handler yet, sees the next one."""
    while running and not all(future.done() for future in running):
        # The pool has no public handle on its processes.
        for process in list(pool._processes.values()):  # noqa: SLF001
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGTERM)
        concurrent.futures.wait(running, timeout=SIGNAL_POLL * 10)


def _progress(runs, done, seconds: dict, workers: int = 1) -> str:
    """How far the suite is, and a rough time left: each run not `done` at the median
    time of the done runs of its experiment (of all of them if there are none), shared
    among the `workers` that train side by side."""
    timed = {}
    for run in runs:
        if run.name in done and run.name in seconds:
            timed.setdefault(run.experiment, []).append(seconds[run.name])
    if not timed:
        return ""
    every = [v for values in timed.values() for v in values]
    left = [run for run in runs if run.name not in done]
    minutes = sum(statistics.median(timed.get(run.experiment, every)) for run in left) / 60
    return f" ({len(runs) - len(left)} done, {len(left)} left: about {minutes / workers:.0f} min)"


@contextlib.contextmanager
def prepare_and_train(
    suite,
    workdir: Path,
    figures: Path,
    side: SideJob | None = None,
    owner: str = "reproduce",
    overwrite_figures: bool = False,
):
    """Check every run's config, the data and the folders before writing anything (the
    figures folder as experiments.figures_dir says, for the entrypoint `owner`); then
    make the folders, hold the workdir's lock, train every run, and yield (times, each
    run's final message) for the figures to be written under the lock; then record what
    they were made from. A user's error is one line (cli.user_errors). In a
    multi-process job every process trains every run and process 0 writes
    (bn_smooth.distributed)."""
    with cli.user_errors(workdir):
        distributed.initialize(suite)
        configs = [run_config(suite, run) for run in suite.runs]
        for config in configs:
            checks.check_config(config)
        if any("data_dir" in config for config in configs):  # read once, kept for the runs
            cifar10.load(suite.data_dir, suite.download)
        checks.check_workdir(workdir)
        checks.check_workdir(figures)
        figures_dir.check(figures, owner, suite.scale, workdir, overwrite_figures)
        workdir.mkdir(parents=True, exist_ok=True)
        figures.mkdir(parents=True, exist_ok=True)
        with workdir_lock.hold(workdir):
            times = Times(workdir)
            yield times, train_runs(suite, workdir, times, side)
            if distributed.is_writer():
                figures_dir.record(figures, owner, suite.scale, workdir)
