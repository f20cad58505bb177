"""The flags and main function shared by the training entrypoints."""

import sys

from absl import app, flags, logging
from ml_collections import config_flags

from bn_smooth import loop
from bn_smooth.data import DataError

_CONFIG = config_flags.DEFINE_config_file("config", None, "Experiment config file[:args].",
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Directory for metrics, checkpoints, status.")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    logging.set_verbosity(logging.INFO)
    # Orbax logs every checkpoint step at INFO; keep the run's own progress readable.
    logging.get_absl_handler().addFilter(lambda record: "orbax" not in record.pathname)
    try:
        status = loop.train_and_evaluate(_CONFIG.value, _WORKDIR.value)
    except (DataError, ValueError) as e:
        sys.exit(f"error: {e}")
    except KeyboardInterrupt:
        sys.exit(f"interrupted; checkpoint and metrics kept in {_WORKDIR.value}. "
                 "Re-run the same command to resume.")
    print(status["message"])
    if status["status"] != "finished":
        sys.exit(1)


def run(main_fn):
    app.run(main_fn)
