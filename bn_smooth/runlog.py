"""What a run leaves in its workdir, and reading it back.

- `config.json`: the experiment config.
- `metrics.jsonl`: one JSON object a line, `{"step": t, "kind": k, ...values}`;
  kinds are 'train' (every step), 'eval', and the probes' kinds. Non-finite
  values are written as null so that every line is standard JSON.
- `status.json`: `{"status": "running" | "finished" | "diverged" | "interrupted" |
  "failed", "step": t, "message": ..., timings}`, rewritten at every logging
  window while running (with the process's `pid`, `steps_per_second` and
  `eta_seconds`).
- `error.log`: the traceback of the error that left the run `failed`.
- `.lock`: the pid of the process holding the workdir (bn_smooth.workdir_lock).
Plots and reports read only these files. In a multi-process job only process 0
writes them (bn_smooth.distributed); the others' writes do nothing.
"""

import contextlib
import errno
import json
import math
import os
import shutil
from pathlib import Path

from bn_smooth.distributed import is_writer
from bn_smooth.errors import DataError

CONFIG = "config.json"
METRICS = "metrics.jsonl"
STATUS = "status.json"
ERROR_LOG = "error.log"


def clean(value):
    """Plain JSON: arrays to lists, non-finite floats to None."""
    if hasattr(value, "tolist"):  # numpy and jax scalars and arrays
        value = value.tolist()
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class DiskFull(DataError):
    """The disk filled while a run wrote to it; what it had written before is kept."""


def is_disk_full(error: BaseException) -> bool:
    return isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT)


def disk_full(path: Path) -> DiskFull:
    """The error of a full disk while writing `path`: one line, where, and the fix."""
    folder = next((p for p in Path(path).absolute().parents if p.exists()), Path("/"))
    free = shutil.disk_usage(folder).free / 2**20
    return DiskFull(
        f"the disk is full: cannot write {path} ({free:.0f} MiB free on the disk of "
        f"{folder}); what was written before is kept. Free some space and re-run the "
        "same command to resume."
    )


@contextlib.contextmanager
def disk_full_named(path: Path):
    """Turn a full disk while writing `path` into DiskFull."""
    try:
        yield
    except OSError as e:
        if not is_disk_full(e):
            raise
        raise disk_full(path) from None


_write_some = os.write  # every byte a run writes goes through it (a test fills the disk)


def _write_all(path: Path, data: bytes, append: bool):
    """Write `data` to `path` (after what it holds, if `append`), all of it or nothing: on
    any error the file is cut back to its size before."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else os.O_TRUNC)
    fd = os.open(path, flags, 0o644)
    try:
        size = os.fstat(fd).st_size
        try:
            view = memoryview(data)
            while view:
                view = view[_write_some(fd, view) :]
        except OSError:
            os.ftruncate(fd, size)
            raise
    finally:
        os.close(fd)


def write_whole(path: Path, text: str):
    """Write `path` whole or not at all (a temporary file, then a rename): a crash or a
    full disk leaves the old file, and the other processes of a job never read it half
    written."""
    tmp = path.with_suffix(".tmp")
    with disk_full_named(path):
        try:
            _write_all(tmp, text.encode(), append=False)
        except OSError:
            tmp.unlink(missing_ok=True)
            raise
        os.replace(tmp, path)


class MetricsWriter:
    """Appends rows to metrics.jsonl, flushed at every write so a crash loses nothing."""

    def __init__(self, workdir):
        self.path = Path(workdir) / METRICS

    def truncate(self, step: int):
        """Drop rows from `step` on: a resumed run recomputes them."""
        if is_writer() and self.path.exists():
            kept = [row for row in read_metrics(self.path.parent) if row["step"] < step]
            self._rewrite(kept)

    def _rewrite(self, rows):
        write_whole(self.path, "".join(json.dumps(row) + "\n" for row in rows))

    def write(self, step: int, kind: str, values: dict):
        self.write_rows([{"step": int(step), "kind": kind, **clean(values)}])

    def write_rows(self, rows):
        """Append `rows` whole or not at all (no half line on a full disk)."""
        if is_writer():
            text = "".join(json.dumps(row) + "\n" for row in rows)
            with disk_full_named(self.path):
                _write_all(self.path, text.encode(), append=True)


def read_metrics(workdir, kind: str | None = None) -> list[dict]:
    path = Path(workdir) / METRICS
    if not path.exists():
        return []
    rows = []
    with open(path) as f:
        for line in f:
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError:
                    break  # a line cut by a crash: everything before it stands
    return [r for r in rows if kind is None or r["kind"] == kind]


def write_status(workdir, status: str, step: int, message: str = "", **extra) -> dict:
    """Write status.json; returns what it holds (on every process of a job)."""
    values = {"status": status, "step": int(step), "message": message, **extra}
    if is_writer():
        write_whole(Path(workdir) / STATUS, json.dumps(values, indent=1))
    return values


def write_failure(workdir, step: int, error: BaseException, trace: str):
    """`failed` with the error's one-line summary; the whole traceback in error.log (if the
    disk has room for them: a full disk says so in the error itself)."""
    if not is_writer():
        return
    log = Path(workdir) / ERROR_LOG
    summary = (str(error).strip().splitlines() or [""])[0]
    with contextlib.suppress(DiskFull):
        write_whole(log, trace)
        write_status(
            workdir,
            "failed",
            step,
            f"failed at step {step}: {type(error).__name__}: {summary} (traceback in {log})",
        )


def read_status(workdir) -> dict | None:
    path = Path(workdir) / STATUS
    return json.loads(path.read_text()) if path.exists() else None


def write_config(workdir, config_dict: dict):
    if is_writer():
        write_whole(Path(workdir) / CONFIG, json.dumps(config_dict, indent=1, sort_keys=True))


def read_config(workdir) -> dict | None:
    path = Path(workdir) / CONFIG
    return json.loads(path.read_text()) if path.exists() else None
