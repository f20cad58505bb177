"""The reproduction suite at the smoke scale: every figure and every REPORT section, from
the runs' own metrics; and the numbers the report reads, on a hand-written run."""

import json
import os
import re
import subprocess
import sys
import time

import ml_collections
import pytest

from bn_smooth import cifar10, loop, results, runlog
from bn_smooth.configs import reproduce as suite_config
from bn_smooth.paper import calibration, claims, lr_claim, plots
from bn_smooth.paper.markdown import fmt
from tests.claim_runs import example_summary
from tests.test_train import ROOT, run_module

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def report_row(text: str, first_cell: str) -> list[str]:
    line = next(line for line in text.splitlines() if line.startswith(f"| {first_cell} |"))
    return [cell.strip() for cell in line.strip("|").split("|")]


def test_smoke_suite_draws_every_figure_and_reports_every_claim(fake_cifar, tmp_path):
    workdir = tmp_path / "runs"
    figures = workdir / "figures"  # by default beside the runs

    def suite():
        return run_module(
            "experiments.reproduce",
            "bn_smooth/configs/reproduce.py:scale=smoke",
            workdir,
            f"--config.data_dir={fake_cifar}",
            fast_compile=True,
        )

    result = suite()
    assert result.returncode == 0, result.stderr[-3000:]
    for name in plots.FIGURES:
        png = (figures / f"{name}.png").read_bytes()
        assert png.startswith(PNG_MAGIC) and len(png) > 20_000, name
    text = (figures / "REPORT.md").read_text()
    for claim in ("C1", "C2", "C3", "C4", "C5", "C6", "C7", "C8"):
        assert f"## {claim}: " in text
    # C8 reads the learning-rate sweep (experiments.lr_sweep, tests/test_lr_claim.py),
    # which this suite does not train: it says how to run it, and nothing else is missing.
    c8 = text.split("## C8: ", 1)[1].split("\n## ", 1)[0]
    assert "**Verdict: not measured.**" in c8 and lr_claim.COMMAND in c8
    rest = text.replace(c8, "").replace(
        next(r for r in text.splitlines() if r.startswith("| C8")), ""
    )
    assert "not measured" not in rest and "n/a" not in rest
    for section in (  # what BatchNorm changes (bn_smooth.paper.mechanism_report)
        "What carries figure 4's difference",
        "Sharpness as SGD sees it",
        "Outliers and the gradient's subspace",
        "Scale invariance",
    ):
        assert f"### {section}\n" in text
    assert "**smoke** scale" in text
    assert "float32 products at highest precision" in text  # bn_smooth.precision
    assert (figures / "theory.md").exists()
    assert json.loads((figures / "provenance.json").read_text()) == {
        "reproduce": {"scale": "smoke", "workdir": ".."}
    }
    # The theory checks ran in a worker beside the runs, and count in the suite's time.
    assert "theory: in a worker beside the runs" in result.stderr
    assert json.loads((workdir / "suite.json").read_text())["theory"] > 0
    # Each figure the paper has data for draws it (the legend says so).
    runs = results.load_runs(
        workdir, [run.name for run in suite_config.get_config("scale=smoke").runs]
    )
    for name in plots.OVERLAID:
        legends = [ax.get_legend() for ax in plots.FIGURES[name](runs, "").axes]
        texts = [t.get_text() for legend in legends if legend for t in legend.get_texts()]
        assert any("the paper" in t for t in texts), name

    # The report's numbers are the runs' own: the final training accuracy of the BN run
    # (its last step's, at this scale) as metrics.jsonl has it ...
    train_rows = runlog.read_metrics(workdir / "vgg_batch", "train")
    assert len(train_rows) == 20
    row = report_row(text, "Standard + BatchNorm, LR=0.1")
    assert row[1:4:2] == ["20", fmt(train_rows[-1]["accuracy"])]  # steps, final accuracy

    # ... and a second invocation skips the finished runs and reports what their files say.
    forged = [
        {**r, "accuracy": 0.987654} if r["kind"] == "train" else r
        for r in runlog.read_metrics(workdir / "vgg_batch")
    ]
    (workdir / "vgg_batch" / runlog.METRICS).write_text(
        "".join(json.dumps(r) + "\n" for r in forged)
    )
    # The calibration at the paper's width, beside the figures: the report cites it.
    (figures / calibration.SUMMARY).write_text(json.dumps(example_summary()))
    result = suite()
    assert result.returncode == 0, result.stderr[-3000:]
    text = (figures / "REPORT.md").read_text()
    row = report_row(text, "Standard + BatchNorm, LR=0.1")
    assert row[3] == "0.988"
    assert "\n## At the paper's width\n" in text and "### The gate" in text
    c1, c4 = (text.split(f"## {c}: ")[1].split("\n## ")[0] for c in ("C1", "C4"))
    assert "Standard, lr 0.1 at step 600: 45.6%" in c1
    assert "gradient change 3.21x (paper, same steps: 2x)" in c4
    assert "(the calibration) |" in text.split("## Agreement")[1].split("\n## ")[0]
    assert re.search(r"(\d+) of \1 runs are done already", result.stderr)  # none trained


