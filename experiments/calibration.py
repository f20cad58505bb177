"""The paper's network at the paper's width, against the paper's figures 1 and 4.

    python -m experiments.calibration \
        --config=bn_smooth/configs/calibration.py:scale=cpu --workdir=runs/calibration

Trains VGG-11 at full width (bn_smooth/configs/calibration.py: 97 minutes on 2 cores at
the cpu scale, measured: 74 for the three VGG-11 runs, 24 for the VGG-16 pair), each run
in `workdir/<name>`; finished runs are skipped and interrupted ones resume, so re-running
the command only does what is missing. Then it writes the calibration gate, the
comparison with the paper's plotted data (calibration.md and .json) and its figure
(calibration.png) to --figures (default: WORKDIR/figures). REPORT.md cites them when the
suite next writes its report into the same folder (both with --figures=figures, as the
README does).
"""

import sys
import time
from pathlib import Path

from absl import flags
from ml_collections import config_flags

from bn_smooth import distributed, results
from bn_smooth.paper import calibration, calibration_report
from experiments import cli, figures_dir
from experiments.suite import prepare_and_train

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Calibration config file[:args].", lock_config=True
)
_WORKDIR = flags.DEFINE_string("workdir", None, "Directory holding one workdir per run.")
_FIGURES = flags.DEFINE_string(
    "figures", None, "Where the table and figure go (default: WORKDIR/figures)."
)
_OVERWRITE = flags.DEFINE_bool(
    "overwrite_figures",
    False,
    "Replace a calibration made at another scale or from another workdir.",
)
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
    cli.check_no_arguments(argv)
    cli.setup()
    config, workdir = _CONFIG.value, Path(_WORKDIR.value)
    figures = Path(_FIGURES.value or figures_dir.default(workdir))
    start = time.time()
    with prepare_and_train(
        config, workdir, figures, owner="calibration", overwrite_figures=_OVERWRITE.value
    ) as (times, messages):
        if not distributed.is_writer():  # process 0 of a multi-process job writes them
            return
        runs = results.load_runs(workdir, [run.name for run in config.runs])
        summary = calibration_report.write(
            figures, runs, config, times.seconds, command=" ".join(sys.argv[1:])
        )
    print(
        f"{len(messages)} runs; the gate {'passes' if summary['gate']['passed'] else 'fails'}; "
        f"wrote {calibration_report.MARKDOWN}, {calibration.SUMMARY}, "
        f"{calibration_report.FIGURE} and {calibration_report.GAP_FIGURE} to "
        f"{figures}/ ({time.time() - start:.0f} s in this invocation)"
    )


if __name__ == "__main__":
    cli.run(main)
