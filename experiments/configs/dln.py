"""The 25-layer deep linear network on Gaussian data (appendix A.1).

    python -m experiments.dln --config=experiments/configs/dln.py:norm=none,scale=cpu \
        --workdir=runs/dln_none

Loss ||W_1 ... W_k x - A x||^2 summed over 1,000 samples, full-batch gradient
descent, lr 1e-6. The norm (no affine parameters, as in the paper) follows
every layer but the last. Scales: paper and cpu are the same run (it takes
seconds to minutes on a CPU); smoke is short.
"""

import ml_collections

from experiments.configs.common import parse_arg


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
    a = parse_arg(arg, norm="none", lr=1e-6, scale="cpu", seed=0)
    c = ml_collections.ConfigDict()
    c.task = "dln"
    c.scale, c.seed, c.norm, c.lr = a.scale, a.seed, a.norm, a.lr
    c.norm_kwargs = ml_collections.ConfigDict(dict(use_scale=False, use_bias=False))
    c.momentum = 0.0
    c.num_devices = 0  # data parallel over this many devices; 0: all visible ones
    c.train_loop = ""  # "scan" (the default: a lax.scan per window) or "steps"
    c.batch_size = ml_collections.FieldReference(None, field_type=int)  # None: full batch
    c.num_samples = 1_000
    c.model = ml_collections.ConfigDict(dict(depth=25, dim=10))
    c.num_steps = 10_000
    c.log_every = 500
    c.eval_every = 0  # no test set: the DLN is about optimization
    c.checkpoint_every = 2_000
    # Line search with eta in [0.01, 30] x lr (appendix A.2.2), ICS with the GD update.
    c.probe = ml_collections.ConfigDict(dict(
        every=100, ics_every=100, activations_every=100, eta_min=0.01, eta_max=30.0,
        num_etas=12, spacing="log",
        num_units=4, activation_layers=(), percentiles=(5, 25, 50, 75, 95),
        # lax.map: on CPU it compiled the 25-layer ICS in 3.7 s against 33 s unrolled,
        # at the same run time.
        strategy="map"))
    if a.scale == "smoke":
        c.num_steps = 40
        c.log_every = 10
        c.checkpoint_every = 20
        c.probe.every = c.probe.ics_every = c.probe.activations_every = 10
    return c
