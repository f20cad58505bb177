"""What every entrypoint shares: its logging, and how it reports a user's error."""

import contextlib
import sys

from absl import app, logging

from bn_smooth.data import DataError


def setup_logging():
    logging.set_verbosity(logging.INFO)
    # Orbax logs every checkpoint step at INFO; keep the run's own progress readable.
    logging.get_absl_handler().addFilter(lambda record: "orbax" not in record.pathname)


def check_no_arguments(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")


@contextlib.contextmanager
def user_errors(workdir):
    """Bad data or config: one line naming the problem; Ctrl-C: how to resume."""
    try:
        yield
    except (DataError, ValueError) as e:
        sys.exit(f"error: {e}")
    except KeyboardInterrupt:
        sys.exit(f"interrupted; checkpoints and metrics are kept in {workdir}. "
                 "Re-run the same command to resume.")
