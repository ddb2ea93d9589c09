"""A non-blocking notification strip: problems are collected, never shown as a dialog storm.

Opening a folder with fifty damaged files must not open fifty modal dialogs. Each problem is
added here: the strip shows the latest one and a count; "Details…" lists all of them in a
non-modal window; "×" dismisses the strip.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

STYLES = {
    "error": "background:#5a2424; color:#ffe9e6; border-bottom:1px solid #7a3030;",
    "warning": "background:#5a4a1e; color:#fff6dc; border-bottom:1px solid #7a6628;",
    "info": "background:#23405a; color:#e6f1ff; border-bottom:1px solid #2f5a7a;",
}


@dataclass(frozen=True)
class Notice:
    level: str  # "error" | "warning" | "info"
    text: str
    details: str = ""


class NotificationBar(QFrame):
    """Shows the latest notice and how many there are; hidden when there is nothing to say."""

    dismissed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.notices: list[Notice] = []
        self._unseen = 0
        self._worst = ""  # worst level among the unseen notices, whose colours the strip has
        self._label = QLabel()
        self._label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        # Wrap: a long message must never widen the window (it did, past the screen, unwrapped).
        self._label.setWordWrap(True)
        self._label.setMinimumWidth(50)
        self._details_btn = QToolButton(text="Details…")
        self._details_btn.clicked.connect(self.show_details)
        self._close_btn = QToolButton(text="×")
        self._close_btn.setToolTip("Dismiss")
        self._close_btn.clicked.connect(self.dismiss)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(10, 3, 4, 3)
        lay.addWidget(self._label, 1)
        lay.addWidget(self._details_btn)
        lay.addWidget(self._close_btn)
        self._timer = QTimer(self, singleShot=True, interval=8000)
        self._timer.timeout.connect(self._auto_hide)
        self._dialog: QDialog | None = None
        self.setVisible(False)

    def notify(self, text: str, level: str = "error", details: str = "") -> None:
        """Add a notice. Errors and warnings stay until dismissed; info hides after a few seconds.

        Constant work per notice (a folder of ten thousand damaged files adds ten thousand): the
        strip's colour follows the worst unseen level, restyled only when that changes, and an
        open Details window gets the new notice appended rather than refilled.
        """
        notice = Notice(level, text, details)
        self.notices.append(notice)
        self._unseen += 1
        worst = level if self._unseen == 1 else _worse(self._worst, level)
        if worst != self._worst:
            self.setStyleSheet(f"NotificationBar {{{STYLES.get(worst, STYLES['info'])}}} "
                               "QLabel {color: inherit;} QToolButton {color: inherit; border: none; "
                               "padding: 2px 6px;}")
            self._worst = worst
        more = f"   ({self._unseen} problems — see Details)" if self._unseen > 1 else ""
        self._label.setText(text + more)
        self._label.setToolTip(details or text)
        self.setVisible(True)
        if worst == "info":
            self._timer.start()
        else:
            self._timer.stop()
        if self._dialog is not None and self._dialog.isVisible():
            self._edit.appendPlainText(_format(notice))

    def text(self) -> str:
        return self._label.text() if self.isVisible() else ""

    def dismiss(self) -> None:
        self._unseen = 0
        self.setVisible(False)
        self.dismissed.emit()

    def _auto_hide(self) -> None:
        if self._worst == "info":
            self.dismiss()

    def show_details(self) -> None:
        """A non-modal window listing every notice of this session."""
        if self._dialog is None:
            d = QDialog(self.window())
            d.setWindowTitle("Problems and notices")
            d.resize(640, 360)
            self._edit = QPlainTextEdit(readOnly=True)
            box = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
            box.rejected.connect(d.close)
            lay = QVBoxLayout(d)
            lay.addWidget(self._edit)
            lay.addWidget(box)
            self._dialog = d
        self._fill_dialog()
        self._dialog.show()
        self._dialog.raise_()

    def _fill_dialog(self) -> None:
        self._edit.setPlainText("\n".join(_format(n) for n in self.notices))


#: severity order of the levels (unknown levels count as info)
_RANK = {"info": 0, "warning": 1, "error": 2}


def _worse(a: str, b: str) -> str:
    return a if _RANK.get(a, 0) >= _RANK.get(b, 0) else b


def _format(n: Notice) -> str:
    """The notice, then its detail lines that say something the headline does not already say
    (a file error's headline repeats its message; the Details window showed it twice)."""
    seen = {n.text.strip()}
    extra = []
    for ln in n.details.splitlines():
        t = ln.strip()
        if not t or t in seen or t in n.text:
            continue
        seen.add(t)
        extra.append("    " + ln)
    return "\n".join([f"[{n.level}] {n.text}", *extra])
