"""Tools → Models…: the shipped and trained versions of each model, and which one is active.

Choosing a model writes the task's setting (``restorer`` / ``pad_model`` / ``gender_model``), saves
the settings and emits ``window.modelsChanged`` so the panels switch without a restart. Nothing is
ever deleted: every trained version stays selectable, so the user can always switch back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from fpstation.gui.contracts import Window

#: task -> the Settings attribute holding its active model
SETTING_FOR_TASK = {"restoration": "restorer", "pad": "pad_model", "gender": "gender_model"}
TASK_TITLES = {"restoration": "Restoration", "pad": "Presentation attack (liveness)", "gender": "Gender"}

def _builtin_restorers() -> list[tuple[str, str]]:
    """(settings value, label) of the restoration methods the main window's toolbar offers."""
    from fpstation.ml.inference import RESTORERS  # light: no TensorFlow at import

    return [(key, label) for label, key in RESTORERS]


@dataclass(frozen=True)
class ModelChoice:
    """One selectable row: the value written to settings and what the table shows."""

    value: str
    label: str
    version: str = ""
    origin: str = ""
    created: str = ""
    metrics: str = ""
    card: Any = None  # the ModelCard, None for built-in methods / "shipped default"


def card_details(card: Any) -> str:
    """A few lines describing a model card: data, split, hyper-parameters, metrics, command."""
    if card is None:
        return ""
    d = card.data
    data, split, train = d.get("data") or {}, d.get("split") or {}, d.get("training") or {}
    lines = [f"{card.display} — key {card.key}", f"File: {card.file}  (sha256 {card.sha256[:16]}…)"]
    if data:
        lines.append(f"Data: {data.get('path') or data.get('root', '?')}  layout {data.get('layout', '?')}, "
                     f"file list sha256 {str(data.get('file_list_sha256', ''))[:16]}…")
    def count(key: str) -> Any:
        v = split.get(f"n_{key}", split.get(key))
        return len(v) if isinstance(v, list) else v

    if split.get("cross_fit"):
        lines.append(f"Split: cross-fitted, {count('train_subjects')} subjects in {split['cross_fit']} parts; each "
                     "network validated and calibrated on the part it did not see (subject-disjoint)")
    elif count("train_subjects") is not None:
        lines.append(f"Split: {count('train_subjects')} train / {count('val_subjects')} validation "
                     "subjects (subject-disjoint)")
    elif split:
        lines.append(f"Split: {split.get('rule', split.get('method', ''))}")
    hyper = d.get("hyper") or {}
    if hyper:
        lines.append("Hyper-parameters: " + ", ".join(f"{k} {v}" for k, v in hyper.items()
                                                      if not isinstance(v, dict | list)))
    ens = d.get("ensemble") or {}
    if ens.get("cross_fit"):
        lines.append(f"Ensemble: {ens['members']} cross-fitted networks (of {ens['cross_fit']}); the score is the mean "
                     "of their calibrated logits, the threshold set on every subject's out-of-fold score")
    elif ens.get("members", 1) > 1:
        lines.append(f"Ensemble: {ens['members']} networks trained on this split (model seeds "
                     f"{', '.join(str(x) for x in ens.get('model_seeds', []))}); the score is the mean of their logits"
                     + (f" ({ens['members_asked']} asked; Stop ended the run before the others)"
                        if ens.get("members_asked", ens["members"]) != ens["members"] else ""))
    metrics = _metrics_text(d, limit=12)
    if metrics:
        lines.append(("Out of fold: " if split.get("cross_fit") else "Validation: ") + metrics)
    cv = d.get("cross_validation") or {}
    if cv.get("note"):
        lines.append(f"Cross-validated recipe: {cv['note']}")
    if train.get("command"):
        lines.append(f"Command: {train['command']}")
    if d.get("created"):
        lines.append(f"Created: {d['created']}")
    return "\n".join(lines)


