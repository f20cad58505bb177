"""Training runs end to end: entrypoints, resume after an interrupt, divergence, determinism."""

import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

from bn_smooth import checkpoints, loop, results, runlog, train
from bn_smooth.configs.common import set_every
from experiments import cli
from tests.conftest import dln_config, tiny_vgg_config, xla_flags

ROOT = Path(__file__).resolve().parents[1]


def run_module(module, config_arg, workdir, *flags, fast_compile=False):
    """`python -m module --config=config_arg --workdir=workdir *flags`, as a user runs it."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if fast_compile:
        env["XLA_FLAGS"] = xla_flags()
    return subprocess.run(
        [sys.executable, "-m", module, f"--config={config_arg}", f"--workdir={workdir}", *flags],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_vgg_entrypoint_smoke(fake_cifar, tmp_path):
    result = run_module(
        "experiments.vgg_cifar",
        "bn_smooth/configs/vgg_cifar.py:norm=noisy_batch,scale=smoke",
        tmp_path,
        f"--config.data_dir={fake_cifar}",
        fast_compile=True,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "finished 20 steps" in result.stdout
    assert "steps/s" in result.stderr and "ETA" in result.stderr  # progress lines
    assert runlog.read_status(tmp_path)["status"] == "finished"
    assert runlog.read_config(tmp_path)["norm"] == "noisy_batch"
    train_rows = runlog.read_metrics(tmp_path, "train")
    assert [r["step"] for r in train_rows] == list(range(20))
    assert all(np.isfinite(r["loss"]) and 0 <= r["accuracy"] <= 1 for r in train_rows)
    assert [r["step"] for r in runlog.read_metrics(tmp_path, "eval")] == [0, 10, 20]


def test_dln_entrypoint_smoke(tmp_path):
    result = run_module(
        "experiments.dln",
        "bn_smooth/configs/dln.py:norm=batch,scale=smoke",
        tmp_path,
        fast_compile=True,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    losses = [r["loss"] for r in runlog.read_metrics(tmp_path, "train")]
    assert len(losses) == 40 and losses[-1] < losses[0]


@pytest.mark.parametrize(
    "env, expected", [(None, "{tmp}/default"), ("{tmp}/mine", "{tmp}/mine"), ("", None)]
)
def test_entrypoints_cache_compiled_programs_where_the_user_says(
    env, expected, tmp_path, monkeypatch
):
    """By default in ~/.cache/bn_smooth/jax; $JAX_COMPILATION_CACHE_DIR another folder, or
    none when empty."""
    before = jax.config.jax_compilation_cache_dir
    monkeypatch.setattr(cli, "COMPILATION_CACHE", tmp_path / "default")
    if env is None:
        monkeypatch.delenv("JAX_COMPILATION_CACHE_DIR", raising=False)
    else:
        monkeypatch.setenv("JAX_COMPILATION_CACHE_DIR", env.format(tmp=tmp_path))
    jax.config.update("jax_compilation_cache_dir", None)
    try:
        cli.setup()
        chosen = jax.config.jax_compilation_cache_dir
    finally:
        jax.config.update("jax_compilation_cache_dir", before)
    assert chosen == (expected and expected.format(tmp=tmp_path))


def test_entrypoint_reports_bad_input_clearly(tmp_path):
    result = run_module(
        "experiments.vgg_cifar", "bn_smooth/configs/vgg_cifar.py:norm=bogus,scale=smoke", tmp_path
    )
    assert result.returncode != 0
    assert "unknown normalization 'bogus'" in result.stderr and "noisy_batch" in result.stderr
    result = run_module(
        "experiments.vgg_cifar",
        "bn_smooth/configs/vgg_cifar.py:scale=smoke",
        tmp_path / "run",
        f"--config.data_dir={tmp_path / 'absent'}",
    )
    assert result.returncode != 0 and "CIFAR-10 not found" in result.stderr


def interrupt_after(calls: int, monkeypatch, train_loop: str):
    """Make the training step ('steps') or window ('scan') raise KeyboardInterrupt
    on its `calls`-th call."""
    maker = {"steps": "make_train_step", "scan": "make_train_chunk"}[train_loop]
    real = getattr(train, maker)

    def make(task, tx):
        fn, count = real(task, tx), [0]

        def interrupted(*args):
            count[0] += 1
            if count[0] == calls:
                raise KeyboardInterrupt
            return fn(*args)

        return interrupted

    monkeypatch.setattr(train, maker, make)


def test_entrypoints_report_input_errors_in_one_line_and_let_bugs_through(tmp_path, capsys):
    from bn_smooth.errors import ConfigError

    with pytest.raises(SystemExit) as exit_info, cli.user_errors(tmp_path):
        raise ConfigError("lr must be a positive number")
    assert exit_info.value.code == cli.USER_ERROR
    assert capsys.readouterr().err == "error: lr must be a positive number\n"
    # A ValueError from inside the code is a bug, not the user's: its traceback shows.
    with pytest.raises(ValueError, match="a bug"), cli.user_errors(tmp_path):
        raise ValueError("a bug")


@pytest.mark.parametrize("norm,train_loop", [("noisy_batch", "steps"), ("none", "scan")])
def test_interrupted_and_resumed_run_matches_uninterrupted(
    fake_cifar, tmp_path, monkeypatch, norm, train_loop
):
    config = tiny_vgg_config(
        fake_cifar, norm=norm, num_steps=14, checkpoint_every=8, train_loop=train_loop
    )
    whole = loop.train_and_evaluate(config, tmp_path / "whole")
    assert whole["status"] == "finished"

    with monkeypatch.context() as m:
        # Mid-window: steps 8 and 9 done ('steps'), or the window 8..11 under way ('scan').
        interrupt_after({"steps": 10, "scan": 3}[train_loop], m, train_loop)
        with pytest.raises(KeyboardInterrupt):
            loop.train_and_evaluate(config, tmp_path / "resumed")
    status = runlog.read_status(tmp_path / "resumed")
    assert status["status"] == "interrupted" and "re-run" in status["message"]
    assert status["step"] == 8
    assert max(r["step"] for r in runlog.read_metrics(tmp_path / "resumed")) <= 8

    assert loop.train_and_evaluate(config, tmp_path / "resumed")["status"] == "finished"
    assert runlog.read_metrics(tmp_path / "resumed") == runlog.read_metrics(tmp_path / "whole")


def test_diverging_run_stops_cleanly_and_keeps_its_metrics(tmp_path):
    config = dln_config(lr=1.0)
    status = loop.train_and_evaluate(config, tmp_path)
    assert status["status"] == "diverged"
    t = status["step"]
    assert status["message"].startswith(f"diverged at step {t}")
    rows = runlog.read_metrics(tmp_path, "train")
    assert [r["step"] for r in rows] == list(range(t + 1))
    assert all(np.isfinite(r["loss"]) for r in rows[:-1]) and rows[-1]["loss"] is None
    for line in (tmp_path / runlog.METRICS).read_text().splitlines():
        json.loads(line, parse_constant=lambda c: pytest.fail(f"non-standard JSON {c}"))
    # Re-running does not train again.
    assert loop.train_and_evaluate(config, tmp_path)["message"] == status["message"]


def test_same_seed_gives_identical_metrics(fake_cifar, tmp_path):
    config = tiny_vgg_config(fake_cifar, norm="noisy_batch", num_steps=6)
    for name in ("a", "b"):
        loop.train_and_evaluate(config, tmp_path / name)
    assert runlog.read_metrics(tmp_path / "a") == runlog.read_metrics(tmp_path / "b")
    config.seed = 1
    loop.train_and_evaluate(config, tmp_path / "c")
    assert runlog.read_metrics(tmp_path / "c") != runlog.read_metrics(tmp_path / "a")


def test_scan_chunks_train_exactly_as_single_steps(fake_cifar, tmp_path):
    """Windows of 4 steps over 6-step epochs: chunks cross epochs and must carry the order."""
    config = tiny_vgg_config(fake_cifar, norm="noisy_batch", num_steps=14)
    set_every(config.probe, 0)
    rows = {}
    for loop_kind in ("steps", "scan"):
        config.train_loop = loop_kind
        loop.train_and_evaluate(config, tmp_path / loop_kind)
        rows[loop_kind] = runlog.read_metrics(tmp_path / loop_kind, "train")
    assert len(rows["scan"]) == 14
    for a, b in zip(rows["steps"], rows["scan"], strict=True):
        assert a["step"] == b["step"]
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-5)
        assert a["accuracy"] == b["accuracy"]


def test_resume_refuses_a_different_config_but_can_train_longer(tmp_path):
    loop.train_and_evaluate(dln_config(num_steps=20), tmp_path)
    with pytest.raises(ValueError, match="differs in lr"):
        loop.train_and_evaluate(dln_config(num_steps=20, lr=2e-6), tmp_path)
    longer = loop.train_and_evaluate(dln_config(num_steps=40), tmp_path)
    assert longer["status"] == "finished" and longer["step"] == 40
    assert [r["step"] for r in runlog.read_metrics(tmp_path, "train")] == list(range(40))
    assert runlog.read_metrics(tmp_path, "train") == train_fresh_rows(
        tmp_path.parent / "fresh", num_steps=40
    )


def test_settings_of_a_probe_that_never_runs_do_not_block_resuming(tmp_path):
    config = dln_config(num_steps=20)
    config.probe.activations.every = 0
    loop.train_and_evaluate(config, tmp_path)
    config.probe.activations.num_units = 7  # off: nothing the run wrote depends on it
    assert loop.train_and_evaluate(config, tmp_path)["status"] == "finished"
    config.probe.landscape.num_etas = 5  # on: its rows would change
    with pytest.raises(ValueError, match="differs in probe"):
        loop.train_and_evaluate(config, tmp_path)


def test_a_field_newer_than_the_workdir_resumes_at_its_default_only(tmp_path):
    """config.json written before a field existed: the run resumes where the field has the
    value the experiment's config gives it by default, and refuses any other value."""
    loop.train_and_evaluate(dln_config(num_steps=20), tmp_path)

    def forget(*path):  # as if config.json were written before that field existed
        old = runlog.read_config(tmp_path)
        node = old
        for part in path[:-1]:
            node = node[part]
        del node[path[-1]]
        runlog.write_config(tmp_path, old)

    forget("momentum")
    forget("probe", "landscape", "mode")
    with pytest.raises(ValueError, match=r"differs in momentum\)"):
        loop.train_and_evaluate(dln_config(num_steps=40, momentum=0.9), tmp_path)
    assert loop.train_and_evaluate(dln_config(num_steps=40), tmp_path)["step"] == 40


