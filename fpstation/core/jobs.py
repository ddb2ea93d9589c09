"""Progress and cancellation for long jobs.

Every long job in fpstation is a plain function ``job(..., progress, cancel)``. It reports
progress through a :class:`Progress` callable and checks its :class:`CancelToken` once per item
(or batch, or epoch); it stops only by raising :class:`Cancelled`. ``workers.py`` adapts such
functions to Qt signals; the CLI adapts them to a text progress bar.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Cancelled(Exception):  # noqa: N818 - the name reads better at raise sites
    """Raised by a job when its CancelToken was cancelled."""


class Progress(Protocol):
    def __call__(self, fraction: float, message: str = "") -> None:
        """Report progress in [0, 1] with an optional short status message."""


class CancelToken:
    """Thread-safe cancellation flag, set from the GUI thread, polled by the job."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise Cancelled()


def null_progress(fraction: float, message: str = "") -> None:
    """A Progress that ignores everything."""


NEVER_CANCELLED = CancelToken()  # never cancel() this one: shared default for callers without a token


def wrap_progress(progress: Progress | None, start: float, end: float) -> Progress:
    """Map a sub-job's [0, 1] into [start, end] of its parent's progress."""
    parent = progress or null_progress
    span = end - start

    def sub(fraction: float, message: str = "") -> None:
        f = min(max(fraction, 0.0), 1.0)
        parent(start + span * f, message)

    return sub


def throttled(progress: Progress, every_s: float) -> Progress:
    """Forward at most one update per ``every_s`` seconds (and always the last), so a log file gets a
    few lines per minute rather than one per item."""
    last = [-1e9]

    def call(fraction: float, message: str = "") -> None:
        now = time.monotonic()
        if fraction >= 1.0 or now - last[0] >= every_s:
            last[0] = now
            progress(fraction, message)

    return call
