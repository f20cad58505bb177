"""The reproduction suite at the smoke scale: every figure and every REPORT section, from
the runs' own metrics; and the numbers the report reads, on a hand-written run."""

import json
import os
import re
import subprocess
import sys
import time

import ml_collections
import numpy as np
import pytest

from bn_smooth import cifar10, loop, probes, results, runlog, summaries
from bn_smooth.paper import claims, plots, sharpness_claim
from bn_smooth.paper.markdown import fmt
from tests.test_train import ROOT, run_module

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def report_row(text: str, first_cell: str) -> list[str]:
    line = next(line for line in text.splitlines() if line.startswith(f"| {first_cell} |"))
    return [cell.strip() for cell in line.strip("|").split("|")]


def test_smoke_suite_draws_every_figure_and_reports_every_claim(fake_cifar, tmp_path):
    workdir, figures = tmp_path / "runs", tmp_path / "figures"

    def suite():
        return run_module(
            "experiments.reproduce",
            "bn_smooth/configs/reproduce.py:scale=smoke",
            workdir,
            f"--config.data_dir={fake_cifar}",
            f"--figures={figures}",
            fast_compile=True,
        )

    result = suite()
    assert result.returncode == 0, result.stderr[-3000:]
    for name in plots.FIGURES:
        png = (figures / f"{name}.png").read_bytes()
        assert png.startswith(PNG_MAGIC) and len(png) > 20_000, name
    text = (figures / "REPORT.md").read_text()
    for claim in ("C1", "C2", "C3", "C4", "C5", "C6", "C7"):
        assert f"## {claim}: " in text
    assert "not measured" not in text and "n/a" not in text
    assert "**smoke** scale" in text
    assert (figures / "theory.md").exists()

    # The report's numbers are the runs' own: the final training accuracy of the BN run
    # (its last step's, at this scale) as metrics.jsonl has it ...
    train_rows = runlog.read_metrics(workdir / "vgg_batch", "train")
    assert len(train_rows) == 20
    row = report_row(text, "Standard + BatchNorm, LR=0.1")
    assert row[2] == fmt(train_rows[-1]["accuracy"])

    # ... and a second invocation skips the finished runs and reports what their files say.
    forged = [
        {**r, "accuracy": 0.987654} if r["kind"] == "train" else r
        for r in runlog.read_metrics(workdir / "vgg_batch")
    ]
    (workdir / "vgg_batch" / runlog.METRICS).write_text(
        "".join(json.dumps(r) + "\n" for r in forged)
    )
    result = suite()
    assert result.returncode == 0, result.stderr[-3000:]
    row = report_row((figures / "REPORT.md").read_text(), "Standard + BatchNorm, LR=0.1")
    assert row[2] == "0.988"
    assert re.search(r"(\d+) of \1 runs are done already", result.stderr)  # none trained


def write_run(workdir, config, rows, status="finished", step=None):
    workdir.mkdir(parents=True)
    runlog.write_config(workdir, config)
    runlog.MetricsWriter(workdir).write_rows(rows)
    runlog.write_status(workdir, status, step if step is not None else config["num_steps"])
    return results.Run.load(workdir)


