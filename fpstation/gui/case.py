"""The current case (one SQLite case store) shared by the batch view, the desk view and reports.

:func:`case_controller` returns the window's single :class:`CaseController` (created on first use),
which owns the File-menu actions New case…, Open case…, Export case…, Print report…. Opening a
SQLite file is quick, so it happens on the GUI thread; exports and reports run on the pools.
"""

from __future__ import annotations

import copy
import logging
from datetime import datetime
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QFileDialog

from fpstation import paths
from fpstation.core.errors import CaseStoreError
from fpstation.core.store import CaseStore
from fpstation.gui.contracts import Window
from fpstation.workers import Task

log = logging.getLogger(__name__)
CASE_FILTER = "fpstation cases (*.db *.fpcase *.sqlite);;All files (*)"


# ---------------------------------------------------------------------- jobs (pool threads)
def export_job(store: CaseStore, out: str, *, progress, cancel) -> tuple[str, int]:
    from fpstation.core.report import export_case

    progress(0.0, f"exporting {Path(out).name}")
    n = export_case(store, out)
    return out, n


def analyzers_for(settings: Any, **steps: bool):
    """``fpstation.ml.inference.default_analyzers`` imported here, on the worker thread that calls
    it: the ML stack never loads on the GUI path."""
    from fpstation.ml.inference import default_analyzers

    return default_analyzers(settings, **steps)


def report_job(store: CaseStore, print_id: int, out: str, settings: Any, restore: bool,
               analysis_id: int | None = None, *, progress, cancel) -> str:
    """The same report as ``fpstation report --print … --analysis ID`` (same store rows, same cards),
    holding analysis ``analysis_id`` (default: the print's newest), its restored image recomputed with
    that analysis's restorer. Returns the path written; for a ``.pdf`` name it returns the report's
    HTML (laid out for the page), which :func:`html_to_pdf` prints on the GUI thread — only the PDF
    is written."""
    from fpstation.core.report import print_report_html, print_report_text
    from fpstation.ml.inference import restorer_settings
    from fpstation.ml.registry import cards_by_name

    fn = None
    if restore:
        a = store.get_analysis(analysis_id) if analysis_id is not None else None
        fn = analyzers_for(restorer_settings(settings, (a or {}).get("restorer")), pad_=False, gender_=False).restore
    progress(0.0, f"writing {Path(out).name}")
    if out.lower().endswith(".pdf"):
        return print_report_text(store, print_id, restore=fn, cards=cards_by_name(), analysis_id=analysis_id,
                                 max_image_width=PDF_IMAGE_PX)
    return str(print_report_html(store, print_id, out, restore=fn, cards=cards_by_name(),
                                 analysis_id=analysis_id))


#: the PDF page: A4 at 150 dpi, 12 mm margins; two prints side by side fit its width
PDF_DPI, PDF_MARGIN_PX = 150, 71
PDF_IMAGE_PX = 320  # logical px (1/96 in): two of them and their gap fit the 186 mm wide page


def _page_layout(doc, device) -> tuple[float, float]:
    """Lay ``doc`` out in pages for ``device`` (A4 at PDF_DPI); returns the page content (w, h) in px.
    Qt's page layout never splits a line, and an image is part of its line, so no image is cut."""
    from PySide6.QtCore import QSizeF

    w = 210 / 25.4 * PDF_DPI - 2 * PDF_MARGIN_PX
    h = 297 / 25.4 * PDF_DPI - 2 * PDF_MARGIN_PX
    doc.documentLayout().setPaintDevice(device)
    doc.setDocumentMargin(0)
    doc.setPageSize(QSizeF(w, h))
    return w, h


def _paint_pages(html_text: str, device, new_page) -> int:
    from PySide6.QtGui import QPainter, QTextDocument

    doc = QTextDocument()
    w, h = _page_layout(doc, device)
    doc.setHtml(html_text)
    n = doc.pageCount()
    p = QPainter(device)
    try:
        for i in range(n):
            if i:
                new_page()
            _draw_page(p, doc, i, n, w, h)
    finally:
        p.end()
    return n


def _draw_page(p, doc, i: int, n: int, w: float, h: float) -> None:
    """Page ``i`` of ``n``: its slice of the document and a "page i of n" footer in the margin."""
    from PySide6.QtCore import QRectF, Qt
    from PySide6.QtGui import QColor, QFont

    p.save()
    p.translate(PDF_MARGIN_PX, PDF_MARGIN_PX - i * h)
    doc.drawContents(p, QRectF(0, i * h, w, h))
    p.restore()
    f = QFont()
    f.setPointSize(8)
    p.setFont(f)
    p.setPen(QColor("#555555"))
    p.drawText(QRectF(PDF_MARGIN_PX, PDF_MARGIN_PX + h + 12, w, 30), int(Qt.AlignmentFlag.AlignRight),
               f"page {i + 1} of {n}")


