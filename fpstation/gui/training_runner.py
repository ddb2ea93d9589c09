"""Runs :func:`fpstation.ml.training.train` off the GUI thread: in a thread or in a child process.

Both runners emit the same ``event(kind, payload)`` signal on the GUI thread — ``scan``,
``progress``, ``batch``, ``epoch`` and one terminal ``done`` / ``cancelled`` / ``error`` — so the
dialog does not care where the fit runs. ``ProcessRun`` is the default: bench/training_gui_stall.py
measured the GUI's worst event-loop stall during a fit for both (bench/results/training_gui.json,
docs/adr/0050-training-in-a-child-process.md).

No algorithms here: this is plumbing between the job function and Qt.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import queue as queue_mod
import sys
import time
import types
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from fpstation.core.errors import FpError
from fpstation.workers import Pools, Task

log = logging.getLogger(__name__)

TERMINAL = ("done", "cancelled", "error")
#: niceness added to the training child: on a busy machine the scheduler then favours the GUI
CHILD_NICE = 10


def _train_job(task_name: str, data_dir: Path, hyper: Any, out_dir: Path | None, registry: Any, *,
               progress, cancel, partial) -> Any:
    """The job run by :class:`ThreadRun` (a plain ``fn(..., progress, cancel)``)."""
    from fpstation.ml.training import train  # lazy: TensorFlow stays off the GUI start-up path

    return train(task_name, data_dir, hyper, progress, cancel,
                 on_batch=lambda b: partial(("batch", b)), on_epoch=lambda e: partial(("epoch", e)),
                 on_scan=lambda s: partial(("scan", s)), out_dir=out_dir, registry=registry)


class TrainingRun(QObject):
    """Common interface: ``start()``, ``stop()``, ``running`` and the ``event`` signal."""

    event = Signal(str, object)

    def __init__(self, task_name: str, data_dir: str | Path, hyper: Any, registry: Any,
                 out_dir: str | Path | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.task_name, self.data_dir, self.hyper = task_name, Path(data_dir), hyper
        self.registry, self.out_dir = registry, (Path(out_dir) if out_dir else None)
        self.running = False
        self.stop_requested_at: float | None = None
        self.ended_at: float | None = None

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        """Ask the fit to end after the current batch (the best checkpoint is kept)."""
        if self.stop_requested_at is None:
            self.stop_requested_at = time.perf_counter()

    def _emit(self, kind: str, payload: Any) -> None:
        if kind in TERMINAL:
            if not self.running:
                return  # a second terminal event (e.g. process death after "done") is ignored
            self.running = False
            self.ended_at = time.perf_counter()
        self.event.emit(kind, payload)


class ThreadRun(TrainingRun):
    """The fit on the application's single-thread ``training`` pool (workers.Task)."""

    def __init__(self, *args: Any, pools: Pools, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pools = pools
        self.task: Task | None = None

    def start(self) -> None:
        t = Task(_train_job, self.task_name, self.data_dir, self.hyper, self.out_dir, self.registry,
                 name=f"train {self.task_name}", with_partial=True)
        t.signals.partial.connect(lambda kp: self._emit(kp[0], kp[1]))
        t.signals.progress.connect(lambda f, m: self._emit("progress", (f, m)))
        t.signals.result.connect(lambda out: self._emit("done", out))
        t.signals.error.connect(lambda exc: self._emit("error", exc))
        t.signals.cancelled.connect(lambda: self._emit("cancelled", None))
        self.task = t
        self.running = True
        self.pools.start("training", t)

    def stop(self) -> None:
        super().stop()
        if self.task is not None:
            self.task.cancel()


class ProcessRun(TrainingRun):
    """The fit in a ``multiprocessing`` 'spawn' child; a QTimer drains its event queue.

    The child (``fpstation.ml.training.run_in_child``) lowers its own priority, so on a busy
    machine the scheduler favours the GUI process. Stop sets a shared Event that the child's
    CancelToken reads after every batch.
    """

    POLL_MS = 40
    #: at most this long per poll is spent handling queued events, so a burst never stalls the GUI
    POLL_BUDGET_S = 0.015

    def __init__(self, *args: Any, nice: int | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.nice = CHILD_NICE if nice is None else nice
        self._ctx = mp.get_context("spawn")
        self.process: Any = None
        self._queue: Any = None
        self._stop = None
        self._timer = QTimer(self)
        self._timer.setInterval(self.POLL_MS)
        self._timer.timeout.connect(self._poll)
        self._dead_polls = 0

    def start(self) -> None:
        from fpstation.ml.tasks import TASKS

        self._queue = self._ctx.Queue()
        self._stop = self._ctx.Event()
        request = {"task": self.task_name, "task_spec": TASKS.get(self.task_name), "data_dir": self.data_dir,
                   "hyper": self.hyper, "out_dir": self.out_dir, "nice": self.nice,
                   "shipped_dir": self.registry.shipped_dir, "user_dir": self.registry.user_dir}
        from fpstation.ml.training import run_in_child  # light: training.py imports TF lazily

        self.process = self._ctx.Process(target=run_in_child, args=(request, self._queue, self._stop),
                                         name="fpstation-training", daemon=True)
        # 'spawn' re-runs the parent's __main__ *script* in the child unless it is guarded; with an
        # unguarded launcher the child would open a second window. main.py is guarded, but hiding
        # __main__ while the child's preparation data is taken (synchronously in start()) keeps
        # any launcher safe (tested with an unguarded one).
        real_main = sys.modules.get("__main__")
        sys.modules["__main__"] = types.ModuleType("__main__")
        try:
            self.process.start()
        finally:
            if real_main is not None:
                sys.modules["__main__"] = real_main
        self.running = True
        self._timer.start()

    def stop(self) -> None:
        super().stop()
        if self._stop is not None:
            self._stop.set()

    def kill(self, wait_s: float = 5.0) -> None:
        """Stop and, if the child does not end in ``wait_s``, terminate it (application quit)."""
        self.stop()
        if self.process is not None and self.process.is_alive():
            self.process.join(wait_s)
            if self.process.is_alive():
                self.process.terminate()
                self.process.join(2)
        self._timer.stop()

    def _poll(self) -> None:
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < self.POLL_BUDGET_S:
            try:
                kind, payload = self._queue.get_nowait()
            except queue_mod.Empty:
                break
            except (EOFError, OSError) as exc:  # the pipe broke: the child died mid-message
                log.warning("training queue closed: %s", exc)
                break
            self._emit(kind, payload)
            if kind in TERMINAL:
                self._finish()
                return
        if self.process is not None and not self.process.is_alive():
            # Let the queue's last messages arrive before declaring the child dead.
            self._dead_polls += 1
            if self._dead_polls > 5:
                code = self.process.exitcode
                hint = " It may have run out of memory." if code and code < 0 else ""
                self._emit("error", FpError(f"The training process ended unexpectedly (exit code {code}).{hint}"))
                self._finish()

    def _finish(self) -> None:
        # Never join() here: the child may need a second to exit (TensorFlow teardown) and a
        # blocking join on the GUI thread was measured as a 1 s stall. Reap it from a slow timer.
        self._timer.stop()
        if self.process is not None:
            self._reaper = QTimer(self)
            self._reaper.setInterval(500)
            self._reaper.timeout.connect(self._reap)
            self._reaper.start()

    def _reap(self) -> None:
        if self.process is None or not self.process.is_alive():
            if self.process is not None:
                self.process.join(0)
            self._reaper.stop()


def preload(process: bool = True) -> None:
    """Import what a run's start needs (the Qt-free training module and, for the process backend,
    multiprocessing's spawn machinery) ahead of time: done when the dialog opens, it keeps Start
    itself to a few ms (7 ms in a stand-alone measurement) instead of the 19–96 ms measured when
    these imports happened on the Start click."""
    if process:
        _preload_spawn()
    import fpstation.ml.tasks  # noqa: F401
    import fpstation.ml.training  # noqa: F401 - Qt-free and TensorFlow-free at import


def _preload_spawn() -> None:
    import multiprocessing.queues  # noqa: F401
    import multiprocessing.synchronize  # noqa: F401

    if sys.platform != "win32":
        import multiprocessing.popen_spawn_posix  # noqa: F401
        from multiprocessing import resource_tracker

        resource_tracker.ensure_running()  # its helper process would otherwise start on the click


def make_run(backend: str, task_name: str, data_dir: str | Path, hyper: Any, registry: Any, pools: Pools,
             out_dir: str | Path | None = None, parent: QObject | None = None) -> TrainingRun:
    """``backend``: "process" (default in the dialog) or "thread"."""
    if backend == "thread":
        return ThreadRun(task_name, data_dir, hyper, registry, out_dir, parent, pools=pools)
    if backend == "process":
        return ProcessRun(task_name, data_dir, hyper, registry, out_dir, parent)
    raise ValueError(f"unknown training backend {backend!r}")
