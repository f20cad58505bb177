"""The C4 study: how much smoother BatchNorm makes VGG, by depth, width, seed and lr.

    python -m experiments.c4_study \
        --config=bn_smooth/configs/c4_study.py:scale=cpu --workdir=runs/c4_study

Each run trains in `workdir/<name>`; finished runs are skipped and interrupted
ones resume, so re-running the command only does what is missing and rewrites
the study's table (c4_study.md and .json) and figure (c4_study.png) in --figures
(default: WORKDIR/figures). REPORT.md's claim C4 reads the table when the suite next
writes its report into the same folder (both with --figures=figures, as the README does).
"""

import sys
import time
from pathlib import Path

from absl import flags
from ml_collections import config_flags

from bn_smooth import distributed, precision, results
from bn_smooth.paper import c4_analysis, c4_report, study_plots
from experiments import cli, figures_dir
from experiments.suite import prepare_and_train

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Study config file[:args].", lock_config=True
)
_WORKDIR = flags.DEFINE_string("workdir", None, "Directory holding one workdir per run.")
_FIGURES = flags.DEFINE_string(
    "figures", None, "Where the table and figure go (default: WORKDIR/figures)."
)
_OVERWRITE = flags.DEFINE_bool(
    "overwrite_figures", False, "Replace a study's made at another scale or from another workdir."
)
flags.mark_flags_as_required(["config", "workdir"])


def stamp(study, runs) -> str:
    """What the figure was made from."""
    return (
        f"bn_smooth c4_study, scale={study.scale}: {len(runs)} runs of "
        f"{study.num_steps:,} SGD steps; "
        + ", ".join(
            f"{s['label']} at width {s['width']:g} ({len(s['seeds'])} seeds)"
            for s in study.settings
        )
        + f"; {precision.describe(run.config for run in runs.values())}"
    )


def main(argv):
    cli.check_no_arguments(argv)
    cli.setup()
    study, workdir = _CONFIG.value, Path(_WORKDIR.value)
    figures = Path(_FIGURES.value or figures_dir.default(workdir))
    start = time.time()
    with prepare_and_train(
        study, workdir, figures, owner="c4_study", overwrite_figures=_OVERWRITE.value
    ) as (times, messages):
        if not distributed.is_writer():  # process 0 of a multi-process job writes them
            return
        runs = results.load_runs(workdir, [run.name for run in study.runs])
        summary = c4_analysis.summarize(study, runs)
        c4_report.write(figures, summary, study, times.seconds, command=" ".join(sys.argv[1:]))
        figure = study_plots.c4_study(summary, study, runs, stamp(study, runs))
        figure.savefig(figures / "c4_study.png", dpi=110)
    diverged = [name for name, message in messages.items() if message.startswith("diverged")]
    print(
        f"{len(messages)} runs ({len(diverged)} diverged: {', '.join(diverged) or 'none'}); "
        f"wrote c4_study.md, c4_study.json and c4_study.png to {figures}/ "
        f"({time.time() - start:.0f} s in this invocation)"
    )


if __name__ == "__main__":
    cli.run(main)
