"""Every run the paper's figures need, and the theory checks, as one suite.

    python -m experiments.reproduce \
        --config=bn_smooth/configs/reproduce.py:scale=cpu --workdir=runs/reproduce

Arguments: scale (paper: appendix A's settings, for a GPU or TPU; cpu: VGG-11
at 1/8 width for 3,000 steps (the pairs at lr 0.5 and 0.01: 1,500), 36 minutes on 2
cores of an AMD EPYC; smoke: the same suite in a few minutes, for tests), seed.

Each run names an experiment config and its argument; the scale and seed are
the suite's. `probes` lists the measurements a run makes (the others are
turned off: each costs gradient evaluations), at the experiment's interval or
at the one `every` gives (the curvature kinds are off by default); `num_steps`,
if not 0, trains it shorter than the scale's default;
`figures` the figures it feeds ("sharpness", "spectrum" and "mechanism" go beyond the
paper: the Hessian's top eigenvalues against 2/lr, its spectral density, and figure 4's
gradient change taken apart).
"""

import ml_collections

from bn_smooth.configs.common import add_job_fields, none_or, parse_arg
from bn_smooth.configs.common import run_spec as _run

ALL_PROBES = ("landscape", "ics", "activations")
SHARPNESS = ("curvature", "spectrum")
MECHANISM = ("batch_sharpness", "scale")  # what BatchNorm changes (REPORT.md, beyond the paper)
LP = ("l1", "l2", "linf")
RUNNING_TWINS = ("landscape_running", "curvature_running")  # bn_smooth.probes.RUNNING_TWINS
SPECTRUM_TWIN = "spectrum_running"  # at the spectrum's steps

# The suite's run names, declared here once: the paper's figures and claims
# (bn_smooth.paper) read the runs by these names, and each declares the ones it needs.
VGG_MAIN = ("vgg_none", "vgg_batch")  # lr 0.1
VGG_HIGH_LR = ("vgg_none_lr0.5", "vgg_batch_lr0.5")
VGG_LOW_LR = ("vgg_none_lr0.01", "vgg_batch_lr0.01")  # figure 3's second VGG row
VGG_NOISY = "vgg_noisy_batch"
VGG_LP = tuple(f"vgg_{p}" for p in LP)
DLN_MAIN = ("dln_none", "dln_batch")  # lr 1e-6
DLN_LP = tuple(f"dln_{p}" for p in LP)
DLN_SLOW = ("dln_none_lr1e-7", "dln_batch_lr1e-7")  # where the standard DLN's GD is stable


def dln_seed(norm: str, k: int) -> str:
    """The DLN run of `norm` at the suite's seed + k (claim C5's other seeds; the main
    pair's also measure the line search, for C4)."""
    return f"dln_{norm}_s{k}"


def dln_extra_seeds(scale: str) -> tuple[int, ...]:
    """The k of claim C5's other DLN seeds at `scale` (one at the smoke scale)."""
    return (1,) if scale == "smoke" else (1, 2)


def vgg_seed(norm: str, k: int) -> str:
    """The VGG run of `norm` at lr 0.1 and the suite's seed + k: float32 VGG training on a
    CPU depends on that CPU (docs/reproduction.md, three machines), so a VGG number stands
    only as a median over seeds (the extra seeds measure the line search only)."""
    return f"vgg_{norm}_s{k}"