def _metrics_text(card_data: dict[str, Any], limit: int = 4) -> str:
    m = card_data.get("metrics") or {}
    parts = []
    for k, v in m.items():
        if isinstance(v, float) and not isinstance(v, bool):
            parts.append(f"{k} {v:.3g}")
        if len(parts) >= limit:
            break
    if (card_data.get("training") or {}).get("stopped"):
        parts.append("(stopped early)")
    return ", ".join(parts)


def choices(registry: Any, task: str) -> list[ModelChoice]:
    """Selectable models for ``task``: built-ins / shipped default first, then every card."""
    out: list[ModelChoice] = []
    cards = registry.cards(task)
    if task == "restoration":
        out += [ModelChoice(v, label, origin="built-in") for v, label in _builtin_restorers()]
    elif task in SETTING_FOR_TASK:
        d = registry.default(task)
        # not a second copy of the shipped card below: this row *follows* whatever model ships
        now = f"now {d.name}{f' v{d.version}' if getattr(d, 'version', '') else ''}" if d else "none installed"
        out.append(ModelChoice("", f"Always the shipped default ({now})", origin="follows updates"))
    for c in cards:
        train = c.data.get("training") or {}
        label = c.name
        if train.get("stopped"):  # kept at the user's request after Stop: say so where it is chosen
            label += f" (stopped at epoch {train.get('epochs_run', '?')}/{train.get('epochs', (c.data.get('hyper') or {}).get('epochs', '?'))})"
        out.append(ModelChoice(c.key, label, c.version, "shipped" if c.shipped else "trained",
                               str(c.data.get("created", "")), _metrics_text(c.data, limit=99), c))
    return out


def active_value(settings: Any, task: str) -> str | None:
    attr = SETTING_FOR_TASK.get(task)
    return None if attr is None else str(getattr(settings, attr))


def activate(settings: Any, task: str, value: str) -> None:
    """Make ``value`` the active model of ``task`` and save the settings."""
    attr = SETTING_FOR_TASK.get(task)
    if attr is None:
        raise ValueError(f"no setting selects the model of task {task!r}")
    setattr(settings, attr, value)
    settings.save()


