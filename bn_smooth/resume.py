"""Whether a workdir's run may be resumed with a config, and whether it has anything left
to do: the fields a resumed run may change, and the ones it may not."""

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
    old = runlog.read_config(workdir)
    if old is None:
        return
    old = _without_off_probes(old)
    config_dict = _without_off_probes(json.loads(json.dumps(config_dict)))  # tuples -> lists
    changed = sorted(
        k
        for k in set(old) | set(config_dict)
        if k not in RESUMABLE_CHANGES and old.get(k) != config_dict.get(k)
    )
    if changed:
        raise ConfigError(
            f"{workdir} holds a run with a different config (differs in {', '.join(changed)}); "
            "use a new --workdir, or delete that one to start over."
        )


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