def vgg_extra_seeds(scale: str) -> tuple[int, ...]:
    """The k of the VGG pair's other seeds at `scale` (one at the smoke scale)."""
    return (1,) if scale == "smoke" else (1, 2)


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
    a = parse_arg(arg, scale="cpu", seed=0)
    c = ml_collections.ConfigDict()
    c.scale, c.seed = a.scale, a.seed
    c.data_dir = none_or(str)  # for the VGG runs; None: $BN_SMOOTH_CIFAR10, then ~/.cache
    c.download = True  # fetch CIFAR-10 if found nowhere, unless $BN_SMOOTH_OFFLINE is set
    add_job_fields(c)
    c.theory_instances = {"paper": 1000, "cpu": 1000, "smoke": 12}[a.scale]
    # Batch sizes of the theory instances; each compiles its own programs.
    c.theory_batch_sizes = (4,) if a.scale == "smoke" else (2, 4, 8, 16, 32, 64, 128, 256)
    # The curvature probes' intervals (a VGG probe costs a few line searches; the DLN's
    # computes its whole Hessian).
    vgg_curvature = {"paper": 1_000, "cpu": 250, "smoke": 10}[a.scale]
    # The spectrum figure shows three steps: 0, the last probe in the first 20% of the run
    # and the last one; the spectrum (90 HVPs) is probed at those only.
    vgg_spectrum = {"paper": 12_500, "cpu": 2_500, "smoke": 10}[a.scale]
    spectrum_early = {"paper": (2_500, 3_000), "cpu": (500, 600), "smoke": (0, 0)}[a.scale]
    dln_curvature = {"paper": 500, "cpu": 500, "smoke": 10}[a.scale]
    # The batch sharpness (4 batches x 12 Lanczos steps) and the scale probe.
    mechanism = {"paper": 2_500, "cpu": 500, "smoke": 10}[a.scale]
    # The BatchNorm VGG's evaluation-mode twins, at every other curvature probe (claim C7).
    running_every = {"paper": 2_000, "cpu": 500, "smoke": 10}[a.scale]
    vgg_sharp = dict(
        every={"curvature": vgg_curvature, "spectrum": vgg_spectrum},
        early_every={"spectrum": spectrum_early[0]},
        early_until=spectrum_early[1],
    )
    vgg_main = dict(
        every={**vgg_sharp["every"], **dict.fromkeys(MECHANISM, mechanism)},
        early_every=vgg_sharp["early_every"],
        early_until=vgg_sharp["early_until"],
    )
    dln_sharp = dict(every={"curvature": dln_curvature})
    # The VGG pairs at lr 0.5 and 0.01 are compared only within the pair and with the
    # paper at the same steps: at the cpu scale they train half as long as the runs
    # compared with the main pair, so that the suite fits 40 minutes on 2 cores.
    other_lr_steps = {"paper": 0, "cpu": 1_500, "smoke": 0}[a.scale]
    vgg_none, vgg_batch = VGG_MAIN
    c.runs = [
        # VGG on CIFAR-10 (figures 1, 2, 3, 4, 6, 7, 10, 11, 13, 14).
        _run(
            vgg_none,
            "vgg_cifar",
            "norm=none,lr=0.1",
            ALL_PROBES + SHARPNESS + MECHANISM,
            "1 3 4 6 7 10 11 13 14 sharpness spectrum mechanism",
            **vgg_main,
        ),
        # Beyond the paper, the BatchNorm run also measures the evaluation-mode function
        # (on the running averages) as eval-mode tools do, at every other curvature
        # probe (claim C7).
        _run(
            vgg_batch,
            "vgg_cifar",
            "norm=batch,lr=0.1",
            ALL_PROBES + SHARPNESS + MECHANISM + RUNNING_TWINS + (SPECTRUM_TWIN,),
            "1 2 3 4 6 7 10 11 13 14 sharpness spectrum mechanism",
            every={
                **vgg_main["every"],
                **dict.fromkeys(RUNNING_TWINS, running_every),
                SPECTRUM_TWIN: vgg_spectrum,
            },
            early_every={**vgg_main["early_every"], SPECTRUM_TWIN: spectrum_early[0]},
            early_until=vgg_main["early_until"],
        ),
        *[
            _run(
                name,
                "vgg_cifar",
                f"norm={norm},lr=0.5",
                ("curvature",),
                "1 sharpness",
                num_steps=other_lr_steps,
                **vgg_sharp,
            )
            for name, norm in zip(VGG_HIGH_LR, ("none", "batch"), strict=True)
        ],
        *[
            _run(name, "vgg_cifar", f"norm={norm},lr=0.01", ("ics",), "3", num_steps=other_lr_steps)
            for name, norm in zip(VGG_LOW_LR, ("none", "batch"), strict=True)
        ],
        _run(VGG_NOISY, "vgg_cifar", "norm=noisy_batch,lr=0.1", ("activations",), "2 7"),
        *[
            _run(name, "vgg_cifar", f"norm={p},lr=0.1", ("landscape", "activations"), "11 13 14")
            for name, p in zip(VGG_LP, LP, strict=True)
        ],
        # The 25-layer deep linear network (figures 3, 6, 8, 9, 10, 12, 13).
        *[
            _run(
                name,
                "dln",
                f"norm={p}",
                ALL_PROBES + ("curvature", "scale"),
                "3 6 8 9 10 12 13 sharpness mechanism",
                every={**dln_sharp["every"], "scale": mechanism},
            )
            for name, p in zip(DLN_MAIN, ("none", "batch"), strict=True)
        ],
        *[
            _run(
                name, "dln", f"norm={p}", ("landscape", "curvature"), "12 13 sharpness", **dln_sharp
            )
            for name, p in zip(DLN_LP, LP, strict=True)
        ],
        # Not a paper figure: both DLNs at a 10x smaller step, where the standard network's
        # full-batch GD does not oscillate, beside the paper's lr (figures 3, 6, 9; claims
        # C3 and C7).
        *[
            _run(
                name,
                "dln",
                f"norm={p},lr=1e-7",
                ("ics", "landscape", "curvature"),
                "3 6 9 sharpness",
                **dln_sharp,
            )
            for name, p in zip(DLN_SLOW, ("none", "batch"), strict=True)
        ],
        # The VGG pair at lr 0.1 on two more seeds (one at the smoke scale), the line
        # search only: every VGG verdict is a median over seeds.
        *[
            _run(
                vgg_seed(p, k),
                "vgg_cifar",
                f"norm={p},lr=0.1,seed={a.seed + k}",
                ("landscape",),
                "",
            )
            for k in vgg_extra_seeds(a.scale)
            for p in ("none", "batch")
        ],
        # Claim C5 on two more seeds (one at the smoke scale): the final losses; the main
        # pair also measures the line search, so that C4's DLN number is a median over
        # seeds (one seed's spans three orders of magnitude: docs/speed.md).
        *[
            _run(
                dln_seed(p, k),
                "dln",
                f"norm={p},seed={a.seed + k}",
                ("landscape",) if p in ("none", "batch") else (),
                "",
            )
            for k in dln_extra_seeds(a.scale)
            for p in ("none", "batch", *LP)
        ],
    ]
    return c
