"""The learning-rate sweep of claim C8: the largest learning rate at which each network
trains, standard and BatchNorm.

    python -m experiments.lr_sweep \
        --config=bn_smooth/configs/lr_sweep.py:scale=cpu --workdir=runs/lr_sweep

Each network's sweep is one run in `workdir/<name>` (bn_smooth/configs/lr_sweep.py);
finished runs are skipped and interrupted ones resume, so re-running the command only
does what is missing and rewrites the sweep's table (lr_sweep.md and .json) and figure
(lr_sweep.png) in --figures (default: WORKDIR/figures). REPORT.md's claim C8 reads the
table when the suite next writes its report into the same folder (both with
--figures=figures, as the README does).
"""

import sys

from bn_smooth import precision
from bn_smooth.paper import lr_sweep_report
from experiments import cli, study


def write(config, runs, figures, times, messages) -> str:
    summary = lr_sweep_report.summarize(config, runs)
    lr_sweep_report.write(figures, summary, times.seconds, command=" ".join(sys.argv[1:]))
    stamp = (
        f"bn_smooth lr_sweep, scale={config.scale}, seed {config.seed}: "
        + "; ".join(
            dict.fromkeys(  # one entry per network, standard and BatchNorm alike
                f"{name.split('_')[0]}: {len(e['lrs'])} lrs x {e['num_steps']:,} steps"
                for name, e in summary["runs"].items()
            )
        )
        + f"; {precision.describe(r.config for r in runs.values())}"
    )
    figure = lr_sweep_report.figure(summary, stamp)
    figure.savefig(figures / lr_sweep_report.FIGURE, dpi=110)
    return (
        f"{len(messages)} sweeps; largest learning rate that trains: "
        + ", ".join(f"{n} {lr_sweep_report.largest(e)}" for n, e in summary["runs"].items())
        + f"; wrote {lr_sweep_report.MARKDOWN}, {lr_sweep_report.SUMMARY} and "
        f"{lr_sweep_report.FIGURE} to {figures}/"
    )


main = study.main("lr_sweep", write)

if __name__ == "__main__":
    cli.run(main)
