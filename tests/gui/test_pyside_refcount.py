"""Regression guard: PySide6 6.12.0 on CPython 3.11 drops one reference to ``None`` on every call
of a method returning ``void`` (QPainter.setPen, scale, drawPath, ...). ``None`` is not immortal
before 3.12, so a painting GUI dies within minutes with "Fatal Python error: none_dealloc"
(found while benchmarking the training dialog's pyqtgraph curves; pyproject pins <6.12)."""

from __future__ import annotations

import sys

from PySide6.QtCore import QRectF
from PySide6.QtGui import QColor, QImage, QPainter, QPainterPath, QPen


def test_void_calls_do_not_leak_none_references(qapp):
    img = QImage(8, 8, QImage.Format.Format_ARGB32)
    path = QPainterPath()
    path.addEllipse(QRectF(0, 0, 1, 1))
    pen = QPen(QColor("blue"))
    p = QPainter(img)
    try:
        before = sys.getrefcount(None)
        for _ in range(500):
            p.setPen(pen)
            p.scale(1.0, 1.0)
            p.drawPath(path)
        after = sys.getrefcount(None)
    finally:
        p.end()
    # 1500 void calls: a leaking binding loses ~1500 references; allow noise from the interpreter
    assert after - before > -100, f"None lost {before - after} references"