class ModelsDialog(QDialog):
    """Lists shipped + trained model versions per task and switches the active one."""

    #: the active model of a task changed (payload: task)
    activeChanged = Signal(str)

    COLUMNS = ["", "Model", "Version", "Origin", "Created", "Validation metrics", "Key"]

    def __init__(self, registry: Any, settings: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Models")
        self.registry, self.settings = registry, settings
        self.task_combo = QComboBox()
        self.table = QTableWidget(0, len(self.COLUMNS))
        self.table.setHorizontalHeaderLabels(self.COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        # the metrics column takes the spare width and wraps; the key (last) stays as long as it is
        self.table.horizontalHeader().setSectionResizeMode(self.COLUMNS.index("Validation metrics"),
                                                           QHeaderView.ResizeMode.Stretch)
        self.table.setWordWrap(True)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.itemSelectionChanged.connect(self._selection_changed)
        self.table.itemDoubleClicked.connect(lambda _it: self.use_selected())
        self.use_button = QPushButton("Use selected model")
        self.use_button.clicked.connect(self.use_selected)
        self.info = QLabel("")
        self.info.setWordWrap(True)
        self.details = QPlainTextEdit()
        self.details.setReadOnly(True)
        self.details.setMaximumHeight(140)
        self.details.setPlaceholderText("Select a model to see its card.")
        top = QHBoxLayout()
        top.addWidget(QLabel("Task"))
        top.addWidget(self.task_combo, 1)
        bottom = QHBoxLayout()
        bottom.addWidget(self.info, 1)
        bottom.addWidget(self.use_button)
        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addWidget(self.table, 1)
        lay.addWidget(self.details)
        lay.addLayout(bottom)
        self.resize(1000, 440)
        self.task_combo.currentIndexChanged.connect(lambda _i: self._fill())
        self.refresh()

    @property
    def task(self) -> str:
        return str(self.task_combo.currentData())

    def tasks(self) -> list[str]:
        """Tasks with a setting, plus any task that has trained/shipped cards."""
        names = list(SETTING_FOR_TASK)
        for c in self.registry.cards():
            if c.task not in names:
                names.append(c.task)
        return names

    def refresh(self) -> None:
        """Re-read the registry (a model may have just been trained) and keep the current task."""
        current = self.task_combo.currentData()
        self.task_combo.blockSignals(True)
        self.task_combo.clear()
        for name in self.tasks():
            self.task_combo.addItem(TASK_TITLES.get(name, name), name)
        idx = self.task_combo.findData(current) if current is not None else 0
        self.task_combo.setCurrentIndex(max(idx, 0))
        self.task_combo.blockSignals(False)
        self._fill()

    def select_task(self, task: str) -> None:
        idx = self.task_combo.findData(task)
        if idx >= 0:
            self.task_combo.setCurrentIndex(idx)

    def rows(self) -> list[ModelChoice]:
        return list(self._rows)

    def _fill(self) -> None:
        self._rows = choices(self.registry, self.task)
        active = active_value(self.settings, self.task)
        self.table.setRowCount(len(self._rows))
        for r, ch in enumerate(self._rows):
            vals = ["●" if ch.value == active else "", ch.label, ch.version, ch.origin, ch.created, ch.metrics,
                    ch.value or "(default)"]
            for col, v in enumerate(vals):
                it = QTableWidgetItem(v)
                if col == 0:
                    it.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                    it.setToolTip("active" if v else "")
                elif v:
                    it.setToolTip(v)  # the full text (metrics can be long)
                self.table.setItem(r, col, it)
        if active is None:
            self.info.setText("This task has no model setting: its models are listed for reference.")
        else:
            shown = active or "(shipped default)"
            self.info.setText(f"Active: {shown}. Earlier versions stay installed; pick any to switch back.")
        self._selection_changed()

    def _selection_changed(self) -> None:
        rows = self.table.selectionModel().selectedRows()
        self.use_button.setEnabled(bool(rows) and self.task in SETTING_FOR_TASK)
        self.details.setPlainText(card_details(self._rows[rows[0].row()].card) if rows else "")

    def select_value(self, value: str) -> None:
        for r, ch in enumerate(self._rows):
            if ch.value == value:
                self.table.selectRow(r)
                return
        raise KeyError(value)

    def use_selected(self) -> None:
        rows = self.table.selectionModel().selectedRows()
        if not rows or self.task not in SETTING_FOR_TASK:
            return
        choice = self._rows[rows[0].row()]
        activate(self.settings, self.task, choice.value)
        self._fill()
        self.activeChanged.emit(self.task)


class ModelsDialogOpener:
    """Tools → "Models…": the dialog is created on first use (keeps start-up light), then kept."""

    def __init__(self, window: Window) -> None:
        self.window = window
        self.dialog: ModelsDialog | None = None

    def open(self) -> ModelsDialog:
        window, dlg = self.window, self.dialog
        if dlg is None:
            dlg = ModelsDialog(window.registry, window.settings, window)  # type: ignore[arg-type] - a QMainWindow
            # activeChanged -> modelsChanged (panels reload); modelsChanged -> refresh (below)
            dlg.activeChanged.connect(lambda _task: window.modelsChanged.emit())
            self.dialog = dlg
        else:
            dlg.refresh()
        dlg.show()
        dlg.raise_()
        return dlg

    def refresh(self) -> None:
        if self.dialog is not None:
            self.dialog.refresh()


def install(window: Window) -> ModelsDialogOpener:
    """Tools → "Models…" (called by training_dialog.install); returns what opens the dialog."""
    opener = ModelsDialogOpener(window)
    act = QAction("Models…", window)  # type: ignore[call-overload] - the window is a QMainWindow
    act.setObjectName("actionModels")
    act.triggered.connect(lambda: opener.open())
    window.menu("&Tools").addAction(act)
    window.modelsChanged.connect(lambda: opener.refresh())
    return opener
