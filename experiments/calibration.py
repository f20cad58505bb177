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

from bn_smooth.paper import calibration, calibration_report
from experiments import cli, study


def write(config, runs, figures, times, messages) -> str:
    summary = calibration_report.write(
        figures, runs, config, times.seconds, command=" ".join(sys.argv[1:])
    )
    return (
        f"{len(messages)} runs; the gate {'passes' if summary['gate']['passed'] else 'fails'}; "
        f"wrote {calibration_report.MARKDOWN}, {calibration.SUMMARY}, "
        f"{calibration_report.FIGURE} and {calibration_report.GAP_FIGURE} to {figures}/"
    )


main = study.main("calibration", write)

if __name__ == "__main__":
    cli.run(main)
