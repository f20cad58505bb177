"""One process per workdir: an exclusive lock held for the life of a run or a suite.

The lock is an `flock` on `workdir/.lock`, which holds the holder's pid. The
operating system releases it when its process ends, however it ends (even
kill -9), so a lock left by a dead process is simply taken over. In a multi-process
job, process 0 holds it for the job (bn_smooth.distributed).
"""

import contextlib
import fcntl
import os
from pathlib import Path

from bn_smooth.distributed import is_writer
from bn_smooth.errors import ConfigError

LOCK = ".lock"


class WorkdirBusy(ConfigError):
    """Another live process holds the workdir."""


@contextlib.contextmanager
def hold(workdir):
    """Hold `workdir`'s lock (refusing with WorkdirBusy if a live process has it)."""
    if not is_writer():  # the job's process 0 holds it
        yield
        return
    path = Path(workdir) / LOCK
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode().strip() or "?"
            raise WorkdirBusy(
                f"{workdir} is in use by process {holder}; wait for it to finish (or stop "
                "it), or use another --workdir"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock
