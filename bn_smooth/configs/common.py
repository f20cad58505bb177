"""Parsing config arguments of the form `key=value,key=value` (big_vision style)."""

import ml_collections

from bn_smooth.errors import ConfigError

SCALES = ("paper", "cpu", "smoke")


def parse_arg(arg: str | None, **defaults) -> ml_collections.ConfigDict:
    """`"norm=batch,scale=cpu"` -> ConfigDict, typed after `defaults`; unknown keys fail."""
    values = dict(defaults)
    for item in filter(None, (arg or "").split(",")):
        key, sep, raw = item.partition("=")
        if not sep or key not in defaults:
            raise ConfigError(
                f"bad config argument {item!r}; expected key=value with key in "
                f"{', '.join(defaults)}"
            )
        kind = type(defaults[key])
        values[key] = raw.lower() in ("1", "true", "yes") if kind is bool else kind(raw)
    if values.get("scale") not in SCALES:
        raise ConfigError(
            f"unknown scale {values.get('scale')!r}; valid scales are {', '.join(SCALES)}"
        )
    return ml_collections.ConfigDict(values)


def none_or(field_type) -> ml_collections.FieldReference:
    """A field whose default is None ("the library decides") but that takes a `field_type`."""
    return ml_collections.FieldReference(None, field_type=field_type)


def add_precision(c: ml_collections.ConfigDict):
    """config.precision: of the products in the training steps (and the evaluation) and in
    the probes, 'highest' (full float32, the paper's arithmetic) or 'default' (the backend's:
    bfloat16 passes on TPUs, TF32 on recent GPUs; faster). bn_smooth.precision."""
    c.precision = ml_collections.ConfigDict(dict(train="highest", probes="highest"))


def add_job_fields(c: ml_collections.ConfigDict):
    """A multi-process job's coordinates (bn_smooth.distributed.initialize); None: those
    of a cluster JAX detects, or this one process."""
    c.coordinator_address = none_or(str)  # host:port of process 0
    c.num_processes = none_or(int)
    c.process_id = none_or(int)


def probe_sections(
    every: int,
    eta_min: float,
    eta_max: float,
    num_etas: int,
    spacing: str,
    strategy: str | None = None,
) -> ml_collections.ConfigDict:
    """config.probe: one section per probe kind of bn_smooth.probes, each with its `every`.

    landscape: the line search with eta in [eta_min, eta_max] x lr; ics: Definition 2.1
    with the step's own update; activations: a few random units of `layers` (empty: all);
    curvature (off by default): the top `k` Hessian eigenvalues from `num_steps` Lanczos
    steps and the curvature along the gradient, with `exact` the whole Hessian's too, and
    with `pair` all of it again one update later (full-batch GD at the edge of stability
    alternates between two iterates of different sharpness, and a probe every even number
    of steps would only see one of them);
    batch_sharpness (off by default): the batch sharpness over `num_batches` batches and
    the top `k` eigenvalues of the loss averaged over them (`num_steps` Lanczos steps);
    scale (off by default): each normalized layer's weight norm, effective learning rate
    and update angle, and the top `k` eigenvalues in the layers' own units
    (bn_smooth.scale_invariance; `num_steps` Lanczos steps);
    spectrum (off by default): the Hessian's spectral density by stochastic Lanczos
    quadrature, `num_vectors` starting vectors of `num_steps` steps each.
    `strategy` (None: the backend's default) is how a probe batches its points
    (bn_smooth.batching); `mode` is "batch" (the training objective) or "running"
    (the evaluation-mode function, for comparison).
    """

    def strategy_field():
        return ml_collections.FieldReference(strategy, field_type=str)

    return ml_collections.ConfigDict(
        dict(
            landscape=dict(
                every=every,
                eta_min=eta_min,
                eta_max=eta_max,
                num_etas=num_etas,
                spacing=spacing,
                strategy=strategy_field(),
                mode="batch",
            ),
            ics=dict(every=every, strategy=strategy_field(), mode="batch"),
            activations=dict(
                every=every,
                num_units=4,
                layers=(),
                percentiles=(5, 25, 50, 75, 95),
                pair=False,
                mode="batch",
            ),
            curvature=dict(every=0, k=5, num_steps=20, exact=False, pair=False, mode="batch"),
            batch_sharpness=dict(every=0, num_batches=4, k=1, num_steps=12, mode="batch"),
            scale=dict(every=0, k=1, num_steps=16, mode="batch"),
            spectrum=dict(
                every=0,
                num_steps=30,
                num_vectors=3,
                num_points=256,
                mode="batch",
                strategy=strategy_field(),
            ),
        )
    )


def set_every(probe: ml_collections.ConfigDict, every: int, kinds=None):
    """The probe kinds `kinds` (default: every kind on by default) at the same interval
    (0: off)."""
    for kind in kinds or ("landscape", "ics", "activations"):
        probe[kind].every = every


def run_spec(
    name,
    experiment,
    arg,
    probes,
    figures="",
    every=None,
    num_steps=0,
    early_every=None,
    early_until=0,
    sweep_lrs=(),
) -> ml_collections.ConfigDict:
    """One run of a suite (experiments.suite): `experiment`'s config with `arg`; `probes`
    the kinds it makes (the others off), `every` {kind: interval} overrides, `early_every`
    {kind: interval} before step `early_until` (dense early probing); `num_steps` if not 0;
    `figures` (space-separated) the figures it feeds; `sweep_lrs` if not (): a sweep of
    these learning rates (bn_smooth.sweep), with no probes."""
    return ml_collections.ConfigDict(
        dict(
            name=name,
            experiment=experiment,
            arg=arg,
            probes=tuple(probes),
            figures=tuple(figures.split()),
            every=dict(every or {}),
            num_steps=num_steps,
            early_every=dict(early_every or {}),
            early_until=early_until,
            sweep_lrs=tuple(sweep_lrs),
        )
    )
