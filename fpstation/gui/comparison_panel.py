"""The "Comparison" dock: NFIQ 2, minutiae overlays on both views, local-quality map, the 1:1
Compare window and the case gallery (enrol a folder, search the current print).

``install(window)`` wires it to the window's extension API (``printShown``, ``printCleared``,
``analysisFinished``, ``add_dock``, ``menu``, ``run_task``). Everything computed (minutiae, NFIQ 2,
the quality map, enrolment, search) runs as a :class:`~fpstation.workers.Task` on a pool; results
for a print that is no longer shown are dropped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDockWidget,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from fpstation.core.types import AnalysisResult, FingerprintImage
from fpstation.gui.contracts import Window
from fpstation.gui.minutiae_items import MinutiaeOverlay
from fpstation.workers import Task

if TYPE_CHECKING:
    from fpstation.gui.compare_window import CompareWindow

log = logging.getLogger(__name__)


# ---------------------------------------------------------------------- jobs (pool threads)
def quality_job(image: FingerprintImage, *, progress, cancel):
    from fpstation.core.matching.quality import nfiq2

    progress(0.1, "NFIQ 2")
    return image, nfiq2(image)


def minutiae_job(image: FingerprintImage, extractor: str, *, progress, cancel):
    from fpstation.core.matching import extract

    progress(0.1, "minutiae")
    return image, extract(image, extractor)


def quality_map_job(image: FingerprintImage, *, progress, cancel):
    from fpstation.core.matching.quality import local_quality_overlay

    return image, local_quality_overlay(image.pixels)


def enroll_job(store, folder: str, extractor: str, *, progress, cancel):
    from fpstation.core.imageio import iter_image_files
    from fpstation.core.matching.gallery import enroll

    files = list(iter_image_files(folder, recursive=True))
    return enroll(store, files, extractor, progress=progress, cancel=cancel)


def search_job(store, image: FingerprintImage, extractor: str, matcher: str, top: int, *, progress, cancel):
    """The case's packed gallery (packed again first if its templates changed), then the search;
    both report progress and stop at a cancel."""
    from fpstation.core.jobs import wrap_progress
    from fpstation.core.matching import extract
    from fpstation.core.matching.gallery import Candidate, packed_for_case

    progress(0.0, "minutiae of the probe")
    probe = extract(image, extractor)
    cancel.raise_if_cancelled()
    gallery = packed_for_case(store, extractor, progress=wrap_progress(progress, 0.05, 0.5), cancel=cancel)
    res = gallery.search(probe, top=top, matcher=matcher, progress=wrap_progress(progress, 0.5, 1.0), cancel=cancel)
    cands = []
    for h in res.hits:
        pr = store.get_print(h.id) or {}
        path = str(pr.get("path", ""))
        label = Path(path).name + (f" #{pr['idx'] + 1}" if pr.get("idx") else "") if path else str(h.id)
        cands.append(Candidate(h.id, h.score, label, path, h.fast_score, 0.0, h.pairs))
    return image, res.gallery_size, cands


class ComparisonPanel(QWidget):
    """Controls of the dock (state only; ``install`` connects the jobs)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from fpstation.core.matching import DEFAULT_EXTRACTOR, DEFAULT_MATCHER, EXTRACTORS, MATCHERS

        self.extractor_combo = QComboBox()
        for k, info in EXTRACTORS.items():
            self.extractor_combo.addItem(info.label, k)
        self.extractor_combo.setCurrentIndex(list(EXTRACTORS).index(DEFAULT_EXTRACTOR))
        self.matcher_combo = QComboBox()
        for k, info in MATCHERS.items():
            self.matcher_combo.addItem(info.label, k)
        self.matcher_combo.setCurrentIndex(list(MATCHERS).index(DEFAULT_MATCHER))
        self.show_minutiae = QCheckBox("Show minutiae on both views")
        self.right_from_restored = QCheckBox("Right view: minutiae of the restored print")
        self.right_from_restored.setChecked(True)
        self.right_from_restored.setToolTip("Unticked: the original's minutiae on both views, so what "
                                            "restoration changed stands out")
        self.quality_map = QCheckBox("Local quality map (left view)")
        self.quality_map.setToolTip("Block ridge clarity (orientation coherence × contrast): green clear, "
                                    "red unclear; the background (no ridges) is left uncoloured. Not part of NFIQ 2.")
        from fpstation.gui.damage_view import _ColourBar

        # the legend of the map, shown with it: what each colour means
        self.quality_legend = QWidget()
        ql = QHBoxLayout(self.quality_legend)
        ql.setContentsMargins(18, 0, 0, 0)
        ql.addWidget(QLabel("clear"))
        self.quality_bar = _ColourBar()
        ql.addWidget(self.quality_bar)
        ql.addWidget(QLabel("unclear ridges"))
        ql.addStretch(1)
        self.quality_legend.setToolTip("No colour: background, where there are no ridges to judge")
        self.quality_legend.setVisible(False)
        self.quality_map.toggled.connect(self.quality_legend.setVisible)
        self.nfiq2_label = QLabel("—")
        self.minutiae_label = QLabel("—")
        self.minutiae_label.setWordWrap(True)
        self.compare_button = QPushButton("Compare with…")
        self.compare_button.setToolTip("Open the Compare window with this print as A and a file as B")
        g1 = QGroupBox("Quality and minutiae")
        f1 = QFormLayout(g1)
        f1.addRow("NFIQ 2:", self.nfiq2_label)
        f1.addRow("Extractor:", self.extractor_combo)
        f1.addRow(self.show_minutiae)
        f1.addRow(self.right_from_restored)
        f1.addRow("Minutiae:", self.minutiae_label)
        f1.addRow(self.quality_map)
        f1.addRow(self.quality_legend)
        f1.addRow("Matcher:", self.matcher_combo)
        f1.addRow(self.compare_button)

        self.case_label = QLabel("no case open (one is created on enrolment)")
        self.case_label.setWordWrap(True)
        self.enroll_button = QPushButton("Enrol folder…")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(True)
        self.progress.setFormat("")
        self.top_spin = QSpinBox()
        self.top_spin.setRange(1, 100)
        self.top_spin.setValue(10)
        self.search_button = QPushButton("Search current print")
        self.search_status = QLabel("")
        self.search_status.setWordWrap(True)
        self.table = QTableWidget(0, 3)
        self.table.setHorizontalHeaderLabels(["rank", "score", "print"])
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.verticalHeader().setVisible(False)  # the rank column says it; once is enough
        self.table.setToolTip("Double-click a candidate to open it in the Compare window")
        g2 = QGroupBox("Gallery (1:N search in the case)")
        v2 = QVBoxLayout(g2)
        v2.addWidget(self.case_label)
        row = QHBoxLayout()
        row.addWidget(self.enroll_button)
        row.addWidget(self.cancel_button)
        v2.addLayout(row)
        v2.addWidget(self.progress)
        row2 = QHBoxLayout()
        row2.addWidget(self.search_button)
        row2.addWidget(QLabel("top"))
        row2.addWidget(self.top_spin)
        v2.addLayout(row2)
        v2.addWidget(self.search_status)
        v2.addWidget(self.table, 1)
        lay = QVBoxLayout(self)
        lay.addWidget(g1)
        lay.addWidget(g2, 1)
        self.candidates: list[Any] = []

    @property
    def extractor(self) -> str:
        return self.extractor_combo.currentData()

    @property
    def matcher(self) -> str:
        return self.matcher_combo.currentData()

    def show_nothing(self) -> None:
        """No print is shown: no quality figure, no minutiae count."""
        self.nfiq2_label.setText("—")
        self.minutiae_label.setText("—")

    def show_candidates(self, cands: list[Any], threshold: float | None) -> None:
        self.candidates = list(cands)
        self.table.setRowCount(len(cands))
        for r, c in enumerate(cands):
            mark = " ✓" if threshold is not None and c.score >= threshold else ""
            for col, text in enumerate((str(r + 1), f"{c.score:.4f}{mark}", c.label or str(c.print_id))):
                it = QTableWidgetItem(text)
                if col == 2:
                    it.setToolTip(c.path)
                self.table.setItem(r, col, it)


