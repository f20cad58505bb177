"""Run by test_multihost.py: one process of a two-process job, or the single-process
reference. The suite's training (experiments.suite) of a small VGG with BatchNorm and of
the BatchNorm DLN, each probe kind on one of them every 5 steps; then those probes on each
run's final checkpoint, printed as one JSON line.

    python tests/multihost_check.py DATA_DIR WORKDIR VGG_STEPS [COORDINATOR PROCESS_ID]

With COORDINATOR (host:port) and PROCESS_ID the process joins a job of two.
"""

import json
import sys
from pathlib import Path

import jax
import ml_collections

from bn_smooth import checkpoints, probes, runlog, train
from bn_smooth.configs.common import add_job_fields, run_spec
from experiments import cli
from experiments import suite as suite_lib

# Every probe kind on a network with BatchNorm; each kind on one of them keeps the test short.
PROBES = {"vgg": ("landscape", "curvature"), "dln": ("ics", "activations")}


def suite_config(data_dir, vgg_steps: int, coordinator=None, process_id=None):
    c = ml_collections.ConfigDict(dict(scale="smoke", seed=0, data_dir=data_dir, download=False))
    add_job_fields(c)
    if coordinator is not None:
        c.coordinator_address, c.num_processes, c.process_id = coordinator, 2, int(process_id)
    c.runs = [
        run_spec(
            name,
            experiment,
            "norm=batch",
            PROBES[name],
            every=dict.fromkeys(PROBES[name], 5),
            num_steps=steps,
        )
        for name, experiment, steps in (("vgg", "vgg_cifar", vgg_steps), ("dln", "dln", 12))
    ]
    return c


def final_probes(suite, run, workdir: Path) -> dict:
    """Every probe's values at the run's last checkpoint, and its running averages."""
    config = suite_lib.run_config(suite, run)
    task, data, tx, state = train.start(config)
    saved = checkpoints.Checkpoints(workdir / run.name)
    state = saved.restore(state)
    saved.close()
    measured = probes.Probes(task, tx, config, state.params)
    return {
        "step": int(state.step),
        "batch_stats": runlog.clean(jax.device_get(state.batch_stats)),
        **{kind: runlog.clean(measured.run(kind, state, data)) for kind in PROBES[run.name]},
    }


if __name__ == "__main__":
    data_dir, workdir, vgg_steps, *job = sys.argv[1:]
    suite, workdir = suite_config(data_dir, int(vgg_steps), *job), Path(workdir)
    cli.setup()
    with suite_lib.prepare_and_train(suite, workdir, workdir / "figures"):
        pass
    print(
        json.dumps(
            {
                "process": jax.process_index(),
                "processes": jax.process_count(),
                "devices": jax.device_count(),
                **{run.name: final_probes(suite, run, workdir) for run in suite.runs},
            }
        )
    )