def test_report_numbers_on_a_hand_written_run(tmp_path):
    config = {
        "norm": "batch",
        "lr": 0.1,
        "num_steps": 60,
        "task": "vgg_cifar",
        "probe": {"activations": {"every": 10, "percentiles": [5, 50, 95]}},
    }
    accuracy = np.arange(60) / 100
    rows = [{"step": t, "kind": "train", "loss": 1.0, "accuracy": accuracy[t]} for t in range(60)]
    rows += [
        {
            "step": t,
            "kind": "landscape",
            "loss_min": 1.0,
            "loss_max": 1.0 + t,
            "grad_dist_min": 0.0,
            "grad_dist_max": 2.0 * t,
            "beta_eff": 3.0,
            "loss0": 1.0,
            "grad_norm": 1.0,
            "losses": [1.0],
            "grad_dists": [0.0],
            "step_norms": [1.0],
            "step_sizes": [0.1],
        }
        for t in (0, 10, 20, 30, 40, 50)
    ]
    rows += [
        {
            "step": t,
            "kind": "ics",
            "layers": ["layer_00", "layer_01", "head"],
            "l2": [0.0, t, 2.0],
            "cosine": [1.0, 0.5, -0.5],
        }
        for t in (0, 30)
    ]
    rows += [
        {
            "step": t,
            "kind": "activations",
            "layers": {
                "layer_00": {
                    "units": [3, 7],
                    "post_norm": {
                        "mean": [t, 0.0],
                        "std": [1.0, np.sqrt(t)],
                        "percentiles": [[0, 1, 2]] * 2,
                    },
                }
            },
        }
        for t in (0, 10, 30)
    ]
    run = write_run(tmp_path / "run", config, rows)
    # Running mean over num_steps // 30 = 2 steps.
    assert run.window == 2
    assert run.final("accuracy") == pytest.approx((0.58 + 0.59) / 2)
    assert run.train_at("accuracy", 10) == pytest.approx((0.09 + 0.10) / 2)
    # Early: probes after step 0 and before step 0.2 * 60 = 12, i.e. step 10; step 0 apart.
    assert summaries.landscape_medians(run, early=True) == {
        "loss range": 10.0,
        "gradient change": 20.0,
        "beta_eff": 3.0,
    }
    assert summaries.landscape_medians(run, early=None) == {
        "loss range": 0.0,
        "gradient change": 0.0,
        "beta_eff": 3.0,
    }
    assert summaries.landscape_medians(run, early=False)["gradient change"] == 50.0
    smooth = run.smoothness()
    np.testing.assert_allclose(smooth["gradient change / ||g||"], 2.0 * smooth["steps"])
    np.testing.assert_allclose(smooth["beta_eff lr/2"], 0.15)
    assert run.plateau_end() == 59  # a constant loss never leaves its plateau
    assert summaries.ics_medians(run) == {
        "l2": {"layer_01": 15.0, "head": 2.0},
        "cosine": {"layer_01": 0.5, "head": -0.5},
    }
    # |change| in mean: unit 3 moves 10 then 20, unit 7 never; variance: unit 7 10 then 20.
    changes = summaries.moment_changes(run, "layer_00", 0)
    np.testing.assert_array_equal(changes["steps"], [10, 30])
    np.testing.assert_allclose(changes["mean"], [10.0, 20.0])
    np.testing.assert_allclose(
        summaries.moment_changes(run, "layer_00", 1)["variance"], [10.0, 20.0]
    )
    assert summaries.moment_instability(run) == pytest.approx({"mean": 5.0, "variance": 5.0})
    assert run.num_test_examples is None  # no eval rows

    # With the probe's `pair`, changes are from each probed step t to step t+1.
    paired = [
        {
            **r,
            "next": {
                "layers": {
                    "layer_00": {
                        **r["layers"]["layer_00"],
                        "post_norm": {
                            "mean": [r["step"] + 0.5, 0.0],
                            "std": [1.0, np.sqrt(r["step"] + 2.0)],
                            "percentiles": [[0, 1, 2]] * 2,
                        },
                    }
                }
            },
        }
        if r["kind"] == "activations"
        else r
        for r in rows
    ]
    changes = summaries.moment_changes(
        write_run(tmp_path / "paired", config, paired), "layer_00", 0
    )
    assert changes["between"] == "steps"
    np.testing.assert_array_equal(changes["steps"], [0, 10, 30])
    np.testing.assert_allclose(changes["mean"], [0.5, 0.5, 0.5])
    assert summaries.moment_changes(run, "layer_00", 0)["between"] == "probes"

    diverged = write_run(tmp_path / "diverged", config, rows[:30], status="diverged", step=30)
    assert np.isnan(diverged.final("accuracy"))
    assert claims.higher(0.1, diverged.final("accuracy"))
    assert not claims.higher(diverged.final("accuracy"), 0.1)


