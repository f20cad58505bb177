"""Training a list of runs (the reproduction suite, the C4 study) in one workdir.

A suite config has `scale`, `seed`, `data_dir` and `runs`, each run made by
`experiments.configs.common.run_spec`. Runs already finished are skipped and
interrupted ones resume; a run that diverges is reported and the others go on.
"""

import importlib
import json
import time
from pathlib import Path

from absl import logging

from bn_smooth import loop, probes
from experiments import cli

TIMES = "suite.json"  # per run: the seconds this suite spent on it, summed over invocations


def run_config(suite, run):
    """The experiment config of one run of the suite, at the suite's scale and seed."""
    module = importlib.import_module(f"experiments.configs.{run.experiment}")
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
        raise ValueError(f"run {run.name} lists probe(s) {', '.join(off)} that its config "
                         "turns off; give their interval in the run's `every`")
    if run.num_steps:
        config.num_steps = run.num_steps
    if suite.data_dir and "data_dir" in config:
        config.data_dir = suite.data_dir
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
        self.path.write_text(json.dumps(self.seconds, indent=1))


def train_runs(suite, workdir, times) -> dict[str, str]:
    """Train (or skip, or resume) every run; returns each run's final message."""
    messages = {}
    for i, run in enumerate(suite.runs):
        logging.info("[%d/%d] %s: %s %s", i + 1, len(suite.runs), run.name, run.experiment,
                     run.arg)
        start = time.time()
        status = loop.train_and_evaluate(run_config(suite, run), workdir / run.name)
        times.add(run.name, time.time() - start)
        messages[run.name] = status["message"]
        if status["status"] == "diverged":
            logging.warning("%s %s; the suite goes on", run.name, status["message"])
    return messages


def prepare_and_train(suite, workdir: Path, figures: Path) -> tuple[Times, dict[str, str]]:
    """Make the workdir and figures folders, then train every run (a user's error: one
    line, see cli.user_errors); returns the timings and each run's final message."""
    workdir.mkdir(parents=True, exist_ok=True)
    figures.mkdir(parents=True, exist_ok=True)
    times = Times(workdir)
    with cli.user_errors(workdir):
        return times, train_runs(suite, workdir, times)