def test_figures_and_claims_read_suite_runs_and_name_the_ones_missing(tmp_path):
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
    assert text.count("**Verdict: not measured.**") == 7  # every claim but C6


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


def dln_suite(*runs):
    """A smoke-scale suite of DLN runs, each (name, its config overrides)."""
    from bn_smooth.configs.common import run_spec

    runs = [run_spec(name, "dln", overrides, ()) for name, overrides in runs]
    return ml_collections.ConfigDict(dict(scale="smoke", seed=0, data_dir=None, runs=runs))


def test_suite_goes_on_after_a_run_diverges(tmp_path, monkeypatch):
    from experiments import suite as suite_lib
    from experiments.suite import OVERLAP, Times, run_config, train_runs

    suite = dln_suite(("dln_diverges", "norm=none,lr=1.0"), ("dln_trains", "norm=none"))
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


def test_a_side_job_starts_first_in_a_worker_and_hands_back_its_result(tmp_path, caplog):
    from experiments.suite import OVERLAP, SideJob, Times, train_runs

    suite = dln_suite(("dln_a", "norm=none"), ("dln_b", "norm=none,seed=1"))
    results_ = []
    side = SideJob("side", os.getpid, (), results_.append)
    start = time.time()
    with caplog.at_level("INFO"):
        messages = train_runs(suite, tmp_path, Times(tmp_path), side)
    wall = time.time() - start
    assert set(messages) == {"dln_a", "dln_b"}
    assert len(results_) == 1 and results_[0] != os.getpid()  # in a worker process
    started = [
        r.getMessage()
        for r in caplog.records
        if "dln_a" in r.getMessage() or "side" in r.getMessage()
    ]
    assert started[0] == "side: in a worker beside the runs"
    seconds = json.loads((tmp_path / "suite.json").read_text())
    assert set(seconds) == {"side", "dln_a", "dln_b", OVERLAP}
    assert sum(seconds.values()) == pytest.approx(wall, abs=1.0)


def test_side_by_side_runs_start_in_order_and_never_more_than_the_workers(tmp_path):
    from experiments.suite import _train, _train_all, run_config

    suite = dln_suite(*[(f"dln_s{seed}", f"norm=none,seed={seed}") for seed in range(3)])
    jobs = [(_train, run_config(suite, run), tmp_path / run.name) for run in suite.runs]
    events = []
    for k, (status, _) in _train_all(jobs, 2, lambda k: events.append(("start", k))):
        assert status["status"] == "finished"
        events.append(("end", k))
    starts = [k for event, k in events if event == "start"]
    assert starts == [0, 1, 2]
    # The third starts only when one of the first two is done.
    assert events[:2] == [("start", 0), ("start", 1)] and events[2][0] == "end"