def test_runs_from_before_the_probe_sections_still_read_back(tmp_path):
    old = {
        "norm": "none",
        "lr": 0.1,
        "num_steps": 10,
        "task": "dln",
        "probe": {
            "every": 5,
            "ics_every": 0,
            "activations_every": 5,
            "eta_min": 0.5,
            "eta_max": 4.0,
            "num_etas": 8,
            "spacing": "linear",
            "num_units": 4,
            "activation_layers": [],
            "percentiles": [5, 50, 95],
            "strategy": "",
        },
    }
    run = write_run(tmp_path / "old", old, [])
    assert run.percentiles() == (5, 50, 95)
    assert run.config["probe"]["landscape"]["eta_max"] == 4.0
    assert {k: v["every"] for k, v in run.config["probe"].items()} == {
        "landscape": 5,
        "ics": 0,
        "activations": 5,
    }


def test_suite_config_names_real_experiments_and_probes():
    from bn_smooth.configs import reproduce as suite_config
    from experiments.suite import run_config

    for scale in ("paper", "cpu", "smoke"):
        suite = suite_config.get_config(f"scale={scale}")
        names = [run.name for run in suite.runs]
        assert len(set(names)) == len(names)
        for run in suite.runs:
            config = run_config(suite, run)
            assert config.scale == scale
            assert set(probes.schedule(config)) == set(run.probes), run.name
    with pytest.raises(ValueError, match="unknown scale"):
        suite_config.get_config("scale=huge")


def test_each_suite_run_trains_what_its_name_and_the_claims_say():
    """A run's name is what the figures and claims read it as: the network, the norm, the
    learning rate (_lr..., else the experiment's default), the seed (_s..., added to the
    suite's) and the measurement mode (_running); and runs compared in a figure or a claim
    differ only in their norm."""
    import re

    from bn_smooth.configs import reproduce as suite_config
    from bn_smooth.paper import panels
    from experiments.suite import run_config

    pattern = re.compile(
        r"(vgg|dln)_(none|batch|noisy_batch|l1|l2|linf)"
        r"(?:_lr([0-9.e-]+))?(?:_s(\d+))?(_running)?$"
    )
    for scale in ("paper", "cpu", "smoke"):
        suite = suite_config.get_config(f"scale={scale},seed=3")
        configs = {run.name: run_config(suite, run) for run in suite.runs}
        for name, config in configs.items():
            net, norm, lr, seed, running = pattern.match(name).groups()
            assert config.task == {"vgg": "vgg_cifar", "dln": "dln"}[net], name
            assert config.norm == norm, name
            assert config.lr == (float(lr) if lr else {"vgg": 0.1, "dln": 1e-6}[net]), name
            assert config.seed == 3 + int(seed or 0), name
            modes = {config.probe[kind].mode for kind in probes.schedule(config)}
            assert modes <= {"running" if running else "batch"}, name
        # Compared step by step: the same config but the norm. Compared by their final
        # numbers: the same training (their probes may differ).
        same_run = [
            panels.VGG_MAIN,
            panels.DLN_MAIN,
            panels.DLN_SLOW,
            ("vgg_none_lr0.5", "vgg_batch_lr0.5"),
        ]
        same_training = [
            panels.VGG_NOISY,
            panels.VGG_LP,
            panels.DLN_LP,
            *(
                tuple(n for n in configs if n.startswith("dln_") and n.endswith(f"_s{k}"))
                for k in (1, 2)
            ),
        ]
        for names, differ in [(n, {"norm"}) for n in same_run] + [
            (n, {"norm", "probe"}) for n in same_training if n
        ]:
            plain = [
                {k: v for k, v in configs[n].to_dict().items() if k not in differ} for n in names
            ]
            assert all(p == plain[0] for p in plain), names
        # The runs each claim reads are there, with the probes it reads.
        for name in ("vgg_none", "vgg_batch", "dln_none", "dln_batch"):
            assert {"landscape", "ics", "activations", "curvature"} <= set(
                probes.schedule(configs[name])
            ), name
        assert {"ics", "landscape", "curvature"} <= set(probes.schedule(configs["dln_none_lr1e-7"]))
        assert "activations" in probes.schedule(configs["vgg_noisy_batch"])
        lp = [f"{net}_{p}" for net in ("vgg", "dln") for p in ("l1", "l2", "linf")]
        assert all("landscape" in probes.schedule(configs[n]) for n in lp)


