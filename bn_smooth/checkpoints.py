"""Checkpoints of a run's train state, with orbax, under workdir/checkpoints.

A checkpoint that cannot be read (its files cut short or overwritten) is set aside in
workdir/checkpoints_corrupt/ and the run resumes from the newest one that can; nothing is
deleted but an older copy set aside at the same step. Each checkpoint's folder holds the
SHA-256 of its files as they were saved (DIGEST), checked before orbax reads them: orbax
given a corrupt file fails with tensorstore's whole spec and leaves reads behind that
print tracebacks.
"""

import hashlib
import json
import logging as std_logging
import re
import shutil
import sys
from pathlib import Path

import orbax.checkpoint as ocp
from absl import logging

from bn_smooth import distributed, runlog
from bn_smooth.errors import DataError
from bn_smooth.train import TrainState

FOLDER = "checkpoints"
CORRUPT = "checkpoints_corrupt"
DIGEST = "bn_smooth_digest.json"  # in each step's folder, beside orbax's


class Checkpoints:
    """Orbax checkpoints of the train state under workdir/checkpoints."""

    def __init__(self, workdir, max_to_keep: int = 2):
        self.workdir = Path(workdir).absolute()
        self.folder = self.workdir / FOLDER
        options = ocp.CheckpointManagerOptions(
            max_to_keep=max_to_keep, create=True, enable_async_checkpointing=False
        )
        self.manager = ocp.CheckpointManager(self.folder, options=options)

    def save(self, state: TrainState):
        step = state.current_step
        if self.manager.latest_step() != step:
            try:
                self.manager.save(step, args=ocp.args.StandardSave(state), force=True)
            except Exception as e:  # orbax may wrap the OSError
                if runlog.is_disk_full(e) or "No space left on device" in str(e):
                    raise runlog.disk_full(self.folder / str(step)) from None
                raise
            if distributed.is_writer():
                folder = self.folder / str(step)
                runlog.write_whole(folder / DIGEST, json.dumps(digest(folder), indent=1))

    def restore(self, template: TrainState) -> TrainState:
        """The newest checkpoint that can be read, or the template when there is none.
        Those that cannot are set aside, each with a warning naming it; if there were
        checkpoints and none can be read, DataError says how to start over."""
        steps = sorted(self.manager.all_steps(), reverse=True)
        if steps:
            _drop_late_reads()
        for step in steps:
            changed = changed_file(self.folder / str(step))
            try:
                if changed is None:
                    return self.manager.restore(step, args=ocp.args.StandardRestore(template))
                why = f"{changed.relative_to(self.workdir)}: changed since it was saved"
            except Exception as e:  # tensorstore and orbax raise many kinds
                why = unreadable(e, self.workdir)
            aside = self._set_aside(step).relative_to(self.workdir)
            logging.warning(
                "%s: the checkpoint of step %d cannot be read (%s); set aside in %s, %s",
                self.workdir,
                step,
                why,
                aside,
                "trying the one before it" if step != steps[-1] else "and there is none before it",
            )
        if steps:
            raise DataError(
                f"{self.workdir}: no checkpoint can be read (the newest, of step {steps[0]}, "
                f"and every one before it are set aside in {self.workdir / CORRUPT}); "
                f"delete {self.workdir} to start the run over"
            )
        return template

    def _set_aside(self, step: int) -> Path:
        """Move checkpoint `step` out of the manager's folder, so that the run saves a new
        one at that step (in a multi-process job, process 0 moves it); returns where to."""
        target = self.workdir / CORRUPT / str(step)
        if not distributed.is_writer():
            return target
        target.parent.mkdir(exist_ok=True)
        if target.exists():
            shutil.rmtree(target)
        shutil.move(str(self.folder / str(step)), target)
        self.manager.reload()
        return target

    def close(self):
        self.manager.close()


def latest_step(workdir) -> int:
    """The step of the newest checkpoint in `workdir` (0: none), from the folder names
    alone: how far a run that failed while setting up had come."""
    folder = Path(workdir) / FOLDER
    steps = [int(p.name) for p in folder.iterdir() if p.name.isdigit()] if folder.is_dir() else []
    return max(steps, default=0)


def digest(folder: Path) -> dict[str, str]:
    """The SHA-256 of every file under `folder` but the digest, by path relative to it."""
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.name != DIGEST)
    return {str(p.relative_to(folder)): _sha256(p) for p in files}


def changed_file(folder: Path) -> Path | None:
    """The first file of checkpoint `folder` that is missing or differs from its digest;
    None when all match, or when there is no digest to check (a checkpoint written before
    digests were, or whose digest a full disk stopped: orbax's own checks decide)."""
    try:
        saved = json.loads((folder / DIGEST).read_text())
    except (OSError, ValueError):
        return None
    for name, sha in saved.items():
        path = folder / name
        if not path.is_file() or _sha256(path) != sha:
            return path
    return None


def _sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


# asyncio's messages for a task or a future whose exception nobody retrieved.
NEVER_RETRIEVED = ("Task exception was never retrieved", "Future exception was never retrieved")


def _drop_late_reads():
    """When a restore fails (a corrupt checkpoint without a digest), orbax closes its
    event loop while tensorstore still reads the checkpoint's other files, and the reads
    that end later are reported twice over the one line that names the checkpoint: a read
    that calls into the closed loop as an unraisable RuntimeError, and one that failed too
    as an asyncio task or future whose exception nobody retrieved, each with its traceback
    (a dozen in all). Drop those two, and only those, in this process."""
    previous = sys.unraisablehook
    if getattr(previous, "drops_late_reads", False):
        return

    def hook(unraisable):
        error = unraisable.exc_value
        if not (isinstance(error, RuntimeError) and str(error) == "Event loop is closed"):
            previous(unraisable)

    hook.drops_late_reads = True
    sys.unraisablehook = hook
    std_logging.getLogger("asyncio").addFilter(
        lambda record: record.getMessage() not in NEVER_RETRIEVED
    )


def unreadable(error: Exception, workdir: Path) -> str:
    """One short line for a checkpoint that cannot be read: the file under `workdir` the
    error names (tensorstore's message holds its whole spec), and the error's kind."""
    text = str(error)
    paths = re.findall(re.escape(str(workdir)) + r"/([^\s\"',}]*)", text)
    where = max(paths, key=len) if paths else "its files"  # relative to the workdir
    kind = re.search(r"(DATA_LOSS|FAILED_PRECONDITION|NOT_FOUND|INVALID_ARGUMENT)", text)
    return f"{where}: {kind.group(1) if kind else type(error).__name__}"
