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
import time
from pathlib import Path

from absl import flags
from ml_collections import config_flags

from bn_smooth import distributed, precision, results
from bn_smooth.paper import lr_sweep_report
from experiments import cli, figures_dir
from experiments.suite import prepare_and_train

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Sweep config file[:args].", lock_config=True
)
_WORKDIR = flags.DEFINE_string("workdir", None, "Directory holding one workdir per run.")
_FIGURES = flags.DEFINE_string(
    "figures", None, "Where the table and figure go (default: WORKDIR/figures)."
)
_OVERWRITE = flags.DEFINE_bool(
    "overwrite_figures", False, "Replace a sweep's made at another scale or from another workdir."
)
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
    cli.check_no_arguments(argv)
    cli.setup()
    config, workdir = _CONFIG.value, Path(_WORKDIR.value)
    figures = Path(_FIGURES.value or figures_dir.default(workdir))
    start = time.time()
    with prepare_and_train(
        config, workdir, figures, owner="lr_sweep", overwrite_figures=_OVERWRITE.value
    ) as (times, messages):
        if not distributed.is_writer():  # process 0 of a multi-process job writes them
            return
        runs = results.load_runs(workdir, [run.name for run in config.runs])
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
    print(
        f"{len(messages)} sweeps; largest learning rate that trains: "
        + ", ".join(f"{n} {lr_sweep_report.largest(e)}" for n, e in summary["runs"].items())
        + f"; wrote {lr_sweep_report.MARKDOWN}, {lr_sweep_report.SUMMARY} and "
        f"{lr_sweep_report.FIGURE} to {figures}/ ({time.time() - start:.0f} s in this invocation)"
    )


if __name__ == "__main__":
    cli.run(main)
