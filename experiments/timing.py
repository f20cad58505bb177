"""Timing shared by the benchmarks: the median of repeats after warm-up."""

import statistics
import time


def median_time(fn, repeats: int, warmup: int = 1) -> float:
    """Seconds per call of fn(), the median of `repeats` calls after `warmup` untimed ones
    (which include JAX's compilation)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)
