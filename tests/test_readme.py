"""The README's Python snippet runs as written, so it cannot drift from the code."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks(section: str) -> list[str]:
    text = README.read_text()
    body = text.split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", body, re.S)


def test_use_from_python_snippet_runs(capsys):
    (snippet,) = python_blocks("Use from Python")
    namespace = {}
    exec(compile(snippet, str(README), "exec"), namespace)
    search, shift = namespace["search"], namespace["shift"]
    assert search.losses.shape == (8,) and float(search.beta_eff) > 0
    assert float(shift["layer_00"].l2) == 0.0 and float(shift["head"].l2) > 0
    assert "layer_00" in capsys.readouterr().out
