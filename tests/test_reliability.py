"""Faults a user meets: a second process on a workdir, kill -9, a crash, bad inputs."""

import os
import signal
import subprocess
import sys
import time

import pytest

from bn_smooth import checks, loop, probes, runlog, workdir_lock
from bn_smooth.configs import reproduce
from experiments import suite as suite_lib
from tests.conftest import dln_config, tiny_vgg_config
from tests.test_train import ROOT, run_module

DLN = "bn_smooth/configs/dln.py:norm=batch,scale=smoke"
# A DLN that trains for several seconds in small windows: long enough to be caught mid-run.
LONG_DLN = dict(num_steps=1_500, log_every=10, checkpoint_every=200)


def quiet(config, keep=()):
    """`config` with every probe kind off but `keep`: fewer programs to compile."""
    for kind in probes.schedule(config):
        if kind not in keep:
            probes.turn_off(config, kind)
    return config


def long_dln_flags():
    return [f"--config.{k}={v}" for k, v in LONG_DLN.items()] + [
        f"--config.probe.{kind}.every=0" for kind in ("landscape", "ics", "activations")
    ]


def start(module, config_arg, workdir, *flags) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", module, f"--config={config_arg}", f"--workdir={workdir}", *flags],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_status(workdir, process, at_least_step: int) -> dict:
    """The run's status once it is running at `at_least_step` or later."""
    deadline = time.time() + 300
    while time.time() < deadline:
        assert process.poll() is None, process.communicate()[1][-2000:]
        status = runlog.read_status(workdir)
        if status and status["status"] == "running" and status["step"] >= at_least_step:
            return status
        time.sleep(0.05)
    pytest.fail(f"{workdir} never reached step {at_least_step}")


def test_second_process_is_refused_and_a_killed_run_resumes_to_identical_metrics(tmp_path):
    config = quiet(dln_config("batch", **LONG_DLN))
    assert loop.train_and_evaluate(config, tmp_path / "whole")["status"] == "finished"

    workdir = tmp_path / "killed"
    first = start("experiments.dln", DLN, workdir, *long_dln_flags())
    # status.json follows the run, window by window, with its pid, speed and ETA.
    status = wait_for_status(workdir, first, at_least_step=300)  # past a checkpoint
    assert status["pid"] == first.pid and status["message"] == f"running, at step {status['step']}"
    assert status["steps_per_second"] > 0 and status["eta_seconds"] >= 0

    # A second process on the same workdir is refused, naming the holder, and writes nothing.
    # (Not counting the `.tmp` files the running process writes and renames at each window.)
    def listing():
        return sorted(p.name for p in workdir.iterdir() if p.suffix != ".tmp")

    before = listing()
    with pytest.raises(workdir_lock.WorkdirBusy, match=f"in use by process {first.pid}"):
        loop.train_and_evaluate(config, workdir)
    assert listing() == before

    first.send_signal(signal.SIGKILL)
    first.wait()
    stale = runlog.read_status(workdir)
    assert stale["status"] == "running" and stale["pid"] == first.pid  # as kill -9 left it

    again = run_module("experiments.dln", DLN, workdir, *long_dln_flags())
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"(pid {first.pid}) was killed" in again.stderr and "resuming" in again.stderr
    assert runlog.read_status(workdir)["status"] == "finished"
    assert runlog.read_metrics(workdir) == runlog.read_metrics(tmp_path / "whole")


def test_an_error_inside_a_run_leaves_it_failed_with_its_traceback(tmp_path, monkeypatch):
    config = quiet(dln_config(), keep=("activations",))

    def broken(self, kind, state, data):
        raise RuntimeError("the probe broke\nsecond line")

    monkeypatch.setattr(probes.Probes, "run", broken)
    with pytest.raises(RuntimeError):
        loop.train_and_evaluate(config, tmp_path)
    status = runlog.read_status(tmp_path)
    assert status["status"] == "failed" and status["step"] == 0
    assert status["message"].startswith("failed at step 0: RuntimeError: the probe broke (")
    assert "second line" not in status["message"]
    log = (tmp_path / runlog.ERROR_LOG).read_text()
    assert log.startswith("Traceback") and "RuntimeError: the probe broke" in log
    monkeypatch.undo()  # fixed: the same command trains
    assert loop.train_and_evaluate(config, tmp_path)["status"] == "finished"


