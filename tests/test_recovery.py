"""Recovering what a fault left: a checkpoint that cannot be read, a full disk, a failure
while a run sets up, a scheduler's SIGTERM to the suite."""

import contextlib
import errno
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from bn_smooth import checkpoints, loop, probes, runlog
from tests.conftest import dln_config
from tests.test_reliability import DLN, quiet
from tests.test_train import ROOT, run_module

SHORT_DLN = ["--config.log_every=10", "--config.checkpoint_every=10"] + [
    f"--config.probe.{kind}.every=0" for kind in ("landscape", "ics", "activations")
]


def corrupt(workdir, step: int):
    """Random bytes over the data files that restoring checkpoint `step` reads: the merged
    OCDBT files under default/d (once merged, the per-process files are not read)."""
    files = list((workdir / "checkpoints" / str(step) / "default" / "d").iterdir())
    assert files
    rng = np.random.default_rng(step)
    for path in files:
        path.write_bytes(rng.bytes(path.stat().st_size))


def test_a_corrupt_checkpoint_is_set_aside_and_the_run_resumes_from_the_one_before(tmp_path):
    whole = run_module("experiments.dln", DLN, tmp_path / "whole", *SHORT_DLN)
    assert whole.returncode == 0, whole.stderr[-2000:]
    workdir = tmp_path / "run"
    first = run_module("experiments.dln", DLN, workdir, *SHORT_DLN, "--config.num_steps=30")
    assert first.returncode == 0, first.stderr[-2000:]
    corrupt(workdir, 30)
    again = run_module("experiments.dln", DLN, workdir, *SHORT_DLN)
    assert again.returncode == 0, again.stderr[-3000:]
    (warning,) = [line for line in again.stderr.splitlines() if "cannot be read" in line]
    assert "checkpoint of step 30" in warning and len(warning) < 300 + len(str(workdir))
    assert "(checkpoints/30/default/d/" in warning  # the file it could not read
    assert "Traceback" not in again.stderr
    assert (workdir / "checkpoints_corrupt" / "30" / "default").is_dir()  # kept, aside
    assert runlog.read_status(workdir)["status"] == "finished"
    assert runlog.read_metrics(workdir) == runlog.read_metrics(tmp_path / "whole")


@pytest.mark.parametrize("digests", [True, False])
def test_no_readable_checkpoint_is_one_line_that_says_how_to_start_over(tmp_path, digests):
    first = run_module("experiments.dln", DLN, tmp_path, *SHORT_DLN, "--config.num_steps=30")
    assert first.returncode == 0, first.stderr[-2000:]
    rows = runlog.read_metrics(tmp_path)
    for step in (20, 30):
        corrupt(tmp_path, step)
        if not digests:  # checkpoints written before digests were: orbax finds the fault
            (tmp_path / "checkpoints" / str(step) / checkpoints.DIGEST).unlink()
    again = run_module("experiments.dln", DLN, tmp_path, *SHORT_DLN)
    assert again.returncode == 2, again.stderr[-3000:]
    match = re.search(
        r"error: [^\n]*?no checkpoint can be read[^\n]*?start the run over", again.stderr
    )
    assert match, again.stderr[-3000:]
    line = match.group(0)
    assert len(line) < 300 + 2 * len(str(tmp_path))
    assert f"delete {tmp_path} to start the run over" in line
    # The digests find the fault before orbax reads a file: no traceback at all. Without
    # them, orbax's late reads of the corrupt files mostly print nothing, but not always.
    if digests:
        assert "Traceback" not in again.stderr and "changed since it was saved" in again.stderr
    status = runlog.read_status(tmp_path)
    assert status["status"] == "failed" and status["step"] == 30, status
    assert runlog.read_metrics(tmp_path) == rows  # nothing written is lost


