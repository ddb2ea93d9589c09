"""Batch analysis dock: File → Analyse Folder…, a live results table, progress, ETA and Cancel.

The job is :func:`fpstation.core.batch.run_batch` on the inference pool; its rows arrive as queued
``partial`` signals and are appended to the table in small groups by a timer (so a fast batch costs
the event loop one model update per 100 ms, not one per print). The table is sortable and
filterable (QSortFilterProxyModel); double-clicking a row opens that print in the side-by-side view.
No analysis happens here.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QSortFilterProxyModel, Qt, QTimer
from PySide6.QtGui import QAction, QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDockWidget,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from fpstation.core.store import CaseStore
from fpstation.gui.case import analyzers_for
from fpstation.gui.contracts import Window
from fpstation.workers import Task

log = logging.getLogger(__name__)

#: (row key, header) shown in the table; every row also keeps the other ROW_COLUMNS (CSV export)
COLUMNS = [("status", "Status"), ("file", "File"), ("index", "#"), ("pad_verdict", "PAD"),
           ("pad_score", "Attack score"), ("gender", "Gender"), ("p_female", "P(female)"),
           ("restoration", "Restoration"), ("size_px", "Size"), ("dpi", "dpi"), ("seconds", "Time (s)"),
           ("decision", "Decision"), ("analysis", "Analysis"), ("error", "Error")]
STATUS_FILTERS = ["All", "Errors", "ATTACK", "LIVE", "UNCERTAIN", "Skipped"]
_ERROR_BRUSH = QBrush(QColor("#b00020"))
_VERDICT_BRUSH = {"ATTACK": QBrush(QColor("#b00020")), "LIVE": QBrush(QColor("#1b7d2a")),
                  "UNCERTAIN": QBrush(QColor("#a66b00"))}



def batch_job(source: str | list[str], store: CaseStore, settings: Any, extensions: str | list[str] | None,
              recursive: bool, analyzers_factory: Callable[[Any], Any] = analyzers_for, *, progress, cancel,
              partial, engine: str = "local", address: str = "", setup_factory: Callable[[Any], Any] | None = None,
              dpi: float | None = None):
    """The batch, as a pool job (analysers are built on the worker thread). With
    ``engine="ray"`` the analysis runs on Ray workers (started here, or joined at ``address``) and
    this thread stays the only writer of the case. ``dpi``: the resolution stated for every print
    (``None`` = each file's own); with the restorer and settings it is recorded with each analysis."""
    from fpstation.core.store import analysis_inputs

    inputs = analysis_inputs(settings, stated_dpi=dpi, origin="batch")
    if engine == "ray":
        from fpstation.core.cluster import run_batch_ray
        from fpstation.ml.inference import ClusterSetup

        setup = setup_factory(settings) if setup_factory is not None else ClusterSetup(settings)
        return run_batch_ray(source, store, setup, progress, cancel, partial,
                             extensions=extensions, recursive=recursive, address=address or None, inputs=inputs)
    from fpstation.core.batch import run_batch

    return run_batch(source, store, analyzers_factory(settings), progress, cancel, partial,
                     extensions=extensions, recursive=recursive, inputs=inputs)


def relative_path(path: str, root: str) -> str:
    """``path`` relative to the opened folder ``root`` ("Fake/Gelatine/010_1_0.png"), so equal file
    names in different folders can be told apart; the file name when it is not under ``root``."""
    if not path:
        return ""
    if root:
        try:
            rel = Path(path).relative_to(root)
            return rel.as_posix()
        except ValueError:
            pass
    return Path(path).name


def common_root(paths: list[str]) -> str:
    """The deepest folder holding every path ("" when there is none)."""
    import os

    dirs = [str(Path(p).parent) for p in paths if p]
    if not dirs:
        return ""
    try:
        return os.path.commonpath(dirs)
    except ValueError:  # mixed drives / relative and absolute
        return ""


def analysis_text(row: dict[str, Any]) -> str:
    """The Analysis cell: which analysis of the print the row shows ("#12 · batch · 16:40")."""
    from fpstation.core.store import ORIGIN_WORDS

    if row.get("analysis_id") is None:
        return ""
    when = str(row.get("analysed_at") or "")[11:16]
    origin = row.get("analysis_origin") or ""
    origin = {"window": "print view", "desk": "desk", "batch": "batch"}.get(origin, ORIGIN_WORDS.get(origin, origin))
    return " · ".join(x for x in (f"#{row['analysis_id']}", origin, when) if x)


def not_checked_count(rows: list[dict[str, Any]]) -> int:
    """Prints whose liveness models could not check them because their resolution is unknown."""
    return sum(1 for r in rows if r.get("print_id") is not None and r.get("dpi") is None
               and (r.get("pad_verdict") or r.get("pad_models")))


def load_case_rows_job(store: CaseStore, *, progress, cancel) -> list[dict[str, Any]]:
    from fpstation.core.report import case_rows

    out = []
    for r in case_rows(store):
        cancel.raise_if_cancelled()
        out.append(r)
    return out


# ---------------------------------------------------------------------- model
class ResultsModel(QAbstractTableModel):
    """Flat result rows (dicts with :data:`fpstation.core.store.ROW_COLUMNS`)."""

    SORT_ROLE = Qt.ItemDataRole.UserRole

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._rows: list[dict[str, Any]] = []
        #: the opened folder: the File column shows paths relative to it
        self.root = ""

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation, role=Qt.ItemDataRole.DisplayRole):  # noqa: N802
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return COLUMNS[section][1]
        return None

    def _value(self, row: dict[str, Any], key: str) -> Any:
        if key == "file":
            return relative_path(row.get("path") or "", self.root)
        if key == "analysis":
            return analysis_text(row)
        if key == "size_px":
            return f"{row['width']}×{row['height']}" if row.get("width") else ""
        return row.get(key)

    def data(self, index: QModelIndex, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        row = self._rows[index.row()]
        key = COLUMNS[index.column()][0]
        v = self._value(row, key)
        if role == Qt.ItemDataRole.DisplayRole:
            if key == "dpi" and v is None and row.get("status") != "bad file":
                note = row.get("dpi_note") or ""
                return f"unknown ({note})" if note else "unknown"
            if v is None:
                return ""
            if key == "pad_score":  # the score names the model it came from
                return f"{v:.3f} ({row['pad_model']})" if row.get("pad_model") else f"{v:.3f}"
            if key == "p_female":
                return f"{v:.3f}"
            if key == "seconds":
                return f"{v:.2f}"
            if key == "dpi":
                return f"{v:g} (stated)" if row.get("dpi_source") == "stated" else f"{v:g}"
            if key == "error":
                return str(v).splitlines()[0] if v else ""
            return str(v)
        if role == self.SORT_ROLE:
            if key == "size_px":
                return (row.get("width") or 0) * (row.get("height") or 0)
            if v is None or v == "":
                return -1.0 if key in ("pad_score", "p_female", "seconds", "dpi", "index") else ""
            return v
        if role == Qt.ItemDataRole.ToolTipRole:
            if key == "error" and row.get("error"):
                return row["error"]
            if key == "dpi" and row.get("dpi_note"):
                return f"Resolution: {row['dpi_note']}"
            if key == "analysis" and row.get("analysis_id") is not None:
                return (f"Analysis #{row['analysis_id']} of this print, made {row.get('analysed_at')} "
                        f"({row.get('analysis_origin')}); restorer {row.get('restorer') or 'none'}; "
                        "Report… reports on this analysis")
            return f"{row.get('path')}\nSHA-256 {row.get('sha256') or '—'}"
        if role == Qt.ItemDataRole.ForegroundRole:
            if row.get("status") in ("bad file", "error") or (key == "error" and row.get("error")):
                return _ERROR_BRUSH
            if key == "pad_verdict":
                return _VERDICT_BRUSH.get(row.get("pad_verdict") or "")
        return None

    def add_rows(self, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        n = len(self._rows)
        self.beginInsertRows(QModelIndex(), n, n + len(rows) - 1)
        self._rows.extend(rows)
        self.endInsertRows()

    def clear(self) -> None:
        self.beginResetModel()
        self._rows = []
        self.endResetModel()

    def row(self, i: int) -> dict[str, Any]:
        return self._rows[i]

    def rows(self) -> list[dict[str, Any]]:
        return list(self._rows)

    def set_root(self, root: str) -> None:
        self.beginResetModel()
        self.root = root
        self.endResetModel()

    def replace_print(self, print_id: int, row: dict[str, Any]) -> None:
        """Show ``row`` (a newer analysis of the print) in place of the print's row, keeping its path."""
        for i, r in enumerate(self._rows):
            if r.get("print_id") == print_id:
                new = dict(row)
                new["path"], new["status"] = r.get("path"), row.get("status") or r.get("status")
                self._rows[i] = new
                self.dataChanged.emit(self.index(i, 0), self.index(i, len(COLUMNS) - 1))

    def update_decision(self, print_id: int, decision: dict[str, Any]) -> None:
        col = [c[0] for c in COLUMNS].index("decision")
        for i, r in enumerate(self._rows):
            if r.get("print_id") == print_id:
                r["decision"], r["decision_time"] = decision["decision"], decision["created"]
                ix = self.index(i, col)
                self.dataChanged.emit(ix, ix)


class ResultsFilter(QSortFilterProxyModel):
    """Text filter (file name, path or error) plus a status/verdict choice."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._text = ""
        self._status = "All"
        self.setSortRole(ResultsModel.SORT_ROLE)

    def _refilter(self, attr: str, value: str) -> None:
        # Qt ≥ 6.9 deprecates invalidateFilter() in favour of begin/endFilterChange()
        if hasattr(self, "beginFilterChange"):
            self.beginFilterChange()
            setattr(self, attr, value)
            self.endFilterChange()
        else:  # pragma: no cover - older PySide6 allowed by pyproject
            setattr(self, attr, value)
            self.invalidateFilter()

    def set_text(self, text: str) -> None:
        self._refilter("_text", text.strip().lower())

    def set_status(self, status: str) -> None:
        self._refilter("_status", status)

    def filterAcceptsRow(self, source_row: int, source_parent: QModelIndex) -> bool:  # noqa: N802
        row = self.sourceModel().row(source_row)
        st = self._status
        if st == "Errors" and not (row.get("error") or row.get("status") in ("bad file", "error")):
            return False
        if st == "Skipped" and row.get("status") != "skipped":
            return False
        if st in ("ATTACK", "LIVE", "UNCERTAIN") and row.get("pad_verdict") != st:
            return False
        if self._text:
            hay = f"{row.get('path') or ''} {row.get('error') or ''} {row.get('sha256') or ''}".lower()
            return self._text in hay
        return True


# ---------------------------------------------------------------------- widgets
class AnalyseFolderDialog(QDialog):
    """Folder, extension filter, "include sub-folders", and the engine (this computer or Ray)."""

    ENGINES = [("This computer", "local"), ("Ray cluster", "ray")]

    def __init__(self, parent: QWidget | None, folder: str, extensions: list[str], engine: str = "local",
                 address: str = "", dpi: int = 0) -> None:
        super().__init__(parent)
        self.setWindowTitle("Analyse folder")
        self.folder_edit = QLineEdit(folder)
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.folder_edit, 1)
        row.addWidget(browse)
        self.ext_edit = QLineEdit(", ".join(extensions))
        self.ext_edit.setToolTip("Only files with these endings are analysed (comma-separated)")
        self.recursive = QCheckBox("Include sub-folders")
        self.recursive.setChecked(True)
        self.dpi_spin = QSpinBox()
        self.dpi_spin.setRange(0, 5000)
        self.dpi_spin.setSingleStep(100)
        self.dpi_spin.setSpecialValueText("as each file says")
        self.dpi_spin.setSuffix(" dpi (stated)")
        self.dpi_spin.setValue(int(dpi or 0))
        self.dpi_spin.setToolTip("The scanner's resolution when the files carry none or a wrong one (e.g. 1000 "
                                 "for LivDet PNGs); recorded with every analysis. A case keeps a separate "
                                 "analysis per stated dpi. The models take it as given: state the scanner's true dpi.")
        form = QFormLayout(self)
        form.addRow("Folder:", row)
        form.addRow("Extensions:", self.ext_edit)
        form.addRow("Resolution:", self.dpi_spin)
        form.addRow("", self.recursive)
        from fpstation.core.cluster import INSTALL_HINT, ray_available

        self.engine_combo = QComboBox()
        for label, key in self.ENGINES:
            self.engine_combo.addItem(label, key)
        self.engine_combo.setToolTip("Where the prints are analysed; the rows and the case are the same")
        if not ray_available():
            item = self.engine_combo.model().item(1)
            item.setEnabled(False)
            item.setToolTip(INSTALL_HINT)
            engine = "local"
        self.engine_combo.setCurrentIndex(max(0, self.engine_combo.findData(engine)))
        self.address_edit = QLineEdit(address)
        self.address_edit.setPlaceholderText("empty: start Ray here · auto · ray://host:10001")
        self.address_edit.setToolTip("The Ray cluster to join; the folder must be on storage its nodes "
                                     "mount at the same path, else the files are sent from here")
        self.engine_combo.currentIndexChanged.connect(self._engine_changed)
        form.addRow("Engine:", self.engine_combo)
        form.addRow("Ray address:", self.address_edit)
        self._engine_changed()
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Analyse")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def _browse(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Folder to analyse", self.folder_edit.text())
        if d:
            self.folder_edit.setText(d)

    def values(self) -> tuple[str, list[str], bool]:
        exts = [e.strip() for e in self.ext_edit.text().split(",") if e.strip()]
        return self.folder_edit.text().strip(), exts, self.recursive.isChecked()

    def dpi(self) -> float | None:
        """The stated dpi (``None`` = each file's own)."""
        return float(self.dpi_spin.value()) or None

    def _engine_changed(self, *_: object) -> None:
        self.address_edit.setEnabled(self.engine_combo.currentData() == "ray")

    def engine(self) -> tuple[str, str]:
        """(engine, Ray address) — ``("local", "")`` or ``("ray", "auto" | "ray://…" | "")``."""
        return self.engine_combo.currentData(), self.address_edit.text().strip()


class BatchPanel(QWidget):
    """Progress, ETA, Cancel, filters and the live results table of the current batch / case."""

    FLUSH_MS = 100

    def __init__(self, window: Window) -> None:
        super().__init__()
        self.window = window
        self.case = window.case_controller
        #: builds the Analyzers on the worker thread from the settings (tests inject fakes)
        self.analyzers_factory: Callable[[Any], Any] = analyzers_for
        #: settings -> the Ray workers' set-up (None = fpstation.ml.inference.ClusterSetup; tests inject fakes)
        self.setup_factory: Callable[[Any], Any] | None = None
        self.task: Task | None = None
        self.dock: QDockWidget | None = None  # set by install()
        self._pending: list[dict[str, Any]] = []
        self._latest: tuple[int, int, float | None] | None = None
        self._case_gen = 0
        self._notice = ""  # the "N of M prints not checked" notice this panel put up, while it is up

        self.case_label = QLabel("No case open")
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.eta_label = QLabel("")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        self.report_button = QPushButton("Report…")
        self.report_button.setToolTip("One-print HTML report of the selected row")
        self.report_button.clicked.connect(self._report_selected)
        self.filter_edit = QLineEdit()
        self.filter_edit.setPlaceholderText("Filter by name, hash or error…")
        self.filter_edit.setClearButtonEnabled(True)
        self.status_combo = QComboBox()
        self.status_combo.addItems(STATUS_FILTERS)

        self.model = ResultsModel(self)
        self.proxy = ResultsFilter(self)
        self.proxy.setSourceModel(self.model)
        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(-1, Qt.SortOrder.AscendingOrder)  # arrival order until a header is clicked
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.doubleClicked.connect(self._open_row)
        self.table.setMinimumHeight(180)  # a dock squeezed to two rows hides the live results
        # room for the file name; "#" (the print's index in a NIST file) needs only a few digits
        head = self.table.horizontalHeader()
        for key, width in (("status", 80), ("file", 260), ("index", 32), ("pad_verdict", 90), ("pad_score", 170),
                           ("dpi", 170), ("size_px", 90)):
            head.resizeSection([c[0] for c in COLUMNS].index(key), width)
        self.filter_edit.textChanged.connect(self.proxy.set_text)
        self.status_combo.currentTextChanged.connect(self.proxy.set_status)
        self.summary_label = QLabel("")

        top = QHBoxLayout()
        top.addWidget(self.case_label, 1)
        top.addWidget(self.progress, 2)
        top.addWidget(self.eta_label)
        top.addWidget(self.cancel_button)
        filt = QHBoxLayout()
        filt.addWidget(self.filter_edit, 1)
        filt.addWidget(self.status_combo)
        filt.addWidget(self.report_button)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addLayout(top)
        lay.addLayout(filt)
        lay.addWidget(self.table, 1)
        lay.addWidget(self.summary_label)

        self._timer = QTimer(self)
        self._timer.setInterval(self.FLUSH_MS)
        self._timer.timeout.connect(self.flush)
        self.case.caseChanged.connect(self._on_case_changed)
        self.case.decisionAdded.connect(self.model.update_decision)
        self.case.analysisRecorded.connect(self._on_analysis_recorded)
        if self.case.store is not None:
            self._on_case_changed(self.case.store)

    # ------------------------------------------------------------------ batch
    @property
    def running(self) -> bool:
        return self.task is not None and not self.task.done.is_set()

    def start(self, source: str | list[str], extensions: list[str] | str | None = None,
              recursive: bool = True, engine: str = "local", address: str = "",
              dpi: float | None = None) -> Task | None:
        """Analyse ``source`` (a folder or files) into the current case (created when none is open),
        here or on Ray workers (``engine="ray"``, joining ``address`` or a Ray started here), at the
        stated ``dpi`` (``None`` = each file's own)."""
        if self.running:
            self.window.status.message("A batch is already running; cancel it first.")
            return None
        store = self.case.ensure()
        self._case_gen += 1  # drop the rows of a case listing still on its way
        self._withdraw_notice()
        self.model.clear()
        self.model.set_root(str(Path(source)) if isinstance(source, str | Path) else common_root(list(source)))
        self._pending.clear()
        self.progress.setValue(0)
        self.eta_label.setText("starting…")
        self.summary_label.setText("")
        task = Task(batch_job, source, store, copy.copy(self.window.settings), extensions or None, recursive,
                    self.analyzers_factory, name="batch", with_partial=True, engine=engine, address=address,
                    setup_factory=self.setup_factory, dpi=dpi)
        task.signals.partial.connect(self._on_partial)
        task.signals.result.connect(self._on_result)
        task.signals.cancelled.connect(lambda: self.summary_label.setText("Cancelled — finished prints are in the case."))
        task.signals.error.connect(lambda exc: self.summary_label.setText(f"Batch stopped: {exc}"))
        task.signals.finished.connect(self._on_finished)
        self.task = task
        if self.dock is not None:  # the Batch dock starts hidden (main window's first-run layout)
            self.dock.show()
            self.dock.raise_()
        self.cancel_button.setEnabled(True)
        self._timer.start()
        name = Path(source).name if isinstance(source, str) else f"{len(source)} files"
        return self.window.run_task("inference", task, f"Batch {name}")

    def cancel(self) -> None:
        if self.task is not None:
            self.task.cancel()
            self.eta_label.setText("cancelling…")

    def flush(self) -> None:
        """Apply what arrived since the last tick: one row insert and one bar/label update per tick
        (QProgressBar repaints synchronously on every visible change, so per-print updates would
        cost the event loop far more than the rows themselves)."""
        if self._pending:
            rows, self._pending = self._pending, []
            self.model.add_rows(rows)
        if self._latest is not None:
            done, total, eta = self._latest
            self._latest = None
            if total:
                self.progress.setValue(int(1000 * done / total))
            if eta is not None:
                s = int(round(eta))
                self.eta_label.setText(f"{done}/{total} · ETA {s // 60}:{s % 60:02d}")

    def _on_partial(self, item: Any) -> None:
        self._pending.append(item.row)
        self._latest = (item.done, item.total, item.eta_s)

    def _on_result(self, summary: Any) -> None:
        self.flush()
        text = (f"{summary.files} files: {summary.prints_analysed} analysed, {summary.prints_skipped} already in "
                f"the case, {summary.bad_files} bad files, {summary.step_errors} with step errors · "
                f"{summary.seconds:.1f} s ({summary.prints_per_s:.1f} prints/s)")
        self.progress.setValue(1000)
        self.summary_label.setText(text)
        self._notify_not_checked()

    def not_checked_notice(self) -> str:
        """"12 of 394 prints not checked: state the scanner's dpi" for the rows shown ("" when none)."""
        rows = [r for r in self.model.rows() if r.get("print_id") is not None]
        n = not_checked_count(rows)
        if not n:
            return ""
        return (f"{n} of {len(rows)} prints not checked for presentation attacks: their resolution is unknown. "
                "State the scanner's dpi (File → Analyse Folder…, Resolution) and analyse again.")

    def _notify_not_checked(self) -> None:
        """Say once, with a count, that prints went unchecked for want of a dpi (not once per print);
        a notice about an earlier batch never stays up beside a batch that checked everything."""
        self._withdraw_notice()
        text = self.not_checked_notice()
        if text:
            self.summary_label.setText(self.summary_label.text() + "\n" + text.split(":")[0] + ".")
            self.window.notifications.notify(text, "warning")
            self._notice = text

    def _withdraw_notice(self) -> None:
        bar = self.window.notifications
        if self._notice and bar.text().startswith(self._notice):
            bar.dismiss()
        self._notice = ""

    def _on_finished(self) -> None:
        self.flush()
        self._timer.stop()
        self.cancel_button.setEnabled(False)
        t = self.task
        self.eta_label.setText("cancelled" if t is not None and t.token.cancelled else "finished")

    def show_nothing(self) -> None:
        """No batch: no summary, no progress, no rows."""
        self.summary_label.setText("")
        self.eta_label.setText("")
        self.progress.setValue(0)
        self.model.clear()

    # ------------------------------------------------------------------ case
    def _on_case_changed(self, store: CaseStore | None) -> None:
        self.case_label.setText(f"Case: {store.name}" if store else "No case open")
        if store is None or self.running:
            return
        self.show_nothing()  # nothing of the previous case's batch stays next to this case's rows
        self._case_gen += 1
        task = Task(load_case_rows_job, store, name="case rows")
        task.signals.result.connect(lambda rows, g=self._case_gen: self._on_case_rows(g, rows))
        self.window.run_task("io", task, f"Loading case {store.name}")

    def _on_case_rows(self, gen: int, rows: list[dict[str, Any]]) -> None:
        # a batch started (or another case opened) meanwhile: those rows would be stale duplicates
        if gen == self._case_gen and not self.running:
            self.model.set_root(common_root([r.get("path") or "" for r in rows]))
            self.model.add_rows(rows)

    def _on_analysis_recorded(self, print_id: int, analysis_id: int) -> None:
        """The window recorded its analysis of a print: the row shows the case's newest analysis."""
        store = self.case.store
        if store is not None:
            self.model.replace_print(print_id, store.print_row(print_id, analysis_id))

    # ------------------------------------------------------------------ rows
    def source_row(self, proxy_row: int) -> dict[str, Any]:
        return self.model.row(self.proxy.mapToSource(self.proxy.index(proxy_row, 0)).row())

    def _open_row(self, index: QModelIndex) -> None:
        """Open the row's print as the row analysed it: at the dpi it stated (the screen and the row
        then agree; a restorer other than the window's is said in the status bar)."""
        row = self.model.row(self.proxy.mapToSource(index).row())
        if not row.get("path"):
            return
        dpi = row.get("dpi") if row.get("dpi_source") == "stated" else None
        try:
            self.window.open_paths([row["path"]], dpi=dpi or 0)
        except TypeError:  # a window without the dpi argument (older extension API)
            self.window.open_paths([row["path"]])
        rst = row.get("restorer") or ""
        if rst and rst != getattr(self.window.settings, "restorer", rst):
            self.window.status.message(f"Row analysis #{row.get('analysis_id')} used the {rst} restorer; the view "
                                       f"uses {self.window.settings.restorer}: its analysis is a new record.")

    def _report_selected(self) -> None:
        sel = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        if not sel:
            self.window.status.message("Select a row first.")
            return
        row = self.model.row(self.proxy.mapToSource(sel[0]).row())
        if row.get("print_id") is None:
            self.window.status.message("This file could not be read: there is no print to report on.")
            return
        self.case.report_dialog(int(row["print_id"]), row.get("analysis_id"))


def analyse_folder_dialog(window: Window, panel: BatchPanel) -> None:
    s = window.settings
    # the toolbar's "Open at" dpi is the default: a folder opened at 1000 dpi is analysed at 1000 dpi
    dlg = AnalyseFolderDialog(window, s.last_open_dir, list(s.batch_extensions), s.batch_engine, s.ray_address,
                              dpi=window.open_dpi_spin.value())
    if dlg.exec() != QDialog.DialogCode.Accepted:
        return
    folder, exts, recursive = dlg.values()
    engine, address = dlg.engine()
    if not folder or not Path(folder).is_dir():
        window.notifications.notify(f"“{folder}” is not a folder.", "error")
        return
    s.batch_engine, s.ray_address = engine, address
    panel.start(folder, exts, recursive, engine, address, dpi=dlg.dpi())


def install(window: Window) -> tuple[BatchPanel, QDockWidget]:
    """Add the Batch dock and File → Analyse Folder… to ``window``; return the panel and its dock."""
    panel = BatchPanel(window)
    dock = window.add_dock(panel, "Batch", Qt.DockWidgetArea.BottomDockWidgetArea)
    panel.dock = dock
    act = QAction("&Analyse Folder…", window)
    act.setShortcut("Ctrl+B")
    act.setToolTip("Analyse every print in a folder into the current case")
    act.triggered.connect(lambda: analyse_folder_dialog(window, panel))
    m = window.menu("&File")
    anchor = panel.case.act_new
    m.insertAction(anchor, act)

    def show_case() -> None:
        dock.show()
        dock.raise_()

    panel.case.openedByUser.connect(show_case)
    return panel, dock
