"""VGG on CIFAR-10 (appendix A.1): SGD, batch 128, no augmentation, Glorot init.

    python -m experiments.vgg_cifar \
        --config=bn_smooth/configs/vgg_cifar.py:norm=batch,scale=cpu --workdir=runs/vgg_bn

Arguments: norm (a name of bn_smooth.norms.NAMES, e.g. none, batch), lr (default 0.1),
mode (the probes' BatchNorm mode: batch, the training objective, or running,
the evaluation-mode function that eval-mode tools measure), scale (paper:
appendix A; cpu: VGG-11 at 1/8 width for 3,000 steps, a few minutes on 2
cores; smoke: a two-layer VGG for seconds), seed, cfg (a name of
bn_smooth.models.VGG_CFGS, or widths and M joined by "-", e.g. 8-M-16-M;
empty: the scale's), width (0: the scale's), classifier (hidden dense widths of the
head joined by "-", e.g. 512-512; empty: a single Dense(10)), head_init (glorot, the
paper's, or zeros), inputs (standardized: per channel with the training set's mean and
std; unit: pixels / 255). Any field can also be set with --config.FIELD=VALUE.
"""

import copy

import ml_collections

from bn_smooth import probes
from bn_smooth.configs.common import (
    add_job_fields,
    add_precision,
    none_or,
    parse_arg,
    probe_sections,
    set_every,
)


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
    a = parse_arg(
        arg,
        norm="batch",
        lr=0.1,
        mode="batch",
        scale="cpu",
        seed=0,
        cfg="",
        width=0.0,
        classifier="",
        head_init="glorot",
        inputs="standardized",
    )
    c = ml_collections.ConfigDict()
    c.task = "vgg_cifar"
    c.scale, c.seed, c.norm, c.lr = a.scale, a.seed, a.norm, a.lr
    c.norm_kwargs = ml_collections.ConfigDict()
    c.momentum = 0.0  # plain SGD, as in the paper
    c.weight_decay = 0.0  # the paper's; wd * w added to every gradient (train.make_optimizer)
    c.num_devices = 0  # data parallel over this many devices; 0: all visible ones
    c.train_loop = none_or(str)  # None: "scan" (a lax.scan per window); or "steps"
    # (): one run at lr. Else one model per learning rate, trained side by side in one
    # vmapped program, each the run it would be alone at that lr (bn_smooth.sweep).
    c.sweep_lrs = ()
    add_job_fields(c)
    add_precision(c)
    c.batch_size = 128
    c.data_dir = none_or(str)  # None: $BN_SMOOTH_CIFAR10, then ~/.cache/bn_smooth
    c.download = True  # fetch CIFAR-10 if found nowhere, unless $BN_SMOOTH_OFFLINE is set
    c.train_limit = 0  # 0: the whole training set
    c.inputs = a.inputs  # bn_smooth.data.INPUTS
    # The paper does not name the VGG depth; VGG-11 (cfg A) with a Dense(10) head.
    c.model = ml_collections.ConfigDict(
        dict(cfg="vgg11", width=1.0, classifier=(), head_init=a.head_init)
    )
    c.num_steps = 15_000
    c.log_every = 100
    c.eval_every = 1_000
    c.checkpoint_every = 1_000
    # Measurements during training (appendix A.2.2), one section per probe kind
    # (bn_smooth.probes); `every` 0 turns a kind off.
    c.probe = probe_sections(every=100, eta_min=0.5, eta_max=4.0, num_etas=8, spacing="linear")
    # 16 Lanczos steps give lambda_1..3 of the 1/8-width VGG to 1e-3 of an 80-step run
    # at about 2.5-2.8x the line search's cost (`curvature` is off unless `every` is set).
    c.probe.curvature.update(k=3, num_steps=16)
    c.probe.activations.pair = True  # figure 7: changes between successive steps
    for section in c.probe.values():
        section.mode = a.mode
    if a.scale == "cpu":
        c.model.width = 1 / 8
        c.num_steps = 3_000
        c.eval_every = 500
        c.checkpoint_every = 500
    elif a.scale == "smoke":
        # A two-layer VGG: the same code paths, compiled in seconds.
        with c.ignore_type():
            c.model.cfg = (8, "M", 16, "M")
        c.batch_size = 32
        c.train_limit = 2_048
        c.num_steps = 20
        c.log_every = 10
        c.eval_every = 10
        c.checkpoint_every = 10
        set_every(c.probe, 10)
        # smoke checks the plumbing: fewer points and steps compile faster
        c.probe.landscape.num_etas = 3
        c.probe.curvature.update(num_steps=4, k=2)
        c.probe.spectrum.update(num_steps=4, num_vectors=2, num_points=64)
        c.probe.batch_sharpness.update(num_steps=4, num_batches=2)
        c.probe.scale.update(num_steps=4)
    if a.cfg:
        with c.ignore_type():
            c.model.cfg = (
                a.cfg
                if "-" not in a.cfg
                else tuple(v if v == "M" else int(v) for v in a.cfg.split("-"))
            )
    if a.width:
        c.model.width = a.width
    if a.classifier:
        c.model.classifier = tuple(int(v) for v in a.classifier.split("-"))
    # Off unless a run turns them on: the line search and curvature of the evaluation-mode
    # function beside the training objective's (bn_smooth.probes.RUNNING_TWINS).
    for twin, kind in probes.RUNNING_TWINS.items():
        c.probe[twin] = copy.deepcopy(c.probe[kind])
        c.probe[twin].update(every=0, mode="running")
    return c
