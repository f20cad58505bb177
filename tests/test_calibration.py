"""The calibration at the paper's width: at the smoke scale its gate and tables are the runs'
own metrics, recomputed here from metrics.jsonl; the gate's rule on hand-made runs."""

import json

import numpy as np
import pytest

from bn_smooth import runlog
from bn_smooth.configs import calibration as config_module
from bn_smooth.paper import calibration, calibration_report
from tests.claim_runs import example_summary, made_run
from tests.test_reproduce import PNG_MAGIC
from tests.test_train import run_module


def rows(workdir, kind):
    return runlog.read_metrics(workdir, kind)


def test_smoke_calibration_tables_are_the_runs_own_metrics(fake_cifar, tmp_path):
    workdir = tmp_path / "runs"
    figures = workdir / "figures"  # by default beside the runs
    result = run_module(
        "experiments.calibration",
        "bn_smooth/configs/calibration.py:scale=smoke",
        workdir,
        f"--config.data_dir={fake_cifar}",
        fast_compile=True,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    config = config_module.get_config("scale=smoke")
    summary = json.loads((figures / calibration.SUMMARY).read_text())
    assert (figures / calibration_report.FIGURE).read_bytes().startswith(PNG_MAGIC)
    assert "## The gate" in (figures / calibration_report.MARKDOWN).read_text()
    made = json.loads((figures / "provenance.json").read_text())
    assert made == {"calibration": {"scale": "smoke", "workdir": ".."}}

    # The gate: our accuracy at a step is the mean over every step within 100 of it.
    conditions = iter(summary["gate"]["conditions"])
    for name in config_module.MAIN:
        train = rows(workdir / name, "train")
        assert len(train) == config.num_steps  # every step's accuracy is logged
        for step in (config.early_step, config.num_steps):
            near = [r["accuracy"] for r in train if abs(r["step"] - step) <= 100]
            c = next(conditions)
            assert c["ours"] == pytest.approx(100 * np.mean(near), rel=1e-9)
            assert c["passed"] == (abs(c["ours"] - c["paper"]) <= calibration.POINTS)
    high = [r["accuracy"] for r in rows(workdir / config_module.HIGH_LR, "train")]
    assert len(high) == config.high_lr_steps
    c = next(conditions)
    assert c["ours"] == pytest.approx(
        100 * max(np.mean(high[i : i + 100]) for i in range(0, len(high), 100))
    )
    assert summary["gate"]["passed"] == all(c["passed"] for c in summary["gate"]["conditions"])

    # Figure 4: medians at the paper's probe steps, and the per-step ratio.
    every = config.paper_every
    pair = []
    for name in config_module.MAIN:
        probes = [r for r in rows(workdir / name, "landscape") if r["step"] >= every]
        probes = [r for r in probes if r["step"] % every == 0]
        assert len(probes) >= 2
        pair.append({r["step"]: r for r in probes})
    table = {r["quantity"]: r["ours"] for r in summary["landscape"]}
    steps = sorted(pair[0])
    top = [[p[s]["grad_dist_max"] for s in steps] for p in pair]
    assert table["largest gradient change, Standard"] == pytest.approx(np.median(top[0]))
    assert table["largest gradient change, standard / BatchNorm (per-step ratio)"] == (
        pytest.approx(np.median(np.array(top[0]) / np.array(top[1])))
    )
    spans = [[p[s]["loss_max"] - p[s]["loss_min"] for s in steps] for p in pair]
    assert table["loss range, Standard + BatchNorm"] == pytest.approx(np.median(spans[1]))

    # The experiments on the gap: each changed run's accuracy read as the gate reads it,
    # beside the gate's own.
    assert (figures / calibration_report.GAP_FIGURE).read_bytes().startswith(PNG_MAGIC)
    expected = [(c, n) for c in config.candidates for n in ("none", "batch")]
    assert [(r["candidate"], r["network"]) for r in summary["candidates"]] == [
        (c, "Standard + BatchNorm, lr 0.1" if n == "batch" else "Standard, lr 0.1")
        for c, n in expected
    ]
    gate_600 = {c["network"]: c["ours"] for c in summary["gate"]["conditions"] if c["step"] == 10}
    for row, (candidate, norm) in zip(summary["candidates"], expected, strict=True):
        train = rows(workdir / f"{candidate}_{norm}", "train")
        assert len(train) == config.candidate_steps
        near = [r["accuracy"] for r in train if abs(r["step"] - config.early_step) <= 100]
        assert row["changed"] == pytest.approx(100 * np.mean(near), rel=1e-9)
        assert row["vgg11"] == gate_600[row["network"]]
    seed1 = json.loads((workdir / "seed1_batch" / "config.json").read_text())
    assert seed1["seed"] == 1 and seed1["model"]["cfg"] == [8, "M", 16, "M"]
    cpu = config_module.get_config("scale=cpu")
    assert cpu.candidates == tuple(config_module.CANDIDATES)  # every change at the cpu scale
    assert {r.name for r in cpu.runs} >= {f"{c}_batch" for c in config_module.CANDIDATES}

    # Sharpness: lambda_1 lr/2 from the curvature rows.
    for name, row in zip(config_module.MAIN, summary["sharpness"], strict=True):
        curvature = [r for r in rows(workdir / name, "curvature") if r["step"] >= every]
        top1 = [r["eigenvalues"][0] * 0.1 / 2 for r in curvature]
        assert row["lambda_1"] == pytest.approx(np.median(top1))


def test_the_gate_compares_window_means_and_holds_lr_0_5_under_its_ceiling():
    # The paper's standard network at lr 0.1 plots 45.3125, 37.5 and 45.3125 at steps
    # 500, 600 and 700: 42.708 at step 600 (by hand).
    assert calibration.paper_accuracy_near("none", 0.1, 600) == pytest.approx(42.708333, 1e-6)
    # At a run's last step, only the points up to it: 71.0938 and 76.5625 at 1,900 and 2,000.
    last = calibration.paper_accuracy_near("none", 0.1, 2000, last=2000)
    assert last == pytest.approx(73.828125, 1e-6)
    steps = np.arange(2000)
    paper = {
        norm: np.array(
            [calibration.paper_accuracy_near(norm, 0.1, s, last=2000) for s in (600, 2000)]
        )
        for norm in ("none", "batch")
    }

    def pair(offset):  # our accuracy, `offset` points above the paper's, near both steps
        return {
            f"vgg_{norm}": made_run(
                f"vgg_{norm}",
                norm,
                0.1,
                np.where(steps < 1300, paper[norm][0], paper[norm][1]) / 100 + offset / 100,
            )
            for norm in ("none", "batch")
        }

    chance = made_run("vgg_none_lr0.5", "none", 0.5, np.full(600, 0.1))
    close = calibration.gate({**pair(7.5), "vgg_none_lr0.5": chance}, 600)
    assert close["passed"], close
    far = calibration.gate({**pair(8.5), "vgg_none_lr0.5": chance}, 600)
    assert [c["passed"] for c in far["conditions"]] == [False] * 4 + [True]
    # One 100-step block at 21% fails the ceiling; a single good minibatch does not.
    spike = np.full(600, 0.1)
    spike[350] = 0.9
    assert calibration.gate({**pair(0), "vgg_none_lr0.5": made_run("h", "none", 0.5, spike)}, 600)[
        "passed"
    ]
    block = np.full(600, 0.1)
    block[300:400] = 0.21
    late = calibration.gate({**pair(0), "vgg_none_lr0.5": made_run("h", "none", 0.5, block)}, 600)
    assert not late["passed"] and late["conditions"][-1]["ours"] == pytest.approx(21.0)


def test_the_report_notes_cite_the_calibrations_numbers():
    summary = example_summary()
    c1 = calibration_report.c1_note(summary)
    assert "Standard, lr 0.1 at step 600: 45.6%" in c1
    assert "lr 0.5 stays at chance, its highest 100-step mean 10%" in c1
    assert "gate fails (3 of 5 conditions hold)" in c1  # flat runs miss step 2,000
    assert "gradient change 3.21x (paper, same steps: 2x)" in calibration_report.c4_note(summary)
    section = calibration_report.report_section(summary)
    assert section.startswith("## At the paper's width") and "### The gate" in section
    assert "| 50 | 45 | 47.5 | +2.5 |" in section  # the experiment on the gap
    rows = calibration_report.agreement_rows(summary)  # four accuracies, figure 4's nine
    assert len(rows) == 13 and all(r.scale.endswith("(the calibration)") for r in rows)
    assert [r.ours for r in rows[:4]] == [c["ours"] for c in summary["gate"]["conditions"][:4]]
