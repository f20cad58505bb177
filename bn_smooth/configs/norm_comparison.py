"""Beyond BatchNorm: every normalizer of bn_smooth.norms that uses no batch statistics,
beside the standard and the BatchNorm VGG, under the same instruments.

    python -m experiments.norm_comparison \
        --config=bn_smooth/configs/norm_comparison.py:scale=cpu --workdir=runs/norm_comparison

Arguments: scale (cpu: VGG-11 at 1/8 width, the main suite's VGG runs and the C8 sweep's
grid, for each normalizer; paper: full width, for a GPU or TPU; smoke: a two-layer VGG
and three normalizers, for tests), seed. Per normalizer, at the suite's lr 0.1:

- `vgg_<norm>` (the seed): figure 4's line search, lambda_1 (curvature) and the scale
  probe (weight norms, effective learning rate, lambda_1 in the layers' own units);
- `vgg_<norm>_s1`, `_s2`: the line search only, so that every number is a median over
  three seeds;
- `vgg_<norm>_sweep`: the largest learning rate that trains, one vmapped sweep over the
  C8 grid (bn_smooth/configs/lr_sweep.py) with its rule (bn_smooth.sweep_results).

The verdict's primary check and its secondary checks were fixed with this file, before
any of its runs (bn_smooth/paper/norm_comparison.py).
"""

import ml_collections

from bn_smooth.configs.common import add_job_fields, none_or, parse_arg, run_spec
from bn_smooth.configs.lr_sweep import VGG_LRS

# The standard network and BatchNorm, then the normalizers that use no batch statistics.
COMPARED = (
    "none",
    "batch",
    "layer",
    "group",
    "instance",
    "rms",
    "weight_norm",
    "weight_standardization",
)
SMOKE = ("none", "batch", "weight_standardization")
EXTRA_SEEDS = (1, 2)
LR = 0.1


def run_name(norm: str, k: int = 0) -> str:
    """The run of `norm` at the seed + k (k > 0: the line search only)."""
    return f"vgg_{norm}" + (f"_s{k}" if k else "")


def sweep_name(norm: str) -> str:
    return f"vgg_{norm}_sweep"


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
    a = parse_arg(arg, scale="cpu", seed=0)
    c = ml_collections.ConfigDict()
    c.scale, c.seed, c.lr = a.scale, a.seed, LR
    c.data_dir = none_or(str)  # None: $BN_SMOOTH_CIFAR10, then ~/.cache/bn_smooth
    c.download = True  # fetch CIFAR-10 if found nowhere, unless $BN_SMOOTH_OFFLINE is set
    add_job_fields(c)
    smoke = a.scale == "smoke"
    c.norms = SMOKE if smoke else COMPARED
    c.sweep_steps = {"paper": 3_000, "cpu": 1_000, "smoke": 20}[a.scale]
    # As the main suite's VGG runs (bn_smooth/configs/reproduce.py).
    curvature = {"paper": 1_000, "cpu": 250, "smoke": 10}[a.scale]
    scale_every = {"paper": 2_500, "cpu": 500, "smoke": 10}[a.scale]
    seeds = EXTRA_SEEDS[:1] if smoke else EXTRA_SEEDS
    c.runs = [
        run
        for norm in c.norms
        for run in (
            run_spec(
                run_name(norm),
                "vgg_cifar",
                f"norm={norm},lr={LR},seed={a.seed}",
                ("landscape", "curvature", "scale"),
                every={"curvature": curvature, "scale": scale_every},
            ),
            *[
                run_spec(
                    run_name(norm, k),
                    "vgg_cifar",
                    f"norm={norm},lr={LR},seed={a.seed + k}",
                    ("landscape",),
                )
                for k in seeds
            ],
            run_spec(
                sweep_name(norm),
                "vgg_cifar",
                f"norm={norm},seed={a.seed}",
                (),
                num_steps=c.sweep_steps,
                sweep_lrs=VGG_LRS[::4] if smoke else VGG_LRS,
            ),
        )
    ]
    return c
