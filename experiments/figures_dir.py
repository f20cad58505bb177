"""Where an entrypoint's figures and reports go, and what may be written over.

By default they go beside the runs they come from (WORKDIR/figures), so that a quick
check never touches the repository's committed figures/. A figures folder records, per
entrypoint, the scale and the workdir its files were made from (provenance.json); an
entrypoint refuses to write over files made at another scale or from another workdir
(or by an entrypoint that recorded nothing) unless it is told to (--overwrite_figures).
"""

import json
import os
from pathlib import Path

from bn_smooth.errors import ConfigError

PROVENANCE = "provenance.json"
# The file that says an entrypoint has written into a folder before.
MARKS = {
    "reproduce": "REPORT.md",
    "c4_study": "c4_study.md",
    "calibration": "calibration.md",
    "lr_sweep": "lr_sweep.md",
    "norm_comparison": "norm_comparison.md",
}


def default(workdir) -> Path:
    return Path(workdir) / "figures"


def made_from(scale: str, workdir, figures) -> dict:
    """What a folder's files are made from: the scale and the workdir, relative to the
    folder (so that the record holds in every clone of the repository)."""
    where = os.path.relpath(Path(workdir).absolute(), Path(figures).absolute())
    return {"scale": scale, "workdir": Path(where).as_posix()}


def check(figures, owner: str, scale: str, workdir, overwrite: bool):
    """Raise ConfigError if `owner` writing `scale`'s figures from `workdir` into
    `figures` would replace files made from something else, unless `overwrite`. (The
    record holds the workdir relative to the folder; the message names it as given.)"""
    figures = Path(figures)
    if overwrite or not (figures / MARKS[owner]).exists():
        return
    now = made_from(scale, workdir, figures)
    before = _read(figures).get(owner)
    if before == now:
        return
    what = (
        f"figures made at the {before['scale']} scale from {before['workdir']}"
        if before
        else "figures whose scale and workdir were not recorded"
    )
    raise ConfigError(
        f"{figures}/ holds {what}; this command would replace them with the "
        f"{scale} scale's from {workdir}. Leave out --figures to write them beside "
        f"the runs ({default(workdir)}), choose another --figures, or pass "
        "--overwrite_figures to replace them"
    )


def record(figures, owner: str, scale: str, workdir):
    """Note in `figures`/provenance.json what `owner` just wrote there was made from."""
    entries = {**_read(Path(figures)), owner: made_from(scale, workdir, figures)}
    (Path(figures) / PROVENANCE).write_text(json.dumps(entries, indent=1, sort_keys=True) + "\n")


def _read(figures: Path) -> dict:
    path = figures / PROVENANCE
    try:
        return json.loads(path.read_text()) if path.exists() else {}
    except (OSError, ValueError):
        return {}  # unreadable: as if nothing was recorded
