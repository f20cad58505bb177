"""Learning-rate sweeps as runs: each model is the run it would be alone (bn_smooth.loop with
`sweep_lrs`), and the rule that says at which learning rates a network trains."""

import numpy as np
import pytest

from bn_smooth import loop, probes, progress, results, sweep_results
from bn_smooth.errors import ConfigError
from tests.conftest import dln_config, tiny_vgg_config


def without_probes(config):
    for kind in list(probes.schedule(config)):
        probes.turn_off(config, kind)
    return config


def train_losses(run):
    return results.floats([row["loss"] for row in run.rows["train"]])


def test_sweep_run_trains_each_model_as_its_run_alone(tmp_path):
    # The last diverges at once; the others go on without it. (At 1e-5 this DLN oscillates
    # at the edge of stability, where the batched program's other rounding grows to 7% by
    # step 18: the sweep is each run alone as much as a run on another machine is.)
    lrs = (1e-6, 2e-6, 1e-2)
    loop.train_and_evaluate(without_probes(dln_config(sweep_lrs=lrs)), tmp_path / "sweep")
    sweep = results.Run.load(tmp_path / "sweep")
    assert sweep.status["status"] == "finished" and sweep.status["step"] == 40
    models = sweep_results.models(sweep)
    assert [m.lr for m in models] == list(lrs)
    for model, lr in zip(models, lrs, strict=True):
        loop.train_and_evaluate(without_probes(dln_config(lr=lr)), tmp_path / f"{lr:g}")
        alone = results.Run.load(tmp_path / f"{lr:g}")
        assert model.diverged_at == alone.diverged_at
        assert [r["step"] for r in model.rows["train"]] == [r["step"] for r in alone.rows["train"]]
        np.testing.assert_allclose(train_losses(model), train_losses(alone), rtol=1e-5)
    assert models[2].diverged_at is not None and models[2].diverged_at < 10
    assert sweep_results.largest_trainable(sweep) == (2e-6, False)


def test_sweep_run_resumes_where_it_stopped(tmp_path):
    config = without_probes(dln_config(sweep_lrs=(1e-6, 3e-6)))
    loop.train_and_evaluate(config, tmp_path / "whole")
    config.num_steps = 20  # a checkpoint is written at step 20
    loop.train_and_evaluate(config, tmp_path / "resumed")
    config.num_steps = 40
    assert loop.train_and_evaluate(config, tmp_path / "resumed")["step"] == 40
    whole, resumed = (results.Run.load(tmp_path / name) for name in ("whole", "resumed"))
    assert len(resumed.rows["train"]) == 40
    assert whole.rows["train"] == resumed.rows["train"]


def test_vgg_sweep_run_evaluates_each_model(fake_cifar, tmp_path):
    lrs = (0.05, 0.2)
    config = without_probes(tiny_vgg_config(fake_cifar, sweep_lrs=lrs))
    loop.train_and_evaluate(config, tmp_path / "sweep")
    models = sweep_results.models(results.Run.load(tmp_path / "sweep"))
    for model, lr in zip(models, lrs, strict=True):
        alone = without_probes(tiny_vgg_config(fake_cifar, lr=lr))
        loop.train_and_evaluate(alone, tmp_path / f"{lr:g}")
        alone = results.Run.load(tmp_path / f"{lr:g}")
        assert model.num_test_examples == alone.num_test_examples > 0
        for key in ("loss", "accuracy"):
            steps, ours = model.eval_curve(key)
            np.testing.assert_array_equal(steps, alone.eval_curve(key)[0])
            np.testing.assert_allclose(ours, alone.eval_curve(key)[1], rtol=1e-4)
        np.testing.assert_allclose(train_losses(model), train_losses(alone), rtol=1e-4)
    assert models[0].final_test() != models[1].final_test()  # the models really differ


def sweep_of(curves: list[list], num_steps: int = 30, task: str = "dln") -> results.Run:
    """A finished sweep run in memory, one loss curve (None: non-finite) per model."""
    lrs = [2**k for k in range(len(curves))]
    config = {"task": task, "lr": 1.0, "num_steps": num_steps, "sweep_lrs": lrs}
    rows = [{"step": t, "kind": "train", "loss": [c[t] for c in curves]} for t in range(num_steps)]
    return results.Run.from_rows("sweep", config, rows)


def test_trains_rule_on_known_curves():
    flat = [2.0] * 30
    down = [2.0] * 29 + [1.5]  # exactly 0.75 of the start: trains
    short = [2.0] * 29 + [1.51]  # not quite
    nan_late = [2.0] * 20 + [None] * 10
    sweep = sweep_of([down, flat, short, nan_late])
    models = sweep_results.models(sweep)
    assert [sweep_results.trains(m) for m in models] == [True, False, False, False]
    assert models[3].diverged_at == 20 and len(models[3].rows["train"]) == 21
    assert sweep_results.largest_trainable(sweep) == (1, False)
    assert sweep_results.largest_trainable(sweep_of([down, down, down, down])) == (8, True)
    assert sweep_results.largest_trainable(sweep_of([flat, flat, short, nan_late])) == (
        None,
        False,
    )
    summary = sweep_results.summary(sweep)
    assert summary["diverged_at"] == [None, None, None, 20]
    assert summary["final_loss"][:3] == [1.5, 2.0, 1.51]


def test_a_classifier_at_chance_does_not_train_from_above_it():
    chance = np.log(10)  # CIFAR-10's cross-entropy when every class is predicted alike
    at_chance = [3.8] * 29 + [chance]  # 0.61 of its start, no better than chance
    learns = [3.8] * 29 + [0.75 * chance]
    sweep = sweep_of([learns, at_chance], task="vgg_cifar")
    models = sweep_results.models(sweep)
    assert [sweep_results.trains(m) for m in models] == [True, False]
    assert [sweep_results.trains(m, as_fixed=True) for m in models] == [True, True]
    assert sweep_results.largest_trainable(sweep, as_fixed=True) == (2, True)
    assert sweep_results.largest_trainable(sweep) == (1, False)
    # A DLN has no chance level: its reference is its loss at step 0.
    assert sweep_results.trains(sweep_results.models(sweep_of([at_chance]))[0])


def test_an_unfinished_sweep_trains_at_no_learning_rate():
    sweep = sweep_of([[2.0] * 29 + [1.0]] * 4)
    sweep.status = {"status": "interrupted", "step": 20}
    assert sweep_results.largest_trainable(sweep) == (None, False)


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(), "makes no probes"),
        (dict(train_loop="scan"), "step by step"),
        (dict(sweep_lrs=(1e-6, -1.0)), "positive number"),
    ],
)
def test_a_sweep_config_that_cannot_run_names_the_fix(tmp_path, change, message):
    config = dln_config(sweep_lrs=(1e-6, 1e-5))
    if change:
        without_probes(config)
        config.update(change)
    with pytest.raises(ConfigError, match=message):
        loop.train_and_evaluate(config, tmp_path / "sweep")
    assert not (tmp_path / "sweep").exists()


def test_a_sweeps_progress_line_averages_the_models_still_finite():
    window = np.array([[1.0, np.nan, 5.0], [3.0, np.nan, np.nan]])  # (steps, models)
    assert progress._mean("loss", window) == "loss 2 (1 of 3 models finite)"
    assert progress._mean("loss", np.array([1.0, 2.0])) == "loss 1.5"  # a run alone
