"""Status-bar helpers: messages, and progress + Cancel for running :class:`~fpstation.workers.Task` s."""

from __future__ import annotations

import logging
from collections.abc import Callable

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QLabel, QProgressBar, QSizePolicy, QStatusBar, QToolButton

from fpstation.gui.widgets import ElidedLabel
from fpstation.workers import Task

log = logging.getLogger(__name__)


class TaskStatus:
    """Owns the status bar's job area: a label, a progress bar and a Cancel button.

    Several tasks may run at once (a folder load on the io pool while a print is analysed); the bar
    shows the most recently started unfinished one and "(+N more)". Cancel cancels every tracked
    task — an examiner pressing Cancel expects the machine to stop working.
    """

    def __init__(self, bar: QStatusBar) -> None:
        self.bar = bar
        self.info_label = QLabel("")  # permanent: current print summary
        self.info_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.pixel_label = QLabel("")
        self.pixel_label.setMinimumWidth(120)
        self.zoom_label = QLabel("")  # permanent: zoom of the linked views ("100 %" = 1:1)
        self.zoom_label.setToolTip("Zoom of both views (100 % = one image pixel per screen pixel; F fits, 1 = 1:1)")
        # elided, fixed width: a long description or per-file progress text never relayouts the window
        self.task_label = ElidedLabel("", hint_chars=40)
        self.task_label.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Preferred)
        self.task_label.setFixedWidth(self.task_label.sizeHint().width())
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 1000)
        self.progress_bar.setFixedWidth(160)
        self.progress_bar.setTextVisible(False)
        self.cancel_button = QToolButton()
        self.cancel_button.setText("Cancel")
        self.cancel_button.setToolTip("Cancel running jobs (Esc)")
        self.cancel_button.clicked.connect(self.cancel_all)
        for w in (self.pixel_label, self.zoom_label, self.info_label, self.task_label, self.progress_bar,
                  self.cancel_button):
            bar.addPermanentWidget(w)
        for w in (self.task_label, self.progress_bar, self.cancel_button):
            # hidden when idle but keeping their room: a job starting or ending then repaints the
            # status bar only, instead of re-laying out the whole window (a GUI stall under load)
            pol = w.sizePolicy()
            pol.setRetainSizeWhenHidden(True)
            w.setSizePolicy(pol)
        self._tasks: list[tuple[Task, str]] = []
        #: asked before cancelling (returns False to keep the work running); the window asks the
        #: user when long work (a batch, an enrolment) would be lost by a stray Esc
        self.before_cancel: Callable[[], bool] | None = None
        self._fraction: dict[int, tuple[float, str]] = {}
        self._shown = True
        self._refresh()

    # ------------------------------------------------------------------ messages
    def message(self, text: str, timeout_ms: int = 6000) -> None:
        """A transient message on the left of the status bar (0 = until replaced)."""
        self.bar.showMessage(text, timeout_ms)

    def error(self, text: str) -> None:
        """An error message that stays until the next message."""
        self.bar.showMessage(f"⚠ {text}", 0)

    def current_message(self) -> str:
        return self.bar.currentMessage()

    # ------------------------------------------------------------------ tasks
    def track(self, task: Task, description: str) -> Task:
        """Show ``task``'s progress until it finishes. Call before the task is started."""
        self._tasks.append((task, description))
        self._fraction[id(task)] = (0.0, "")
        self.cancel_button.setEnabled(True)
        s = task.signals
        s.progress.connect(lambda f, m, t=task: self._on_progress(t, f, m))
        s.finished.connect(lambda t=task: self._on_finished(t))
        self._refresh()
        return task

    @property
    def tasks(self) -> list[Task]:
        return [t for t, _ in self._tasks]

    def running(self) -> list[tuple[Task, str, float]]:
        """(task, description, fraction done) of every tracked task."""
        return [(t, d, self._fraction.get(id(t), (0.0, ""))[0]) for t, d in self._tasks]

    def cancel_all(self) -> None:
        if self._tasks and self.before_cancel is not None and not self.before_cancel():
            return
        for t, d in self._tasks:
            log.info("cancel requested: %s", d)
            t.cancel()
        if self._tasks:
            self.task_label.setText("Cancelling…")
            self.cancel_button.setEnabled(False)

    def _on_progress(self, task: Task, fraction: float, message: str) -> None:
        self._fraction[id(task)] = (fraction, message)
        if self._tasks and self._tasks[-1][0] is task:
            self._refresh()

    def _on_finished(self, task: Task) -> None:
        self._tasks = [(t, d) for t, d in self._tasks if t is not task]
        self._fraction.pop(id(task), None)
        # A short delay avoids the bar flickering between back-to-back jobs.
        QTimer.singleShot(0, self._refresh)

    def _refresh(self) -> None:
        busy = bool(self._tasks)
        if busy != self._shown:  # show/hide only on a change: each toggle relayouts the status bar
            self._shown = busy
            for w in (self.task_label, self.progress_bar, self.cancel_button):
                w.setVisible(busy)
        if not busy:
            self.cancel_button.setEnabled(True)
            return
        task, desc = self._tasks[-1]
        frac, msg = self._fraction.get(id(task), (0.0, ""))
        more = f" (+{len(self._tasks) - 1} more)" if len(self._tasks) > 1 else ""
        if self.cancel_button.isEnabled():
            self.task_label.setText(f"{desc}{': ' + msg if msg else ''}{more}")
        self.progress_bar.setValue(int(round(min(max(frac, 0.0), 1.0) * 1000)))