def html_to_pdf(html_text: str, pdf_path: str) -> str:
    """Print a report's HTML to an A4 PDF (its pages exactly as :func:`report_pages` renders them)."""
    from PySide6.QtCore import QMarginsF
    from PySide6.QtGui import QPageLayout, QPageSize, QPdfWriter

    writer = QPdfWriter(pdf_path)
    writer.setPageSize(QPageSize(QPageSize.PageSizeId.A4))
    writer.setPageMargins(QMarginsF(0, 0, 0, 0), QPageLayout.Unit.Millimeter)
    writer.setResolution(PDF_DPI)
    writer.setTitle(Path(pdf_path).stem)
    _paint_pages(html_text, writer, writer.newPage)
    return pdf_path


def report_pages(html_text: str) -> list:
    """The PDF's pages as images (A4 at 150 dpi), for checking the layout by eye and in tests."""
    from PySide6.QtGui import QColor, QImage

    pages: list[QImage] = []
    w, h = int(round(210 / 25.4 * PDF_DPI)), int(round(297 / 25.4 * PDF_DPI))

    def blank() -> QImage:
        img = QImage(w, h, QImage.Format.Format_RGB32)
        img.fill(QColor("white"))
        dpm = int(round(PDF_DPI / 0.0254))
        img.setDotsPerMeterX(dpm)
        img.setDotsPerMeterY(dpm)
        return img

    # one image per page: paint the whole document page by page into fresh images
    from PySide6.QtGui import QPainter, QTextDocument

    probe = blank()
    doc = QTextDocument()
    cw, ch = _page_layout(doc, probe)
    doc.setHtml(html_text)
    n = doc.pageCount()
    for i in range(n):
        img = blank()
        p = QPainter(img)
        _draw_page(p, doc, i, n, cw, ch)
        p.end()
        pages.append(img)
    return pages


