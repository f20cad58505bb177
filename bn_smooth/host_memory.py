"""Keep freed host memory mapped, so that XLA:CPU steps stop page-faulting.

XLA:CPU allocates each execution's temporaries (tens of MB for a VGG-11
training step at 1/8 width, hundreds at full width) with malloc and frees
them when the execution ends. glibc serves blocks that large from its worker
threads' arenas with mmap and unmaps them on free, so every step faults its
whole working set in again. One arena, with mmap and trim thresholds above
any temporary, keeps that memory mapped and reused; the process then does
not hand its peak memory back to the system.

It is opt-in, because one arena costs multi-threaded code that allocates
many small blocks (XLA compiling, small programs: the DLN, the theory
checks); docs/speed.md has the measurements. The training
loop's `lax.scan` windows already pay the faults once a window rather than
once a step; the gain is for code that runs single large executions again
and again (jitted VGG steps, probes in a notebook). Call `keep_freed_memory()`
first thing, before JAX's first computation: a thread keeps the arena it
first allocated from. Elsewhere than glibc it does nothing.
"""

import ctypes
import platform

# mallopt parameters, from glibc's malloc.h.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD, _M_ARENA_MAX = -1, -3, -8
_INT_MAX = 2**31 - 1


def keep_freed_memory() -> bool:
    """Tune glibc's malloc as above; True if it was tuned."""
    if platform.libc_ver()[0] != "glibc":
        return False
    mallopt = ctypes.CDLL("libc.so.6").mallopt
    return all(
        mallopt(param, value) == 1
        for param, value in (
            (_M_ARENA_MAX, 1),
            (_M_MMAP_THRESHOLD, 1 << 30),
            (_M_TRIM_THRESHOLD, _INT_MAX),
        )
    )
