"""The workstation window: file list, original | restored side by side, info, jobs in the status bar.

Everything slow runs on :class:`fpstation.workers.Pools`: file decoding and thumbnails on ``io``,
the per-print analysis (restoration + PAD + gender, :func:`fpstation.core.pipeline.analyse`) on
``inference``. Results come back through queued signals; a result for a print that is no longer
shown is dropped.

Extension points: what an extension may use of the window is the typed contract
:class:`fpstation.gui.contracts.Window` (the signals ``printShown``, ``printCleared``,
``analysisFinished`` and ``modelsChanged``; ``add_dock``, ``menu``, ``run_task``, ``open_paths``,
``current_print``, ``last_analysis``; the views, the file list, the info panel, the case). Each
module in :data:`EXTENSIONS` gets ``install(window)`` at the end of construction and returns its
panels, which the window keeps in its own typed attributes (``pad_panel``, ``batch_dock``, …).
"""

from __future__ import annotations

import copy
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import QByteArray, QMimeData, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import (
    QComboBox,
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMenu,
    QSizePolicy,
    QSpinBox,
    QSplitter,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from fpstation import __display_name__, __version__
from fpstation.core.imageio import SUPPORTED_EXTENSIONS
from fpstation.core.types import AnalysisResult, FingerprintImage
from fpstation.gui.damage_view import DamageLegend, show_damage
from fpstation.gui.errors import describe
from fpstation.gui.file_list import FileList, dpi_text
from fpstation.gui.image_view import ImageView, ViewLink
from fpstation.gui.info_panel import InfoPanel
from fpstation.gui.jobs import LIST_CHUNK_FILES, LOAD_CHUNK_FILES, LOAD_CHUNK_S, analysis_job, load_files_job
from fpstation.gui.notifications import NotificationBar
from fpstation.gui.qimage import red_cyan_overlay, stretched_difference
from fpstation.gui.task_status import TaskStatus
from fpstation.settings import Settings
from fpstation.workers import Pools, Task

if TYPE_CHECKING:
    from fpstation.gui.analysis_panel import GenderPanel, PadPanel
    from fpstation.gui.batch_view import BatchPanel
    from fpstation.gui.case import CaseController
    from fpstation.gui.compare_window import CompareWindow
    from fpstation.gui.comparison_panel import ComparisonPanel, ComparisonTools
    from fpstation.gui.desk_view import DeskPanel
    from fpstation.gui.face_panel import FacePanel
    from fpstation.gui.training_dialog import TrainingDialogs

log = logging.getLogger(__name__)

#: the extension modules, in install order; each exposes ``install(window: contracts.Window)``
EXTENSIONS = ["fpstation.gui.analysis_panel", "fpstation.gui.training_dialog",
              "fpstation.gui.batch_view", "fpstation.gui.desk_view", "fpstation.gui.comparison_panel",
              "fpstation.gui.face_panel"]

#: top-level menus, in menu-bar order
MENUS = ["&File", "&View", "&Analysis", "&Tools", "&Help"]

#: initial width of the right-hand docks (liveness, gender): room for their text, not more
RIGHT_DOCK_WIDTH = 340
#: no dock may be wider than this share of the screen (a long text wraps or elides instead)
MAX_DOCK_SHARE = 0.4
QWIDGETSIZE_MAX = (1 << 24) - 1
#: default window size, shrunk to the screen when it is smaller
DEFAULT_SIZE = (1400, 860)

#: task names (``Task(name=…)``) of long work that Esc, Cancel or Quit never stops without asking
LONG_JOBS = frozenset({"batch", "enrol", "enrol faces", "watch", "train", "training"})

#: right-pane display modes
MODE_RESTORED, MODE_DIFFERENCE, MODE_OVERLAY = "restored", "difference", "overlay"

FILE_FILTER = ("Fingerprint images (" + " ".join(f"*{e}" for e in sorted(SUPPORTED_EXTENSIONS)) + ");;"
               "All files (*)")


#: the GUI thread applies queued rows for at most this long per event-loop turn (no stall > 50 ms)
FEED_SLICE_S = 0.005


# ---------------------------------------------------------------------- widgets
class _Caption(QLabel):
    """A pane caption whose full text is also its tooltip (the label may be narrower than it)."""

    def setText(self, text: str) -> None:  # noqa: N802 - Qt override
        super().setText(text)
        self.setToolTip(text)


class _Pane(QWidget):
    """A caption above an :class:`ImageView`."""

    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.caption = _Caption(title)
        self.caption.setObjectName("paneCaption")
        self.caption.setStyleSheet("QLabel#paneCaption {background:#1d1f22; color:#d8dce2; padding:4px 8px;"
                                   " font-weight:600;}")
        self.caption.setTextFormat(Qt.TextFormat.PlainText)
        # A long caption must not widen its pane: the two panes stay the same size so the linked
        # views show the same region (the full caption is in the tooltip).
        self.caption.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.view = ImageView(self)
        self.view.setAcceptDrops(False)  # drops go to the main window
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        lay.addWidget(self.caption)
        lay.addWidget(self.view, 1)


# ---------------------------------------------------------------------- main window
class MainWindow(QMainWindow):
    """The workstation window. See the module docstring for the extension API."""

    #: the case shared by the Batch, Desk, Comparison and Face docks (created by _load_extensions)
    case_controller: CaseController

    printShown = Signal(object)  # FingerprintImage
    #: no print is shown any more (an unreadable file's row was selected): panels show nothing
    printCleared = Signal()
    analysisFinished = Signal(object)  # AnalysisResult
    modelsChanged = Signal()

    def __init__(self, settings: Settings, pools: Pools, registry: Any = None) -> None:
        super().__init__()
        self.settings = settings
        self.pools = pools
        if registry is None:
            from fpstation.ml.registry import get_registry  # cheap: no TensorFlow

            registry = get_registry()
        self.registry = registry
        self._current: FingerprintImage | None = None
        self._analysis: AnalysisResult | None = None
        self._analysis_task: Task | None = None
        self._load_tasks: list[Task] = []
        #: load results waiting to become rows; applied in slices of FEED_SLICE_S (see _drain_feed)
        self._feed: deque[tuple] = deque()
        self._feed_timer = QTimer(self)
        self._feed_timer.setInterval(0)
        self._feed_timer.timeout.connect(self._drain_feed)
        self._auto_show_pending = False
        self._mode = MODE_RESTORED
        self._menus: dict[str, QMenu] = {}
        self._closed = False  # set by closeEvent: no new jobs from then on
        #: the first-run dock layout (View → Reset Layout); None while the window is being built
        self._default_state: QByteArray | None = None

        self.setWindowTitle(f"{__display_name__} {__version__}")
        self.setAcceptDrops(True)
        self.setDockNestingEnabled(True)
        # the right-hand docks (PAD, gender, desk) run the full height; the Batch table sits under
        # the print views only, so opening it never pushes the PAD buttons out of view
        self.setCorner(Qt.Corner.BottomRightCorner, Qt.DockWidgetArea.RightDockWidgetArea)
        self.setCorner(Qt.Corner.TopRightCorner, Qt.DockWidgetArea.RightDockWidgetArea)
        self.resize(*DEFAULT_SIZE)

        # --- panes
        self.left_pane = _Pane("Original")
        self.right_pane = _Pane("Restored")
        self.left_view: ImageView = self.left_pane.view
        self.right_view: ImageView = self.right_pane.view
        self.damage_legend = DamageLegend()  # below the restored view, shown with the damage mask
        self.damage_legend.setVisible(False)
        self.right_pane.layout().addWidget(self.damage_legend)
        self.view_link = ViewLink(self.left_view, self.right_view)
        self.left_view.set_message("Open prints with Ctrl+O (files) or Ctrl+Shift+O (folder),\n"
                                   "or drop files and folders here.")
        self.views_splitter = QSplitter(Qt.Orientation.Horizontal)
        self.views_splitter.addWidget(self.left_pane)
        self.views_splitter.addWidget(self.right_pane)
        self.views_splitter.setChildrenCollapsible(False)
        self.views_splitter.setStretchFactor(0, 1)
        self.views_splitter.setStretchFactor(1, 1)
        self.views_splitter.setSizes([10_000, 10_000])  # equal halves whatever the window size
        self.views_splitter.setHandleWidth(3)

        self.notifications = NotificationBar()
        centre = QWidget()
        cl = QVBoxLayout(centre)
        cl.setContentsMargins(0, 0, 0, 0)
        cl.setSpacing(0)
        cl.addWidget(self.notifications)
        cl.addWidget(self.views_splitter, 1)

        # --- sidebar: file list + info
        self.file_list = FileList()
        self.file_list.printSelected.connect(self.show_print)
        self.file_list.errorSelected.connect(self._show_file_error)
        self.info = InfoPanel()
        self.info.statedDpiChanged.connect(lambda v: self.set_print_dpi(v or None))
        side = QSplitter(Qt.Orientation.Vertical)
        side.addWidget(self.file_list)
        side.addWidget(self.info)
        side.setStretchFactor(0, 3)
        side.setStretchFactor(1, 1)
        self.sidebar = side

        self.main_splitter = QSplitter(Qt.Orientation.Horizontal)
        self.main_splitter.addWidget(side)
        self.main_splitter.addWidget(centre)
        self.main_splitter.setStretchFactor(0, 0)
        self.main_splitter.setStretchFactor(1, 1)
        self.main_splitter.setSizes([250, 1150])
        self.setCentralWidget(self.main_splitter)

        # --- status bar
        self.status = TaskStatus(self.statusBar())
        self.status.before_cancel = self._confirm_cancel
        self.left_view.pixelHovered.connect(self._on_hover)
        self.right_view.pixelHovered.connect(self._on_hover)
        self.left_view.viewChanged.connect(self._on_zoom)  # the right view follows it (ViewLink)

        #: the analyst's confirm/override decisions on the PAD verdict, in order
        self.pad_decisions: list[dict] = []
        # the extensions' panels and docks (see _load_extensions)
        self.pad_panel: PadPanel | None = None
        self.gender_panel: GenderPanel | None = None
        self.batch_panel: BatchPanel | None = None
        self.batch_dock: QDockWidget | None = None
        self.desk_panel: DeskPanel | None = None
        self.desk_dock: QDockWidget | None = None
        self.comparison_panel: ComparisonPanel | None = None
        self.comparison_dock: QDockWidget | None = None
        self.face_panel: FacePanel | None = None
        self.face_dock: QDockWidget | None = None
        self._comparison: ComparisonTools | None = None
        self.training_dialogs: TrainingDialogs | None = None

        self._build_actions()
        self.modelsChanged.connect(self.reanalyse)
        self._load_extensions()
        self._default_layout()
        self._default_state = self.saveState()
        self._fit_pending = False
        for d in self.findChildren(QDockWidget):
            d.visibilityChanged.connect(self._schedule_fit)
        self.fit_to_screen()

    # ================================================================== public API
    def menu(self, name: str) -> QMenu:
        """Get or create a top-level menu ("&File", "&View", "&Analysis", "&Tools", "&Help"...).

        Known menus keep their canonical order; unknown names are inserted before "&Help".
        """
        key = name if name in MENUS else next((m for m in MENUS if m.replace("&", "") == name.replace("&", "")),
                                               name)
        if key in self._menus:
            return self._menus[key]
        m = QMenu(key, self)
        bar = self.menuBar()
        before = None
        if key in MENUS:
            for later in MENUS[MENUS.index(key) + 1:]:
                if later in self._menus:
                    before = self._menus[later]
                    break
        elif "&Help" in self._menus:
            before = self._menus["&Help"]
        if before is not None:
            bar.insertMenu(before.menuAction(), m)
        else:
            bar.addMenu(m)
        self._menus[key] = m
        return m

    def add_dock(self, widget: QWidget, title: str,
                 area: Qt.DockWidgetArea = Qt.DockWidgetArea.RightDockWidgetArea) -> QDockWidget:
        """Put ``widget`` in a dock (with a toggle under View) and return the dock."""
        dock = QDockWidget(title, self)
        dock.setObjectName("dock_" + "".join(ch for ch in title if ch.isalnum()))
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        self.menu("&View").addAction(dock.toggleViewAction())
        if self._default_state is not None:  # added after construction: keep it on screen too
            dock.visibilityChanged.connect(self._schedule_fit)
        return dock

    # ------------------------------------------------------------------ layout
    def available_geometry(self):
        """The usable area of the screen the window is on (primary screen before it is shown)."""
        from PySide6.QtGui import QGuiApplication

        screen = self.screen() or QGuiApplication.primaryScreen()
        return screen.availableGeometry()

    def fit_to_screen(self) -> bool:
        """Keep the window and its docks inside the screen: no dock wider than
        :data:`MAX_DOCK_SHARE` of it, the window no larger than it and not off its edges.
        Returns True when something had to change."""
        avail = self.available_geometry()
        if avail.isEmpty():
            return False
        max_dock = max(200, int(avail.width() * MAX_DOCK_SHARE))
        for d in self.findChildren(QDockWidget):
            side = self.dockWidgetArea(d) in (Qt.DockWidgetArea.LeftDockWidgetArea,
                                              Qt.DockWidgetArea.RightDockWidgetArea)
            limit = max_dock if side else QWIDGETSIZE_MAX
            if d.maximumWidth() != limit:
                d.setMaximumWidth(limit)
        frame, geo = self.frameGeometry(), self.geometry()
        extra_w, extra_h = frame.width() - geo.width(), frame.height() - geo.height()
        w = min(geo.width(), avail.width() - extra_w)
        h = min(geo.height(), avail.height() - extra_h)
        changed = (w, h) != (geo.width(), geo.height())
        if changed:
            self.resize(w, h)
        frame = self.frameGeometry()
        x = min(max(frame.x(), avail.x()), avail.right() - frame.width() + 1)
        y = min(max(frame.y(), avail.y()), avail.bottom() - frame.height() + 1)
        if (x, y) != (frame.x(), frame.y()):
            self.move(x, y)
            changed = True
        return changed

    def _schedule_fit(self, *_args: object) -> None:
        # after Qt has laid the new dock out (a dock shown with its minimum size may grow the window)
        if not self._fit_pending:
            self._fit_pending = True
            QTimer.singleShot(0, self._run_fit)

    def _run_fit(self) -> None:
        self._fit_pending = False
        self.fit_to_screen()

    def restore_layout(self, geometry: Any = None, state: Any = None) -> bool:
        """Restore a saved geometry/dock state, then validate it against the screen: a layout saved
        on a larger screen, or one that had grown past its screen, comes back inside it.
        Returns True when the saved layout had to be corrected."""
        if geometry is not None:
            self.restoreGeometry(geometry)
        if state is not None:
            self.restoreState(state)
        return self.fit_to_screen()

    def reset_layout(self) -> None:
        """View → Reset Layout: the first-run docks and size, fitted to the screen and centred."""
        self.showNormal()
        self.restoreState(self._default_state)
        self._default_layout()
        avail = self.available_geometry()
        w = min(DEFAULT_SIZE[0], avail.width() - 16)
        h = min(DEFAULT_SIZE[1], avail.height() - 48)
        self.resize(w, h)
        self.views_splitter.setSizes([10_000, 10_000])
        self.main_splitter.setSizes([250, max(w - 250, 400)])
        self.move(avail.x() + (avail.width() - w) // 2, avail.y() + (avail.height() - h) // 2)
        self.fit_to_screen()
        self.status.message("Layout reset.")

    def run_task(self, pool_name: str, task: Task, description: str) -> Task:
        """Start ``task`` on pool ``pool_name`` ("io", "inference", "training") and show its progress
        and a Cancel button in the status bar. Errors are logged and shown (status bar + the
        notification strip); connect to ``task.signals`` for results."""
        self.status.track(task, description)
        task.signals.error.connect(lambda exc, d=description: self._on_task_error(d, exc))
        task.signals.cancelled.connect(lambda d=description: self.status.message(f"Cancelled: {d}"))
        return self.pools.start(pool_name, task)

    def open_paths(self, paths: Sequence[str | Path], dpi: float | None = None) -> Task | None:
        """Open files and folders (recursively) on the io pool; rows appear as files are decoded.

        The first print that loads is shown when nothing is shown yet, or when a single file was
        asked for. ``dpi``: the resolution stated for them (``None`` = the toolbar's "Open at"; 0 =
        each file's own). Returns the load task (``None`` when there was nothing to open).
        """
        items = [str(Path(p)) for p in paths if str(p)]
        if not items or self._closed:
            return None
        for p in items:
            if Path(p).is_dir():
                self.settings.last_open_dir = str(Path(p))
                break
            self.settings.last_open_dir = str(Path(p).parent)
        self._auto_show_pending = self._current is None or (len(items) == 1 and not Path(items[0]).is_dir())
        for p in items:
            if Path(p).is_dir():
                self.file_list.add_root(p)
        dpi = (self.open_dpi_spin.value() if dpi is None else dpi) or None
        task = Task(load_files_job, items, name="load", with_partial=True, dpi=dpi)
        task.signals.partial.connect(self._on_load_partial)
        task.signals.finished.connect(lambda t=task: self._on_load_finished(t))
        self._load_tasks.append(task)
        n = len(items)
        desc = f"Opening {Path(items[0]).name}" if n == 1 else f"Opening {n} items"
        return self.run_task("io", task, desc)

    def show_print(self, image: FingerprintImage) -> None:
        """Show ``image`` on the left, clear the right pane, and start its analysis."""
        if self._current is image:
            return
        self._current = image
        self._analysis = None
        self.file_list.select_print(image)
        self.left_view.set_overlay(None)
        self.right_view.set_overlay(None)
        self.damage_legend.setVisible(False)
        self.left_view.set_image(image.pixels, fit=True)
        self.left_pane.caption.setText(f"Original — {self.file_list.display_label(image)}")
        self.info.show_print(image)
        self.info.values["File"].setText(self.file_list.display_label(image))
        self.status.info_label.setText(f"{image.width}×{image.height} px · {dpi_text(image.dpi, image.dpi_source)} · "
                                       f"{image.format or '?'}")
        self.setWindowTitle(f"{image.label} — {__display_name__} {__version__}")
        self.printShown.emit(image)
        self._start_analysis()

    def current_print(self) -> FingerprintImage | None:
        return self._current

    def set_print_dpi(self, dpi: float | None) -> None:
        """State the current print's resolution (``None``/0 = what its file says) and analyse it again."""
        from dataclasses import replace

        im = self._current
        if im is None:
            return
        if dpi:
            new = im.with_stated_dpi(float(dpi))
        else:
            new = replace(im, dpi=im.file_dpi, dpi_source="file" if im.file_dpi else "")
        if new.dpi == im.dpi and new.dpi_source == im.dpi_source:
            return
        self.file_list.replace_print(im, new)
        self.show_print(new)

    def last_analysis(self) -> AnalysisResult | None:
        """The analysis of the print currently shown (``None`` while it runs)."""
        return self._analysis

    def reanalyse(self) -> None:
        """Run the analysis of the current print again (models or settings changed)."""
        if self._current is not None:
            self._analysis = None
            self._start_analysis()

    def fit_views(self) -> None:
        self.left_view.fit()

    def actual_size(self) -> None:
        self.left_view.actual_size()

    def set_mode(self, mode: str) -> None:
        """Right pane shows the restoration, |original − restored|, or a red/cyan overlay."""
        self._mode = mode
        self._act_diff.setChecked(mode == MODE_DIFFERENCE)
        self._act_overlay.setChecked(mode == MODE_OVERLAY)
        self._render_right()

    def mode(self) -> str:
        return self._mode

    def handle_drop(self, mime: QMimeData) -> bool:
        """Open the local files/folders in ``mime`` (what a drop onto the window does)."""
        paths = [u.toLocalFile() for u in mime.urls() if u.isLocalFile()]
        if not paths:
            return False
        self.open_paths(paths)
        return True

    # ================================================================== actions / menus
    def _build_actions(self) -> None:
        from fpstation.ml.inference import RESTORERS  # cheap: no TensorFlow
        from fpstation.ml.restoration.notes import restorer_note

        def act(text: str, slot: Callable[..., Any], shortcut: str | QKeySequence | None = None,
                tip: str = "", checkable: bool = False) -> QAction:
            a = QAction(text, self)
            if shortcut:
                a.setShortcut(QKeySequence(shortcut))
            a.setToolTip(f"{tip or text.replace('&', '')}" + (f" ({QKeySequence(shortcut).toString()})"
                                                                if shortcut else ""))
            a.setCheckable(checkable)
            a.triggered.connect(slot)
            self.addAction(a)  # shortcuts work even when the toolbar is hidden
            return a

        self.act_open = act("&Open Prints…", self.open_files_dialog, QKeySequence.StandardKey.Open,
                            "Open fingerprint image files")
        self.act_open_folder = act("Open &Folder…", self.open_folder_dialog, "Ctrl+Shift+O",
                                   "Open every print in a folder and its subfolders")
        self.act_quit = act("&Quit", self.close, QKeySequence.StandardKey.Quit)
        self.act_fit = act("&Fit", self.fit_views, "F", "Fit the print to the window")
        self.act_1to1 = act("&1:1", self.actual_size, "1", "One image pixel per screen pixel")
        self.act_zoom_in = act("Zoom &In", lambda: self.left_view.zoom_by(1.25), QKeySequence.StandardKey.ZoomIn)
        self.act_zoom_out = act("Zoom &Out", lambda: self.left_view.zoom_by(0.8), QKeySequence.StandardKey.ZoomOut)
        self._act_diff = act("&Difference", self._toggle_difference, "D",
                             "Right pane: |original − restored| (black = unchanged)", checkable=True)
        self._act_overlay = act("&Overlay", self._toggle_overlay, "O",
                                "Right pane: original in red, restored in cyan", checkable=True)
        self.act_damage = act("Damage &Mask", lambda: self._render_right(), "M",
                              "Right pane: colour where the restorer changed the print most "
                              "(reconstructed or removed, not as captured)", checkable=True)
        self.act_reanalyse = act("&Re-run Analysis", self.reanalyse, "F5")
        self.act_cancel = act("&Cancel Jobs", self.status.cancel_all, "Esc",
                              "Cancel running jobs (a batch, an enrolment or a watch is cancelled only after you "
                              "confirm)")
        self.act_next = act("&Next Print", lambda: self._step(1), "PgDown")
        self.act_prev = act("&Previous Print", lambda: self._step(-1), "PgUp")
        self.act_about = act("&About", self._about)
        self.act_reset_layout = act("&Reset Layout", self.reset_layout, None,
                                    "Put the docks and the window back as on first start, inside the screen")

        f = self.menu("&File")
        f.addActions([self.act_open, self.act_open_folder])
        f.addSeparator()
        f.addAction(self.act_quit)
        v = self.menu("&View")
        v.addActions([self.act_fit, self.act_1to1, self.act_zoom_in, self.act_zoom_out])
        v.addSeparator()
        v.addActions([self._act_diff, self._act_overlay, self.act_damage])
        v.addSeparator()
        v.addActions([self.act_next, self.act_prev])
        v.addSeparator()
        v.addAction(self.act_reset_layout)
        v.addSeparator()
        a = self.menu("&Analysis")
        a.addActions([self.act_reanalyse, self.act_cancel])
        self.menu("&Tools")
        self.menu("&Help").addAction(self.act_about)

        tb = QToolBar("Main")
        tb.setObjectName("toolbar_main")
        tb.setMovable(False)
        tb.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        tb.addActions([self.act_open, self.act_open_folder])
        tb.addSeparator()
        tb.addActions([self.act_fit, self.act_1to1])
        tb.addSeparator()
        tb.addWidget(QLabel(" Restorer: "))
        self.restorer_combo = QComboBox()
        self.restorer_combo.setToolTip("Method used for the right-hand pane")
        for label, key in RESTORERS:
            self.restorer_combo.addItem(label, key)
            # which restorer is the default, why, and what it does to matching: from the model cards
            self.restorer_combo.setItemData(self.restorer_combo.count() - 1, restorer_note(key),
                                            Qt.ItemDataRole.ToolTipRole)
        idx = self.restorer_combo.findData(self.settings.restorer)
        if idx < 0:  # unknown key in the settings file: show it rather than silently change it
            self.restorer_combo.addItem(self.settings.restorer, self.settings.restorer)
            idx = self.restorer_combo.count() - 1
        self.restorer_combo.setCurrentIndex(idx)
        self.restorer_combo.currentIndexChanged.connect(self._on_restorer_changed)
        tb.addWidget(self.restorer_combo)
        tb.addSeparator()
        tb.addWidget(QLabel(" Open at: "))
        self.open_dpi_spin = QSpinBox()
        self.open_dpi_spin.setRange(0, 5000)
        self.open_dpi_spin.setSingleStep(100)
        self.open_dpi_spin.setSpecialValueText("file's dpi")
        self.open_dpi_spin.setSuffix(" dpi")
        self.open_dpi_spin.setToolTip("Resolution stated for the files and folders you open next (e.g. 1000 for "
                                      "LivDet PNGs, which carry none); “file's dpi” = what each file says. The models "
                                      "take it as given: state the scanner's true dpi.")
        tb.addWidget(self.open_dpi_spin)
        tb.addSeparator()
        tb.addActions([self._act_diff, self._act_overlay, self.act_damage])
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, tb)
        self.toolbar = tb

        group = QActionGroup(self)
        group.setExclusionPolicy(QActionGroup.ExclusionPolicy.ExclusiveOptional)
        group.addAction(self._act_diff)
        group.addAction(self._act_overlay)

    def open_files_dialog(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self, "Open prints", self.settings.last_open_dir, FILE_FILTER)
        if files:
            self.open_paths(files)

    def open_folder_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open folder (with subfolders)", self.settings.last_open_dir)
        if folder:
            self.open_paths([folder])

    def _toggle_difference(self) -> None:
        self.set_mode(MODE_DIFFERENCE if self._act_diff.isChecked() else MODE_RESTORED)

    def _toggle_overlay(self) -> None:
        self.set_mode(MODE_OVERLAY if self._act_overlay.isChecked() else MODE_RESTORED)

    def _on_restorer_changed(self, _index: int) -> None:
        key = self.restorer_combo.currentData()
        if key and key != self.settings.restorer:
            self.settings.restorer = key
            self._save_settings()
            self.reanalyse()

    def _step(self, delta: int) -> None:
        fl = self.file_list
        if fl.count():
            fl.setCurrentRow(min(max(fl.currentRow() + delta, 0), fl.count() - 1))

    def _about(self) -> None:
        from PySide6.QtWidgets import QMessageBox

        QMessageBox.about(self, f"About {__display_name__}",
                          f"{__display_name__} {__version__}\nDesktop fingerprint workstation.")

    def _save_settings(self) -> None:
        try:
            self.settings.save()
        except OSError as exc:
            log.warning("could not save settings: %s", exc)
            self.status.message(f"Settings could not be saved: {exc}")

    # ================================================================== loading
    def _on_load_partial(self, item: object) -> None:
        """Queue a chunk from :func:`load_files_job`; rows are added by :meth:`_drain_feed`."""
        kind = item[0]  # type: ignore[index]
        if kind == "names":  # before any row of them: rows show these relative names
            self.file_list.set_names(item[1])  # type: ignore[index]
            return
        if kind == "files":
            files = item[1]  # type: ignore[index]
            if not files:
                self._feed.append(("none",))
            self._feed.extend(("pending", f) for f in files)
        elif kind == "rows":
            self._feed.extend(item[1])  # type: ignore[index]
        else:  # a single ("ok", ...) / ("error", ...) row
            self._feed.append(item)  # type: ignore[arg-type]
        if not self._feed_timer.isActive():
            self._feed_timer.start()

    def _drain_feed(self) -> None:
        """Apply queued load results for at most :data:`FEED_SLICE_S`, then let the loop breathe."""
        deadline = time.perf_counter() + FEED_SLICE_S
        fl = self.file_list
        fl.setUpdatesEnabled(False)  # one repaint per slice, not one per row
        try:
            while self._feed:  # at least one row per slice, so a loaded machine still progresses
                self._apply_load_item(self._feed.popleft())
                if time.perf_counter() >= deadline:
                    break
        finally:
            fl.setUpdatesEnabled(True)
        if not self._feed:
            self._feed_timer.stop()

    def loading(self) -> bool:
        """True while files are being listed or decoded, or their rows are still being added."""
        return bool(self._load_tasks) or bool(self._feed)

    def _apply_load_item(self, item: tuple) -> None:
        kind = item[0]
        if kind == "pending":
            if not self.file_list.contains(item[1]):
                self.file_list.add_pending(item[1])
        elif kind == "none":
            self.status.message("No supported image files found.")
        elif kind == "finished":
            self._finish_load(item[1])
        elif kind == "ok":
            _, path, prints, thumbs = item
            if not prints:
                self.file_list.set_error(path, "The file holds no fingerprint image.")
                return
            existing = [r for r in self.file_list.rows_for(path) if not self.file_list.entry(r).pending]
            if existing:
                rows = existing  # opened before: keep the rows (and the prints they hold)...
                self._restate(rows, prints)  # ...at the dpi it was opened at now
            else:
                rows = self.file_list.set_prints(path, prints, thumbs)
            if self._auto_show_pending and rows:
                self._auto_show_pending = False
                self.file_list.setCurrentItem(rows[0])
        elif kind == "error":
            _, path, exc = item
            self._report_file_error(path, exc)

    def _restate(self, rows: list, prints: list[FingerprintImage]) -> None:
        """A file opened again at another dpi (e.g. from a batch row analysed at 1000 dpi): its rows
        take the new resolution, and the print shown is analysed again at it."""
        by_index = {im.index: im for im in prints}
        for r in rows:
            old = self.file_list.entry(r).image
            new = by_index.get(old.index) if old is not None else None
            if new is None or (new.dpi, new.dpi_source) == (old.dpi, old.dpi_source):
                continue
            self.file_list.replace_print(old, new)
            if self._current is old:
                self.show_print(new)

    def _report_file_error(self, path: str, exc: BaseException) -> None:
        text = describe(exc)
        if not text.expected:
            log.error("unexpected failure reading %s", path, exc_info=exc)
        else:
            log.info("cannot open %s: %s", path, text.message)
        name = Path(path).name
        row = self.file_list.set_error(path, text.one_line, short=text.title)
        self.status.error(f"{name}: {text.one_line}")
        self.notifications.notify(f"Could not open {name}: {text.one_line}", "error",
                                  details=f"{path}\n{text.message}\n{text.details}".strip())
        if self._current is None and self._auto_show_pending:
            self.file_list.setCurrentItem(row)

    def _on_load_finished(self, task: Task) -> None:
        # after the rows still queued from this task, in order
        self._feed.append(("finished", task))
        if not self._feed_timer.isActive():
            self._feed_timer.start()

    def _finish_load(self, task: Task) -> None:
        if task in self._load_tasks:
            self._load_tasks.remove(task)
        if not self._load_tasks:
            for path in self.file_list.pending_paths():
                self.file_list.remove_pending(path)  # cancelled before it was read

    def _show_file_error(self, path: str, message: str) -> None:
        """An unreadable file's row was selected: say so in the panes, keep nothing stale."""
        self._current = None
        self._analysis = None
        if self._analysis_task is not None:
            self._analysis_task.cancel()
        self.left_view.set_image(None)
        self.left_view.set_message(f"Cannot open {Path(path).name}:\n{message}", error=True)
        self.left_pane.caption.setText(f"Original — {Path(path).name}")
        self.right_view.set_image(None)
        self.right_pane.caption.setText("Restored")
        self.info.show_nothing()
        self.info.values["File"].setText(path)
        self.status.info_label.setText("")
        self.status.zoom_label.setText("")
        self.status.pixel_label.setText("")
        self.status.error(f"{Path(path).name}: {message}")
        self.setWindowTitle(f"{__display_name__} {__version__}")
        self.printCleared.emit()

    # ================================================================== analysis
    def _start_analysis(self) -> None:
        im = self._current
        assert im is not None
        if self._closed:
            return
        if self._analysis_task is not None:
            self._analysis_task.cancel()  # the old print's job stops at its next step
        label = self.restorer_combo.currentText()
        self.right_pane.caption.setText(f"Restored — {label}")
        self.right_view.set_placeholder(im.width, im.height, f"Restoring with {label}…")
        self.right_view.copy_view_from(self.left_view)
        self.info.values["Analysis"].setText("running…")
        task = Task(analysis_job, im, copy.copy(self.settings), name="analysis")
        self._analysis_task = task
        task.signals.result.connect(lambda r, t=task: self._on_analysis(t, r))
        task.signals.error.connect(lambda exc, t=task: self._on_analysis_error(t, exc))
        task.signals.cancelled.connect(lambda t=task: self._on_analysis_cancelled(t))
        self.run_task("inference", task, f"Analysing {im.label}")

    def _is_stale(self, task: Task, image: FingerprintImage | None) -> bool:
        return task is not self._analysis_task or image is not self._current

    def _on_analysis(self, task: Task, result: AnalysisResult) -> None:
        if self._is_stale(task, result.image):
            log.debug("dropping stale analysis of %s", result.image.label)
            return
        self._analysis_task = None
        self._analysis = result
        self.info.show_analysis(result)
        self._render_right()
        if result.restoration is None and "restoration" in result.errors:
            self.status.error(f"Restoration unavailable: {result.errors['restoration']}")
        else:
            self.status.message(f"Analysed {result.image.label} in {sum(result.timings.values()):.2f} s")
        self.analysisFinished.emit(result)

    def _on_analysis_error(self, task: Task, exc: BaseException) -> None:
        if task is not self._analysis_task or self._current is None:
            return
        self._analysis_task = None
        text = describe(exc)
        self.right_view.set_placeholder(self._current.width, self._current.height,
                                        f"Analysis failed:\n{text.message}", error=True)
        self.info.values["Analysis"].setText("failed")

    def _on_analysis_cancelled(self, task: Task) -> None:
        # Only the shown print's own job: a job cancelled because another print was opened is
        # stale and its successor already owns the right pane.
        if task is not self._analysis_task or self._current is None:
            return
        self._analysis_task = None
        self.right_view.set_placeholder(self._current.width, self._current.height,
                                        "Analysis cancelled.\nPress F5 (Analysis → Re-run Analysis) to run it again.")
        self.right_view.copy_view_from(self.left_view)
        self.info.values["Analysis"].setText("cancelled")

    def _render_right(self) -> None:
        """Draw the right pane for the current mode from the last analysis."""
        im, res = self._current, self._analysis
        if im is None or res is None:
            return
        label = self.restorer_combo.currentText()
        rest = res.restoration
        if rest is None:
            msg = res.errors.get("restoration", "No restoration was computed.")
            self.right_pane.caption.setText(f"Restored — {label} (unavailable)")
            self.right_view.set_placeholder(im.width, im.height, f"Restoration unavailable:\n{msg}", error=True)
            self.right_view.copy_view_from(self.left_view)
            return
        restored = np.asarray(rest.pixels)
        if restored.shape != im.pixels.shape:
            self.right_view.set_placeholder(im.width, im.height,
                                            f"The restorer returned {restored.shape[1]}×{restored.shape[0]} "
                                            f"for a {im.width}×{im.height} print; cannot compare.", error=True)
            return
        took = f" · {rest.seconds:.2f} s" if rest.seconds else ""
        if self._mode == MODE_DIFFERENCE:
            pixels, top = stretched_difference(im.pixels, restored)
            self.right_pane.caption.setText(f"Difference |original − restored|, contrast stretched: black = 0, "
                                            f"white ≥ {top}/255 grey levels — {label}")
        elif self._mode == MODE_OVERLAY:
            pixels = red_cyan_overlay(im.pixels, restored)
            self.right_pane.caption.setText(f"Overlay: original red, restored cyan — {label}")
        else:
            pixels = restored
            self.right_pane.caption.setText(f"Restored — {label} ({rest.method}){took}")
        self.right_view.set_image(pixels, fit=False)
        show_damage(self.right_view, self.damage_legend, im.pixels, restored, self.act_damage.isChecked())
        self.right_view.copy_view_from(self.left_view)

    # ================================================================== misc handlers
    def _on_task_error(self, description: str, exc: BaseException) -> None:
        text = describe(exc)
        if not text.expected:
            log.error("%s failed", description, exc_info=exc)
        self.status.error(f"{description} failed: {text.one_line}")
        self.notifications.notify(f"{description} failed: {text.one_line}", "error",
                                  details=f"{text.message}\n{text.details}".strip())

    def _on_zoom(self) -> None:
        v = self.left_view
        text = "" if v.sceneRect().isEmpty() else f"{v.zoom() * 100:.0f} %" + (" (fit)" if v.is_fit_mode() else "")
        if text != self.status.zoom_label.text():
            self.status.zoom_label.setText(text)

    def _on_hover(self, x: int, y: int, value: int) -> None:
        self.status.pixel_label.setText("" if x < 0 else f"x {x}  y {y}  = {value}")

    def _default_layout(self) -> None:
        """First-run dock layout (app.py restores the user's own layout over it): the two print
        views get most of the window. Bottom docks (the Batch table) start hidden — a batch shows
        its dock when it starts, and View lists every dock — and the right-hand docks start narrow."""
        docks = self.findChildren(QDockWidget)
        for d in docks:
            if self.dockWidgetArea(d) == Qt.DockWidgetArea.BottomDockWidgetArea:
                d.hide()
        right = [d for d in docks if self.dockWidgetArea(d) == Qt.DockWidgetArea.RightDockWidgetArea
                 and not d.isHidden()]
        if right:
            self.resizeDocks(right, [RIGHT_DOCK_WIDTH] * len(right), Qt.Orientation.Horizontal)

    def _load_extensions(self) -> None:
        """Install the docks and dialogs of :data:`EXTENSIONS`, in that order, and keep the panels
        each ``install`` returns (the extensions see the window as a ``contracts.Window``)."""
        from fpstation.gui import (
            analysis_panel,
            batch_view,
            case,
            comparison_panel,
            desk_view,
            face_panel,
            training_dialog,
        )

        self.pad_panel, self.gender_panel = analysis_panel.install(self)
        self.pad_panel.decisionRecorded.connect(self.pad_decisions.append)
        self.training_dialogs = training_dialog.install(self)
        # one case for the Batch, Desk, Comparison and Face docks (its actions go in the File menu)
        self.case_controller = case.CaseController(self)
        self.batch_panel, self.batch_dock = batch_view.install(self)
        self.desk_panel, self.desk_dock = desk_view.install(self, self.pad_panel)
        self._comparison = comparison_panel.install(self)
        self.comparison_panel, self.comparison_dock = self._comparison.panel, self._comparison.dock
        self.face_panel, self.face_dock = face_panel.install(self)

    # ---- the Comparison dock's actions (scripts and tests call them)
    def open_compare(self, a: FingerprintImage | None = None, b_path: str | None = None) -> CompareWindow:
        """Open the 1:1 Compare window (``a`` on the left, the file ``b_path`` on the right)."""
        assert self._comparison is not None
        return self._comparison.open_compare(a, b_path)

    def enroll_folder(self, folder: str | None = None) -> Task | None:
        """Enrol a folder of prints into the case's gallery (``None`` = ask for one)."""
        assert self._comparison is not None
        return self._comparison.enroll_folder(folder)

    def gallery_search(self) -> Task | None:
        """Search the shown print in the case's gallery."""
        assert self._comparison is not None
        return self._comparison.gallery_search()

    # ================================================================== Qt events
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802
        if any(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:  # noqa: N802
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        if self.handle_drop(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def long_jobs(self) -> list[str]:
        """Long work running now, in words ("Batch LivDet (65 %)", "Watching scanner")."""
        return [f"{d} ({f * 100:.0f} %)" if 0 < f < 1 else d for t, d, f in self.status.running()
                if t.name in LONG_JOBS and not t.done.is_set()]

    def confirm(self, title: str, text: str) -> bool:
        """Ask a yes/no question (default No); tests replace this method."""
        from PySide6.QtWidgets import QMessageBox

        answer = QMessageBox.question(self, title, text, QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                                      QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes

    def _confirm_cancel(self) -> bool:
        """Esc / Cancel: short jobs stop at once; long work only when the user confirms."""
        long = self.long_jobs()
        if not long or not self.isVisible():  # a window not on screen has nobody to ask (scripts)
            return True
        return self.confirm("Cancel running work?", "Cancel " + ", ".join(long) + "?\n\n"
                            "What is finished stays in the case; the rest is not analysed.")

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        # Ask running jobs to stop now; app.py drains the pools once the event loop has ended.
        # Results still queued (a file decoded just now) must not start new jobs after this.
        long = self.long_jobs()
        if long and not self._closed and self.isVisible() and not self.confirm(
                "Quit while work is running?", "Quitting stops " + ", ".join(long) + ".\n\nQuit anyway?"):
            event.ignore()
            return
        self._closed = True
        self.pools.cancel_all()
        self._save_settings()
        super().closeEvent(event)


def file_urls(paths: Sequence[str | Path]) -> QMimeData:
    """A QMimeData with ``file://`` URLs, as a file manager would put in a drag."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(Path(p).resolve())) for p in paths])
    return mime


#: InfoPanel and the jobs moved to gui/info_panel.py and gui/jobs.py; still importable from here
__all__ = ["EXTENSIONS", "LIST_CHUNK_FILES", "LOAD_CHUNK_FILES", "LOAD_CHUNK_S", "InfoPanel", "MainWindow",
           "analysis_job", "file_urls", "load_files_job"]