def test_a_checkpoint_digest_names_the_file_that_changed(tmp_path):
    folder = tmp_path / "7"
    (folder / "d").mkdir(parents=True)
    for name, data in (("a", b"one"), ("d/b", b"two")):
        (folder / name).write_bytes(data)
    (folder / checkpoints.DIGEST).write_text(json.dumps(checkpoints.digest(folder)))
    assert checkpoints.changed_file(folder) is None
    (folder / "d" / "b").write_bytes(b"twO")  # same size, one byte differs
    assert checkpoints.changed_file(folder) == folder / "d" / "b"
    (folder / "d" / "b").unlink()
    assert checkpoints.changed_file(folder) == folder / "d" / "b"
    (folder / checkpoints.DIGEST).unlink()
    assert checkpoints.changed_file(folder) is None  # no digest: orbax's checks decide


def test_a_failure_while_setting_up_keeps_the_step_the_run_had_reached(tmp_path, monkeypatch):
    config = quiet(dln_config(num_steps=30, log_every=10, checkpoint_every=10))
    assert loop.train_and_evaluate(config, tmp_path)["step"] == 30

    def broken(*args, **kwargs):
        raise RuntimeError("compiling the probes failed")

    monkeypatch.setattr(probes, "Probes", broken)  # after the restore, before any step
    config.num_steps = 40
    with pytest.raises(RuntimeError):
        loop.train_and_evaluate(config, tmp_path)
    status = runlog.read_status(tmp_path)
    assert status["status"] == "failed" and status["step"] == 30, status
    assert status["message"].startswith("failed at step 30: RuntimeError: compiling the probes")