def test_a_workdir_from_before_the_probe_sections_refuses_to_resume(tmp_path):
    config = dln_config(num_steps=20)
    old = config.to_dict()
    old["probe"] = {
        "every": 10,
        "ics_every": 10,
        "activations_every": 10,
        "eta_min": 0.01,
        "eta_max": 30.0,
        "num_etas": 12,
        "spacing": "log",
        "num_units": 4,
        "activation_layers": [],
        "percentiles": [5, 25, 50, 75, 95],
        "strategy": "map",
    }
    runlog.write_config(tmp_path, old)
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(ValueError, match="differs in probe.*use a new --workdir"):
        loop.train_and_evaluate(config, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def train_fresh_rows(workdir, num_steps):
    loop.train_and_evaluate(dln_config(num_steps=num_steps), workdir)
    return runlog.read_metrics(workdir, "train")


def test_training_updates_running_averages_and_evaluation_uses_them(fake_cifar):
    from bn_smooth import tasks

    config = tiny_vgg_config(fake_cifar, norm="batch")
    task, data = tasks.make_task(config)
    tx = train.make_optimizer(config)
    state = train.init_state(task, tx, 0)
    step_fn = train.make_train_step(task, tx)
    new_state, _ = step_fn(state, data, None)
    before = jax.tree.leaves(state.batch_stats)
    after = jax.tree.leaves(new_state.batch_stats)
    assert all(not np.allclose(a, b) for a, b in zip(before, after, strict=True))
    shifted = new_state.replace(batch_stats=jax.tree.map(lambda v: v * 1.5, new_state.batch_stats))
    assert train.evaluate(task, shifted, data) != train.evaluate(task, new_state, data)


def test_start_and_batch_at_give_the_run_the_loop_trains(fake_cifar, tmp_path):
    """`train.start` is the loop's step 0, and `train.batch_at(..., t)` the batch the loop
    trains on at step t: the loss on it by hand is the logged one, and SGD on it from the
    start state ends at the loop's final parameters."""
    config = tiny_vgg_config(fake_cifar, norm="noisy_batch", num_steps=8)  # two epochs
    set_every(config.probe, 0)
    loop.train_and_evaluate(config, tmp_path)
    logged = [row["loss"] for row in runlog.read_metrics(tmp_path, "train")]
    task, data, tx, state = train.start(config)
    initial = state
    for t in range(config.num_steps):
        batch = train.batch_at(task, data, initial, t)  # any state of the run will do
        np.testing.assert_array_equal(batch[0], train.batch_at(task, data, state)[0])
        (loss, (_, batch_stats)), grads = jax.value_and_grad(
            train.training_loss, argnums=1, has_aux=True
        )(task, state.params, state.batch_stats, batch, state.noise_key())
        assert float(loss) == pytest.approx(logged[t], rel=1e-5)
        updates, opt_state = tx.update(grads, state.opt_state, state.params)
        state = state.replace(
            params=jax.tree.map(lambda p, u: p + u, state.params, updates),
            batch_stats=batch_stats,
            opt_state=opt_state,
            step=state.step + 1,
        )
    saved = checkpoints.Checkpoints(tmp_path)
    final = saved.restore(initial)
    saved.close()
    assert int(final.step) == config.num_steps
    for a, b in zip(jax.tree.leaves(final.params), jax.tree.leaves(state.params), strict=True):
        # Op by op against the compiled loop: 6e-5 apart on an AMD EPYC; a wrong batch, more.
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-4)
    # Another step's batch differs: the check above could not pass by accident.
    assert not np.array_equal(
        train.batch_at(task, data, initial, 0)[0], train.batch_at(task, data, initial, 1)[0]
    )
    # The same run made in memory from its rows (as a notebook makes its sweeps) reads back
    # as the one loaded from its files.
    loaded = results.Run.load(tmp_path)
    made = results.Run.from_rows("made", loaded.config, runlog.read_metrics(tmp_path))
    np.testing.assert_array_equal(made.train_curve("loss", 3), loaded.train_curve("loss", 3))
    assert made.eval_curve("accuracy")[1].tolist() == loaded.eval_curve("accuracy")[1].tolist()
    assert made.status["step"] == loaded.status["step"] == config.num_steps
