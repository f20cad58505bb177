"""The 25-layer deep linear network on Gaussian data (appendix A.1).

    python -m experiments.dln --config=bn_smooth/configs/dln.py:norm=none,scale=cpu \
        --workdir=runs/dln_none

Loss ||W_1 ... W_k x - A x||^2 summed over 1,000 samples, full-batch gradient
descent, lr 1e-6. The norm (no affine parameters, as in the paper) follows
every layer but the last. Scales: paper and cpu are the same run (it takes
seconds to minutes on a CPU); smoke is short and 8 layers deep.
"""

import ml_collections

from bn_smooth.configs.common import (
    add_job_fields,
    add_precision,
    none_or,
    parse_arg,
    probe_sections,
    set_every,
)


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
    a = parse_arg(arg, norm="none", lr=1e-6, scale="cpu", seed=0)
    c = ml_collections.ConfigDict()
    c.task = "dln"
    c.scale, c.seed, c.norm, c.lr = a.scale, a.seed, a.norm, a.lr
    c.norm_kwargs = ml_collections.ConfigDict(dict(use_scale=False, use_bias=False))
    c.momentum = 0.0
    c.weight_decay = 0.0  # the paper's; wd * w added to every gradient (train.make_optimizer)
    c.num_devices = 0  # data parallel over this many devices; 0: all visible ones
    c.train_loop = none_or(str)  # None: "scan" (a lax.scan per window); or "steps"
    # (): one run at lr. Else one model per learning rate, trained side by side in one
    # vmapped program, each the run it would be alone at that lr (bn_smooth.sweep).
    c.sweep_lrs = ()
    add_job_fields(c)
    add_precision(c)
    c.batch_size = none_or(int)  # None: full batch
    # XLA:CPU hands every product to YNNPACK, whose cost per call dominates the DLN's
    # 10 x 10 products. False compiles the DLN's programs without YNNPACK's dot fusions:
    # 0.4-0.6x the step time, another float32 rounding (docs/speed.md). CPU only; True
    # is how runs made before 2026-12-08 were compiled.
    c.ynnpack_dots = False
    c.num_samples = 1_000
    c.model = ml_collections.ConfigDict(dict(depth=25, dim=10))
    c.num_steps = 10_000
    c.log_every = 500
    c.eval_every = 0  # no test set: the DLN is about optimization
    c.checkpoint_every = 2_000
    # Line search with eta in [0.01, 30] x lr (appendix A.2.2), ICS with the GD update.
    # lax.map: on CPU it compiles the 25-layer probes far faster than unrolled, at the
    # same run time (docs/speed.md).
    c.probe = probe_sections(
        every=100, eta_min=0.01, eta_max=30.0, num_etas=12, spacing="log", strategy="map"
    )
    # Curvature at both iterates of GD's two-step oscillation; 60 Lanczos steps give the
    # top eigenvalues of the whole Hessian to 4 digits. `exact=True` adds the whole
    # Hessian's (2,500 HVPs each: about 20x the cost of the probe).
    c.probe.curvature.update(num_steps=60, pair=True)
    if a.scale == "smoke":
        # Eight layers: the same code, its probes compiled about 3x faster than 25.
        c.model.depth = 8
        c.num_steps = 40
        c.log_every = 10
        c.checkpoint_every = 20
        set_every(c.probe, 10)
        c.probe.curvature.update(num_steps=6, k=2)  # the plumbing, compiled in seconds
        c.probe.scale.update(num_steps=6)
    return c
