"""The tree's form: ruff's format and lint, modules of one job, and a mutation check that
still points at today's code."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from tests import mutation_check

ROOT = Path(__file__).resolve().parents[1]
# About 300 lines: a module longer than this is doing more than one job; split it by job.
MAX_MODULE_LINES = 330


def _ruff(*args):
    return subprocess.run(
        [sys.executable, "-m", "ruff", *args, "."], cwd=ROOT, capture_output=True, text=True
    )


@pytest.mark.parametrize("command", [("format", "--check"), ("check",)])
def test_the_tree_is_ruff_formatted_and_lint_free(command):
    result = _ruff(*command)
    assert result.returncode == 0, (
        f"`ruff {' '.join(command)} .` fails; run `ruff format . && ruff check --fix .`:\n"
        + result.stdout[-3000:]
        + result.stderr[-1000:]
    )


def test_no_module_is_longer_than_one_job():
    long = {
        str(path.relative_to(ROOT)): n
        for folder in ("bn_smooth", "experiments", "tests")
        for path in (ROOT / folder).rglob("*.py")
        if (n := len(path.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert not long, f"modules over {MAX_MODULE_LINES} lines (split them by job): {long}"


@pytest.mark.parametrize("m", mutation_check.MUTATIONS, ids=lambda m: m.name)
def test_each_mutation_changes_todays_code_once_and_names_real_tests(m):
    text = (ROOT / m.file).read_text()
    for old, new in m.edits:
        assert text.count(old) == 1, f"{m.name}: {old!r} occurs {text.count(old)} times in {m.file}"
        text = text.replace(old, new)
    if m.file.endswith(".py"):
        ast.parse(text)  # the mutant must be a program, so the tests fail on behaviour
    for node in m.tests:
        path, _, name = node.partition("::")
        module = ast.parse((ROOT / path).read_text())
        tests = {f.name for f in ast.walk(module) if isinstance(f, ast.FunctionDef)}
        assert not name or name in tests, f"{m.name}: no test {node}"
