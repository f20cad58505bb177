"""Reproduce the paper: every run its figures need, the theory checks, the figures and REPORT.md.

    python -m experiments.reproduce \
        --config=bn_smooth/configs/reproduce.py:scale=cpu --workdir=runs/reproduce

Each run trains in `workdir/<name>`. Runs already finished are skipped and
interrupted ones resume, so re-running the command only does what is missing
(and redraws the figures). A run that diverges is reported and the suite goes
on. Figures and REPORT.md go to --figures (default: WORKDIR/figures; the repository's
figures/ only when asked, and over figures made at another scale or from another
workdir only with --overwrite_figures: experiments.figures_dir).
"""

import json
import platform
import sys
import time
from pathlib import Path

from absl import flags
from ml_collections import config_flags

from bn_smooth import arithmetic, distributed, results, runlog, theory
from bn_smooth.paper import plots, report, theory_report
from experiments import cli, figures_dir
from experiments.suite import SideJob, prepare_and_train

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Suite config file[:args].", lock_config=True
)
_WORKDIR = flags.DEFINE_string("workdir", None, "Directory holding one workdir per run.")
_FIGURES = flags.DEFINE_string(
    "figures", None, "Where the figures and REPORT.md go (default: WORKDIR/figures)."
)
_OVERWRITE = flags.DEFINE_bool(
    "overwrite_figures", False, "Replace figures made at another scale or from another workdir."
)
flags.mark_flags_as_required(["config", "workdir"])


def theory_cache(suite, workdir) -> Path:
    """Where the theory table (claim C6) is kept: computed once per workdir, instance
    count and batch sizes."""
    sizes = "-".join(map(str, suite.theory_batch_sizes))
    return workdir / f"theory_{suite.theory_instances}_m{sizes}.json"


def theory_job(suite, workdir) -> SideJob | None:
    """The theory checks, in a worker beside the runs, unless a past invocation did them."""
    cache = theory_cache(suite, workdir)
    if cache.exists():
        return None
    args = (suite.theory_instances, suite.seed, tuple(suite.theory_batch_sizes))
    return SideJob(
        "theory",
        theory.check_all_in_float64,
        args,
        lambda rows: cache.write_text(json.dumps(runlog.clean(rows))),
    )


def theory_rows(suite, workdir, figures, times) -> list[dict]:
    """The theory table (claim C6), from its cache, written out as figures/theory.md."""
    rows = json.loads(theory_cache(suite, workdir).read_text())
    command = (
        f"python -m experiments.reproduce (scale={suite.scale}): "
        f"{suite.theory_instances} instances per statement, seed {suite.seed}, "
        f"batch sizes {', '.join(map(str, suite.theory_batch_sizes))}"
    )
    theory_report.write_markdown(
        rows, figures / "theory.md", command, times.seconds.get("theory", 0)
    )
    return rows


def write_figures(suite, workdir, figures) -> tuple[list[Path], dict[str, list[str]]]:
    """Every figure from the runs' logs, as figures/figure_NN.png: (paths, {skipped
    figure: the runs it lacks})."""
    runs = results.load_runs(workdir, [run.name for run in suite.runs])
    return plots.make_all(runs, figures, stamp=plots.stamp(suite, runs))


def write_report(suite, workdir, figures, theory_rows, times, command: str):
    """figures/REPORT.md from the runs' logs, the theory rows and the suite's timings."""
    runs = results.load_runs(workdir, [run.name for run in suite.runs])
    report.write(
        figures / "REPORT.md",
        suite,
        runs,
        theory_rows,
        times.seconds,
        versions=versions(),
        command=command,
    )


def main(argv):
    cli.check_no_arguments(argv)
    cli.setup()
    suite, workdir = _CONFIG.value, Path(_WORKDIR.value)
    figures = Path(_FIGURES.value or figures_dir.default(workdir))
    start = time.time()
    with prepare_and_train(
        suite,
        workdir,
        figures,
        theory_job(suite, workdir),
        overwrite_figures=_OVERWRITE.value,
    ) as (times, messages):
        if not distributed.is_writer():  # process 0 of a multi-process job writes them
            return
        rows = theory_rows(suite, workdir, figures, times)
        plot_start = time.time()
        written, skipped = write_figures(suite, workdir, figures)
        times.set("figures and report", time.time() - plot_start)
        write_report(suite, workdir, figures, rows, times, command=" ".join(sys.argv[1:]))
    for name, message in messages.items():
        print(f"{name:>18}: {message}")
    print(
        f"wrote {len(written)} figures and REPORT.md to {figures}/ "
        f"({time.time() - start:.0f} s in this invocation)"
    )
    for name, lacking in skipped.items():
        print(
            f"skipped {name}: "
            + (
                f"missing run(s) {', '.join(lacking)}"
                if lacking
                else "its runs hold nothing it draws"
            )
        )


def versions() -> dict[str, str]:
    """What decides the arithmetic (bn_smooth.arithmetic: the CPU and the XLA flags move
    float32 VGG numbers), and the other packages."""
    import flax
    import numpy
    import optax

    return {
        "python": platform.python_version(),
        **arithmetic.current(),
        "flax": flax.__version__,
        "optax": optax.__version__,
        "numpy": numpy.__version__,
    }


if __name__ == "__main__":
    cli.run(main)
