"""The C4 study: how much smoother BatchNorm makes VGG's landscape, by depth, width, seed
and learning rate.

    python -m experiments.c4_study \
        --config=bn_smooth/configs/c4_study.py:scale=cpu --workdir=runs/c4_study

Arguments: scale (cpu: 55 minutes on 2 cores, three seeds at 1/8 width;
paper: up to full width, for a GPU or TPU; smoke: a minute, for tests). Each
setting (a VGG configuration at a width) trains the standard network at lr 0.1
and the BatchNorm network at lr 0.1, and at lr 0.5 for `lr_seeds` of its seeds,
with the line search (figure 4's measurement) every `early_every` steps before
step `early_until` and every `every` steps after, and the curvature probe
(lambda_1 and ||H g_hat||) beside it, less densely. Runs are ordered seed by
seed, so that an interrupted study has every setting at seed 0 first.
"""

import ml_collections

from bn_smooth.configs.common import add_job_fields, none_or, parse_arg, run_spec

# (label, VGG configuration, width, seeds, seeds that also train BatchNorm at lr 0.5).
# VGG-11 has 8 normalized layers; VGG-16 has 13, as many as the paper's figure 14
# implies ("Layer #11").
SETTINGS = {
    "cpu": [
        ("VGG-11", "vgg11", 1 / 8, (0, 1, 2), (0, 1, 2)),
        ("VGG-16", "vgg16", 1 / 8, (0, 1, 2), (0,)),
        ("VGG-11", "vgg11", 1 / 4, (0,), ()),
        ("VGG-11", "vgg11", 1 / 2, (0,), ()),
    ],
    "paper": [("VGG-11", "vgg11", w, (0, 1, 2), (0, 1, 2)) for w in (1 / 4, 1 / 2, 1)]
    + [("VGG-16", "vgg16", 1, (0, 1, 2), (0, 1, 2))],
    # Three- and five-layer VGGs: every code path of the study in about a minute.
    "smoke": [
        ("3 layers", "8-M-16-M-16-M", 1, (0, 1), (0,)),
        ("5 layers", "8-8-M-16-16-M-16-M", 1, (0,), ()),
    ],
}
LR, LR_HIGH = 0.1, 0.5


def setting_name(cfg: str, width: float) -> str:
    layers = sum(v != "M" for v in cfg.split("-"))
    return f"{cfg if '-' not in cfg else f'L{layers}'}_w{width:g}"


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
    a = parse_arg(arg, scale="cpu")
    c = ml_collections.ConfigDict()
    c.scale, c.seed = a.scale, 0  # each run names its own seed
    c.data_dir = none_or(str)  # None: $BN_SMOOTH_CIFAR10, then ~/.cache/bn_smooth
    c.download = True  # fetch CIFAR-10 if found nowhere, unless $BN_SMOOTH_OFFLINE is set
    add_job_fields(c)
    smoke = a.scale == "smoke"
    c.num_steps = {"paper": 3_000, "cpu": 1_000, "smoke": 30}[a.scale]
    c.early_until = 20 if smoke else 500
    early_every = {"landscape": 2, "curvature": 10} if smoke else {"landscape": 10, "curvature": 50}
    every = {"landscape": 10, "curvature": 10} if smoke else {"landscape": 100, "curvature": 100}
    c.settings = [
        dict(
            name=setting_name(cfg, width),
            label=label,
            cfg=cfg,
            width=width,
            seeds=seeds,
            lr_seeds=lr_seeds,
        )
        for label, cfg, width, seeds, lr_seeds in SETTINGS[a.scale]
    ]
    runs = []
    for seed in range(3):
        for _, cfg, width, seeds, lr_seeds in SETTINGS[a.scale]:
            members = [("none", LR)] * (seed in seeds) + [("batch", LR)] * (seed in seeds)
            members += [("batch", LR_HIGH)] * (seed in lr_seeds)
            for norm, lr in members:
                runs.append(
                    run_spec(
                        f"{setting_name(cfg, width)}_{norm}_lr{lr:g}_s{seed}",
                        "vgg_cifar",
                        f"norm={norm},lr={lr},cfg={cfg},width={width},seed={seed}",
                        ("landscape", "curvature"),
                        every=every,
                        early_every=early_every,
                        early_until=c.early_until,
                        num_steps=c.num_steps,
                    )
                )
    c.runs = runs
    return c
