"""The mutation check: deliberate mistakes that would change the paper's results, each of
which some fast test must catch.

    python -m tests.mutation_check              # every mutation (about 10 minutes on 2 cores)
    python -m tests.mutation_check noise-reused C4-two-orders   # some, by name
    python -m tests.mutation_check --list

For each mutation the files git knows (committed or not, unless ignored) are copied into a
temporary folder, one piece of code there is replaced, and the tests aimed at that
behaviour are run on the copy; the table says which of them failed. The tests are first
run on the unchanged copy, which they must pass. A mutation that no test catches is a
hole in the tests: its row says NOT CAUGHT and the command exits 1. A mutation whose code
is no longer in the file (the code moved on) is an error: update its text.

Every new measurement, claim or rule adds its mutations here, and a change to
measurement code reports this table. None of the tests named here is the smoke suite:
each mutation must be caught by a test aimed at it.
"""

import argparse
import dataclasses
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.conftest import TEST_CACHE_ENV

ROOT = Path(__file__).resolve().parents[1]

CLAIMS = "tests/test_claims.py"
NORMS = "tests/test_norms.py"
LANDSCAPE_ROW = "tests/test_reference.py::test_landscape_row_is_a_line_search_of_its_steps_loss"
CURVATURE_ROW = "tests/test_reference.py::test_curvature_row_is_the_whole_hessian_of_its_steps_loss"
FORWARD = "tests/test_reference.py::test_vgg_training_loss_is_the_reference_forward_pass"
DLN_LOSS = (
    "tests/test_reference.py::test_dln_loss_is_the_summed_squared_error_of_the_matrix_product"
)
INIT = "tests/test_reference.py::test_vgg_initialization_is_glorot_uniform_with_zero_biases"
EVALUATION = "tests/test_reference.py::test_evaluation_is_the_test_split_on_the_running_averages"
FRESH_NOISE = "tests/test_reference.py::test_training_draws_fresh_noise_at_every_step"
SUITE_RUNS = "tests/test_reproduce.py::test_each_suite_run_trains_what_its_name_and_the_claims_say"
MISSING_RUNS = (
    "tests/test_reproduce.py::test_figures_and_claims_read_suite_runs_and_name_the_ones_missing"
)
USER_ERRORS = (
    "tests/test_train.py::test_entrypoints_report_input_errors_in_one_line_and_let_bugs_through"
)


@dataclasses.dataclass(frozen=True)
class Mutation:
    name: str
    what: str  # the mistake, in words
    file: str
    edits: tuple[tuple[str, str], ...]  # (code, its replacement): each code occurs once
    tests: tuple[str, ...]  # pytest node ids aimed at it


def mutation(name, what, file, old, new, *tests) -> Mutation:
    return Mutation(name, what, file, ((old, new),), tests)


