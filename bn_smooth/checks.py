"""A run's config and workdir, checked before anything is written.

Each check raises `ConfigError` with one line naming the field, the value and
what is valid, so that a bad input costs the user nothing: no folder is
made, no file is written.
"""

import math
import os
import tempfile
from pathlib import Path

from bn_smooth import models, precision
from bn_smooth.data import INPUTS
from bn_smooth.errors import ConfigError


def _require(ok: bool, message: str):
    if not ok:
        raise ConfigError(message)


def check_config(config):
    """Values a run cannot train with (before its data is loaded)."""
    sweep_lrs = tuple(config.get("sweep_lrs") or ())
    for lr in (config.lr, *sweep_lrs):
        _require(
            isinstance(lr, int | float) and math.isfinite(lr) and lr > 0,
            f"lr must be a positive number, not {lr!r} (SGD with lr <= 0 does not descend)",
        )
    if sweep_lrs:
        _check_sweep(config)
    _require(
        isinstance(config.num_steps, int) and config.num_steps > 0,
        f"num_steps must be a positive integer, not {config.num_steps!r}",
    )
    batch = config.get("batch_size")
    _require(
        batch is None or (isinstance(batch, int) and batch > 0),
        f"batch_size must be a positive integer (or None: the full batch), not {batch!r}",
    )
    _require(
        config.get("log_every", 1) > 0,
        f"log_every must be positive, not {config.get('log_every')!r}",
    )
    for field in ("eval_every", "checkpoint_every", "train_limit", "num_devices"):
        value = config.get(field, 0)
        _require(
            value is None or value >= 0, f"{field} must be >= 0 (0: off or all), not {value!r}"
        )
    _require(
        0 <= config.get("momentum", 0.0) < 1,
        f"momentum must be in [0, 1), not {config.get('momentum')!r}",
    )
    _require(
        0 <= config.get("weight_decay", 0.0) * max((config.lr, *sweep_lrs)) < 1,
        f"weight_decay must be >= 0 with weight_decay * lr < 1 (each step shrinks the "
        f"weights by that factor), not {config.get('weight_decay')!r} at lr "
        f"{max((config.lr, *sweep_lrs))!r}",
    )
    if "cfg" in config.get("model", {}):
        _check_vgg(config.model)
    for part in ("train", "probes"):
        value = precision.of(config, part)
        _require(
            value in precision.PRECISIONS,
            f"precision.{part} {value!r} is not a precision; valid: "
            f"{', '.join(precision.PRECISIONS)}",
        )
    inputs = config.get("inputs", "standardized")
    _require(
        inputs in INPUTS,
        f"inputs {inputs!r} is not a preprocessing; valid: {', '.join(INPUTS)}",
    )
    for kind, section in config.get("probe", {}).items():
        for field in ("every", "early_every"):
            value = section.get(field, 0)
            _require(value >= 0, f"probe.{kind}.{field} must be >= 0 (0: off), not {value!r}")


def _check_sweep(config):
    """A sweep trains its models side by side, stepwise, and measures nothing but their
    training and evaluation: a probe would have to say which model it measures."""
    probing = sorted(
        kind
        for kind, section in config.get("probe", {}).items()
        if section.get("every") or section.get("early_every")
    )
    _require(
        not probing,
        f"a learning-rate sweep (sweep_lrs) makes no probes, but probe(s) {', '.join(probing)} "
        "are on; set their probe.<kind>.every to 0, or train each learning rate as a run",
    )
    _require(
        config.get("train_loop") in (None, "steps"),
        f"a learning-rate sweep trains step by step; train_loop {config.get('train_loop')!r} "
        "must be None or 'steps'",
    )


def _check_vgg(model):
    """A known configuration, and a width that leaves every layer at least one channel."""
    _require(
        not isinstance(model.cfg, str) or model.cfg in models.VGG_CFGS,
        f"model.cfg {model.cfg!r} is not a VGG configuration; valid: "
        f"{', '.join(models.VGG_CFGS)}, or widths and M such as 8-M-16-M",
    )
    cfg = models.vgg_cfg(model.cfg)
    widths = [v for v in cfg if v != "M"] + list(model.get("classifier", ()))
    _require(
        all(isinstance(v, int) and v > 0 for v in widths),
        f"model.cfg must list positive channel counts and 'M', not {tuple(cfg)}",
    )
    head_init = model.get("head_init", "glorot")
    _require(
        head_init in models.HEAD_INITS,
        f"model.head_init {head_init!r} is not an initializer; valid: "
        f"{', '.join(models.HEAD_INITS)}",
    )
    narrowest = min(widths)
    _require(
        model.width > 0 and round(narrowest * model.width) >= 1,
        f"model.width {model.width:g} leaves the {narrowest}-channel layers with "
        f"{round(narrowest * model.width) if model.width > 0 else 'no'} channels; "
        f"use a width above {0.5 / narrowest:.3g}",
    )


def check_batch_size(batch_size, num_train: int):
    """A batch is drawn without replacement from one epoch: it cannot exceed the set."""
    _require(
        batch_size is None or batch_size <= num_train,
        f"batch_size {batch_size} is larger than the training set ({num_train:,} "
        "examples); lower batch_size or raise train_limit",
    )


def check_workdir(workdir):
    """`workdir` exists as a writable folder or can be made one; writes nothing that stays."""
    workdir = Path(workdir).expanduser().absolute()
    existing = next(p for p in (workdir, *workdir.parents) if p.exists())
    _require(
        existing.is_dir(),
        f"cannot use workdir {workdir}: {existing} is a file, not a "
        "folder; choose another --workdir",
    )
    try:  # root passes os.access on any folder; a real write tells the truth
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as e:
        raise ConfigError(
            f"cannot write to {existing} ({os.strerror(e.errno)}), so "
            f"workdir {workdir} cannot be used; choose another --workdir"
        ) from None
