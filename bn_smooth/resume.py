"""Whether a workdir's run may be resumed with a config, and whether it has anything left
to do: the fields a resumed run may change, and the ones it may not."""

import importlib
import json
from pathlib import Path

from bn_smooth import arithmetic, distributed, runlog
from bn_smooth.errors import ConfigError

# Fields that may change when a run is resumed (to train it longer, or elsewhere, on
# any number of devices and processes, under another arithmetic).
RESUMABLE_CHANGES = {
    arithmetic.KEY,
    "num_steps",
    "log_every",
    "data_dir",
    "download",
    "num_devices",
    "train_loop",
    *distributed.FIELDS,
}


def _without_off_probes(config_dict: dict) -> dict:
    """The config without the sections of probe kinds that never run: their settings
    change nothing a run writes, so they do not stop it from resuming."""
    sections = config_dict.get("probe") or {}
    on = {
        k: v
        for k, v in sections.items()
        if not isinstance(v, dict) or v.get("every") or v.get("early_every")
    }
    return {**config_dict, "probe": on} if "probe" in config_dict else config_dict


def check_resumable(workdir, config_dict):
    """Refuse, naming the fields, a config that would not continue the run in `workdir`.
    A field its config.json predates (code newer than the run) continues it at the value
    the experiment's config has by default; at any other value it does not."""
    old = runlog.read_config(workdir)
    if old is None:
        return
    defaults = _defaults(old)
    old = _flat(_without_off_probes(old))
    new = _flat(_without_off_probes(json.loads(json.dumps(config_dict))))  # tuples -> lists
    changed = sorted(
        key
        for key in old.keys() | new.keys()
        if key.split(".")[0] not in RESUMABLE_CHANGES
        and old.get(key, _MISSING) != new.get(key, _MISSING)
        and not (key not in old and key in defaults and new.get(key) == defaults[key])
    )
    if changed:
        raise ConfigError(
            f"{workdir} holds a run with a different config (differs in {', '.join(changed)}); "
            "use a new --workdir, or delete that one to start over."
        )


_MISSING = object()


def _flat(config_dict: dict, prefix: str = "") -> dict:
    """{"probe.landscape.every": 100, ...}: every value of a nested config by its path."""
    out = {}
    for key, value in config_dict.items():
        if isinstance(value, dict) and value:
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[prefix + key] = value
    return out


def _defaults(old: dict) -> dict:
    """The flat config the experiment of `old` (its task) has by default today, at the
    run's scale, norm, lr and seed; {} where that cannot be known."""
    try:
        module = importlib.import_module(f"bn_smooth.configs.{old['task']}")
        arg = ",".join(f"{key}={old[key]}" for key in ("scale", "norm", "lr", "seed"))
        return _flat(json.loads(json.dumps(module.get_config(arg).to_dict())))
    except (KeyError, ImportError, ConfigError):
        return {}


def already_done(status, config) -> bool:
    """Diverged, or finished at least `num_steps` (a larger num_steps trains on)."""
    if not status:
        return False
    return status["status"] == "diverged" or (
        status["status"] == "finished" and status["step"] >= config.num_steps
    )


def done_status(config, workdir) -> dict | None:
    """The final status of the run of `config` in `workdir` if it has nothing left to do
    (finished, or diverged), else None; raises if that workdir holds another config."""
    status = existing_status(Path(workdir), config.to_dict())
    return status if already_done(status, config) else None


def existing_status(workdir, config_dict) -> dict | None:
    """The status of the run in `workdir`, if any, after checking it may be resumed."""
    check_resumable(workdir, config_dict)
    return runlog.read_status(workdir)
