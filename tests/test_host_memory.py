"""bn_smooth.host_memory: glibc's malloc keeps XLA:CPU's freed buffers when asked to."""

import platform
import subprocess
import sys

import pytest


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc only")
def test_a_large_freed_block_is_reused_without_new_page_faults():
    """What the tuning is for: after it, a 256 MB block freed and allocated again
    is not unmapped and faulted in again."""
    code = """
import ctypes, resource
from bn_smooth import host_memory
assert host_memory.keep_freed_memory()
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
size = 256 << 20
def touch_once():
    p = libc.malloc(size)
    ctypes.memset(p, 1, size)
    libc.free(p)
touch_once()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
touch_once()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert int(out.stdout) < 1000  # untuned: 65,536 faults (256 MB of 4 kB pages)
