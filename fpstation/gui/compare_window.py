"""1:1 Compare window: two prints side by side in one scene (so zoom and pan are linked by
construction), their minutiae, the paired minutiae joined by lines (a charted comparison), the
score and the decision at the threshold calibrated for FMR 0.1 %.

The analyst can add minutiae (Add mode: press where it is, drag towards its direction, release;
Shift = bifurcation) or remove them (Remove mode: click one), then the pair is re-scored. Every
extraction and comparison runs on the inference pool; this module holds no algorithm.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QPointF, Qt, Signal
from PySide6.QtGui import QColor, QFont, QPainter, QPainterPath
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QFileDialog,
    QFrame,
    QGraphicsPixmapItem,
    QGraphicsScene,
    QGraphicsView,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from fpstation.core.types import FingerprintImage
from fpstation.gui.minutiae_items import MinutiaeOverlay, pair_lines_item
from fpstation.gui.qimage import to_qpixmap
from fpstation.workers import Task

GAP = 24  # pixels between the two prints in the scene


# ---------------------------------------------------------------------- jobs (inference pool)
def prepare_job(image: FingerprintImage, extractor: str, *, progress, cancel) -> tuple[Any, Any]:
    """Template and NFIQ 2 of one print."""
    from fpstation.core.matching import extract
    from fpstation.core.matching.quality import nfiq2

    progress(0.1, "minutiae")
    t = extract(image, extractor)
    cancel.raise_if_cancelled()
    progress(0.6, "NFIQ 2")
    return t, nfiq2(image)


def compare_job(ta, tb, matcher: str, *, progress, cancel):
    from fpstation.core.matching import compare, decide

    progress(0.2, "comparing")
    return decide(compare(ta, tb, matcher), ta.extractor)


def read_job(path: str, *, progress, cancel) -> FingerprintImage:
    from fpstation.core.imageio import read_print

    return read_print(path)


class CompareView(QGraphicsView):
    """The scene view: wheel zooms under the mouse, drag pans (in Pan mode); emits clicks in the
    scene's coordinates for editing."""

    scenePressed = Signal(QPointF, object)   # point, modifiers
    sceneReleased = Signal(QPointF, object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.setBackgroundBrush(QColor(38, 40, 43))
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setRenderHint(QPainter.RenderHint.Antialiasing)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.editing = False
        self.set_editing(False)

    def set_editing(self, on: bool) -> None:
        self.editing = on
        self.setDragMode(QGraphicsView.DragMode.NoDrag if on else QGraphicsView.DragMode.ScrollHandDrag)
        self.viewport().setCursor(Qt.CursorShape.CrossCursor if on else Qt.CursorShape.OpenHandCursor)

    def zoom(self) -> float:
        return float(self.transform().m11())

    def wheelEvent(self, event) -> None:  # noqa: N802 - Qt override
        f = 1.25 ** (event.angleDelta().y() / 120.0)
        z = self.zoom() * f
        if 0.02 <= z <= 64:
            self.scale(f, f)

    def fit(self) -> None:
        r = self.scene().itemsBoundingRect()
        if r.width() > 0:
            self.fitInView(r, Qt.AspectRatioMode.KeepAspectRatio)

    def mousePressEvent(self, event) -> None:  # noqa: N802
        if self.editing and event.button() == Qt.MouseButton.LeftButton:
            self.scenePressed.emit(self.mapToScene(event.position().toPoint()), event.modifiers())
            return
        super().mousePressEvent(event)

    def mouseReleaseEvent(self, event) -> None:  # noqa: N802
        if self.editing and event.button() == Qt.MouseButton.LeftButton:
            self.sceneReleased.emit(self.mapToScene(event.position().toPoint()), event.modifiers())
            return
        super().mouseReleaseEvent(event)


class CompareWindow(QWidget):
    """Side-by-side charted comparison of print A and print B."""

    scored = Signal(object)  # fpstation.core.matching.Decision

    def __init__(self, pools, image_a: FingerprintImage | None = None, image_b: FingerprintImage | None = None,
                 extractor: str | None = None, matcher: str | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent, Qt.WindowType.Window)
        from fpstation.core.matching import DEFAULT_EXTRACTOR, DEFAULT_MATCHER, EXTRACTORS, MATCHERS

        self.pools = pools
        self.setWindowTitle("Compare prints")
        self.resize(1200, 720)
        # Esc or Ctrl+W closes this window (its jobs stop with it), as in any document window
        from PySide6.QtGui import QKeySequence, QShortcut

        self.close_shortcuts = [QShortcut(QKeySequence(k), self, self.close)
                                for k in ("Esc", "Ctrl+W")]
        self.images: list[FingerprintImage | None] = [None, None]
        self.templates: list[Any] = [None, None]
        self.quality: list[Any] = [None, None]
        self.decision = None
        self._tasks: list[Task | None] = [None, None]
        self._score_task: Task | None = None
        self._press: QPointF | None = None

        # toolbar
        self.open_a = QPushButton("Open A…")
        self.open_b = QPushButton("Open B…")
        self.extractor_combo = QComboBox()
        for k, info in EXTRACTORS.items():
            self.extractor_combo.addItem(info.label, k)
        self.extractor_combo.setCurrentIndex(list(EXTRACTORS).index(extractor or DEFAULT_EXTRACTOR))
        self.matcher_combo = QComboBox()
        for k, info in MATCHERS.items():
            self.matcher_combo.addItem(info.label, k)
        self.matcher_combo.setCurrentIndex(list(MATCHERS).index(matcher or DEFAULT_MATCHER))
        self.mode_pan = QRadioButton("Pan")
        self.mode_add = QRadioButton("Add minutia")
        self.mode_remove = QRadioButton("Remove minutia")
        self.mode_pan.setChecked(True)
        self.modes = QButtonGroup(self)
        for b in (self.mode_pan, self.mode_add, self.mode_remove):
            self.modes.addButton(b)
        self.rescore_button = QPushButton("Re-score")
        self.fit_button = QPushButton("Fit")
        bar = QHBoxLayout()
        for w in (self.open_a, self.open_b, QLabel("Minutiae:"), self.extractor_combo, QLabel("Matcher:"),
                  self.matcher_combo, self.mode_pan, self.mode_add, self.mode_remove, self.rescore_button,
                  self.fit_button):
            bar.addWidget(w)
        bar.addStretch(1)

        self.view = CompareView()
        sc = self.view.scene()
        self.pix = [QGraphicsPixmapItem(), QGraphicsPixmapItem()]
        for p in self.pix:
            sc.addItem(p)
        self.overlays = [MinutiaeOverlay(sc), MinutiaeOverlay(sc)]
        self.lines = pair_lines_item(sc)

        big = QFont()
        big.setPointSize(big.pointSize() + 4)
        big.setBold(True)
        self.verdict_label = QLabel("Open two prints to compare.")
        self.verdict_label.setFont(big)
        self.score_label = QLabel("")
        self.side_labels = [QLabel("A: —"), QLabel("B: —")]
        for lab in (self.score_label, *self.side_labels):
            lab.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        info = QHBoxLayout()
        info.addWidget(self.side_labels[0], 1)
        info.addWidget(self.side_labels[1], 1)
        lay = QVBoxLayout(self)
        lay.addLayout(bar)
        lay.addWidget(self.view, 1)
        lay.addLayout(info)
        lay.addWidget(self.score_label)
        lay.addWidget(self.verdict_label)

        self.open_a.clicked.connect(lambda: self._open_dialog(0))
        self.open_b.clicked.connect(lambda: self._open_dialog(1))
        self.extractor_combo.currentIndexChanged.connect(lambda _i: self._reextract())
        self.matcher_combo.currentIndexChanged.connect(lambda _i: self.rescore())
        self.rescore_button.clicked.connect(self.rescore)
        self.fit_button.clicked.connect(self.view.fit)
        self.modes.buttonToggled.connect(lambda *_: self.view.set_editing(not self.mode_pan.isChecked()))
        self.view.scenePressed.connect(self._on_press)
        self.view.sceneReleased.connect(self._on_release)
        for k, im in enumerate((image_a, image_b)):
            if im is not None:
                self.set_image(k, im)

    # ------------------------------------------------------------------ state
    @property
    def extractor(self) -> str:
        return self.extractor_combo.currentData()

    @property
    def matcher(self) -> str:
        return self.matcher_combo.currentData()

    def _offset(self, k: int) -> float:
        a = self.images[0]
        return 0.0 if k == 0 else float((a.width if a is not None else 0) + GAP)

    def set_image(self, k: int, image: FingerprintImage) -> None:
        """Show a print on side ``k`` (0 = A, 1 = B) and start its minutiae + NFIQ 2."""
        self.images[k] = image
        self.templates[k] = None
        self.quality[k] = None
        self.decision = None
        self.pix[k].setPixmap(to_qpixmap(image.pixels))
        for j in (0, 1):
            self.pix[j].setOffset(self._offset(j), 0)
            self.overlays[j].set_offset(self._offset(j))
        self.overlays[k].set(None)
        self.lines.setPath(QPainterPath())
        self._show_side(k)
        self.view.fit()
        self._extract(k)

    def _extract(self, k: int) -> None:
        im = self.images[k]
        if im is None:
            return
        if self._tasks[k] is not None:
            self._tasks[k].cancel()
        self.side_labels[k].setText(f"{'AB'[k]}: {im.label} — finding minutiae…")
        task = Task(prepare_job, im, self.extractor, name=f"minutiae {'AB'[k]}")
        self._tasks[k] = task

        def done(out, t=task, k=k) -> None:
            if t is not self._tasks[k]:
                return  # stale: the print or extractor changed meanwhile
            self.templates[k], self.quality[k] = out
            self.overlays[k].set(self.templates[k].minutiae)
            self._show_side(k)
            self.rescore()

        task.signals.result.connect(done)
        task.signals.error.connect(lambda exc, k=k: self.side_labels[k].setText(f"{'AB'[k]}: error: {exc}"))
        self.pools.start("inference", task)

    def _reextract(self) -> None:
        for k in (0, 1):
            self._extract(k)

    def _show_side(self, k: int) -> None:
        im, t, q = self.images[k], self.templates[k], self.quality[k]
        if im is None:
            self.side_labels[k].setText(f"{'AB'[k]}: —")
            return
        parts = [f"{'AB'[k]}: {im.label}", f"{im.width}×{im.height} px, {im.dpi_text}"]
        if q is not None:
            parts.append(f"NFIQ 2 {q.score}")
        if t is not None:
            parts.append(f"{t.n} minutiae ({t.extractor})")
        self.side_labels[k].setText(" · ".join(parts))

    # ------------------------------------------------------------------ scoring
    def rescore(self) -> None:
        ta, tb = self.templates
        if ta is None or tb is None:
            return
        if self._score_task is not None:
            self._score_task.cancel()
        self.score_label.setText("Comparing…")
        task = Task(compare_job, ta, tb, self.matcher, name="compare")
        self._score_task = task

        def done(d, t=task) -> None:
            if t is not self._score_task:
                return
            self.show_decision(d)

        task.signals.result.connect(done)
        task.signals.error.connect(lambda exc: self.score_label.setText(f"Comparison failed: {exc}"))
        self.pools.start("inference", task)

    def show_decision(self, d) -> None:
        self.decision = d
        c = d.comparison
        ta, tb = self.templates
        path = QPainterPath()
        off = self._offset(1)
        for i, j in c.pairs:
            if i < ta.n and j < tb.n:
                path.moveTo(QPointF(ta.minutiae[i, 0], ta.minutiae[i, 1]))
                path.lineTo(QPointF(tb.minutiae[j, 0] + off, tb.minutiae[j, 1]))
        self.lines.setPath(path)
        thr = "no calibrated threshold" if d.threshold is None else f"threshold {d.threshold:.4g} ({d.target})"
        edited = any(t.extractor.endswith("+edited") for t in (ta, tb))
        note = " — minutiae edited by hand; the threshold was calibrated on automatic minutiae" if edited else ""
        self.score_label.setText(f"Score {c.score:.4g} ({c.matcher}) · {len(c.pairs)} paired minutiae · {thr}{note}")
        colour = {True: "#1b7f3b", False: "#c62828", None: "#555555"}[d.match]
        self.verdict_label.setStyleSheet(f"color: {colour};")
        self.verdict_label.setText(d.verdict[:1].upper() + d.verdict[1:])
        self.scored.emit(d)

    # ------------------------------------------------------------------ editing
    def _side_at(self, p: QPointF) -> tuple[int, float, float] | None:
        for k in (0, 1):
            im = self.images[k]
            if im is None:
                continue
            x, y = p.x() - self._offset(k), p.y()
            if 0 <= x < im.width and 0 <= y < im.height:
                return k, x, y
        return None

    def _on_press(self, p: QPointF, modifiers) -> None:
        self._press = p
        if self.mode_remove.isChecked():
            hit = self._side_at(p)
            if hit is not None:
                self.remove_minutia(*hit)

    def _on_release(self, p: QPointF, modifiers) -> None:
        start, self._press = self._press, None
        if not self.mode_add.isChecked() or start is None:
            return
        hit = self._side_at(start)
        if hit is None:
            return
        k, x, y = hit
        dx, dy = p.x() - start.x(), p.y() - start.y()
        angle = math.degrees(math.atan2(-dy, dx)) % 360 if math.hypot(dx, dy) >= 3 else 0.0
        kind = 2 if modifiers & Qt.KeyboardModifier.ShiftModifier else 1
        self.add_minutia(k, x, y, angle, kind)

    def add_minutia(self, k: int, x: float, y: float, angle: float, kind: int = 1) -> None:
        """Add a hand-placed minutia to side ``k`` and re-score."""
        t = self.templates[k]
        if t is None:
            return
        row = np.array([[x, y, angle, kind, 100.0]])
        self._set_template(k, t.with_minutiae(np.vstack([t.minutiae, row])))

    def remove_minutia(self, k: int, x: float, y: float, radius: float = 10.0) -> bool:
        """Remove the minutia of side ``k`` nearest to (x, y), if within ``radius`` pixels."""
        t = self.templates[k]
        if t is None or t.n == 0:
            return False
        d = np.hypot(t.minutiae[:, 0] - x, t.minutiae[:, 1] - y)
        i = int(np.argmin(d))
        if d[i] > radius:
            return False
        self._set_template(k, t.with_minutiae(np.delete(t.minutiae, i, axis=0)))
        return True

    def _set_template(self, k: int, t) -> None:
        self.templates[k] = t
        self.overlays[k].set(t.minutiae)
        self._show_side(k)
        self.rescore()

    def _open_dialog(self, k: int) -> None:
        from fpstation.gui.main_window import FILE_FILTER

        path, _ = QFileDialog.getOpenFileName(self, f"Open print {'AB'[k]}", "", FILE_FILTER)
        if path:
            self.open_path(k, path)

    def open_path(self, k: int, path: str | Path) -> Task:
        """Read a print file on the io pool and show it on side ``k``."""
        task = Task(read_job, str(path), name=f"read {Path(path).name}")
        task.signals.result.connect(lambda im, k=k: self.set_image(k, im))
        task.signals.error.connect(lambda exc, k=k: self.side_labels[k].setText(f"{'AB'[k]}: {exc}"))
        self.pools.start("io", task)
        return task

    def closeEvent(self, event) -> None:  # noqa: N802
        for t in (*self._tasks, self._score_task):
            if t is not None:
                t.cancel()
        super().closeEvent(event)