def fill_the_disk_after(monkeypatch, calls: int):
    """From the `calls`-th write on, the disk takes half the bytes and then is full."""
    count = [0]
    real = runlog._write_some

    def write(fd, data):
        count[0] += 1
        if count[0] < calls:
            return real(fd, data)
        if len(data) > 1:
            real(fd, data[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(runlog, "_write_some", write)


@pytest.mark.parametrize("calls", [1, 2, 4, 5])
def test_a_full_disk_loses_nothing_written_and_says_where(tmp_path, monkeypatch, calls):
    config = quiet(dln_config(num_steps=20, log_every=10, checkpoint_every=10))
    loop.train_and_evaluate(config, tmp_path / "whole")
    config.num_steps = 10
    loop.train_and_evaluate(config, tmp_path)
    before = {name: (tmp_path / name).read_text() for name in ("metrics.jsonl", "status.json")}
    fill_the_disk_after(monkeypatch, calls)
    config.num_steps = 20
    with pytest.raises(runlog.DiskFull, match=r"^the disk is full: cannot write \S*") as error:
        loop.train_and_evaluate(config, tmp_path)
    assert "re-run the same command" in str(error.value) and "\n" not in str(error.value)
    rows = runlog.read_metrics(tmp_path)
    text = (tmp_path / "metrics.jsonl").read_text()
    assert text.endswith("\n") and len(rows) == text.count("\n")  # no half line
    assert text.startswith(before["metrics.jsonl"][: len(text)])  # nothing lost but a redo
    assert json.loads((tmp_path / "status.json").read_text())["step"] >= 10
    assert not list(tmp_path.glob("*.tmp"))
    monkeypatch.undo()  # space again: the same command resumes to the same run
    assert loop.train_and_evaluate(config, tmp_path)["status"] == "finished"
    assert runlog.read_metrics(tmp_path) == runlog.read_metrics(tmp_path / "whole")


def test_a_full_disk_while_checkpointing_keeps_the_checkpoint_before(tmp_path, monkeypatch):
    import orbax.checkpoint as ocp

    config = quiet(dln_config(num_steps=20, log_every=10, checkpoint_every=10))
    loop.train_and_evaluate(config, tmp_path / "whole")
    config.num_steps = 10
    loop.train_and_evaluate(config, tmp_path)

    def full(self, step, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(ocp.CheckpointManager, "save", full)
    config.num_steps = 20
    with pytest.raises(runlog.DiskFull, match="cannot write .*checkpoints/20"):
        loop.train_and_evaluate(config, tmp_path)
    assert (tmp_path / "checkpoints" / "10").is_dir()
    monkeypatch.undo()
    assert loop.train_and_evaluate(config, tmp_path)["status"] == "finished"
    assert runlog.read_metrics(tmp_path) == runlog.read_metrics(tmp_path / "whole")


# Two DLN runs side by side in the suite's worker processes, as the suite trains them,
# of the numbers of steps given after the workdir.
SUITE = """
import faulthandler
import signal
import sys
from pathlib import Path
import ml_collections
from bn_smooth.configs.common import run_spec
from experiments import cli, suite
cli.setup()
faulthandler.register(signal.SIGUSR1, all_threads=True)  # where it waits, if it hangs
steps = [int(n) for n in sys.argv[2:]]
runs = [
    run_spec(f"dln_{k}", "dln", f"norm=none,seed={k}", (), num_steps=n)
    for k, n in enumerate(steps)
]
config = ml_collections.ConfigDict(dict(scale="smoke", seed=0, data_dir=None, runs=runs))
workdir = Path(sys.argv[1])
with cli.user_errors(workdir):
    suite.train_runs(config, workdir, suite.Times(workdir))
"""


def stop_a_suite(workdir, how: str, ready, steps=(10**7, 10**7)) -> list[int]:
    """Start SUITE, send `how` once ready(), check that it stops and says how to resume:
    the pids of the runs it was training."""
    # A file, not a pipe: nothing reads the suite's log until it stops, and a full pipe
    # would stall its writers.
    log = workdir / "stderr.txt"
    with log.open("w") as stderr:
        suite = subprocess.Popen(
            [sys.executable, "-c", SUITE, str(workdir), *map(str, steps)],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stderr=stderr,
            start_new_session=True,  # its own process group, as a terminal's job
        )
    workers = []
    try:
        deadline = time.time() + 300
        while not ready():
            assert suite.poll() is None and time.time() < deadline, "the runs did not start"
            time.sleep(0.5)
        statuses = [runlog.read_status(workdir / f"dln_{k}") for k in range(len(steps))]
        workers = [status["pid"] for status in statuses if status["status"] == "running"]
        if how == "SIGTERM to the suite":  # a scheduler's: the suite's process only
            suite.send_signal(signal.SIGTERM)
        else:  # the whole process group, workers too
            os.killpg(suite.pid, signal.SIGINT)
        try:
            suite.wait(timeout=300)  # alone, 20 s
        except subprocess.TimeoutExpired:
            suite.send_signal(signal.SIGUSR1)
            time.sleep(2)
            pytest.fail(f"the suite did not stop; its log and threads:\n{log.read_text()[-8000:]}")
    finally:
        for pid in [suite.pid, *workers]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    assert suite.returncode == 1
    last = log.read_text().strip().splitlines()[-1]
    assert last.startswith(f"interrupted; checkpoints and metrics are kept in {workdir}")
    assert "To resume, run the same command again: python" in last
    return workers


HOW = ["SIGTERM to the suite", "Ctrl-C in its terminal"]


@pytest.mark.parametrize("how", HOW)
def test_an_interrupted_suite_stops_its_workers_and_says_how_to_resume(tmp_path, how):
    names = ("dln_0", "dln_1")
    workers = stop_a_suite(tmp_path, how, lambda: all(under_way(tmp_path / n) for n in names))
    for name in names:
        status = runlog.read_status(tmp_path / name)
        assert status["status"] == "interrupted" and 100 <= status["step"] < 10**7
        assert checkpoints.latest_step(tmp_path / name) == status["step"]
    assert not any(map(alive, workers))  # each checkpointed and stopped; none trains on


@pytest.mark.parametrize("how", HOW)
def test_a_suite_interrupted_while_a_worker_waits_for_work_stops(tmp_path, how):
    """A worker whose run has finished waits for the next holding the pool's queue lock:
    killed by the signal there, it took the lock with it, and the suite hung (a test of
    the same moment, one run done and one under way)."""

    def one_done_one_under_way():
        status = runlog.read_status(tmp_path / "dln_0")
        return status and status["status"] == "finished" and under_way(tmp_path / "dln_1")

    stop_a_suite(tmp_path, how, one_done_one_under_way, steps=(20, 10**7))
    assert runlog.read_status(tmp_path / "dln_1")["status"] == "interrupted"


def under_way(workdir) -> bool:
    status = runlog.read_status(workdir)
    return status is not None and status["status"] == "running" and status["step"] >= 100


def alive(pid: int) -> bool:
    """Whether process `pid` runs (a zombie, ended but not yet reaped, does not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False
