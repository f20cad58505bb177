"""A run's progress in the log: its metrics, its speed and the time it has left."""

import time

import numpy as np
from absl import logging


class Progress:
    """Steps per second and the time left, measured from the end of the invocation's first
    window: the compiling before it would make the first estimate many times too long."""

    def __init__(self, step: int, num_steps: int):
        self.num_steps = num_steps
        self.origin = None  # (step, time) at the end of the first window
        self.step = step

    def update(self, step: int, metrics):
        self.step = step
        if self.origin is None:
            self.origin = (step, time.time())
        speed = self.estimate()
        summary = "  ".join(_mean(k, np.asarray(v)) for k, v in metrics.items())
        logging.info(
            "step %d/%d  %s  %s",
            step,
            self.num_steps,
            summary,
            f"{speed['steps_per_second']:.1f} steps/s  ETA {_clock(speed['eta_seconds'])}"
            if speed
            else "(speed and ETA from the next window on: this one compiled)",
        )

    def estimate(self) -> dict:
        """{steps_per_second, eta_seconds} of the steps since the first window (all the
        work: training, probes, evaluation, checkpoints), or {} before there are any."""
        if self.origin is None or self.step <= self.origin[0]:
            return {}
        rate = (self.step - self.origin[0]) / max(time.time() - self.origin[1], 1e-9)
        return {
            "steps_per_second": round(rate, 3),
            "eta_seconds": round((self.num_steps - self.step) / rate, 1),
        }


def _clock(seconds: float) -> str:
    return time.strftime("%H:%M:%S", time.gmtime(seconds))


def _mean(key: str, values: np.ndarray) -> str:
    """The window's mean; of a sweep's (steps, models), over the models still finite."""
    if values.ndim < 2:
        return f"{key} {np.mean(values):.4g}"
    finite = np.isfinite(values[-1])
    mean = f"{np.mean(values[:, finite]):.4g}" if finite.any() else "nan"
    return f"{key} {mean} ({finite.sum()} of {finite.size} models finite)"
