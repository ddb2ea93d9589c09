"""Zoomable, pannable print view (QGraphicsView) and the link that keeps two of them in step.

Why QGraphicsView rather than a plotting widget: an examiner compares ridge detail pixel by pixel,
so the view must show exact pixels at high zoom (nearest neighbour above 1:1, smooth below), pan
by dragging, zoom under the mouse, and two views must share one transform exactly.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPalette, QPixmap, QTransform
from PySide6.QtWidgets import QFrame, QGraphicsPixmapItem, QGraphicsScene, QGraphicsView, QWidget

from fpstation.gui.qimage import heat_to_rgba, to_qpixmap

MIN_ZOOM = 0.02
MAX_ZOOM = 64.0
WHEEL_STEP = 1.25  # zoom factor per wheel notch (120 units)
BACKGROUND = QColor(38, 40, 43)


class ImageView(QGraphicsView):
    """Shows one H×W image with an optional colour-mapped overlay and a centred message.

    Signals
    -------
    viewChanged : emitted whenever zoom or scroll position changed (user or programmatic).
    pixelHovered : (x, y, value) of the image pixel under the mouse; (-1, -1, -1) when outside.
    """

    viewChanged = Signal()
    pixelHovered = Signal(int, int, int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._scene = QGraphicsScene(self)
        self.setScene(self._scene)
        self._pix = QGraphicsPixmapItem()
        self._pix.setShapeMode(QGraphicsPixmapItem.ShapeMode.BoundingRectShape)
        self._overlay = QGraphicsPixmapItem()
        self._overlay.setZValue(1)
        self._overlay.setVisible(False)
        self._scene.addItem(self._pix)
        self._scene.addItem(self._overlay)
        self._pixels: np.ndarray | None = None
        self._heat: np.ndarray | None = None
        self._message = ""
        self._message_is_error = False
        self._fit_mode = True  # refit on resize until the user zooms
        self.setBackgroundBrush(BACKGROUND)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.NoAnchor)  # set_zoom anchors itself
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        # No scroll bars: panning is by dragging, and both linked panes keep identical viewports
        # (a scroll bar appearing in one pane only would shift it against the other).
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.SmartViewportUpdate)
        self.setMouseTracking(True)
        self.horizontalScrollBar().valueChanged.connect(self._emit_changed)
        self.verticalScrollBar().valueChanged.connect(self._emit_changed)
        pal = self.palette()
        pal.setColor(QPalette.ColorRole.Base, BACKGROUND)
        self.setPalette(pal)

    # ------------------------------------------------------------------ content
    def set_image(self, pixels: np.ndarray | None, *, fit: bool | None = None) -> None:
        """Show ``pixels`` (H×W gray or H×W×3 RGB uint8); ``None`` clears.

        The message is cleared. The current zoom/scroll is kept when the new image has the same size
        (switching restored/difference keeps the examiner's place); otherwise, or with ``fit=True``,
        the image is fitted to the window.
        """
        old = self._scene_size()
        self._pixels = None if pixels is None else np.asarray(pixels)
        self._message = ""
        if self._pixels is None:
            self._pix.setPixmap(to_qpixmap(np.zeros((1, 1), np.uint8)))
            self._pix.setVisible(False)
            self.set_overlay(None)
            self.viewport().update()
            return
        self._pix.setPixmap(to_qpixmap(self._pixels))
        self._pix.setVisible(True)
        h, w = self._pixels.shape[:2]
        if self._heat is not None and self._heat.shape != (h, w):
            self.set_overlay(None)
        self._set_scene_size(w, h)
        if fit or (fit is None and old != (w, h)):
            self.fit()
        self._update_smoothing()

    def set_placeholder(self, width: int, height: int, message: str, *, error: bool = False) -> None:
        """No image yet (or an error): keep a ``width``×``height`` canvas so a linked view can still
        zoom and pan in step, and show ``message`` in the middle of the pane."""
        self._pixels = None
        self._pix.setVisible(False)
        self.set_overlay(None)
        self._set_scene_size(width, height)
        self.set_message(message, error=error)

    def set_message(self, text: str, *, error: bool = False) -> None:
        """Text drawn centred over the pane (``""`` removes it)."""
        self._message = text
        self._message_is_error = error
        self.viewport().update()

    def message(self) -> str:
        return self._message

    def pixels(self) -> np.ndarray | None:
        return self._pixels

    def has_image(self) -> bool:
        return self._pixels is not None

    def pixmap(self) -> QPixmap:
        """The pixmap being painted (a 1×1 blank when nothing is shown)."""
        return self._pix.pixmap()

    def set_overlay(self, heat: np.ndarray | None, alpha: float = 0.45) -> None:
        """Draw a float map in [0, 1] (the image's H×W) as a colour map over the image.

        Parameters
        ----------
        heat : numpy.ndarray or None
            H×W floats in [0, 1] (NaN = transparent); ``None`` removes the overlay.
        alpha : float
            Opacity of the colour map.
        """
        if heat is None:
            self._heat = None
            self._overlay.setVisible(False)
            return
        heat = np.asarray(heat)
        w, h = self._scene_size()
        if heat.ndim != 2 or (w and h and heat.shape != (h, w)):
            raise ValueError(f"overlay must be {h}×{w} like the image, got shape {heat.shape}")
        self._heat = heat
        self._overlay.setPixmap(to_qpixmap(heat_to_rgba(heat, alpha)))
        self._overlay.setVisible(True)
        self._update_smoothing()

    def overlay(self) -> np.ndarray | None:
        return self._heat

    # ------------------------------------------------------------------ zoom / pan
    def zoom(self) -> float:
        """Current scale (1.0 = one image pixel per screen pixel)."""
        return float(self.transform().m11())

    def set_zoom(self, factor: float, anchor: QPointF | None = None) -> None:
        """Set an absolute zoom, keeping the scene point under ``anchor`` (viewport coords) fixed,
        or the centre when ``anchor`` is None."""
        factor = float(min(max(factor, MIN_ZOOM), MAX_ZOOM))
        self._fit_mode = False
        a = (anchor.toPoint() if anchor is not None else self.viewport().rect().center())
        before = self.mapToScene(a)
        self.setTransform(QTransform.fromScale(factor, factor))
        # Scroll so that the scene point that was under the anchor is under it again.
        moved = self.mapFromScene(before) - a
        self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() + moved.x())
        self.verticalScrollBar().setValue(self.verticalScrollBar().value() + moved.y())
        self._after_transform()

    def zoom_by(self, step: float, anchor: QPointF | None = None) -> None:
        self.set_zoom(self.zoom() * step, anchor)

    def fit(self) -> None:
        """Fit the whole image into the pane (and keep fitting on resize until the user zooms)."""
        rect = self.sceneRect()
        if rect.isEmpty():
            return
        self.fitInView(rect, Qt.AspectRatioMode.KeepAspectRatio)
        self._fit_mode = True
        self._after_transform()

    def actual_size(self) -> None:
        """1:1 — one image pixel per screen pixel, around the current centre."""
        self.set_zoom(1.0)

    def is_fit_mode(self) -> bool:
        return self._fit_mode

    def copy_view_from(self, other: ImageView) -> None:
        """Take ``other``'s transform and scroll position exactly (used by :class:`ViewLink`)."""
        self._fit_mode = other._fit_mode
        if self.transform() != other.transform():
            self.setTransform(other.transform())
            self._update_smoothing()
        self.horizontalScrollBar().setValue(other.horizontalScrollBar().value())
        self.verticalScrollBar().setValue(other.verticalScrollBar().value())

    # ------------------------------------------------------------------ events
    def wheelEvent(self, event) -> None:  # noqa: N802 - Qt override
        delta = event.angleDelta().y()
        if delta == 0:
            return super().wheelEvent(event)
        self.zoom_by(WHEEL_STEP ** (delta / 120.0), event.position())
        event.accept()

    def resizeEvent(self, event) -> None:  # noqa: N802
        super().resizeEvent(event)
        if self._fit_mode:
            self.fit()

    def mouseMoveEvent(self, event) -> None:  # noqa: N802
        super().mouseMoveEvent(event)
        if self._pixels is None:
            return
        p = self.mapToScene(event.position().toPoint())
        x, y = int(np.floor(p.x())), int(np.floor(p.y()))
        h, w = self._pixels.shape[:2]
        if 0 <= x < w and 0 <= y < h:
            v = self._pixels[y, x]
            self.pixelHovered.emit(x, y, int(v if np.ndim(v) == 0 else np.mean(v)))
        else:
            self.pixelHovered.emit(-1, -1, -1)

    def leaveEvent(self, event) -> None:  # noqa: N802
        super().leaveEvent(event)
        self.pixelHovered.emit(-1, -1, -1)

    def drawForeground(self, painter: QPainter, rect: QRectF) -> None:  # noqa: N802
        super().drawForeground(painter, rect)
        if not self._message:
            return
        painter.save()
        painter.resetTransform()  # draw in viewport pixels, independent of zoom
        vr = self.viewport().rect().adjusted(24, 24, -24, -24)
        f = painter.font()
        f.setPointSizeF(max(f.pointSizeF(), 9.0) * 1.1)
        painter.setFont(f)
        painter.setPen(QColor(255, 140, 120) if self._message_is_error else QColor(200, 204, 210))
        painter.drawText(vr, int(Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap), self._message)
        painter.restore()

    # ------------------------------------------------------------------ internals
    def _scene_size(self) -> tuple[int, int]:
        r = self._scene.sceneRect()
        return int(r.width()), int(r.height())

    def _set_scene_size(self, w: int, h: int) -> None:
        rect = QRectF(0, 0, w, h)
        self._scene.setSceneRect(rect)
        self.setSceneRect(rect)

    def _after_transform(self) -> None:
        self._update_smoothing()
        self.viewChanged.emit()

    def _update_smoothing(self) -> None:
        # Above 1:1 show exact pixels (nearest neighbour) — smoothing would invent ridge detail.
        mode = (Qt.TransformationMode.FastTransformation if self.zoom() >= 1.0
                else Qt.TransformationMode.SmoothTransformation)
        self._pix.setTransformationMode(mode)
        self._overlay.setTransformationMode(mode)

    def _emit_changed(self, *_: object) -> None:
        self.viewChanged.emit()


class ViewLink:
    """Keeps several :class:`ImageView` s at the same zoom and scroll position.

    Whatever view changes (wheel, drag, fit, 1:1, scroll bars), the others copy its transform and
    scroll values. A re-entrancy guard stops the copies from echoing back.
    """

    def __init__(self, *views: ImageView) -> None:
        self.views = list(views)
        self._busy = False
        for v in self.views:
            v.viewChanged.connect(lambda v=v: self._sync_from(v))

    def _sync_from(self, source: ImageView) -> None:
        if self._busy:
            return
        self._busy = True
        try:
            for v in self.views:
                if v is not source:
                    v.copy_view_from(source)
        finally:
            self._busy = False