def test_figures_and_claims_read_suite_runs_and_name_the_ones_missing(tmp_path):
    from bn_smooth.configs import reproduce as suite_config
    from bn_smooth.paper import report

    readers = [*plots.FIGURES.values(), *(c[4] for c in claims.CLAIMS if c[5] != "theory")]
    for scale in ("paper", "cpu", "smoke"):
        names = {run.name for run in suite_config.get_config(f"scale={scale}").runs}
        for fn in readers:
            assert set(fn.runs) <= names, (fn.__name__, set(fn.runs) - names)
    suite = suite_config.get_config("scale=smoke")
    runs = {"vgg_none": None}  # the one run left: nothing reads it alone
    written, skipped = plots.make_all(runs, tmp_path)
    assert written == [] and set(skipped) == set(plots.FIGURES)
    assert skipped["figure_01"] == ["vgg_batch", "vgg_none_lr0.5", "vgg_batch_lr0.5"]
    theory_row = {
        "statement": "Lemma 4.5",
        "form": "as printed",
        "instances": 1,
        "verdict": "holds",
    }
    report.write(tmp_path / "REPORT.md", suite, {}, [theory_row], {}, {}, "")
    text = (tmp_path / "REPORT.md").read_text()
    assert "Missing run(s): vgg_none, vgg_batch, vgg_noisy_batch.\n" in text  # C2
    assert text.count("**Verdict: not measured.**") == 6  # every claim but C6


def test_suite_reports_missing_data_clearly(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != cifar10.ENV_VAR}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "experiments.reproduce",
            "--config=bn_smooth/configs/reproduce.py:scale=smoke",
            f"--workdir={tmp_path}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**env, "HOME": str(tmp_path), "PYTHONPATH": str(ROOT)},
    )
    assert result.returncode != 0
    assert "error:" in result.stderr and "CIFAR-10" in result.stderr


def test_suite_goes_on_after_a_run_diverges(tmp_path, monkeypatch):
    from bn_smooth.configs.common import run_spec
    from experiments import suite as suite_lib
    from experiments.suite import OVERLAP, Times, run_config, train_runs

    suite = ml_collections.ConfigDict(
        dict(
            scale="smoke",
            seed=0,
            data_dir=None,
            runs=[
                run_spec("dln_diverges", "dln", "norm=none,lr=1.0", (), ""),
                run_spec("dln_trains", "dln", "norm=none", (), ""),
            ],
        )
    )
    start = time.time()
    messages = train_runs(suite, tmp_path, Times(tmp_path))
    wall = time.time() - start
    assert messages["dln_diverges"].startswith("diverged at step")
    assert messages["dln_trains"] == "finished 40 steps"
    seconds = json.loads((tmp_path / "suite.json").read_text())
    # The two ran side by side; with their overlap, the parts sum to the wall time.
    assert set(seconds) == set(messages) | {OVERLAP}
    assert sum(seconds.values()) == pytest.approx(wall, abs=1.0)
    # Run again: both are done (a diverged run is not retried); nothing trains, and no
    # worker process starts for them.
    monkeypatch.setattr(suite_lib, "_train", lambda *job: pytest.fail(f"trained {job}"))
    assert train_runs(suite, tmp_path, Times(tmp_path)) == messages
    assert json.loads((tmp_path / "suite.json").read_text()) == seconds
    # Trained side by side in worker processes, each is the run it would be alone.
    alone = loop.train_and_evaluate(run_config(suite, suite.runs[1]), tmp_path / "alone")
    assert alone["message"] == messages["dln_trains"]
    assert runlog.read_metrics(tmp_path / "alone") == runlog.read_metrics(tmp_path / "dln_trains")


