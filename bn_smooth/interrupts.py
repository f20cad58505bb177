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
    """Whether a signal asked the run to stop: `requested` is its name, or None."""

    def __init__(self, what: str):
        self.what, self.requested = what, None

    def __call__(self, number, frame):
        name = signal.Signals(number).name
        if self.requested and number == signal.SIGINT:
            raise KeyboardInterrupt(name)  # the second Ctrl-C: at once
        if not self.requested:
            logging.warning(
                "%s: %s; stopping at the end of this training window, with a checkpoint "
                "(Ctrl-C again to stop at once)",
                self.what,
                name,
            )
        self.requested = name


@contextlib.contextmanager
def stop_requests(what: str):
    """Inside, SIGTERM and Ctrl-C ask `what` to stop: yields the StopRequest to check."""
    request = StopRequest(what)
    with handling({signal.SIGTERM: request, signal.SIGINT: request}):
        yield request


def _raise(number, frame):
    raise KeyboardInterrupt(signal.Signals(number).name)


def sigterm_as_interrupt():
    """SIGTERM raises KeyboardInterrupt inside, as Ctrl-C does: for a process that only
    waits on others (the suite's, whose workers stop as a run does)."""
    return handling({signal.SIGTERM: _raise})


def sigterm_ignored():
    return handling({signal.SIGTERM: signal.SIG_IGN})