class CaseController(QObject):
    """Holds the open :class:`CaseStore` and the case actions of the File menu."""

    caseChanged = Signal(object)  # CaseStore | None
    decisionAdded = Signal(int, object)  # print id, decision dict
    #: the window's analysis of a print was recorded in the case (print id, analysis id)
    analysisRecorded = Signal(int, int)
    #: the analyst opened a case from the File menu (the Batch dock then shows what it holds)
    openedByUser = Signal()

    def __init__(self, window: Window) -> None:
        super().__init__(window)  # type: ignore[arg-type] - the window is a QMainWindow
        self.window = window
        self.settings = window.settings
        self._store: CaseStore | None = None
        #: id(AnalysisResult) -> (result, case path, print id, analysis id): each on-screen analysis once
        self._recorded: dict[int, tuple[Any, str, int, int]] = {}
        self.act_new = QAction("&New Case…", window)
        self.act_new.triggered.connect(self.new_case_dialog)
        self.act_open = QAction("Open &Case…", window)
        self.act_open.triggered.connect(self.open_case_dialog)
        self.act_export = QAction("&Export Case (CSV/JSON)…", window)
        self.act_export.triggered.connect(self.export_dialog)
        self.act_report = QAction("Print &Report…", window)
        self.act_report.setToolTip("One-print HTML report: both images, verdicts, models, decisions")
        self.act_report.triggered.connect(self.report_current_dialog)
        m = window.menu("&File")
        anchor = window.act_quit if window.act_quit in m.actions() else None  # case actions go just above Quit
        for a in (self.act_new, self.act_open, self.act_export, self.act_report):
            if anchor is not None:
                m.insertAction(anchor, a)
            else:
                m.addAction(a)
        if anchor is not None:
            m.insertSeparator(anchor)
        self._sync_actions()
        window.printShown.connect(self._sync_actions)
        window.printCleared.connect(self._sync_actions)
        last = getattr(self.settings, "current_case", "")
        if last and Path(last).is_file():
            try:
                self.open(last)
            except CaseStoreError as exc:
                log.warning("last case %s not reopened: %s", last, exc)

    # ------------------------------------------------------------------ state
    @property
    def store(self) -> CaseStore | None:
        return self._store

    def _sync_actions(self, *_args: Any) -> None:
        has = self._store is not None
        self.act_export.setEnabled(has)
        # a report can always be made of the print shown (it is added to the case if needed)
        shown = self.window.current_print() is not None
        self.act_report.setEnabled(has or shown)

    def open(self, path: str | Path) -> CaseStore:
        """Open (or create) the case at ``path`` and make it current."""
        store = CaseStore(path)
        # the previous store is not closed here: a running batch keeps its own reference and the
        # connection is closed when the last reference goes
        self._store = store
        self.settings.current_case = str(path)
        try:
            self.settings.save()
        except OSError as exc:
            log.warning("settings not saved: %s", exc)
        self._sync_actions()
        self.window.status.message(f"Case: {Path(path).name}")
        self.caseChanged.emit(store)
        return store

    def ensure(self) -> CaseStore:
        """The current case, creating a dated one under the user cases folder when none is open."""
        if self._store is not None:
            return self._store
        stamp = datetime.now().strftime("%Y-%m-%d_%H%M%S")
        return self.open(paths.user_cases_dir() / f"case-{stamp}.db")

    def add_decision(self, print_id: int, decision: str, operator: str = "", note: str = "",
                     analysis_id: int | None = None) -> dict[str, Any]:
        """Append an operator decision on ``analysis_id`` (default: the print's newest) to the current
        case (never rewritten) and announce it."""
        store = self.ensure()
        did = store.add_decision(print_id, decision, operator, note, analysis_id)
        d = next(x for x in store.decisions(print_id) if x["id"] == did)
        self.decisionAdded.emit(print_id, d)
        return d

    # ------------------------------------------------------------------ dialogs
    def new_case_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self.window, "New case", str(paths.user_cases_dir() / "case.db"),
                                              CASE_FILTER)
        if path:
            self._try_open(path)

    def open_case_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.window, "Open case", str(paths.user_cases_dir()), CASE_FILTER)
        if path:
            self._try_open(path)

    def _try_open(self, path: str) -> None:
        try:
            self.open(path)
            self.openedByUser.emit()  # the Batch dock shows what the case holds
        except CaseStoreError as exc:
            self.window.notifications.notify(f"Case not opened: {exc.user_message}", "error")

    def export_dialog(self) -> None:
        if self._store is None:
            return
        base = str(Path(self._store.path).with_suffix(".csv"))
        out, _ = QFileDialog.getSaveFileName(self.window, "Export case", base, "CSV (*.csv);;JSON (*.json)")
        if out:
            self.export(out)

    def export(self, out: str) -> Task:
        assert self._store is not None
        task = Task(export_job, self._store, out, name="export")
        task.signals.result.connect(lambda r: self.window.status.message(f"Exported {r[1]} rows to {r[0]}"))
        return self.window.run_task("io", task, f"Exporting {Path(out).name}")

    def record_shown_analysis(self, result: Any = None) -> tuple[int, int] | None:
        """``(print id, analysis id)`` in the current case (created if none is open) of the analysis
        on screen: recorded once as a dated analysis of the print view, with its inputs (the print's
        dpi and where it came from, the window's restorer and settings, the model versions), never
        swapped for an older record of the same file. Recording an analysis is not a decision.
        ``None`` (with a message) while the print is still being analysed."""
        im = self.window.current_print()
        res = result if result is not None else self.window.last_analysis()
        if res is None and im is None:
            self.window.status.message("Open a print first: the report is made of the print shown.")
            return None
        if res is None or (result is None and res.image is not im):
            self.window.status.message("The print is still being analysed; the report can be made when it is done.")
            return None
        store = self.ensure()
        hit = self._recorded.get(id(res))
        if hit is not None and hit[0] is res and hit[1] == store.path:
            return hit[2], hit[3]
        from fpstation.core.store import analysis_inputs, step_records

        image = res.image
        inputs = analysis_inputs(self.settings, origin="window",
                                 stated_dpi=image.dpi if image.dpi_source == "stated" else None,
                                 restoration=res.restoration is not None or "restoration" in res.errors)
        try:
            pid, aid = store.record_print_analysis(image, step_records(res), inputs=inputs, new=True)
        except CaseStoreError as exc:
            self.window.notifications.notify(f"Not recorded in the case: {exc.user_message}", "error")
            return None
        if len(self._recorded) > 64:
            self._recorded.pop(next(iter(self._recorded)))
        self._recorded[id(res)] = (res, store.path, pid, aid)
        if res is self.window.last_analysis():
            self.window.info.show_case_record(store.name, aid)
        self.analysisRecorded.emit(pid, aid)
        return pid, aid

    def current_print_id(self) -> int | None:
        """The case id of the print shown (its on-screen analysis recorded, see
        :meth:`record_shown_analysis`); ``None`` while it is analysed."""
        ids = self.record_shown_analysis()
        return ids[0] if ids else None

    def report_current_dialog(self) -> Task | None:
        """File → Print Report…: one step, of the analysis on screen."""
        ids = self.record_shown_analysis()
        return self.report_dialog(*ids) if ids is not None else None

    def report_dialog(self, print_id: int, analysis_id: int | None = None) -> Task | None:
        if self._store is None:
            return None
        p = self._store.get_print(print_id)
        name = Path(p["path"]).stem if p else f"print-{print_id}"
        if analysis_id is not None:
            name += f"-analysis{analysis_id}"
        out, _ = QFileDialog.getSaveFileName(self.window, "Print report", str(Path.home() / f"{name}-report.html"),
                                             "HTML (*.html);;PDF (*.pdf)")
        return self.report(print_id, out, analysis_id=analysis_id) if out else None

    def report(self, print_id: int, out: str, restore: bool = True, analysis_id: int | None = None) -> Task:
        """Write the report of ``analysis_id`` of a print (default: its newest analysis in the case)."""
        assert self._store is not None
        if analysis_id is None:
            analysis_id = self._store.analysis_id(print_id, any_inputs=True)
        task = Task(report_job, self._store, print_id, out, copy.copy(self.settings), restore, analysis_id,
                    name="report")

        def done(written: str) -> None:
            if out.lower().endswith(".pdf"):
                written = html_to_pdf(written, out)  # the job returned the HTML: only the PDF is written
            self.window.status.message(f"Report written: {written}")

        task.signals.result.connect(done)
        return self.window.run_task("inference", task, f"Report {Path(out).name}")
