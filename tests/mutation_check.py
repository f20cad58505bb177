"""The mutation check: deliberate mistakes that would change the paper's results, each of
which some fast test must catch.

    python -m tests.mutation_check              # every mutation (76 min on 2 EPYC cores)
    python -m tests.mutation_check noise-reused C4-two-orders   # some, by name
    python -m tests.mutation_check --list

For each mutation the files git knows (committed or not, unless ignored) are copied into a
temporary folder, one piece of code there is replaced, and the tests aimed at that
behaviour are run on the copy; the table says which of them failed. The tests are first
run on the unchanged copy, which they must pass. A mutation that no test catches is a
hole in the tests: its row says NOT CAUGHT and the command exits 1. A mutation whose code
is no longer in the file (the code moved on) is an error, which tests/test_style.py
catches in the fast suite: update its text.

The mutations are listed in tests/mutations_library.py (the measurements, training, the
model, the normalizations), tests/mutations_paper.py (the claims' rules, the suite's runs,
the entrypoints' errors), tests/mutations_runs.py (how a run is kept: checkpoints,
failures, a full disk, a resume), tests/mutations_calibration.py (the calibration at the
paper's width), tests/mutations_mechanism.py (what BatchNorm changes) and
tests/mutations_norms.py (the batch-independent normalizations). Every new measurement,
claim or rule adds its mutations there, and a change to measurement code reports this
table. None of the tests named here is the smoke suite:
each mutation must be caught by a test aimed at it.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests import (
    mutations_calibration,
    mutations_library,
    mutations_mechanism,
    mutations_norms,
    mutations_paper,
    mutations_runs,
    mutations_suite,
)
from tests.conftest import SHARED, SHARED_ENV, TEST_CACHE_ENV
from tests.mutation import Mutation

ROOT = Path(__file__).resolve().parents[1]

MUTATIONS = (
    mutations_paper.MUTATIONS
    + mutations_library.MUTATIONS
    + mutations_runs.MUTATIONS
    + mutations_suite.MUTATIONS
    + mutations_calibration.MUTATIONS
    + mutations_mechanism.MUTATIONS
    + mutations_norms.MUTATIONS
)


def copy_repository(into: Path) -> Path:
    """The files git knows here (tracked, or new and not ignored), as they are now."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    for name in filter(None, listed.stdout.split("\0")):
        source = ROOT / name
        if source.is_file():
            (into / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, into / name)
    return into


def apply(m: Mutation, repo: Path) -> str:
    """Apply `m` to the copy in `repo`; returns the file's original text."""
    path = repo / m.file
    original = text = path.read_text()
    for old, new in m.edits:
        if text.count(old) != 1:
            raise SystemExit(
                f"mutation {m.name}: {old!r} occurs {text.count(old)} times in "
                f"{m.file}, not once; update the mutation to today's code"
            )
        text = text.replace(old, new)
    path.write_text(text)
    return original


def run_tests(repo: Path, tests) -> tuple[list[str], str]:
    """(failed test ids, pytest's output) of `tests` run in the copy `repo`."""
    # Programs a mutation leaves unchanged compile once for all the runs.
    env = {**os.environ, "PYTHONPATH": str(repo), TEST_CACHE_ENV: str(repo.parent / "jax_cache")}
    env.setdefault(SHARED_ENV, str(SHARED))  # the copy has no ../shared beside it
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-o",
            "addopts=",
            "-n",
            "0",
            "--tb=no",
            "-rfE",
            *tests,
        ],
        cwd=repo,
        capture_output=True,
        text=True,
        env=env,
        timeout=1800,
    )
    # A test's id without its parameters: "tests/test_x.py::test_y".
    failed = re.findall(r"^(?:FAILED|ERROR) ([^\s\[]+)", result.stdout, re.MULTILINE)
    if result.returncode not in (0, 1) or (result.returncode == 1 and not failed):
        failed = failed or [f"pytest exited {result.returncode}"]
    return sorted(set(failed)), result.stdout + result.stderr


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="mutations to run (default: all)")
    parser.add_argument("--list", action="store_true", help="list the mutations and stop")
    args = parser.parse_args(argv)
    known = {m.name: m for m in MUTATIONS}
    unknown = [n for n in args.names if n not in known]
    if unknown:
        parser.error(f"unknown mutation(s) {', '.join(unknown)}; --list shows them")
    chosen = [known[n] for n in args.names] or MUTATIONS
    if args.list:
        for m in chosen:
            print(f"{m.name:24s} {m.what}")
        return 0
    with tempfile.TemporaryDirectory(prefix="bn_smooth_mutation_") as tmp:
        repo = copy_repository(Path(tmp) / "repo")
        tests = sorted({t for m in chosen for t in m.tests})
        failed, output = run_tests(repo, tests)
        if failed:
            print(output[-5000:])
            print(f"the unchanged code fails {', '.join(failed)}: fix that first")
            return 2
        print("| mutation | the mistake | caught by | seconds |\n|---|---|---|---|", flush=True)
        missed = []
        for m in chosen:
            original = apply(m, repo)
            start = time.time()
            try:
                failed, _ = run_tests(repo, m.tests)
            finally:
                (repo / m.file).write_text(original)
            if not failed:
                missed.append(m.name)
            names = [f"`{Path(t).name}`" for t in failed]
            caught = (
                ", ".join(names[:3]) + (f" (+{len(names) - 3} more)" if len(names) > 3 else "")
                if names
                else "**NOT CAUGHT**"
            )
            print(f"| {m.name} | {m.what} | {caught} | {time.time() - start:.0f} |", flush=True)
    print(
        f"\n{len(chosen) - len(missed)} of {len(chosen)} mutations caught"
        + (f"; not caught: {', '.join(missed)}" if missed else "")
    )
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