def test_side_by_side_runs_start_in_order_and_never_more_than_the_workers(tmp_path):
    from bn_smooth.configs.common import run_spec
    from experiments.suite import _train_all, run_config

    suite = ml_collections.ConfigDict(
        dict(
            scale="smoke",
            seed=0,
            data_dir=None,
            runs=[
                run_spec(f"dln_s{seed}", "dln", f"norm=none,seed={seed}", ()) for seed in range(3)
            ],
        )
    )
    jobs = [(run_config(suite, run), tmp_path / run.name) for run in suite.runs]
    events = []
    for k, (status, _) in _train_all(jobs, 2, lambda k: events.append(("start", k))):
        assert status["status"] == "finished"
        events.append(("end", k))
    starts = [k for event, k in events if event == "start"]
    assert starts == [0, 1, 2]
    # The third starts only when one of the first two is done.
    assert events[:2] == [("start", 0), ("start", 1)] and events[2][0] == "end"


def test_sharpness_numbers_on_a_hand_written_gd_run(tmp_path):
    # GD at lr 0.5 (2/lr = 4) for 40 steps, curvature probes at 0, 10, 20, 30 with `pair`.
    config = {
        "norm": "none",
        "lr": 0.5,
        "num_steps": 40,
        "task": "dln",
        "probe": {"curvature": {"every": 10, "pair": True}},
    }
    # The loss falls, but alternates up and down from step 20 on.
    loss = [100.0 - t if t < 20 else 80.0 + (t % 2) for t in range(40)]
    rows = [{"step": t, "kind": "train", "loss": loss[t]} for t in range(40)]
    lam = {0: (2.0, 2.2), 10: (3.0, 3.2), 20: (3.9, 6.0), 30: (3.8, 5.0)}  # (step t, t+1)

    def at(value):
        return {"eigenvalues": [value, 1.0], "rayleigh": 1.0, "hg_norm": 2.0, "grad_norm": 3.0}

    rows += [
        {"step": t, "kind": "curvature", **at(now), "two_over_lr": 4.0, "next": at(later)}
        for t, (now, later) in lam.items()
    ]
    run = write_run(tmp_path / "gd", config, rows)
    steps, ratio = run.sharpness()
    np.testing.assert_array_equal(steps, [0, 10, 20, 30])
    np.testing.assert_allclose(ratio, [0.5, 0.75, 0.975, 0.95])  # lambda_1 * 0.5 / 2
    steps, ratio = run.sharpness(next_step=True)
    np.testing.assert_array_equal(steps, [1, 11, 21, 31])
    np.testing.assert_allclose(ratio, [0.55, 0.8, 1.5, 1.25])
    # Early (before step 8): steps 0 and 1 pooled; late: the other six values.
    assert summaries.sharpness_median(run, early=True) == pytest.approx(0.525)
    assert summaries.sharpness_median(run, early=False) == pytest.approx((0.95 + 0.975) / 2)
    assert summaries.rising_fraction(run, 0, 20) == 0.0
    assert summaries.rising_fraction(run, 20, 40) == pytest.approx(10 / 20)  # odd steps rise
    # Per interval: rising fraction, and the sharper of the pair.
    assert sharpness_claim.oscillation_intervals(run) == [
        (0, 0.0, pytest.approx(0.55)),
        (10, 0.0, pytest.approx(0.8)),
        (20, 0.5, pytest.approx(1.5)),
        (30, 0.5, pytest.approx(1.25)),
    ]
    # Without `pair`, the intervals read the probed step only.
    single = write_run(
        tmp_path / "single",
        {**config, "probe": {"curvature": {"every": 10}}},
        [{k: v for k, v in r.items() if k != "next"} for r in rows],
    )
    assert [m for *_, m in sharpness_claim.oscillation_intervals(single)] == pytest.approx(
        [0.5, 0.75, 0.975, 0.95]
    )
