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

from bn_smooth import precision
from bn_smooth.paper import c4_analysis, c4_report, study_plots
from experiments import cli, study


def stamp(config, runs) -> str:
    """What the figure was made from."""
    return (
        f"bn_smooth c4_study, scale={config.scale}: {len(runs)} runs of "
        f"{config.num_steps:,} SGD steps; "
        + ", ".join(
            f"{s['label']} at width {s['width']:g} ({len(s['seeds'])} seeds)"
            for s in config.settings
        )
        + f"; {precision.describe(run.config for run in runs.values())}"
    )


def write(config, runs, figures, times, messages) -> str:
    summary = c4_analysis.summarize(config, runs)
    c4_report.write(figures, summary, config, times.seconds, command=" ".join(sys.argv[1:]))
    figure = study_plots.c4_study(summary, config, runs, stamp(config, runs))
    figure.savefig(figures / "c4_study.png", dpi=110)
    diverged = [name for name, message in messages.items() if message.startswith("diverged")]
    return (
        f"{len(messages)} runs ({len(diverged)} diverged: {', '.join(diverged) or 'none'}); "
        f"wrote c4_study.md, c4_study.json and c4_study.png to {figures}/"
    )


main = study.main("c4_study", write)

if __name__ == "__main__":
    cli.run(main)
