"""The C4 study at the smoke scale: its table is the runs' own metrics, recomputed here from
metrics.jsonl without bn_smooth.results; and the per-step ratio on hand-made series."""

import json
import re

import numpy as np
import pytest

from bn_smooth import runlog, summaries
from bn_smooth.configs import c4_study
from bn_smooth.paper import c4_analysis, c4_report
from tests.test_reproduce import PNG_MAGIC
from tests.test_train import run_module


def raw_series(workdir, key):
    """(steps, grad_dist_max / grad_norm or another landscape key) straight from the file."""
    rows = runlog.read_metrics(workdir, "landscape")
    steps = np.array([r["step"] for r in rows])
    if key == "relative":
        return steps, np.array([r["grad_dist_max"] / r["grad_norm"] for r in rows])
    return steps, np.array([r[key] for r in rows])


def test_smoke_study_table_is_the_runs_own_metrics(fake_cifar, tmp_path):
    workdir = tmp_path / "runs"
    figures = workdir / "figures"  # by default beside the runs
    result = run_module(
        "experiments.c4_study",
        "bn_smooth/configs/c4_study.py:scale=smoke",
        workdir,
        f"--config.data_dir={fake_cifar}",
        fast_compile=True,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    study = c4_study.get_config("scale=smoke")
    summary = json.loads((figures / c4_analysis.SUMMARY).read_text())
    assert not summary["missing"]
    assert (figures / "c4_study.png").read_bytes().startswith(PNG_MAGIC)
    text = (figures / "c4_study.md").read_text()
    assert "**Why.**" in text and "Windows: step 0 apart" in text
    made = json.loads((figures / "provenance.json").read_text())
    assert made == {"c4_study": {"scale": "smoke", "workdir": ".."}}

    first = summary["settings"][0]
    name, until, start = first["name"], summary["early_until"], first["early_start"]
    assert first["seeds"] == [0, 1] and start > 0
    # The plateau's end: the first step whose 10-step mean loss is 2% below step 0's.
    ends = []
    for seed in first["seeds"]:
        loss = np.array(
            [
                r["loss"]
                for r in runlog.read_metrics(workdir / f"{name}_none_lr0.1_s{seed}", "train")
            ]
        )
        mean = np.array([loss[max(0, t - 9) : t + 1].mean() for t in range(len(loss))])
        below = np.flatnonzero(mean < 0.98 * mean[0])
        ends.append(int(below[0]) if below.size else len(loss) - 1)
    assert start == max([1, *ends])

    # Each seed's early median of gradient change / ||g||, from the raw rows.
    member = first["members"]["batch_lr0.1"]
    for k, seed in enumerate(member["seeds"]):
        steps, rel = raw_series(workdir / f"{name}_batch_lr0.1_s{seed}", "relative")
        keep = (steps >= start) & (steps < until)
        assert member["early"]["gradient change / ||g||"][k] == pytest.approx(
            np.median(rel[keep]), rel=1e-9
        )
        assert member["step 0"]["gradient change"][k] == pytest.approx(
            raw_series(workdir / f"{name}_batch_lr0.1_s{seed}", "grad_dist_max")[1][0]
        )
        # The non-linearity factor at the largest step size: the change over the quadratic
        # model's eta ||g|| ||H g_hat||, from the same rows.
        rows = runlog.read_metrics(workdir / f"{name}_batch_lr0.1_s{seed}", "landscape")
        factor = np.array(
            [
                r["grad_dists"][-1] / (r["step_sizes"][-1] * r["grad_norm"] * r["hg_norm"])
                for r in rows
            ]
        )
        assert member["early"]["non-linearity"][k] == pytest.approx(
            np.median(factor[keep]), rel=1e-6
        )

    # The per-step ratios standard / BatchNorm, pooled over both seeds.
    pooled = []
    for seed in first["seeds"]:
        steps, a = raw_series(workdir / f"{name}_none_lr0.1_s{seed}", "grad_dist_max")
        _, b = raw_series(workdir / f"{name}_batch_lr0.1_s{seed}", "grad_dist_max")
        pooled += list((a / b)[(steps >= start) & (steps < until)])
    stats = first["ratios"]["batch_lr0.1"]["gradient change"]["early"]
    assert stats["count"] == len(pooled)
    assert stats["median"] == pytest.approx(np.median(pooled), rel=1e-9)
    assert stats["max"] == pytest.approx(max(pooled), rel=1e-9)
    # lr 0.5 is trained on seed 0 only, and compared with seed 0's standard run.
    assert first["members"]["batch_lr0.5"]["seeds"] == [0]
    assert len(summary["settings"]) == len(study.settings)

    # The verdict is the largest early median over every setting and comparison.
    medians = [
        r["gradient change"]["early"]["median"]
        for s in summary["settings"]
        for r in s["ratios"].values()
        if r["gradient change"]["early"]["count"]
    ]
    assert summary["verdict"]["median"] == pytest.approx(max(medians))
    assert f"{c4_report.fmt(summary['verdict']['median'])}x" in text

    # Again: every run is finished, nothing trains, the same table comes back.
    again = run_module(
        "experiments.c4_study",
        "bn_smooth/configs/c4_study.py:scale=smoke",
        workdir,
        f"--config.data_dir={fake_cifar}",
    )
    assert again.returncode == 0 and re.search(r"(\d+) of \1 runs are done already", again.stderr)
    assert json.loads((figures / c4_analysis.SUMMARY).read_text()) == summary


def test_matched_ratio_pairs_equal_steps_only():
    steps, r = summaries.matched_ratio(
        [0, 10, 20, 30], [1.0, 4.0, 9.0, 16.0], [10, 20, 40], [2.0, 3.0, 5.0]
    )
    np.testing.assert_array_equal(steps, [10, 20])
    np.testing.assert_allclose(r, [2.0, 3.0])


def test_study_runs_cover_every_setting_seed_and_learning_rate():
    study = c4_study.get_config("scale=cpu")
    names = {run.name for run in study.runs}
    assert len(names) == len(study.runs)
    for s in study.settings:
        for seed in s["seeds"]:
            assert {f"{s['name']}_none_lr0.1_s{seed}", f"{s['name']}_batch_lr0.1_s{seed}"} <= names
        for seed in s["lr_seeds"]:
            assert f"{s['name']}_batch_lr0.5_s{seed}" in names
    assert {s["cfg"] for s in study.settings} == {"vgg11", "vgg16"}
    assert {s["width"] for s in study.settings if s["cfg"] == "vgg11"} == {1 / 8, 1 / 4, 1 / 2}
    assert max(len(s["seeds"]) for s in study.settings) >= 3
