"""What an extension (a dock, a dialog, a menu action) may use of the main window.

Every ``install(window)`` in ``fpstation/gui/*.py`` takes a :class:`Window`, adds its docks, menus
and signal connections, and *returns* what it built (its panels, its docks). It never adds
attributes to the window: :class:`~fpstation.gui.main_window.MainWindow` keeps the returned panels
in its own typed attributes. Everything an extension reads from the window is listed here, so a
change to the window that breaks an extension shows as a type error instead of an
``AttributeError`` at start-up, and a test's stand-in window knows what it must provide.

The protocol is structural (``typing.Protocol``): ``MainWindow`` satisfies it without inheriting
from it, and so does a test's small fake window with the members its extension uses.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from PySide6.QtCore import Qt, SignalInstance
    from PySide6.QtGui import QAction
    from PySide6.QtWidgets import QDockWidget, QMenu, QSpinBox, QWidget

    from fpstation.core.types import AnalysisResult, FingerprintImage
    from fpstation.gui.case import CaseController
    from fpstation.gui.file_list import FileList
    from fpstation.gui.image_view import ImageView
    from fpstation.gui.info_panel import InfoPanel
    from fpstation.gui.notifications import NotificationBar
    from fpstation.gui.task_status import TaskStatus
    from fpstation.settings import Settings
    from fpstation.workers import Pools, Task


class Window(Protocol):
    """The main window as its extensions see it (see the module docstring)."""

    # ---- state shared with every extension
    settings: Settings
    pools: Pools
    #: the model registry (``fpstation.ml.registry.Registry``; typed loosely: gui imports no ml)
    registry: Any
    status: TaskStatus
    notifications: NotificationBar
    file_list: FileList
    info: InfoPanel
    left_view: ImageView
    right_view: ImageView
    #: the toolbar's "Open at … dpi" (0 = each file's own)
    open_dpi_spin: QSpinBox
    #: File → Quit (case actions go just above it)
    act_quit: QAction
    #: the case shared by the Batch, Desk, Comparison and Face docks
    case_controller: CaseController

    # ---- signals
    #: a print is shown (payload: FingerprintImage)
    printShown: SignalInstance  # noqa: N815 - Qt signal name
    #: no print is shown any more (New Case, an unreadable file): panels show nothing
    printCleared: SignalInstance  # noqa: N815
    #: the shown print's analysis finished (payload: AnalysisResult)
    analysisFinished: SignalInstance  # noqa: N815
    #: models were trained, imported or removed
    modelsChanged: SignalInstance  # noqa: N815

    # ---- what extensions call
    def menu(self, name: str) -> QMenu: ...

    def add_dock(self, widget: QWidget, title: str, area: Qt.DockWidgetArea = ...) -> QDockWidget: ...

    def run_task(self, pool_name: str, task: Task, description: str) -> Task: ...

    def open_paths(self, paths: Sequence[str | Path], dpi: float | None = None) -> Task | None: ...

    def current_print(self) -> FingerprintImage | None: ...

    def last_analysis(self) -> AnalysisResult | None: ...

    def confirm(self, title: str, text: str) -> bool: ...

    # ---- QMainWindow dock management (the desk tabs itself with the PAD dock)
    def dockWidgetArea(self, dock: QDockWidget) -> Qt.DockWidgetArea: ...  # noqa: N802 - Qt name

    def findChildren(self, kind: type, /) -> list: ...  # noqa: N802

    def height(self) -> int: ...

    def tabifiedDockWidgets(self, dock: QDockWidget) -> list[QDockWidget]: ...  # noqa: N802

    def tabifyDockWidget(self, first: QDockWidget, second: QDockWidget) -> None: ...  # noqa: N802

    def resizeDocks(self, docks: Sequence[QDockWidget], sizes: Sequence[int],  # noqa: N802
                    orientation: Qt.Orientation) -> None: ...


__all__ = ["Window"]
