"""The README and docs/ as a reader meets them: every Python block runs as written (at the
smoke scale), every command names a real module and config, the README's results table is
REPORT.md's, and the site builds in strict mode (a broken link or a missing object fails).
"""

import importlib
import importlib.util
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure

from bn_smooth import cifar10, loop, probes
from bn_smooth.configs.common import set_every
from tests.conftest import tiny_vgg_config

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def blocks(page: Path, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", page.read_text(), re.S)


def test_every_page_has_its_blocks_closed_and_tagged():
    for page in PAGES:
        fences = re.findall(r"^```(\w*)$", page.read_text(), re.M)
        assert len(fences) % 2 == 0, page.name
        assert all(fences[0::2]), f"{page.name}: a code block without a language"


@pytest.fixture(scope="module")
def reader_folder(tmp_path_factory, fake_cifar):
    """Where a reader runs the blocks: the suite's VGG runs of the README's snippet, tiny."""
    folder = tmp_path_factory.mktemp("reader")
    for norm in ("none", "batch"):
        config = tiny_vgg_config(fake_cifar, norm=norm, num_steps=4)
        set_every(config.probe, 2)
        loop.train_and_evaluate(config, folder / "runs" / "reproduce" / f"vgg_{norm}")
    return folder


def check_results(namespace: dict):
    """What each block computes, where it computes it."""
    if "shift" in namespace:  # the landscape and ICS of step 0
        assert namespace["search"].losses.shape == (8,)
        assert float(namespace["search"].beta_eff) > 0
        assert float(namespace["shift"]["layer_00"].l2) == 0.0
        assert float(namespace["shift"]["head"].l2) > 0
    if "fig" in namespace:  # finished runs read back
        assert list(namespace["steps"]) == [0, 1, 2, 3]
        assert isinstance(namespace["fig"], Figure)
    if "param_norm_probe" in namespace:  # a new probe kind
        assert probes.schedule(namespace["config"])["param_norm"].every == 100
    if "density" in namespace:  # curvature
        eigenvalues = np.asarray(namespace["top"].eigenvalues)
        assert eigenvalues.shape == (3,) and np.all(np.diff(eigenvalues) <= 0)
        assert abs(float(namespace["density"].weights.sum()) - 4.0) < 1e-4
    if "states" in namespace:  # a sweep
        assert namespace["metrics"]["loss"].shape == (3,)
    if "eigs" in namespace:  # the public API at a glance
        assert float(namespace["out"]["layer_00"].l2) == 0.0
        assert namespace["res"].losses.shape == (2,)


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_every_python_block_runs(page, reader_folder, fake_cifar, monkeypatch):
    """As written, in a fresh namespace each, but at the smoke scale ('scale=cpu' reads
    'scale=smoke': at 1/8-width VGG-11 the same calls take minutes on 2 cores). A block
    that the README shares with a docs page runs on the page."""
    monkeypatch.setenv(cifar10.ENV_VAR, str(fake_cifar))
    monkeypatch.chdir(reader_folder)
    monkeypatch.setattr(probes, "REGISTRY", dict(probes.REGISTRY))  # a new probe kind
    shared = {b for p in PAGES if p.parent.name == "docs" for b in blocks(p, "python")}
    for code in blocks(page, "python"):
        if page.name == "README.md" and code in shared:
            continue
        namespace = {}
        exec(compile(code.replace("scale=cpu", "scale=smoke"), str(page), "exec"), namespace)
        check_results(namespace)


def test_the_readme_snippet_is_the_librarys():
    (snippet,) = blocks(ROOT / "README.md", "python")
    assert snippet in blocks(ROOT / "docs" / "library.md", "python")
    assert snippet.count("scale=cpu") == 1


def commands(page: Path):
    """(module, config argument) of every `python -m` in the page's bash blocks."""
    for block in blocks(page, "bash"):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line.split("#")[0].split("&&")[-1].strip().strip('"'))
            if words[:2] == ["python", "-m"]:
                config = next(
                    (w.split("=", 1)[1] for w in words if w.startswith("--config=")), None
                )
                yield words[2], config


def test_every_command_names_a_real_module_and_config():
    found = 0
    for page in PAGES:
        for module, config in commands(page):
            assert importlib.util.find_spec(module) is not None, (page.name, module)
            if config:
                path, _, arg = config.partition(":")
                assert (ROOT / path).exists(), (page.name, path)
                name = path.removesuffix(".py").replace("/", ".")
                importlib.import_module(name).get_config(arg)  # the arguments parse
            found += 1
    assert found >= 8


def test_the_readme_results_table_is_reports():
    report = (ROOT / "figures" / "REPORT.md").read_text()
    table = report.split("## Claims\n\n", 1)[1].split("\n\n", 1)[0].strip()
    assert table.count("\n") >= 8  # a header, its rule and seven claims
    assert table in (ROOT / "README.md").read_text()


def test_the_readme_calibration_gate_is_the_calibrations():
    text = (ROOT / "figures" / "calibration.md").read_text()
    gate = text.split("## The gate", 1)[1].split("\n\n", 2)[2].split("\n\n", 1)[0].strip()
    assert gate.count("\n") >= 6  # a header, its rule and five conditions
    assert gate in (ROOT / "README.md").read_text()


def table_rows(path) -> str:
    """The lines of the markdown tables in `path`, as written."""
    text = path.read_text()
    return "".join(line for line in text.splitlines(keepends=True) if line.startswith("|"))


def test_the_readme_normalizer_table_is_the_comparisons():
    rows = table_rows(ROOT / "figures" / "norm_comparison.md")
    assert rows.count("\n") >= 2 + 8  # a header, its rule and eight normalizers
    assert rows in (ROOT / "README.md").read_text()


def test_the_precision_pages_table_is_the_emulations():
    rows = table_rows(ROOT / "figures" / "precision_emulation.md")
    assert rows.count("\n") >= 2 + 2 * 2 * 7  # two networks, two states, seven measures
    assert rows in (ROOT / "docs" / "precision.md").read_text()


def test_the_readme_is_short_and_links_to_real_files():
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 200
    for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text):
        if not target.startswith("http"):
            assert (ROOT / target).exists(), target


def test_the_site_builds_in_strict_mode(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    api = (tmp_path / "site" / "api" / "index.html").read_text()
    for name in (
        "gradient_line_search",
        "internal_covariate_shift",
        "top_eigenvalues",
        "get_norm",
        "train_and_evaluate",
    ):
        assert name in api, name
