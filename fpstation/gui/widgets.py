"""Small widgets shared by the window's panels: text that never widens its container."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QFont, QFontMetrics, QResizeEvent
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


def wrap_lines(text: str, metrics: QFontMetrics, width: int) -> list[str] | None:
    """Greedy word wrap of ``text`` into lines no wider than ``width``; ``None`` when one word alone
    is wider (it would be cut)."""
    lines: list[str] = []
    for para in (text or "").split("\n"):
        line = ""
        for word in para.split():
            if metrics.horizontalAdvance(word) > width:
                return None
            cand = f"{line} {word}" if line else word
            if metrics.horizontalAdvance(cand) <= width:
                line = cand
            else:
                lines.append(line)
                line = word
        lines.append(line)
    return lines


class FitLabel(QLabel):
    """A verdict banner: large bold text that wraps at spaces and shrinks its font until every word
    fits the width it is given — never cut ("PRESENTATIO", "UNCERTA"), never wider than its dock.

    ``max_points`` is the size it has when there is room; ``max_lines`` the lines it may wrap into
    before it shrinks; ``pad`` the horizontal padding (stylesheet padding + rounded corners) kept free.
    """

    def __init__(self, text: str = "", parent: QWidget | None = None, *, max_points: int = 30,
                 min_points: int = 8, max_lines: int = 2, pad: int = 24) -> None:
        super().__init__(parent)
        self.max_points, self.min_points, self.max_lines, self.pad = max_points, min_points, max_lines, pad
        f = QFont(self.font())
        f.setBold(True)
        f.setPointSize(max_points)
        self.setFont(f)
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setWordWrap(True)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.setMinimumWidth(1)
        self._lines = 1
        self.setText(text)

    def setText(self, text: str) -> None:  # noqa: N802 - Qt override
        super().setText(text)
        self.setAccessibleName(text)
        self._fit()

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        if event.size().width() != event.oldSize().width():
            self._fit()

    def fitted_points(self, width: int) -> tuple[int, int]:
        """(point size, lines) the text takes at ``width`` px."""
        f = QFont(self.font())
        avail = max(width - self.pad, 1)
        for pt in range(self.max_points, self.min_points - 1, -1):
            f.setPointSize(pt)
            lines = wrap_lines(self.text(), QFontMetrics(f), avail)
            if lines is not None and len(lines) <= self.max_lines:
                return pt, len(lines)
        f.setPointSize(self.min_points)
        lines = wrap_lines(self.text(), QFontMetrics(f), avail)
        return self.min_points, len(lines) if lines else self.max_lines

    def _fit(self) -> None:
        pt, n = self.fitted_points(self.width())
        f = QFont(self.font())
        if f.pointSize() != pt:
            f.setPointSize(pt)
            self.setFont(f)
        self._lines = max(n, 1)
        h = self._lines * QFontMetrics(f).lineSpacing() + 20
        if h != self.minimumHeight():
            self.setFixedHeight(h)

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt override: the width never depends on the text
        return QSize(1, self.height() or self.minimumHeight())

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt override
        return QSize(1, self.minimumHeight())


__all__ = ["ElidedLabel", "FitLabel", "wrap_lines"]