class ComparisonTools(NamedTuple):
    """What :func:`install` built: the panel, its dock, and the actions the window offers (scripts
    and tests call them)."""

    panel: ComparisonPanel
    dock: QDockWidget
    #: open the 1:1 Compare window (``a`` on the left, the file ``b_path`` on the right)
    open_compare: Callable[..., CompareWindow]
    #: enrol a folder of prints into the case's gallery (``None`` = ask for one)
    enroll_folder: Callable[..., Task | None]
    #: search the shown print in the case's gallery
    gallery_search: Callable[[], Task | None]


def install(window: Window) -> ComparisonTools:
    """Add the Comparison dock and the Tools → Compare Prints… action to ``window``."""
    from PySide6.QtWidgets import QScrollArea

    from fpstation.gui.compare_window import CompareWindow

    panel = ComparisonPanel()
    scroll = QScrollArea()
    scroll.setWidget(panel)
    scroll.setWidgetResizable(True)
    dock = window.add_dock(scroll, "Comparison")
    dock.hide()  # opened from View / Tools; the PAD and gender docks keep the room by default
    nfiq_row = QLabel("—")
    nfiq_row.setWordWrap(True)
    nfiq_row.setMinimumWidth(1)  # like the other info rows: wrap inside the sidebar, never widen it
    window.info.add_row("NFIQ 2", nfiq_row)
    left = MinutiaeOverlay(window.left_view.scene())
    right = MinutiaeOverlay(window.right_view.scene())
    state: dict[str, Any] = {"image": None, "restored": None, "q": None, "tasks": {}, "enroll": None,
                             "windows": [], "t_orig": None, "t_rest": None}

    def run(key: str, pool: str, task: Task, what: str) -> Task:
        old = state["tasks"].get(key)
        if old is not None:
            old.cancel()
        state["tasks"][key] = task
        window.run_task(pool, task, what)
        return task

    def current(key: str, task: Task, image: FingerprintImage) -> bool:
        return state["tasks"].get(key) is task and (image is state["image"] or image is state["restored"])

    # ---- NFIQ 2 and minutiae
    def start_quality(image: FingerprintImage) -> None:
        task = Task(quality_job, image, name="NFIQ 2")

        def done(out, t=task) -> None:
            im, q = out
            if not current("q", t, im):
                return
            state["q"] = q
            text = f"{q.score}  ({q.name})" + (f"; {q.note}" if q.note else "")
            panel.nfiq2_label.setText(text)
            nfiq_row.setText(f"{q.score} / 100")
            nfiq_row.setToolTip(text)

        task.signals.result.connect(done)
        task.signals.error.connect(lambda exc: (panel.nfiq2_label.setText(f"unavailable: {exc}"),
                                                nfiq_row.setText("unavailable")))
        run("q", "inference", task, "NFIQ 2")

    def show_counts() -> None:
        to, tr = state["t_orig"], state["t_rest"]
        parts = []
        if to is not None:
            parts.append(f"{to.n} on the original")
        if tr is not None:
            parts.append(f"{tr.n} on the restored print")
        panel.minutiae_label.setText(", ".join(parts) or "—")

    def start_minutiae(image: FingerprintImage, which: str) -> None:
        task = Task(minutiae_job, image, panel.extractor, name=f"minutiae ({which})")

        def done(out, t=task, which=which) -> None:
            im, tmpl = out
            if not current(which, t, im):
                return
            state["t_orig" if which == "orig" else "t_rest"] = tmpl
            refresh_overlays()
            show_counts()

        task.signals.result.connect(done)
        task.signals.error.connect(lambda exc: panel.minutiae_label.setText(f"unavailable: {exc}"))
        run(which, "inference", task, f"minutiae of the {'original' if which == 'orig' else 'restored'} print")

    def refresh_overlays() -> None:
        on = panel.show_minutiae.isChecked()
        to, tr = state["t_orig"], state["t_rest"]
        left.set(to.minutiae if (on and to is not None) else None)
        rt = tr if panel.right_from_restored.isChecked() else to
        right.set(rt.minutiae if (on and rt is not None) else None)

    def want_minutiae() -> None:
        if not panel.show_minutiae.isChecked():
            refresh_overlays()
            return
        if state["image"] is not None and state["t_orig"] is None:
            start_minutiae(state["image"], "orig")
        if state["restored"] is not None and state["t_rest"] is None and panel.right_from_restored.isChecked():
            start_minutiae(state["restored"], "rest")
        refresh_overlays()

    def want_quality_map() -> None:
        im = state["image"]
        if not panel.quality_map.isChecked() or im is None:
            window.left_view.set_overlay(None)
            return
        task = Task(quality_map_job, im, name="quality map")

        def done(out, t=task) -> None:
            image, qm = out
            if current("qmap", t, image) and panel.quality_map.isChecked():
                window.left_view.set_overlay(qm, 0.35)  # red = unclear ridges; background untinted

        task.signals.result.connect(done)
        run("qmap", "inference", task, "local quality map")

    def on_print(image: FingerprintImage) -> None:
        state.update(image=image, restored=None, q=None, t_orig=None, t_rest=None)
        panel.nfiq2_label.setText("computing…")
        nfiq_row.setText("computing…")
        panel.minutiae_label.setText("—")
        left.set(None)
        right.set(None)
        start_quality(image)
        want_minutiae()
        want_quality_map()

    def on_cleared() -> None:
        for t in state["tasks"].values():
            t.cancel()
        state.update(image=None, restored=None, q=None, t_orig=None, t_rest=None)
        panel.show_nothing()
        nfiq_row.setText("—")
        left.set(None)
        right.set(None)

    def on_analysis(result: AnalysisResult) -> None:
        if result.image is not state["image"] or result.restoration is None:
            return
        px = np.asarray(result.restoration.pixels)
        if px.shape != result.image.pixels.shape:
            return
        state["restored"] = replace(result.image, pixels=px)
        state["t_rest"] = None
        want_minutiae()

    def on_extractor(_i: int) -> None:
        state["t_orig"] = state["t_rest"] = None
        want_minutiae()

    window.printShown.connect(on_print)
    window.printCleared.connect(on_cleared)
    window.analysisFinished.connect(on_analysis)
    panel.show_minutiae.toggled.connect(lambda _on: want_minutiae())
    panel.right_from_restored.toggled.connect(lambda _on: want_minutiae())
    panel.quality_map.toggled.connect(lambda _on: want_quality_map())
    panel.extractor_combo.currentIndexChanged.connect(on_extractor)

    # ---- Compare window
    def open_compare(a: FingerprintImage | None = None, b_path: str | None = None) -> CompareWindow:
        w = CompareWindow(window.pools, a, None, panel.extractor, panel.matcher)
        w.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        state["windows"].append(w)
        w.destroyed.connect(lambda *_: state["windows"].remove(w) if w in state["windows"] else None)
        if b_path:
            w.open_path(1, b_path)
        w.show()
        return w

    def compare_with() -> None:
        from fpstation.gui.main_window import FILE_FILTER

        path, _ = QFileDialog.getOpenFileName(window, "Compare with…", "", FILE_FILTER)
        if path:
            open_compare(state["image"], path)

    panel.compare_button.clicked.connect(compare_with)
    tools = window.menu("&Tools")
    act = tools.addAction("&Compare Prints…")
    act.setToolTip("1:1 comparison: two prints side by side with their paired minutiae")
    act.triggered.connect(lambda: open_compare(state["image"]))
    act2 = tools.addAction("Comparison && &Gallery Panel")
    act2.triggered.connect(lambda: (dock.show(), dock.raise_()))

    # ---- gallery
    def store():
        s = window.case_controller.ensure()
        panel.case_label.setText(f"Case: {Path(s.path).name}")
        return s

    def on_case_changed(s) -> None:
        """Another case: the old case's search results leave the panel (issue 25)."""
        panel.show_candidates([], None)
        panel.search_status.setText("")
        panel.case_label.setText(f"Case: {Path(s.path).name}" if s is not None else "no case open")

    window.case_controller.caseChanged.connect(on_case_changed)

    def gallery_job(key: str, task: Task, button, what: str) -> None:
        """An enrolment or a search on the shared progress bar and Cancel button: ``button``
        is off while it runs; Cancel stays on while either job runs."""
        state[key] = task
        button.setEnabled(False)
        panel.cancel_button.setEnabled(True)
        panel.progress.setValue(0)
        panel.progress.setFormat(f"%p% {what}")

        def prog(f: float, msg: str) -> None:
            panel.progress.setValue(int(1000 * f))
            panel.progress.setFormat(f"%p% {msg}"[:80])

        def finished(*_a) -> None:
            if state.get(key) is task:
                state[key] = None
            button.setEnabled(True)
            panel.cancel_button.setEnabled(any(state.get(k) is not None for k in ("enroll", "search_task")))

        task.signals.progress.connect(prog)
        task.signals.finished.connect(finished)

    def enroll_folder(folder: str | None = None) -> Task | None:
        if folder is None:
            folder = QFileDialog.getExistingDirectory(window, "Enrol a folder of prints into the case")
        if not folder:
            return None
        task = Task(enroll_job, store(), folder, panel.extractor, name="enrol")
        gallery_job("enroll", task, panel.enroll_button, "enrolling…")

        def done(rep) -> None:
            panel.progress.setValue(1000)
            panel.progress.setFormat(f"enrolled {rep.enrolled}, already there {rep.skipped}, failed {len(rep.failed)}")

        task.signals.result.connect(done)
        task.signals.cancelled.connect(lambda: panel.progress.setFormat("cancelled — Enrol again resumes"))
        task.signals.error.connect(lambda exc: panel.progress.setFormat(f"failed: {exc}"))
        window.run_task("io", task, "gallery enrolment")
        return task

    def cancel_enroll() -> None:
        """The Cancel button stops the gallery job that runs: an enrolment or a search."""
        for key in ("enroll", "search_task"):
            if state.get(key) is not None:
                state[key].cancel()

    def search() -> Task | None:
        from fpstation.core.matching import operating_point

        im = state["image"]
        if im is None:
            panel.search_status.setText("Open a print first: it is the probe.")
            return None
        task = Task(search_job, store(), im, panel.extractor, panel.matcher, panel.top_spin.value(), name="search")
        panel.search_status.setText("searching…")
        gallery_job("search_task", task, panel.search_button, "searching…")

        def done(out, t=task) -> None:
            image, n, cands = out
            if state["tasks"].get("search") is not t:
                return
            op = operating_point(panel.extractor, panel.matcher)
            thr = op["threshold"] if op else None
            panel.show_candidates(cands, thr)
            panel.search_status.setText(f"{len(cands)} candidates from {n} templates for {image.label}"
                                        + ("" if thr is None else f" (✓ = above the FMR 0.1 % threshold {thr:.4g})")
                                        + ("" if n else " — the gallery is empty: enrol a folder first"))

        task.signals.result.connect(done)
        task.signals.cancelled.connect(lambda: (panel.search_status.setText("search cancelled"),
                                                panel.progress.setFormat("search cancelled")))
        task.signals.error.connect(lambda exc: panel.search_status.setText(f"search failed: {exc}"))
        return run("search", "inference", task, "gallery search")

    def open_candidate(row: int, _col: int = 0) -> None:
        if 0 <= row < len(panel.candidates):
            open_compare(state["image"], panel.candidates[row].path)

    panel.enroll_button.clicked.connect(lambda: enroll_folder())
    panel.cancel_button.clicked.connect(cancel_enroll)
    panel.search_button.clicked.connect(search)
    panel.table.cellDoubleClicked.connect(open_candidate)
    panel._open_candidate = open_candidate  # for tests
    return ComparisonTools(panel, dock, open_compare, enroll_folder, search)
