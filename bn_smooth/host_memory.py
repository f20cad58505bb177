"""Keep freed host memory mapped, so that XLA:CPU steps stop page-faulting.

XLA:CPU allocates each execution's temporaries (87 MB for a VGG-11 training
step at 1/8 width, hundreds of MB at full width) with malloc and frees them
when the execution ends. glibc serves blocks that large from its worker
threads' arenas with mmap and unmaps them on free, so every step faulted its
whole working set in again: a quarter of the step's time at 1/8 width
(0.072 -> 0.053 s a step, measured). One arena, with mmap and trim thresholds
above any temporary, keeps that memory mapped and reused; the price is that
the process does not hand its peak memory back to the system.

It must run before JAX's first computation, because a thread keeps the arena
it first allocated from: `import bn_smooth` does it. Set BN_SMOOTH_GLIBC_MALLOC=default
to keep glibc's defaults. Elsewhere than glibc it does nothing.
"""

import ctypes
import os
import platform

# mallopt parameters, from glibc's malloc.h.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD, _M_ARENA_MAX = -1, -3, -8
_INT_MAX = 2**31 - 1
OPT_OUT = "BN_SMOOTH_GLIBC_MALLOC"


def keep_freed_memory() -> bool:
    """Tune glibc's malloc as above; True if it was tuned."""
    if os.environ.get(OPT_OUT) == "default" or platform.libc_ver()[0] != "glibc":
        return False
    mallopt = ctypes.CDLL("libc.so.6").mallopt
    return all(mallopt(param, value) == 1 for param, value in (
        (_M_ARENA_MAX, 1), (_M_MMAP_THRESHOLD, 1 << 30), (_M_TRIM_THRESHOLD, _INT_MAX)))
