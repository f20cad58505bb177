"""Stopping on a signal without losing anything: SIGTERM (what a scheduler sends) and
Ctrl-C (SIGINT).

A run does not stop where the signal finds it (inside a checkpoint's save, a library's
thread, a compiled program): the signal only asks it to stop, and it stops at the end of
its training window, where its state and its log agree, then checkpoints and says so. A
second Ctrl-C stops it at once. Signals can only be handled in the main thread; elsewhere
nothing changes.
"""

import contextlib
import signal
import threading

from absl import logging

RUN_STOPS = "stopping at the end of this training window, with a checkpoint"


@contextlib.contextmanager
def handling(handlers: dict):
    """`{signal: handler}` in force inside, the previous handlers restored after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {number: signal.signal(number, handler) for number, handler in handlers.items()}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


class StopRequest:
    """Whether a signal asked `what` to stop: `requested` is its name, or None. `then`
    says what happens next, in the warning the first signal logs."""

    def __init__(self, what: str, then: str = RUN_STOPS):
        self.what, self.then, self.requested = what, then, None

    def __call__(self, number, frame):
        name = signal.Signals(number).name
        if self.requested and number == signal.SIGINT:
            raise KeyboardInterrupt(name)  # the second Ctrl-C: at once
        if not self.requested:
            logging.warning("%s: %s; %s (Ctrl-C again to stop at once)", self.what, name, self.then)
        self.requested = name


@contextlib.contextmanager
def stop_requests(what: str, then: str = RUN_STOPS):
    """Inside, SIGTERM and Ctrl-C ask `what` to stop: yields the StopRequest to check."""
    request = StopRequest(what, then)
    with handling({signal.SIGTERM: request, signal.SIGINT: request}):
        yield request