def bad_config(fake_cifar, change):
    if change.startswith("vgg"):
        config = tiny_vgg_config(fake_cifar)
        change = change.removeprefix("vgg ")
    else:
        config = dln_config()
    key, value = change.split("=")
    node = config
    *parents, leaf = key.split(".")
    for part in parents:
        node = node[part]
    with config.ignore_type():
        old = node[leaf]
        node[leaf] = (
            value
            if isinstance(old, str | tuple)
            else int(value)
            if old is None
            else type(old)(value)
        )
    return config


@pytest.mark.parametrize(
    "change, message",
    [
        ("lr=-1", "lr must be a positive number, not -1.0"),
        ("lr=0", "lr must be a positive number, not 0.0"),
        ("num_steps=0", "num_steps must be a positive integer, not 0"),
        ("batch_size=0", "batch_size must be a positive integer"),
        ("vgg batch_size=4096", "batch_size 4096 is larger than the training set (96 examples)"),
        ("vgg model.width=0", "model.width 0 leaves the 8-channel layers with no channels"),
        (
            "vgg model.width=0.06",
            "model.width 0.06 leaves the 8-channel layers with 0 channels; "
            "use a width above 0.0625",
        ),
        ("vgg model.cfg=vgg12", "model.cfg 'vgg12' is not a VGG configuration"),
        ("vgg norm=batchnorm", "unknown normalization 'batchnorm'"),
        ("probe.ics.every=-5", "probe.ics.every must be >= 0"),
    ],
)
def test_a_bad_value_is_one_line_and_writes_nothing(fake_cifar, tmp_path, change, message):
    config = bad_config(fake_cifar, change)
    with pytest.raises(ValueError) as err:
        loop.train_and_evaluate(config, tmp_path / "new")
    assert message in str(err.value) and "\n" not in str(err.value)
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize(
    "workdir, message",
    [
        ("a_file", "is a file, not a folder"),
        ("a_file/run", "is a file, not a folder"),
        ("/proc/bn_smooth_run", "cannot write to /proc"),  # read-only, even for root
    ],
)
def test_a_workdir_that_cannot_be_written_is_one_line(tmp_path, workdir, message):
    (tmp_path / "a_file").write_text("not a folder")
    with pytest.raises(checks.ConfigError, match=message):
        loop.train_and_evaluate(dln_config(), tmp_path / workdir)
    assert (tmp_path / "a_file").read_text() == "not a folder"


def test_a_mistyped_norm_leaves_the_workdir_for_the_corrected_command(tmp_path):
    with pytest.raises(ValueError, match="unknown normalization"):
        loop.train_and_evaluate(quiet(dln_config("btach")), tmp_path)
    assert list(tmp_path.iterdir()) == []
    assert loop.train_and_evaluate(quiet(dln_config("batch")), tmp_path)["status"] == "finished"


