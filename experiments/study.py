"""What the study entrypoints share (the C4 study, the calibration, the learning-rate
sweep): their flags, and training a suite config's runs in one workdir before the
entrypoint writes its tables and figures from them.

    main = study.main("c4_study", write)   # write(config, runs, figures, times, messages)
    if __name__ == "__main__":
        cli.run(main)

Each run trains in `workdir/<name>`; finished runs are skipped and interrupted ones
resume, so re-running the command only does what is missing and rewrites what the
entrypoint writes to --figures (default: WORKDIR/figures).
"""

import time
from pathlib import Path

from absl import flags
from ml_collections import config_flags

from bn_smooth import distributed, results
from experiments import cli, figures_dir
from experiments.suite import prepare_and_train

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "The study's config file[:args].", lock_config=True
)
_WORKDIR = flags.DEFINE_string("workdir", None, "Directory holding one workdir per run.")
_FIGURES = flags.DEFINE_string(
    "figures", None, "Where the tables and figures go (default: WORKDIR/figures)."
)
_OVERWRITE = flags.DEFINE_bool(
    "overwrite_figures",
    False,
    "Replace what was made at another scale or from another workdir.",
)
flags.mark_flags_as_required(["config", "workdir"])


def main(owner: str, write):
    """The absl main of entrypoint `owner` (experiments.figures_dir.MARKS): train the
    config's runs, then `write(config, runs, figures, times, messages)` (process 0 of a
    multi-process job only) returns the line it prints."""

    def run(argv):
        cli.check_no_arguments(argv)
        cli.setup()
        config, workdir = _CONFIG.value, Path(_WORKDIR.value)
        figures = Path(_FIGURES.value or figures_dir.default(workdir))
        start = time.time()
        with prepare_and_train(
            config, workdir, figures, owner=owner, overwrite_figures=_OVERWRITE.value
        ) as (times, messages):
            if not distributed.is_writer():  # process 0 of a multi-process job writes them
                return
            runs = results.load_runs(workdir, [run.name for run in config.runs])
            said = write(config, runs, figures, times, messages)
        print(f"{said} ({time.time() - start:.0f} s in this invocation)")

    return run
