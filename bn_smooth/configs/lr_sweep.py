"""The learning-rate sweep of claim C8: the largest learning rate at which each network
trains, with and without BatchNorm.

    python -m experiments.lr_sweep \
        --config=bn_smooth/configs/lr_sweep.py:scale=cpu --workdir=runs/lr_sweep

Arguments: scale (cpu: VGG-11 at 1/8 width and the 25-layer DLN, on 2 cores in the time
docs/reproduction.md gives; paper: full width, for a GPU or TPU; smoke: seconds, for
tests). Each network, standard and BatchNorm, is one run: one model per learning rate of a
factor-2 grid, trained side by side in one vmapped program, each the run it would be
alone (bn_smooth.sweep), with the main suite's seed and no probes. The grids and the rule
that says a model trains (bn_smooth.sweep_results.TRAINS) were fixed before the runs.
"""

import ml_collections

from bn_smooth.configs.common import add_job_fields, none_or, parse_arg, run_spec

# Factor-2 grids around the paper's learning rates (VGG 0.1 and 0.5, the DLN 1e-6 and
# 1e-7), wide enough that each end is expected to train or fail for both networks.
VGG_LRS = tuple(0.025 * 2**k for k in range(9))  # 0.025 .. 6.4
DLN_LRS = tuple(1e-7 * 2**k for k in range(13))  # 1e-7 .. 4.1e-4


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
    a = parse_arg(arg, scale="cpu", seed=0)
    c = ml_collections.ConfigDict()
    c.scale, c.seed = a.scale, a.seed
    c.data_dir = none_or(str)  # None: $BN_SMOOTH_CIFAR10, then ~/.cache/bn_smooth
    c.download = True  # fetch CIFAR-10 if found nowhere, unless $BN_SMOOTH_OFFLINE is set
    add_job_fields(c)
    smoke = a.scale == "smoke"
    c.vgg_steps = {"paper": 3_000, "cpu": 1_000, "smoke": 20}[a.scale]
    c.dln_steps = {"paper": 10_000, "cpu": 10_000, "smoke": 40}[a.scale]
    vgg_lrs, dln_lrs = (VGG_LRS[::4], DLN_LRS[::6]) if smoke else (VGG_LRS, DLN_LRS)
    c.runs = [
        run_spec(
            f"{task}_{norm}",
            experiment,
            f"norm={norm}",
            (),
            num_steps=steps,
            sweep_lrs=lrs,
        )
        for task, experiment, steps, lrs in (
            ("vgg", "vgg_cifar", c.vgg_steps, vgg_lrs),
            ("dln", "dln", c.dln_steps, dln_lrs),
        )
        for norm in ("none", "batch")
    ]
    return c