@pytest.mark.parametrize(
    "flags, message",
    [
        (
            ["--config.nonexistent=1"],
            "--config.nonexistent: config.nonexistent does not exist; valid fields are",
        ),
        (
            ["--config.probe.landscap.every=1"],
            "config.probe.landscap does not exist; did you mean config.probe.landscape?",
        ),
        (["--config.depth=3"], "config.depth does not exist; did you mean config.model.depth?"),
        (["--config.lr=abc"], "could not convert string to float: 'abc'"),
        (["--config=bn_smooth/configs/dln.py:lr=abc"], "could not convert string to float"),
        (["--config=bn_smooth/configs/dln.py:lr=0.1,depht=3"], "bad config argument 'depht=3'"),
        (["--config.lr=-1"], "error: lr must be a positive number, not -1.0"),
    ],
)
def test_the_entrypoints_give_bad_flags_one_line_and_exit_code_2(tmp_path, flags, message):
    """In a subprocess: what a user at a shell sees."""
    config = next((f.split("=", 1)[1] for f in flags if f.startswith("--config=")), DLN)
    rest = [f for f in flags if not f.startswith("--config=")]
    result = run_module("experiments.dln", config, tmp_path / "run", *rest)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2 and message in result.stderr, result.stderr[-3000:]
    assert lines[-1].startswith("error: ") and "Traceback" not in result.stderr
    assert not (tmp_path / "run").exists()


def test_the_suite_holds_its_workdir_and_passes_the_download_setting(fake_cifar, tmp_path, capsys):
    suite = reproduce.get_config("scale=smoke")
    suite.data_dir, suite.download = str(fake_cifar), False
    vgg = next(run for run in suite.runs if run.experiment == "vgg_cifar")
    assert suite_lib.run_config(suite, vgg).download is False
    suite.download = True
    assert suite_lib.run_config(suite, vgg).download is True
    with workdir_lock.hold(tmp_path):
        with (
            pytest.raises(SystemExit) as exit_,
            suite_lib.prepare_and_train(suite, tmp_path, tmp_path / "figures"),
        ):
            pytest.fail("the suite started although another process holds its workdir")
    assert exit_.value.code == 2
    assert f"in use by process {os.getpid()}" in capsys.readouterr().err


def test_the_lock_is_released_however_its_holder_ends(tmp_path):
    """A second holder is refused, even in the same process (the lock belongs to an open
    file); once the first lets go, by returning or by raising, the next one gets it."""
    with workdir_lock.hold(tmp_path):
        with pytest.raises(workdir_lock.WorkdirBusy, match=f"process {os.getpid()}"):
            with workdir_lock.hold(tmp_path):
                pass
    with pytest.raises(KeyError), workdir_lock.hold(tmp_path):
        raise KeyError("a crash while holding it")
    with workdir_lock.hold(tmp_path):
        assert (tmp_path / workdir_lock.LOCK).read_text() == f"{os.getpid()}\n"


def test_the_suite_says_how_far_it_is_and_roughly_how_long_is_left():
    from bn_smooth.configs.common import run_spec

    runs = [
        run_spec(name, experiment, "", ())
        for name, experiment in [
            ("v1", "vgg_cifar"),
            ("v2", "vgg_cifar"),
            ("d1", "dln"),
            ("v3", "vgg_cifar"),
            ("d2", "dln"),
            ("x1", "other"),
        ]
    ]
    seconds = {"v1": 200.0, "v2": 400.0, "d1": 60.0}
    assert suite_lib._progress(runs, set(), seconds) == ""  # none done yet: no guess
    done = {"v1", "v2", "d1"}
    # Left: v3 at the vgg median (300 s), d2 at the dln one (60 s), x1 at all runs' (200 s).
    assert suite_lib._progress(runs, done, seconds) == " (3 done, 3 left: about 9 min)"
    # Three side by side: a third of the time.
    assert suite_lib._progress(runs, done, seconds, 3) == " (3 done, 3 left: about 3 min)"


def test_a_start_says_nothing_that_does_not_concern_the_user():
    """What every entrypoint and suite worker logs on starting: not JAX's search for a TPU
    on a machine without one, not absl's warning about logging before flag parsing (a
    worker process does not parse the flags its parent parsed)."""
    code = (
        "from experiments import cli; cli.setup(); import jax; jax.devices(); "
        "from absl import logging; logging.info('the run starts')"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "JAX_PLATFORMS": ""},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "the run starts" in result.stderr
    assert "libtpu" not in result.stderr
    assert "before flag parsing" not in result.stderr
