"""Small widgets shared by the window's panels: text that never widens its container."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget


class ElidedLabel(QLabel):
    """One line of text, elided ("…") to the width it is given; the full text is its tooltip.

    Its size hint never depends on the text, so a long message (a file error, a task description)
    cannot widen a dock, the status bar or the window.
    """

    def __init__(self, text: str = "", parent: QWidget | None = None, *,
                 mode: Qt.TextElideMode = Qt.TextElideMode.ElideRight, hint_chars: int = 24) -> None:
        super().__init__(parent)
        self._full = ""
        self._mode = mode
        self._hint_chars = hint_chars
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.setMinimumWidth(1)
        self.setText(text)

    def setText(self, text: str) -> None:  # noqa: N802 - Qt override
        text = text or ""
        if text == self._full and super().text():
            return
        self._full = text
        self.setToolTip(text if "\n" in text or len(text) > 20 else "")
        self._elide()

    def text(self) -> str:  # the full text, not the elided one
        return self._full

    def sizeHint(self):  # noqa: N802 - Qt override
        h = super().sizeHint()
        h.setWidth(self.fontMetrics().averageCharWidth() * self._hint_chars)
        return h

    def minimumSizeHint(self):  # noqa: N802 - Qt override
        h = super().minimumSizeHint()
        h.setWidth(1)
        return h

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        line = self._full.replace("\n", " · ")
        super().setText(self.fontMetrics().elidedText(line, self._mode, max(self.width(), 1)))


__all__ = ["ElidedLabel"]