MUTATIONS = [
    # 1. The verdicts
    mutation(
        "verdict-any",
        "a claim is confirmed when any part holds",
        "bn_smooth/paper/verdicts.py",
        'return "confirmed" if all(ok)',
        'return "confirmed" if any(ok)',
        CLAIMS,
    ),
    mutation(
        "C1-flipped",
        "C1: the standard network ahead early counts for BatchNorm",
        "bn_smooth/paper/claims.py",
        'higher(vals["batch"][0], vals["none"][0])',
        'higher(vals["none"][0], vals["batch"][0])',
        CLAIMS,
    ),
    mutation(
        "C2-about-as-well",
        "C2: 'about as well' within 10 points instead of 5",
        "bn_smooth/paper/claims.py",
        "ABOUT_AS_WELL = 0.05",
        "ABOUT_AS_WELL = 0.1",
        CLAIMS,
    ),
    mutation(
        "C3-almost-none",
        "C3: 'almost no ICS' at a cosine of 0.8",
        "bn_smooth/paper/claims.py",
        "lowest >= 0.9,",
        "lowest >= 0.8,",
        CLAIMS,
    ),
    mutation(
        "C3-either",
        "C3: BatchNorm 'does not reduce ICS' if either measure is not better",
        "bn_smooth/paper/claims.py",
        "not better_l2 and not better_cos",
        "not better_l2 or not better_cos",
        CLAIMS,
    ),
    mutation(
        "C4-two-orders",
        "C4: 'two orders of magnitude' at 10x",
        "bn_smooth/paper/c4_report.py",
        "TWO_ORDERS = 30",
        "TWO_ORDERS = 10",
        CLAIMS,
    ),
    mutation(
        "C4-any-measure",
        "C4: smoother when any one measure is smaller",
        "bn_smooth/paper/claims.py",
        "all(r > 1 for r in ratios.values())",
        "any(r > 1 for r in ratios.values())",
        CLAIMS,
    ),
    mutation(
        "C4-study-one-step",
        "C4 study: a single step's ratio reaches two orders",
        "bn_smooth/paper/c4_report.py",
        'bool(best[4]["median"] >= TWO_ORDERS)',
        'bool(top_step[4]["max"] >= TWO_ORDERS)',
        CLAIMS,
    ),
    mutation(
        "C5-within-3x",
        "C5: the lp norms' DLN loss within 3x of BatchNorm's",
        "bn_smooth/paper/claims.py",
        'dln[n] <= 2 * dln["batch"]',
        'dln[n] <= 3 * dln["batch"]',
        CLAIMS,
    ),
    mutation(
        "C5-half-is-most",
        "C5: l1 lowest on half the seeds counts as most",
        "bn_smooth/paper/claims.py",
        "l1_best = l1_wins > count / 2",
        "l1_best = l1_wins >= count / 2",
        CLAIMS,
    ),
    mutation(
        "C6-as-printed",
        "C6: 'holds as printed' when any form holds",
        "bn_smooth/paper/claims.py",
        '("every statement holds as printed", not false)',
        '("every statement holds as printed", bool(holds))',
        CLAIMS,
    ),
    mutation(
        "C7-lowers",
        "C7: 'lowers' at any ratio above 1",
        "bn_smooth/paper/sharpness_claim.py",
        "lowered >= LOWERS,",
        "lowered > 1,",
        CLAIMS,
    ),
    mutation(
        "C7-edge",
        "C7: the edge of stability widened to [0.5, 2]",
        "bn_smooth/paper/sharpness_claim.py",
        "EDGE = (0.8, 1.25)",
        "EDGE = (0.5, 2.0)",
        CLAIMS,
    ),
    mutation(
        "C7-agree",
        "C7: oscillation 'coincides' with 2/lr on half the intervals",
        "bn_smooth/paper/sharpness_claim.py",
        "np.mean(agree) >= AGREE,",
        "np.mean(agree) >= 0.5,",
        CLAIMS,
    ),
    # 2. The landscape and curvature probes, end to end
    mutation(
        "landscape-no-lr",
        "the line search's step sizes forget the learning rate",
        "bn_smooth/probes.py",
        "step_sizes = train.learning_rate(state) * relative",
        "step_sizes = relative",
        LANDSCAPE_ROW,
    ),
    mutation(
        "landscape-eval-mode",
        "the line search measures the evaluation-mode function",
        "bn_smooth/probes.py",
        "loss_fn = train.step_loss_fn(context.task, state, data, section.mode)\n"
        "        res = landscape",
        'loss_fn = train.step_loss_fn(context.task, state, data, "running")\n'
        "        res = landscape",
        LANDSCAPE_ROW,
    ),
    mutation(
        "landscape-next-step",
        "the line search measures the next step's loss",
        "bn_smooth/probes.py",
        "loss_fn = train.step_loss_fn(context.task, state, data, section.mode)\n"
        "        res = landscape",
        "loss_fn = train.step_loss_fn(context.task, state.replace(step=state.step + 1), "
        "data, section.mode)\n        res = landscape",
        LANDSCAPE_ROW,
    ),
    mutation(
        "curvature-eval-mode",
        "the curvature probe's Hessian is the evaluation mode's",
        "bn_smooth/probes.py",
        "loss_fn = train.step_loss_fn(context.task, state, data, section.mode)\n"
        '        key = jax.random.fold_in(state.stream("probe"), state.step)\n'
        "        top =",
        'loss_fn = train.step_loss_fn(context.task, state, data, "running")\n'
        '        key = jax.random.fold_in(state.stream("probe"), state.step)\n'
        "        top =",
        CURVATURE_ROW,
    ),
    mutation(
        "curvature-step-0-noise",
        "the curvature probe uses step 0's noise sample",
        "bn_smooth/probes.py",
        "loss_fn = train.step_loss_fn(context.task, state, data, section.mode)\n"
        '        key = jax.random.fold_in(state.stream("probe"), state.step)\n'
        "        top =",
        "loss_fn = train.step_loss_fn(context.task, state.replace(step=0), data, "
        "section.mode)\n"
        '        key = jax.random.fold_in(state.stream("probe"), state.step)\n'
        "        top =",
        CURVATURE_ROW,
    ),
    mutation(
        "line-search-uphill",
        "the line search steps up the gradient",
        "bn_smooth/landscape.py",
        "optax.tree.add_scale(params, -eta, d)",
        "optax.tree.add_scale(params, eta, d)",
        "tests/test_landscape.py",
    ),
    mutation(
        "line-search-grad-norm",
        "the gradient distance is ||G_k||, not ||G_k - g||",
        "bn_smooth/landscape.py",
        "optax.tree.norm(optax.tree.sub(grad, g))",
        "optax.tree.norm(grad)",
        "tests/test_landscape.py",
    ),
    mutation(
        "ics-mix-unrolled",
        "ICS mixes update layer i itself too (unrolled layers)",
        "bn_smooth/ics.py",
        "params_after[k] if index[k] < i else before",
        "params_after[k] if index[k] <= i else before",
        "tests/test_ics.py",
    ),
    mutation(
        "ics-mix-where",
        "ICS mixes update layer i itself too (mapped layers)",
        "bn_smooth/ics.py",
        "jnp.where(index[k] < i, a, b)",
        "jnp.where(index[k] <= i, a, b)",
        "tests/test_ics.py",
    ),
    # 3. Noisy BatchNorm during training
    mutation(
        "noise-reused",
        "training reuses one noise sample at every step",
        "bn_smooth/train.py",
        'return jax.random.fold_in(self.stream("noise"), self.step)',
        'return self.stream("noise")',
        FRESH_NOISE,
    ),
    mutation(
        "noise-n-sigma",
        "Algorithm 1 with n_sigma = 1.4",
        "bn_smooth/norms.py",
        "n_sigma: float = 1.25",
        "n_sigma: float = 1.4",
        NORMS,
    ),
    mutation(
        "noise-r-mu",
        "Algorithm 1 with r_mu = 0.2",
        "bn_smooth/norms.py",
        "r_mu: float = 0.1",
        "r_mu: float = 0.2",
        NORMS,
    ),
    mutation(
        "noise-r-sigma",
        "Algorithm 1 with r_sigma = 0.15",
        "bn_smooth/norms.py",
        "r_sigma: float = 0.1",
        "r_sigma: float = 0.15",
        NORMS,
    ),
    Mutation(
        "noise-before-affine",
        "the noise comes before gamma and beta",
        "bn_smooth/norms.py",
        (
            (
                "            y, mean, spread = self.standardize(x)\n",
                "            y, mean, spread = self.standardize(x)\n"
                "            y = self.perturb(y)\n",
            ),
            ("return self.perturb(y) if train else y", "return y"),
        ),
        (NORMS,),
    ),
    # 4. Evaluation
    Mutation(
        "eval-training-split",
        "test loss and accuracy on the training split",
        "bn_smooth/train.py",
        (
            ("dynamic_slice_in_dim(data.test_inputs", "dynamic_slice_in_dim(data.train_inputs"),
            ("dynamic_slice_in_dim(data.test_targets", "dynamic_slice_in_dim(data.train_targets"),
        ),
        (EVALUATION,),
    ),
    mutation(
        "eval-batch-statistics",
        "evaluation with the test batch's statistics",
        "bn_smooth/train.py",
        "outputs, _ = apply_evaluation_mode(task, params, batch_stats, data.prepare(x))",
        "outputs, _ = apply_training_mode(task, params, batch_stats, data.prepare(x), "
        "jax.random.key(0))",
        EVALUATION,
    ),
    # 5. The model and the objective
    Mutation(
        "relu-before-norm",
        "the ReLU comes before the normalization",
        "bn_smooth/models.py",
        (
            (
                'x = self.norm(name="norm")(x, train=train)',
                'x = self.norm(name="norm")(nn.relu(x) if self.relu else x, train=train)',
            ),
            ("        if self.relu:\n            x = nn.relu(x)\n", ""),
        ),
        (FORWARD,),
    ),
    mutation(
        "dln-mean-loss",
        "the DLN's loss is a mean, not the paper's sum",
        "bn_smooth/tasks.py",
        "return jnp.sum(jnp.square(outputs - targets)), {}",
        "return jnp.mean(jnp.square(outputs - targets)), {}",
        DLN_LOSS,
    ),
    mutation(
        "vgg-he-init",
        "VGG's convolutions start from He's initialization",
        "bn_smooth/models.py",
        "use_bias=self.use_bias,\n                kernel_init=glorot,",
        "use_bias=self.use_bias,\n                kernel_init=nn.initializers.he_uniform(),",
        INIT,
    ),
    mutation(
        "summed-cross-entropy",
        "the cross-entropy summed over the batch",
        "bn_smooth/tasks.py",
        "(logits, labels).mean()",
        "(logits, labels).sum()",
        FORWARD,
    ),
    # 6. The lp norms (the test that could not fail now calls the library)
    mutation(
        "lp-after-centering",
        "the lp norms measure s_p after centering by default",
        "bn_smooth/norms.py",
        "center_norm: bool = False",
        "center_norm: bool = True",
        NORMS,
    ),
    # BatchNorm's statistics and epsilon
    mutation(
        "bn-eps-outside-sqrt",
        "BatchNorm divides by sqrt(var) + eps",
        "bn_smooth/norms.py",
        "return (x - mean) / jnp.sqrt(var + epsilon), mean, var",
        "return (x - mean) / (jnp.sqrt(var) + epsilon), mean, var",
        NORMS,
    ),
    mutation(
        "bn-eps-value",
        "BatchNorm's epsilon 1e-3",
        "bn_smooth/norms.py",
        "epsilon: float = 1e-5",
        "epsilon: float = 1e-3",
        NORMS,
    ),
    mutation(
        "bn-unbiased-var",
        "BatchNorm's variance with Bessel's correction",
        "bn_smooth/norms.py",
        "var = jnp.mean(jnp.square(x - mean), axes)  # biased",
        "var = jnp.var(x, axes, ddof=1)",
        NORMS,
    ),
    mutation(
        "bn-per-position",
        "convolutions normalized per position, not over H and W",
        "bn_smooth/norms.py",
        "return tuple(range(x.ndim - 1))",
        "return (0,)",
        NORMS,
    ),
    mutation(
        "bn-momentum-swapped",
        "the running averages keep 10% of the old value",
        "bn_smooth/norms.py",
        "ra_mean.value = m * ra_mean.value + (1 - m) * mean",
        "ra_mean.value = (1 - m) * ra_mean.value + m * mean",
        NORMS,
    ),
    # The suite's choice of runs
    mutation(
        "suite-lr",
        "the suite's runs at lr 0.5 train at 0.1",
        "bn_smooth/configs/reproduce.py",
        'f"norm={norm},lr=0.5"',
        'f"norm={norm},lr=0.1"',
        SUITE_RUNS,
    ),
    mutation(
        "suite-names-swapped",
        "the names of the lr-0.5 runs swapped (none <-> batch)",
        "bn_smooth/configs/reproduce.py",
        'VGG_HIGH_LR = ("vgg_none_lr0.5", "vgg_batch_lr0.5")',
        'VGG_HIGH_LR = ("vgg_batch_lr0.5", "vgg_none_lr0.5")',
        SUITE_RUNS,
    ),
    mutation(
        "missing-run-unnamed",
        "a figure or claim whose run is missing is made anyway",
        "bn_smooth/paper/panels.py",
        "return [name for name in fn.runs if name not in runs]",
        "return []",
        MISSING_RUNS,
    ),
    # Entrypoints
    mutation(
        "user-errors-hide-bugs",
        "every ValueError, a bug's too, becomes a one-line error",
        "experiments/cli.py",
        "except (DataError, ConfigError) as e:",
        "except (DataError, ValueError) as e:",
        USER_ERRORS,
    ),
    mutation(
        "suite-seeds",
        "C5's extra DLN seeds all train seed 0",
        "bn_smooth/configs/reproduce.py",
        'f"norm={p},seed={a.seed + k}"',
        'f"norm={p},seed={a.seed}"',
        SUITE_RUNS,
    ),
    mutation(
        "suite-slow-lr",
        "the lr-1e-7 DLNs train at the paper's 1e-6",
        "bn_smooth/configs/reproduce.py",
        'f"norm={p},lr=1e-7"',
        'f"norm={p},lr=1e-6"',
        SUITE_RUNS,
    ),
    mutation(
        "suite-noisy",
        "the noisy-BatchNorm run trains plain BatchNorm",
        "bn_smooth/configs/reproduce.py",
        '"norm=noisy_batch,lr=0.1"',
        '"norm=batch,lr=0.1"',
        SUITE_RUNS,
    ),
]


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
