"""Turn exceptions into words a person understands, and show them.

Expected failures are :class:`~fpstation.core.errors.FpError` subclasses: they carry a title and a
``user_message``; the technical ``detail`` (if any) goes into the expandable details. Anything else
is a bug: the user gets a short generic message and the full traceback under "Show Details…"
(and it is logged by the caller / the excepthook).
"""

from __future__ import annotations

import logging
import traceback
from dataclasses import dataclass

from PySide6.QtCore import QObject, Qt, Signal, Slot
from PySide6.QtWidgets import QMessageBox, QWidget

from fpstation.core.errors import FpError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ErrorText:
    """What to show for one exception."""

    title: str
    message: str
    details: str = ""
    expected: bool = True

    @property
    def one_line(self) -> str:
        return self.message.splitlines()[0] if self.message else self.title


def describe(exc: BaseException) -> ErrorText:
    """Title, message and details for ``exc``.

    Parameters
    ----------
    exc : BaseException
        An :class:`FpError` gives its own title and message; anything else a generic message with
        the traceback in ``details``.
    """
    if isinstance(exc, FpError):
        parts = []
        if exc.path:
            parts.append(f"File: {exc.path}")
        if exc.detail:
            parts.append(str(exc.detail))
        return ErrorText(title=exc.title, message=exc.user_message, details="\n".join(parts), expected=True)
    if isinstance(exc, MemoryError):
        return ErrorText(title="Out of memory",
                         message="The computer ran out of memory for this operation. Close other prints "
                                 "or programs and try again.",
                         details=_format_tb(exc), expected=False)
    return ErrorText(
        title="Unexpected error",
        message="Something went wrong inside fpstation. Your other work is not affected; the details "
                "below have been written to the log file.\n\n"
                f"{type(exc).__name__}: {exc}",
        details=_format_tb(exc), expected=False)


def _format_tb(exc: BaseException) -> str:
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))


def show_error(parent: QWidget | None, exc: BaseException, *, modal: bool = True) -> QMessageBox:
    """Show ``exc`` in a message box with expandable details. Returns the box.

    With ``modal=False`` the box is shown without blocking (used for errors arriving from
    background threads so that several of them never stack up into nested event loops).
    """
    text = describe(exc)
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Warning if text.expected else QMessageBox.Icon.Critical)
    box.setWindowTitle(text.title)
    box.setText(text.message)
    box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    if text.details:
        box.setDetailedText(text.details)
    box.setStandardButtons(QMessageBox.StandardButton.Ok)
    if modal:
        box.exec()
    else:
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.setModal(False)
        box.show()
    return box


class ErrorReporter(QObject):
    """Shows errors from any thread in the GUI thread, one dialog at a time.

    ``report(exc)`` may be called from any thread: the signal is queued to the GUI thread. While a
    dialog is open, further errors are counted and appended to its details instead of opening a
    storm of dialogs.
    """

    _reported = Signal(object)

    def __init__(self, parent_widget: QWidget | None = None) -> None:
        super().__init__()
        self._parent_widget = parent_widget
        self._box: QMessageBox | None = None
        self._more = 0
        self.shown: list[ErrorText] = []  # everything shown, for tests and the log viewer
        self._reported.connect(self._show, Qt.ConnectionType.QueuedConnection)

    def set_parent_widget(self, w: QWidget | None) -> None:
        self._parent_widget = w

    def report(self, exc: BaseException) -> None:
        """Queue ``exc`` for display (thread-safe)."""
        self._reported.emit(exc)

    @Slot(object)
    def _show(self, exc: BaseException) -> None:
        try:
            self._show_unguarded(exc)
        except Exception:  # noqa: BLE001 - raising here would reach sys.excepthook -> report -> here again
            log.exception("could not show the error %r", exc)

    def _show_unguarded(self, exc: BaseException) -> None:
        text = describe(exc)
        self.shown.append(text)
        if self._box is not None and self._box.isVisible():
            self._more += 1
            self._box.setInformativeText(f"{self._more} more error(s) occurred; see the details and the log.")
            self._box.setDetailedText((self._box.detailedText() + "\n\n" + text.message + "\n" + text.details).strip())
            return
        self._more = 0
        self._box = show_error(self._parent_widget, exc, modal=False)
        self._box.destroyed.connect(self._forget)

    @Slot()
    def _forget(self) -> None:
        self._box = None
