"""The README's Python snippet runs as written, so it cannot drift from the code."""

import re
from pathlib import Path

from matplotlib.figure import Figure

from bn_smooth import data as data_lib
from bn_smooth import loop
from bn_smooth.configs.common import set_every
from tests.conftest import tiny_vgg_config

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks(section: str) -> list[str]:
    text = README.read_text()
    body = text.split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", body, re.S)


def test_use_from_python_snippet_runs(fake_cifar, monkeypatch, capsys):
    """As written, but at the smoke scale (a two-layer VGG, batch 32): at 1/8-width
    VGG-11 the same calls take over a minute on 2 cores."""
    monkeypatch.setenv(data_lib.ENV_VAR, str(fake_cifar))
    snippet = python_blocks("Use from Python")[0]
    assert snippet.count("scale=cpu") == 1
    namespace = {}
    exec(compile(snippet.replace("scale=cpu", "scale=smoke"), str(README), "exec"), namespace)
    search, shift = namespace["search"], namespace["shift"]
    assert search.losses.shape == (8,) and float(search.beta_eff) > 0
    assert float(shift["layer_00"].l2) == 0.0 and float(shift["head"].l2) > 0
    assert "(32, 32, 32, 3)" in capsys.readouterr().out


def test_reading_runs_back_snippet_runs(fake_cifar, tmp_path, monkeypatch):
    snippet = python_blocks("Use from Python")[1]
    for norm in ("none", "batch"):
        config = tiny_vgg_config(fake_cifar, norm=norm, num_steps=4)
        set_every(config.probe, 2)
        loop.train_and_evaluate(config, tmp_path / "runs" / "reproduce" / f"vgg_{norm}")
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(compile(snippet, str(README), "exec"), namespace)
    assert list(namespace["steps"]) == [0, 1, 2, 3]
    assert isinstance(namespace["fig"], Figure)


def test_new_probe_kind_snippet_runs(monkeypatch):
    from bn_smooth import probes
    from tests.conftest import dln_config

    monkeypatch.setattr(probes, "REGISTRY", dict(probes.REGISTRY))
    namespace = {"config": dln_config()}
    exec(compile(python_blocks("Use from Python")[2], str(README), "exec"), namespace)
    assert probes.schedule(namespace["config"])["param_norm"].every == 100


def test_curvature_snippet_runs(capsys):
    namespace = {}
    exec(compile(python_blocks("Use from Python")[3], str(README), "exec"), namespace)
    top, density = namespace["top"], namespace["density"]
    assert top.eigenvalues.shape == (3,) and float(top.eigenvalues[0]) >= float(
        top.eigenvalues[1]) >= float(top.eigenvalues[2]) > 0
    assert abs(float(density.weights.sum()) - 4.0) < 1e-4  # each vector's weights sum to 1
    assert capsys.readouterr().out
