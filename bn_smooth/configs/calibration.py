"""The paper's network at the paper's width: VGG-11 at full width, calibrated against the
paper's figures 1 and 4 (bn_smooth.paper.calibration holds the gate and the comparison).

    python -m experiments.calibration \
        --config=bn_smooth/configs/calibration.py:scale=cpu --workdir=runs/calibration

Arguments: scale (cpu: VGG-11 at full width for 2,000 steps, and the runs below: 179 minutes
on 2 cores for all 13, measured over two invocations; smoke: a two-layer VGG for 30 steps,
for tests). Three runs, all at seed 0 with the
paper's settings (SGD, batch 128, no augmentation): the standard and the BatchNorm network
at lr 0.1, with figure 4's line search every 10 steps to step 500 and every 100 after and
the curvature probe every 100; and the standard network at lr 0.5, training only (the
paper's stays at chance). The training accuracy of every step is in every run's log.

Then the experiments on what could close a gap to figure 1 (CANDIDATES): the same pair
at lr 0.1 with one thing changed, each trained to the end of the gate's first window
(about 20 minutes a pair for VGG-11, 24 for VGG-16): depth (VGG-16, whose 13 normalized
layers match the layer numbers of the paper's figures 7 and 14; VGG-11 has 8), the
classic normalized dense layers in the head, the head's initialization, and the input
preprocessing; and, as the control that says how far a curve moves by chance, another
seed of the same network.
"""

import ml_collections

from bn_smooth.configs.common import add_job_fields, none_or, parse_arg, run_spec

MAIN = ("vgg_none", "vgg_batch")  # lr 0.1, the names the paper's figures read
HIGH_LR = "vgg_none_lr0.5"
# name: (what changes, the vgg_cifar arguments); the runs NAME_none and NAME_batch.
CANDIDATES = {
    "vgg16": ("depth: VGG-16", "cfg=vgg16"),
    "dense_head": ("two normalized dense layers of 512 before the head", "classifier=512-512"),
    "zero_head": ("the head initialized to zero", "head_init=zeros"),
    "unit_inputs": ("inputs pixels / 255, not standardized", "inputs=unit"),
    "seed1": ("control: seed 1", "seed=1"),
}
SMOKE_ARGS = {"vgg16": "cfg=8-8-M-16-M", "dense_head": "classifier=16-16"}  # if run there


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
    a = parse_arg(arg, scale="cpu")
    smoke = a.scale == "smoke"
    c = ml_collections.ConfigDict()
    c.scale, c.seed = a.scale, 0
    c.data_dir = none_or(str)  # None: $BN_SMOOTH_CIFAR10, then ~/.cache/bn_smooth
    c.download = True  # fetch CIFAR-10 if found nowhere, unless $BN_SMOOTH_OFFLINE is set
    add_job_fields(c)
    c.num_steps = 30 if smoke else 2_000
    c.high_lr_steps = 20 if smoke else 600
    c.early_step = 10 if smoke else 600  # the gate's first step (its second: the last)
    c.candidate_steps = 20 if smoke else 700  # past the gate's first window (steps 500-700)
    # The changes run (names of CANDIDATES); the smoke scale runs two, for the plumbing.
    c.candidates = ("dense_head", "seed1") if smoke else tuple(CANDIDATES)
    early = dict(early_every={"landscape": 2 if smoke else 10}, early_until=10 if smoke else 500)
    every = 10 if smoke else 100
    # Figure 4 is compared at the paper's probe steps (every 100, from step 100 on).
    c.paper_every = every
    # width=1 is the paper's at any scale; at the smoke scale the VGG is the smoke one.
    c.runs = [
        *[
            run_spec(
                name,
                "vgg_cifar",
                f"norm={norm},lr=0.1,width=1",
                ("landscape", "curvature"),
                every={"landscape": every, "curvature": every},
                num_steps=c.num_steps,
                **early,
            )
            for name, norm in zip(MAIN, ("none", "batch"), strict=True)
        ],
        run_spec(HIGH_LR, "vgg_cifar", "norm=none,lr=0.5,width=1", (), num_steps=c.high_lr_steps),
        # At the smoke scale, the depth and the head are the smoke network's.
        *[
            run_spec(
                f"{name}_{norm}",
                "vgg_cifar",
                f"norm={norm},lr=0.1,width=1,{SMOKE_ARGS.get(name, arg) if smoke else arg}",
                (),
                num_steps=c.candidate_steps,
            )
            for name, (_, arg) in CANDIDATES.items()
            if name in c.candidates
            for norm in ("none", "batch")
        ],
    ]
    return c
