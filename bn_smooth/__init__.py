"""bn_smooth: how does batch normalization help optimization? Measured in JAX."""

from bn_smooth import host_memory

# Before any JAX computation, or XLA:CPU's threads keep glibc's default arenas.
MALLOC_TUNED = host_memory.keep_freed_memory()
