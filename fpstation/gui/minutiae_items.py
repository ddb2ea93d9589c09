"""Minutiae drawn over a print: a circle per ridge ending, a square per bifurcation, a tick for the
direction. Items live in a view's scene (image coordinates), so they zoom and pan with the print."""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsPathItem, QGraphicsScene

#: colours that stay apart for red-green colour blindness (with shape as a second cue)
ENDING_COLOUR = QColor(255, 140, 0)      # orange
BIFURCATION_COLOUR = QColor(0, 160, 255)  # blue
PAIR_COLOUR = QColor(40, 220, 90)
RADIUS = 4.5
TICK = 11.0


def minutiae_path(m: np.ndarray, kind: int, dx: float = 0.0, dy: float = 0.0) -> QPainterPath:
    """Shapes of the minutiae of one kind (1 ending: circle; 2 bifurcation or 0 other: square)."""
    path = QPainterPath()
    for x, y, ang, k, _q in np.asarray(m).reshape(-1, 5):
        if (int(k) == 1) != (kind == 1):
            continue
        cx, cy = float(x) + dx, float(y) + dy
        r = RADIUS
        if kind == 1:
            path.addEllipse(QPointF(cx, cy), r, r)
        else:
            path.addRect(QRectF(cx - r, cy - r, 2 * r, 2 * r))
        a = math.radians(float(ang))  # counter-clockwise with y up: screen y is flipped
        path.moveTo(cx + r * math.cos(a), cy - r * math.sin(a))
        path.lineTo(cx + TICK * math.cos(a), cy - TICK * math.sin(a))
    return path


class MinutiaeOverlay:
    """Two path items (endings, bifurcations) in ``scene``, offset by ``(dx, dy)``."""

    def __init__(self, scene: QGraphicsScene, dx: float = 0.0, dy: float = 0.0, z: float = 5.0) -> None:
        self.dx, self.dy = dx, dy
        self.items = []
        for colour in (ENDING_COLOUR, BIFURCATION_COLOUR):
            it = QGraphicsPathItem()
            pen = QPen(colour, 1.6)
            pen.setCosmetic(True)  # same thickness at every zoom
            it.setPen(pen)
            it.setZValue(z)
            scene.addItem(it)
            self.items.append(it)
        self.minutiae = np.zeros((0, 5))

    def set_offset(self, dx: float, dy: float = 0.0) -> None:
        self.dx, self.dy = dx, dy
        self.set(self.minutiae)

    def set(self, m: np.ndarray | None) -> None:
        self.minutiae = np.zeros((0, 5)) if m is None else np.asarray(m, float).reshape(-1, 5)
        self.items[0].setPath(minutiae_path(self.minutiae, 1, self.dx, self.dy))
        self.items[1].setPath(minutiae_path(self.minutiae, 2, self.dx, self.dy))

    def set_visible(self, on: bool) -> None:
        for it in self.items:
            it.setVisible(on)

    def visible(self) -> bool:
        return self.items[0].isVisible()

    def remove(self) -> None:
        for it in self.items:
            if it.scene() is not None:
                it.scene().removeItem(it)


def pair_lines_item(scene: QGraphicsScene, z: float = 6.0) -> QGraphicsPathItem:
    it = QGraphicsPathItem()
    pen = QPen(PAIR_COLOUR, 1.2)
    pen.setCosmetic(True)
    pen.setStyle(Qt.PenStyle.SolidLine)
    it.setPen(pen)
    it.setZValue(z)
    scene.addItem(it)
    return it
