"""Face identification panel (Tools → Face Identification…): who is this person, from the case's
gallery of known faces.

Open a face image: the face is detected and aligned on the inference pool, the detection box is
drawn over the image, and the gallery's identities are ranked (top-k with cosine similarity).
Below the model's open-set threshold the panel says "Not in the gallery". A fingerprint opened
here is refused (face-vs-fingerprint check); a small image with no detectable face is used whole
and the panel says so. Enrol a folder (one sub-folder per person) into the current case; remove a
person with one click — no retraining either way. All work is in :mod:`fpstation.ml.face`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QColor, QFont, QPen
from PySide6.QtWidgets import (
    QComboBox,
    QDockWidget,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from fpstation.core.imageio import SUPPORTED_EXTENSIONS
from fpstation.gui.contracts import Window
from fpstation.gui.errors import describe
from fpstation.gui.image_view import ImageView
from fpstation.ml.face.gallery import natural_key
from fpstation.workers import Task

log = logging.getLogger(__name__)

FACE_FILTER = ("Face images (" + " ".join(f"*{e}" for e in sorted(SUPPORTED_EXTENSIONS | {".gif", ".webp"}))
               + ");;All files (*)")
COLOURS = {"match": "#1b7d2a", "unknown": "#a66b00", "error": "#b00020"}


# ---------------------------------------------------------------------- jobs (pool threads)
def face_models_job(*, progress, cancel) -> list[tuple[str, str]]:
    """(registry key, display) of every face model, the shipped default first."""
    from fpstation.ml.registry import get_registry

    reg = get_registry()
    cards = reg.cards("face")
    default = reg.default("face")
    cards.sort(key=lambda c: (default is None or c.key != default.key, not c.shipped, c.key))
    return [(c.key, c.display) for c in cards]


def identify_job(path: str, case_path: str, model: str, top: int, *, progress, cancel) -> dict[str, Any]:
    from fpstation.core.imageio import read_print
    from fpstation.core.store import CaseStore
    from fpstation.ml.face.embed import get_embedder
    from fpstation.ml.face.gallery import load_gallery
    from fpstation.ml.face.identify import identify

    progress(0.0, "reading the image")
    im = read_print(path)
    emb = get_embedder(model or None)
    with CaseStore(case_path) as store:
        gallery = load_gallery(store, emb)
    progress(0.3, "detecting and identifying the face")
    res = identify(im.pixels, gallery, emb, top=top, source=path)
    progress(1.0, "done")
    return {"pixels": im.pixels, "result": res}


def enrol_job(folder: str, case_path: str, model: str, *, progress, cancel) -> Any:
    from fpstation.core.store import CaseStore
    from fpstation.ml.face.embed import get_embedder
    from fpstation.ml.face.gallery import enroll_folder

    emb = get_embedder(model or None)
    with CaseStore(case_path) as store:
        return enroll_folder(folder, store, emb, progress=progress, cancel=cancel)


# ---------------------------------------------------------------------- the panel
class FacePanel(QWidget):
    """Face image with its detection box, the verdict, the top-k table and the gallery controls."""

    def __init__(self, window: Window) -> None:
        super().__init__()
        self.window = window
        self.case = window.case_controller
        self.result: Any = None
        self.path = ""
        self._box_item = None

        self.open_button = QPushButton("Open face image…")
        self.open_button.clicked.connect(self.open_dialog)
        self.model_combo = QComboBox()
        self.model_combo.setToolTip("Face embedding model (the gallery is enrolled per model)")
        self.model_combo.currentIndexChanged.connect(lambda _i: self._refresh_gallery())
        self.top_spin = QSpinBox()
        self.top_spin.setRange(1, 50)
        self.top_spin.setValue(5)
        self.top_spin.setPrefix("top ")
        self.view = ImageView()
        self.view.setMinimumSize(220, 240)
        self.view.set_message("Open a face image")
        self.verdict_label = QLabel("—")
        self.verdict_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.verdict_label.setWordWrap(True)
        f = QFont()
        f.setPointSize(20)
        f.setBold(True)
        self.verdict_label.setFont(f)
        self.detail_label = QLabel("")
        self.detail_label.setWordWrap(True)
        self.detail_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.table = QTableWidget(0, 3)
        self.table.setHorizontalHeaderLabels(["#", "Identity", "Similarity"])
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.table.setMinimumHeight(140)
        self.gallery_label = QLabel("")
        self.gallery_label.setWordWrap(True)
        self.enrol_button = QPushButton("Enrol folder…")
        self.enrol_button.setToolTip("Add people from a folder with one sub-folder per person (named after them)")
        self.enrol_button.clicked.connect(self.enrol_dialog)
        self.remove_button = QPushButton("Remove person…")
        self.remove_button.clicked.connect(self.remove_dialog)

        top = QHBoxLayout()
        top.addWidget(self.open_button)
        top.addWidget(self.top_spin)
        top.addWidget(self.model_combo, 1)
        gal = QHBoxLayout()
        gal.addWidget(self.enrol_button)
        gal.addWidget(self.remove_button)
        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addWidget(self.view, 3)
        lay.addWidget(self.verdict_label)
        lay.addWidget(self.detail_label)
        lay.addWidget(self.table, 2)
        lay.addWidget(self.gallery_label)
        lay.addLayout(gal)
        self.case.caseChanged.connect(self._on_case_changed)
        self._load_models()

    def _on_case_changed(self, _store: Any) -> None:
        """A new or other case: nothing identified against the old case's gallery stays on screen."""
        self.show_nothing()
        self._refresh_gallery()

    def show_nothing(self) -> None:
        """No face, no identification result."""
        self.result = None
        self.path = ""
        if self._box_item is not None:
            self.view.scene().removeItem(self._box_item)
            self._box_item = None
        self.view.set_image(None)
        self.view.set_message("Open a face image")
        self.verdict_label.setText("—")
        self.verdict_label.setStyleSheet("")
        self.detail_label.setText("")
        self.table.setRowCount(0)

    # ------------------------------------------------------------------ models / gallery
    @property
    def model(self) -> str:
        return str(self.model_combo.currentData() or "")

    def _load_models(self) -> None:
        task = Task(face_models_job, name="list face models")
        task.signals.result.connect(self._on_models)
        self.window.run_task("io", task, "Listing face models")

    def _on_models(self, models: list[tuple[str, str]]) -> None:
        self.model_combo.blockSignals(True)
        self.model_combo.clear()
        for key, display in models:
            self.model_combo.addItem(display, key)
        self.model_combo.blockSignals(False)
        self._refresh_gallery()

    def _refresh_gallery(self) -> None:
        store = self.case.store
        if store is None:
            self.gallery_label.setText("No case open: enrolling creates one.")
            return
        ids = store.face_identities(self.model) if self.model else store.face_identities()
        names = ", ".join(sorted(ids, key=natural_key)[:12]) + (" …" if len(ids) > 12 else "")
        self.gallery_label.setText(f"Gallery of case “{store.name}”: {len(ids)} person(s)"
                                   + (f" — {names}" if ids else " — enrol a folder to add people"))

    # ------------------------------------------------------------------ identify
    def open_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open face image", "", FACE_FILTER)
        if path:
            self.identify(path)

    def identify(self, path: str | Path) -> Task:
        self.path = str(path)
        store = self.case.ensure()
        self.verdict_label.setText("…")
        self.verdict_label.setStyleSheet("")
        self.detail_label.setText(f"Identifying {Path(path).name}…")
        task = Task(identify_job, self.path, store.path, self.model, self.top_spin.value(),
                    name="identify face")
        task.signals.result.connect(self._on_result)
        task.signals.error.connect(self._on_error)
        return self.window.run_task("inference", task, f"Identifying {Path(path).name}")

    def _on_result(self, out: dict[str, Any]) -> None:
        res = out["result"]
        self.result = res
        self.view.set_image(out["pixels"], fit=True)
        self._draw_box(res.box)
        if not res.candidates:
            text, colour = "Gallery is empty", COLOURS["unknown"]
        elif res.in_gallery:
            text, colour = res.verdict, COLOURS["match"]
        else:
            text, colour = "Not in the gallery", COLOURS["unknown"]
        self.verdict_label.setText(text)
        self.verdict_label.setStyleSheet(f"color: {colour};")
        b = res.box
        how = {"whole image": "no face detected — whole image used"}.get(b.method, f"found by {b.method}")
        thr = "none" if res.threshold is None else f"{res.threshold:.4f}"
        lines = [f"{Path(res.source).name}: face {b.width}×{b.height} px ({how})",
                 f"Best similarity {res.candidates[0][1]:.4f} vs threshold {thr}" if res.candidates else "",
                 f"Model {res.model}, gallery of {res.gallery_size}, {res.seconds['total'] * 1000:.0f} ms"]
        lines += [f"Note: {n}" for n in res.notes]
        self.detail_label.setText("\n".join(x for x in lines if x))
        self.table.setRowCount(len(res.candidates))
        for r, (name, sim) in enumerate(res.candidates):
            for c, val in enumerate((str(r + 1), name, f"{sim:.4f}")):
                item = QTableWidgetItem(val)
                if c != 1:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                if r == 0 and res.in_gallery:
                    item.setForeground(QColor(COLOURS["match"]))
                self.table.setItem(r, c, item)

    def _draw_box(self, box: Any) -> None:
        scene = self.view.scene()
        if self._box_item is not None:
            scene.removeItem(self._box_item)
        pen = QPen(QColor("#00c853" if box.method != "whole image" else "#ffab00"))
        pen.setWidth(2)
        pen.setCosmetic(True)
        self._box_item = scene.addRect(box.left, box.top, box.width, box.height, pen)
        self._box_item.setZValue(2)

    def _on_error(self, exc: BaseException) -> None:
        self.result = None
        self.table.setRowCount(0)
        self.verdict_label.setText(getattr(exc, "title", "Error"))
        self.verdict_label.setStyleSheet(f"color: {COLOURS['error']};")
        self.detail_label.setText(describe(exc).one_line)

    # ------------------------------------------------------------------ gallery
    def enrol_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Enrol people (one sub-folder per person)")
        if folder:
            self.enrol(folder)

    def enrol(self, folder: str | Path) -> Task:
        store = self.case.ensure()
        task = Task(enrol_job, str(folder), store.path, self.model, name="enrol faces")
        task.signals.result.connect(self._on_enrolled)
        return self.window.run_task("inference", task, f"Enrolling {Path(folder).name}")

    def _on_enrolled(self, rep: Any) -> None:
        msg = f"Enrolled {rep.templates} image(s) of {rep.identities} person(s)"
        if rep.whole_image:
            msg += f"; {rep.whole_image} small image(s) with no detected face used whole"
        if rep.skipped:
            msg += f"; {len(rep.skipped)} file(s) skipped (first: {Path(rep.skipped[0][0]).name}: {rep.skipped[0][1]})"
        self.detail_label.setText(msg)
        self.window.status.message(msg)
        self._refresh_gallery()

    def remove_dialog(self) -> None:
        store = self.case.store
        if store is None:
            return
        names = sorted(store.face_identities(), key=natural_key)
        if not names:
            return
        name, ok = QInputDialog.getItem(self, "Remove person", "Remove from the face gallery:", names, 0, False)
        if ok and name:
            self.remove(name)

    def remove(self, name: str) -> int:
        store = self.case.store
        n = store.remove_face_identity(name) if store is not None else 0
        self.window.status.message(f"Removed {name} from the face gallery ({n} template(s))")
        self._refresh_gallery()
        return n


def install(window: Window) -> tuple[FacePanel, QDockWidget]:
    """Add Tools → Face Identification… and the (initially hidden) Face dock to ``window``; return
    the panel and its dock."""
    panel = FacePanel(window)
    dock = window.add_dock(panel, "Face identification", Qt.DockWidgetArea.RightDockWidgetArea)
    dock.hide()
    act = QAction("&Face Identification…", window)
    act.setToolTip("Identify a face image against the case's gallery of known people")
    act.triggered.connect(lambda: (dock.show(), dock.raise_(), panel.open_dialog()))
    window.menu("&Tools").addAction(act)
    return panel, dock
