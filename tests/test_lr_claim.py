"""Claim C8 and the learning-rate sweep's report: the rule on both sides of its thresholds
with hand-written sweeps, and the command at the smoke scale, its table the runs' own."""

import json

import numpy as np
import pytest

from bn_smooth import runlog, sweep_results
from bn_smooth.paper import lr_claim, lr_sweep_report
from tests.claim_runs import STEPS, check_one_part_fails, failing, make_run
from tests.test_reproduce import PNG_MAGIC
from tests.test_train import run_module

GRID = [0.1 * 2**k for k in range(5)]


def entry(largest, grid=GRID) -> dict:
    """A network's sweep in lr_sweep.json's form, training up to `largest` (None: at none)."""
    trains = [largest is not None and lr <= largest for lr in grid]
    return {
        "lrs": grid,
        "trains": trains,
        "largest_trainable": largest,
        "largest_is_top": largest == max(grid),
        "largest_as_fixed": largest,
    }


def c8_sweep(vgg=(GRID[1], GRID[2]), dln=(GRID[1], GRID[3])) -> dict:
    """The largest lr that trains, (standard, BatchNorm), of each network."""
    runs = {}
    for task, pair in (("vgg", vgg), ("dln", dln)):
        for norm, largest in zip(("none", "batch"), pair, strict=True):
            runs[f"{task}_{norm}"] = entry(largest)
    return {"scale": "test", "seed": 0, "trains_rule": sweep_results.TRAINS, "runs": runs}


def c8_runs(sharper=2.0) -> dict:
    """The main VGG pair, the loss falling from 1 to 0.3 on both, the standard network's
    lambda_1 `sharper` times BatchNorm's at every curvature probe."""
    loss = list(np.linspace(1.0, 0.3, STEPS))
    return {
        name: make_run(
            name,
            norm,
            0.1,
            loss=loss,
            curvature={t: (lam, lam) for t in range(0, STEPS, 10)},
        )
        for name, norm, lam in (("vgg_none", "none", 30.0 * sharper), ("vgg_batch", "batch", 30.0))
    }


def test_c8_confirmed_when_batchnorm_trains_at_twice_the_standard_networks_lr():
    assert lr_claim.WIDER == 2
    result = lr_claim.claim_8(c8_runs(), c8_sweep())
    assert result[1] == "confirmed", failing(result)
    assert "VGG standard 0.2, BatchNorm 0.4" in result[0]
    assert "training accuracy at step 15,000" in result[2]  # the paper's figure 1, read back


@pytest.mark.parametrize(
    "sweep, part",
    [
        (c8_sweep(vgg=(GRID[2], GRID[2])), "on VGG"),  # the same lr: not wider
        (c8_sweep(vgg=(GRID[1], None)), "on VGG"),  # BatchNorm trains at none
        (c8_sweep(vgg=(GRID[4], GRID[4])), "on VGG"),  # the standard network at the top
        (c8_sweep(dln=(GRID[3], GRID[3])), "the same on the DLN"),
    ],
)
def test_c8_each_check_fails_alone(sweep, part):
    check_one_part_fails(lr_claim.claim_8(c8_runs(), sweep), part)


def test_c8_primary_holds_on_its_boundary_and_when_the_standard_network_never_trains():
    assert lr_claim.claim_8(c8_runs(), c8_sweep(vgg=(GRID[1], GRID[2])))[1] == "confirmed"
    assert lr_claim.claim_8(c8_runs(), c8_sweep(vgg=(None, GRID[0])))[1] == "confirmed"


def test_c8_matched_loss_check_needs_batchnorm_lower():
    check_one_part_fails(lr_claim.claim_8(c8_runs(sharper=1.0), c8_sweep()), "at a matched")
    assert lr_claim.claim_8(c8_runs(sharper=1.01), c8_sweep())[1] == "confirmed"


def test_c8_without_the_sweep_says_how_to_run_it():
    summary, verdict, body = lr_claim.claim_8(c8_runs(), None)
    assert verdict == "not measured" and lr_claim.COMMAND in body


def test_smoke_sweep_table_is_the_runs_own_metrics(fake_cifar, tmp_path):
    workdir = tmp_path / "runs"
    result = run_module(
        "experiments.lr_sweep",
        "bn_smooth/configs/lr_sweep.py:scale=smoke",
        workdir,
        f"--config.data_dir={fake_cifar}",
        fast_compile=True,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    figures = workdir / "figures"
    summary = json.loads((figures / lr_sweep_report.SUMMARY).read_text())
    assert (figures / lr_sweep_report.FIGURE).read_bytes().startswith(PNG_MAGIC)
    assert set(summary["runs"]) == {"vgg_none", "vgg_batch", "dln_none", "dln_batch"}
    for name, entry_ in summary["runs"].items():
        rows = runlog.read_metrics(workdir / name, "train")
        losses = np.array([[np.nan if v is None else v for v in r["loss"]] for r in rows])
        assert losses.shape == (entry_["num_steps"], len(entry_["lrs"]))
        np.testing.assert_array_equal(entry_["initial_loss"], losses[0])
        final = losses[-max(1, entry_["num_steps"] // 30) :].mean(axis=0)  # the last 1/30
        finite = np.isfinite(losses).all(axis=0)
        np.testing.assert_allclose(
            np.where(finite, entry_["final_loss"], 0), np.where(finite, final, 0)
        )
        # The reference: the loss at step 0, or VGG's chance loss ln 10 where lower.
        reference = np.minimum(losses[0], np.log(10) if name.startswith("vgg") else np.inf)
        np.testing.assert_allclose(entry_["reference_loss"], reference)
        trains = finite & (final <= sweep_results.TRAINS * reference)
        assert entry_["trains_as_fixed"] == (finite & (final <= 0.75 * losses[0])).tolist()
        assert entry_["trains"] == trains.tolist()
        good = np.array(entry_["lrs"])[trains]
        assert entry_["largest_trainable"] == (max(good) if good.size else None)
    text = (figures / lr_sweep_report.MARKDOWN).read_text()
    assert "Largest learning rate that trains" in text and "| lr |" in text
    assert json.loads((figures / "provenance.json").read_text()) == {
        "lr_sweep": {"scale": "smoke", "workdir": ".."}
    }
