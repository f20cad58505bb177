"""A two-process JAX job on this machine (one CPU device each) against one process with two
devices: the same losses, probe values and running averages, one writer, and a job
killed and started again resumes to the same metrics, on any number of processes."""

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter

import pytest

from bn_smooth import runlog
from tests.conftest import xla_flags
from tests.test_train import ROOT

VGG_STEPS = 20  # checkpoints every 10 (the smoke scale's); the job is killed after 10
MORE_STEPS = 24  # the reference's length; one process trains the job's VGG on to it
TIMEOUT = 300


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def check_command(data_dir, workdir, vgg_steps, *job):
    return [
        sys.executable,
        "tests/multihost_check.py",
        str(data_dir),
        str(workdir),
        str(vgg_steps),
        *map(str, job),
    ]


def env(devices: int) -> dict:
    return {**os.environ, "PYTHONPATH": str(ROOT), "XLA_FLAGS": xla_flags(devices)}


def start(data_dir, workdir, vgg_steps, devices: int, *job) -> subprocess.Popen:
    # stderr (the training log) to a file: a full pipe would stop a process mid-run.
    return subprocess.Popen(
        check_command(data_dir, workdir, vgg_steps, *job),
        cwd=ROOT,
        env=env(devices),
        stdout=subprocess.PIPE,
        stderr=tempfile.TemporaryFile(mode="w+"),
        text=True,
    )


def start_job(data_dir, workdir, vgg_steps) -> list[subprocess.Popen]:
    """Two processes of one job, a device each, on a fresh local port."""
    address = f"127.0.0.1:{free_port()}"
    return [start(data_dir, workdir, vgg_steps, 1, address, k) for k in range(2)]


def start_alone(data_dir, workdir, vgg_steps) -> subprocess.Popen:
    """One process with two devices: the same global batches over the same two shards."""
    return start(data_dir, workdir, vgg_steps, 2)


def finish(processes) -> list[dict]:
    """Each process's final probes, once it ended well."""
    outputs = []
    for p in processes:
        out, _ = p.communicate(timeout=TIMEOUT)
        if p.returncode != 0:
            p.stderr.seek(0)
            raise AssertionError(p.stderr.read()[-3000:])
        outputs.append(json.loads(out.strip().splitlines()[-1]))
    return outputs


def kill_after_checkpoint(processes, run_dir, step: int):
    """SIGKILL every process once `run_dir` has trained past `step` (a checkpoint step)."""
    deadline = time.time() + TIMEOUT
    while not any(r["step"] > step for r in runlog.read_metrics(run_dir, "train")):
        assert time.time() < deadline and all(p.poll() is None for p in processes), (
            "the job ended before it could be killed"
        )
        time.sleep(0.02)
    for p in processes:
        p.send_signal(signal.SIGKILL)
    for p in processes:
        p.communicate()


@pytest.fixture(scope="module")
def runs(fake_cifar, tmp_path_factory):
    alone_dir, workdir = tmp_path_factory.mktemp("alone"), tmp_path_factory.mktemp("job")
    alone = start_alone(fake_cifar, alone_dir, MORE_STEPS)  # beside the job: they share nothing
    job = start_job(fake_cifar, workdir, VGG_STEPS)
    kill_after_checkpoint(job, workdir / "vgg", 10)
    killed = runlog.read_status(workdir / "vgg")
    job = finish(start_job(fake_cifar, workdir, VGG_STEPS))
    job_metrics = {name: runlog.read_metrics(workdir / name) for name in ("vgg", "dln")}
    [alone] = finish([alone])
    # One process trains the job's VGG on from its last checkpoint (step 20).
    [continued] = finish([start_alone(fake_cifar, workdir, MORE_STEPS)])
    return dict(
        alone=alone,
        alone_dir=alone_dir,
        workdir=workdir,
        killed=killed,
        job=job,
        job_metrics=job_metrics,
        continued=continued,
    )


def test_the_job_spans_both_processes_and_the_reference_one(runs):
    assert [(o["process"], o["processes"], o["devices"]) for o in runs["job"]] == [
        (0, 2, 2),
        (1, 2, 2),
    ]
    assert (runs["alone"]["processes"], runs["alone"]["devices"]) == (1, 2)
    # It was killed mid-run, as `running`: nothing told it to stop.
    assert runs["killed"]["status"] == "running" and runs["killed"]["step"] < VGG_STEPS


def test_one_writer_no_duplicated_rows(runs):
    workdir = runs["workdir"]
    for name, rows in runs["job_metrics"].items():
        keys = Counter((r["step"], r["kind"]) for r in rows)
        assert max(keys.values()) == 1, name
        assert sorted({r["step"] for r in rows if r["kind"] == "train"}) == list(
            range(VGG_STEPS if name == "vgg" else 12)
        )
    assert sorted(p.name for p in workdir.rglob("metrics*")) == ["metrics.jsonl"] * 2
    assert not list(workdir.rglob("*.tmp"))


@pytest.mark.parametrize("name", ["vgg", "dln"])
def test_losses_probes_and_running_averages_equal_one_process(runs, name):
    """Every row the job wrote (losses, evaluations, every probe) and its final running
    averages equal the single process's to the last bit, and both of its processes
    measure the same."""
    alone = runlog.read_metrics(runs["alone_dir"] / name)
    limit = VGG_STEPS if name == "vgg" else 12
    expected = [
        r for r in alone if r["step"] < limit or (r["step"] == limit and r["kind"] == "eval")
    ]
    assert runs["job_metrics"][name] == expected  # bit for bit
    first, second = runs["job"]
    assert first[name] == second[name]  # every process, the same values
    if name == "dln":
        assert first[name] == runs["alone"][name]
    # The final values, running averages included, are read back from the job's last
    # checkpoint by each of its processes (the VGG's, by one process: below).
    assert first[name]["batch_stats"]


def test_one_process_resumes_the_jobs_checkpoint(runs):
    """The job's VGG, trained on from step 20 by one process, is the reference's run."""
    assert runlog.read_metrics(runs["workdir"] / "vgg") == runlog.read_metrics(
        runs["alone_dir"] / "vgg"
    )
    assert runs["continued"]["vgg"] == runs["alone"]["vgg"]
