"""Qt adapter for fpstation jobs: a :class:`Task` (QRunnable) and thread pools with a purpose.

A job is a plain function ``fn(*args, progress=..., cancel=..., [partial=...], **kwargs)`` (see
core/jobs.py). ``Task`` runs it on a pool thread and reports through queued signals:
``progress(float, str)``, ``partial(object)``, ``result(object)``, ``error(object)`` (the
exception), ``cancelled()`` and finally ``finished()``. Workers never touch widgets.

Pools:
- ``io``: several threads, file decoding and thumbnails;
- ``inference``: exactly one thread, so models are loaded once and never run concurrently;
- ``training``: one thread for a fit.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from fpstation.core.jobs import Cancelled, CancelToken

log = logging.getLogger(__name__)


class TaskSignals(QObject):
    started = Signal()
    progress = Signal(float, str)
    partial = Signal(object)
    result = Signal(object)
    error = Signal(object)
    cancelled = Signal()
    finished = Signal()


class Task(QRunnable):
    """Runs one job function off the GUI thread.

    Parameters
    ----------
    fn : the job; called with ``progress`` and ``cancel`` keyword arguments (and ``partial`` when
        ``with_partial`` is true) plus ``args`` / ``kwargs``.
    name : short description for logs and the status bar.
    """

    def __init__(self, fn: Callable[..., Any], *args: Any, name: str = "", with_partial: bool = False,
                 **kwargs: Any) -> None:
        super().__init__()
        self.setAutoDelete(False)  # the pool's owner keeps the reference; see Pools.start
        self.fn, self.args, self.kwargs = fn, args, kwargs
        self.name = name or getattr(fn, "__name__", "task")
        self.with_partial = with_partial
        self.token = CancelToken()
        self.signals = TaskSignals()
        self.done = threading.Event()

    def cancel(self) -> None:
        self.token.cancel()

    def run(self) -> None:  # runs on a pool thread
        s = self.signals
        try:
            s.started.emit()
            kw = dict(self.kwargs, progress=lambda f, m="": s.progress.emit(float(f), str(m)), cancel=self.token)
            if self.with_partial:
                kw["partial"] = s.partial.emit
            out = self.fn(*self.args, **kw)
        except Cancelled:
            s.cancelled.emit()
        except BaseException as exc:  # noqa: BLE001 - every error reaches the GUI as a signal
            log.error("task %s failed", self.name, exc_info=exc)
            s.error.emit(exc)
        else:
            s.result.emit(out)
        finally:
            self.done.set()
            s.finished.emit()


class SyncPool:
    """Runs tasks immediately in the calling thread (tests; the CLI never needs Qt)."""

    def start(self, task: QRunnable) -> None:
        task.run()

    def waitForDone(self, msecs: int = -1) -> bool:  # noqa: N802 - mirrors QThreadPool
        return True

    def activeThreadCount(self) -> int:  # noqa: N802
        return 0


class Pools:
    """The application's pools. Keeps every started task alive until it finishes."""

    def __init__(self, io_threads: int = 4, sync: bool = False) -> None:
        if sync:
            self.io = self.inference = self.training = SyncPool()
        else:
            self.io = QThreadPool()
            self.io.setMaxThreadCount(io_threads)
            self.inference = QThreadPool()
            self.inference.setMaxThreadCount(1)
            self.training = QThreadPool()
            self.training.setMaxThreadCount(1)
        self._live: set[Task] = set()
        self._lock = threading.Lock()

    def start(self, pool_name: str, task: Task) -> Task:
        pool = getattr(self, pool_name)
        with self._lock:
            self._live.add(task)
        task.signals.finished.connect(lambda t=task: self._forget(t))
        pool.start(task)
        return task

    def _forget(self, task: Task) -> None:
        with self._lock:
            self._live.discard(task)

    @property
    def active(self) -> list[Task]:
        with self._lock:
            return [t for t in self._live if not t.done.is_set()]

    def cancel_all(self) -> None:
        for t in self.active:
            t.cancel()

    def drain(self, msecs: int = 10000) -> bool:
        """Cancel everything and wait for the pools to finish (call on quit)."""
        self.cancel_all()
        ok = True
        for pool in {id(p): p for p in (self.io, self.inference, self.training)}.values():
            ok = pool.waitForDone(msecs) and ok
        return ok
