"""Figures go beside their runs unless asked, and never over another scale's or another
workdir's without --overwrite_figures (experiments.figures_dir)."""

import json
import shutil

import pytest

from bn_smooth.errors import ConfigError
from experiments import figures_dir
from tests.test_train import ROOT, run_module


def test_a_folder_takes_figures_made_from_what_made_it_and_nothing_else(tmp_path):
    figures, runs = tmp_path / "figures", tmp_path / "runs" / "reproduce"
    runs.mkdir(parents=True)
    figures_dir.check(figures, "reproduce", "cpu", runs, overwrite=False)  # no folder yet
    figures.mkdir()
    (figures / "REPORT.md").write_text("cpu")
    figures_dir.record(figures, "reproduce", "cpu", runs)
    assert json.loads((figures / figures_dir.PROVENANCE).read_text()) == {
        "reproduce": {"scale": "cpu", "workdir": "../runs/reproduce"}
    }
    figures_dir.check(figures, "reproduce", "cpu", runs, overwrite=False)  # the same again
    for scale, workdir in (("smoke", runs), ("cpu", tmp_path / "other")):
        with pytest.raises(ConfigError, match="--overwrite_figures") as error:
            figures_dir.check(figures, "reproduce", scale, workdir, overwrite=False)
        assert "made at the cpu scale from ../runs/reproduce" in str(error.value)
        figures_dir.check(figures, "reproduce", scale, workdir, overwrite=True)
    # Another entrypoint's files are its own: the study may write beside the report.
    figures_dir.check(figures, "c4_study", "smoke", tmp_path / "study", overwrite=False)
    figures_dir.record(figures, "c4_study", "smoke", tmp_path / "study")
    assert set(json.loads((figures / figures_dir.PROVENANCE).read_text())) == {
        "reproduce",
        "c4_study",
    }
    # The record is relative to the folder: a moved or cloned tree keeps it.
    (tmp_path / "moved").mkdir()
    shutil.move(tmp_path / "figures", tmp_path / "moved" / "figures")
    shutil.move(tmp_path / "runs", tmp_path / "moved" / "runs")
    moved = tmp_path / "moved"
    figures_dir.check(moved / "figures", "reproduce", "cpu", moved / "runs" / "reproduce", False)


def test_files_with_no_record_of_what_made_them_are_not_replaced(tmp_path):
    (tmp_path / "REPORT.md").write_text("someone's")
    with pytest.raises(ConfigError, match="were not recorded"):
        figures_dir.check(tmp_path, "reproduce", "cpu", tmp_path / "runs", overwrite=False)
    figures_dir.check(tmp_path, "c4_study", "cpu", tmp_path / "runs", overwrite=False)


def test_the_committed_figures_say_they_come_from_the_readme_commands():
    made = json.loads((ROOT / "figures" / figures_dir.PROVENANCE).read_text())
    assert made == {
        "reproduce": {"scale": "cpu", "workdir": "../runs/reproduce"},
        "c4_study": {"scale": "cpu", "workdir": "../runs/c4_study"},
        "calibration": {"scale": "cpu", "workdir": "../runs/calibration"},
        "lr_sweep": {"scale": "cpu", "workdir": "../runs/lr_sweep"},
        "norm_comparison": {"scale": "cpu", "workdir": "../runs/norm_comparison"},
    }
    readme = (ROOT / "README.md").read_text()
    assert "scale=cpu --workdir=runs/reproduce --figures=figures" in readme
    assert "calibration.py:scale=cpu \\\n    --workdir=runs/calibration --figures=figures" in readme
    reproduction = (ROOT / "docs" / "reproduction.md").read_text()
    for study in ("lr_sweep", "norm_comparison"):
        command = f"{study}.py:scale=cpu \\\n    --workdir=runs/{study} --figures=figures"
        assert command in reproduction, study


def test_a_quick_check_cannot_replace_the_repository_figures(fake_cifar, tmp_path):
    before = {p.name: p.read_bytes() for p in (ROOT / "figures").iterdir()}
    result = run_module(
        "experiments.reproduce",
        "bn_smooth/configs/reproduce.py:scale=smoke",
        tmp_path / "runs",
        f"--config.data_dir={fake_cifar}",
        f"--figures={ROOT / 'figures'}",
    )
    assert result.returncode == 2, result.stderr[-2000:]
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("error: ") and "made at the cpu scale" in line
    assert "--overwrite_figures" in line and str(tmp_path / "runs" / "figures") in line
    assert not (tmp_path / "runs").exists()  # nothing trained, nothing written
    assert {p.name: p.read_bytes() for p in (ROOT / "figures").iterdir()} == before
