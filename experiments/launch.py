"""The flags and main function shared by the training entrypoints (vgg_cifar, dln)."""

import sys

from absl import flags
from ml_collections import config_flags

from bn_smooth import distributed, loop
from experiments import cli

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Experiment config file[:args].", lock_config=True
)
_WORKDIR = flags.DEFINE_string("workdir", None, "Directory for metrics, checkpoints, status.")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
    cli.check_no_arguments(argv)
    cli.setup()
    with cli.user_errors(_WORKDIR.value):
        distributed.initialize(_CONFIG.value)
        status = loop.train_and_evaluate(_CONFIG.value, _WORKDIR.value)
    print(status["message"])
    if status["status"] != "finished":
        sys.exit(1)


run = cli.run
