"""The tree's form: ruff's format and lint, modules of one job, a mutation check that still
points at today's code, and entrypoints the tests can import into one process."""

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


def _experiments_imports(path: Path) -> set[str]:
    """The experiments modules `path` imports, anywhere in it (inside functions too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module == "experiments":
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("experiments."):
            found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("experiments.")}
    return {name for name in found if (ROOT / "experiments" / f"{name}.py").exists()}


def _absl_flags(path: Path) -> set[str]:
    """The names of the absl flags `path` defines when imported."""
    return {
        node.args[0].value
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr.startswith("DEFINE_")
        and node.args
        and isinstance(node.args[0], ast.Constant)
    }


def test_the_entrypoints_the_tests_import_define_no_flag_twice():
    """A test worker imports whatever its test files import (xdist gives a worker any files),
    and absl refuses a flag defined by two modules: the entrypoints the tests import, and
    what those import, must define different flags (or keep the tested code in bn_smooth)."""
    imported, todo = set(), set().union(*map(_experiments_imports, (ROOT / "tests").glob("*.py")))
    while todo:
        name = todo.pop()
        imported.add(name)
        todo |= _experiments_imports(ROOT / "experiments" / f"{name}.py") - imported
    owners = {}
    for name in sorted(imported):
        for flag in _absl_flags(ROOT / "experiments" / f"{name}.py"):
            owners.setdefault(flag, []).append(name)
    assert {f: o for f, o in owners.items() if len(o) > 1} == {}
    assert owners, "the scan found no flags: it no longer reads the entrypoints"
