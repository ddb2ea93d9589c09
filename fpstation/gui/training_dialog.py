"""Tools → Train model…: train a model on the analyst's own data, watch it learn, register it.

The dialog only gathers choices and shows what comes back; everything it runs is a plain job:
the dataset scan (``task.scan``) on the ``io`` pool, the fit (:func:`fpstation.ml.training.train`,
same code as ``fpstation train``) in a child process or on the ``training`` pool
(:mod:`fpstation.gui.training_runner`). Curves are created once and updated with ``setData``,
at most five times a second and only for curves that changed, so plotting stays a small share of
the event loop (measured in bench/training_gui_stall.py).

``install(window)`` adds Tools → "Train model…" and Tools → "Models…" (gui/models_dialog.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from fpstation.gui.contracts import Window
from fpstation.gui.errors import describe
from fpstation.gui.training_runner import TrainingRun, make_run, preload
from fpstation.workers import Pools, Task

if TYPE_CHECKING:
    from fpstation.gui.models_dialog import ModelsDialog, ModelsDialogOpener

log = logging.getLogger(__name__)

#: task key -> title shown before the task module is imported
TASK_TITLES = {"restoration": "Restoration", "pad": "Presentation attack (liveness)", "gender": "Gender",
               "face": "Face identification (small CNN)"}
#: where the fit runs; chosen by measurement (bench/results/training_gui.json)
DEFAULT_BACKEND = "process"
#: exponential smoothing of the per-batch loss curve (weight of the newest batch)
SMOOTHING = 0.2
#: the per-batch curve is thinned beyond this many points (paint cost grows with points)
MAX_BATCH_POINTS = 1500
#: curve repaint period: 5 updates a second look live and keep paint work small
REFRESH_MS = 200


def _scan_job(task_name: str, root: Path, hyper: Any, *, progress, cancel) -> Any:
    """Off-thread scan: the task detects the layout, lists files, checks readability, splits."""
    from fpstation.ml.tasks import get_task

    return get_task(task_name).scan(root, hyper, progress, cancel)


def _legend_html(items: list[tuple[tuple[int, int, int], str]]) -> str:
    return "&nbsp;&nbsp;".join(f"<span style='color:rgb{c}'>■</span>&nbsp;{name}" for c, name in items)


def _fmt_seconds(s: float) -> str:
    s = max(0, int(round(s)))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {(s % 3600) // 60:02d} min"


#: a metric's key in words (the result panel never shows raw keys such as "val_n")
METRIC_WORDS = {
    "n": "validation prints", "val_n": "validation prints", "n_val": "validation prints",
    "val_items": "validation prints", "n_train": "training prints",
    "train_items": "training prints", "n_attack": "attack prints", "n_bona_fide": "live prints",
    "val_subjects": "validation subjects", "accuracy": "accuracy", "val_accuracy": "accuracy",
    "balanced_accuracy": "balanced accuracy", "auc": "AUC", "val_auc": "AUC", "eer": "equal error rate",
    "bpcer": "BPCER (live prints rejected)", "apcer": "APCER (attacks passed as live)",
    "threshold": "threshold", "loss": "loss", "val_loss": "validation loss", "ssim": "SSIM",
    "val_ssim": "SSIM", "psnr": "PSNR (dB)", "mae": "mean absolute error", "identity": "unchanged input",
    "val_logloss_before": "log-loss before calibration", "val_logloss_after": "log-loss after calibration",
}
#: metrics that are rates in [0, 1], shown as percentages
_RATES = {"accuracy", "val_accuracy", "balanced_accuracy", "eer", "bpcer", "apcer"}


def metric_words(key: str) -> str:
    """``"val_n"`` → "validation prints"; an unknown key in plain words ("val_top_1" → "validation top 1")."""
    if key in METRIC_WORDS:
        return METRIC_WORDS[key]
    words = key.replace("_", " ").strip()
    return "validation " + words[4:] if words.startswith("val ") else words


def _fmt_metrics(metrics: dict[str, Any]) -> list[str]:
    lines = []
    for k, v in metrics.items():
        if isinstance(v, bool) or isinstance(v, dict | list):
            continue
        name = metric_words(k)
        if isinstance(v, float) and k in _RATES:
            lines.append(f"{name} {v * 100:.1f} %")
        elif isinstance(v, float):
            lines.append(f"{name} {v:.4g}")
        elif isinstance(v, int):
            lines.append(f"{name} {v:,}")
    return lines



def _can_ensemble(architecture: str) -> bool:
    """Whether models of ``architecture`` end in one logit, so N of them can be averaged."""
    from fpstation.ml.training import ENSEMBLE_ARCHITECTURES  # light module (no TensorFlow at import)

    return architecture in ENSEMBLE_ARCHITECTURES

class TrainingDialog(QDialog):
    """Pick task, data and hyper-parameters; Start/Stop a fit; watch the curves; get a model.

    Parameters
    ----------
    pools : the application's pools (``io`` for the scan, ``training`` for the thread backend).
    registry : :class:`fpstation.ml.registry.Registry` the new model is registered into.
    backend : "process" or "thread" (see :mod:`fpstation.gui.training_runner`).
    """

    #: a model was registered (payload: its ModelCard) — install() forwards it to modelsChanged
    modelRegistered = Signal(object)
    #: the run ended (payload: kind "done" | "cancelled" | "error")
    runEnded = Signal(str)

    def __init__(self, pools: Pools, registry: Any, parent: QWidget | None = None,
                 backend: str = DEFAULT_BACKEND, tasks: list[str] | None = None, settings: Any = None) -> None:
        super().__init__(parent)
        import pyqtgraph as pg  # here, not at import: install() runs on the start-up path

        self.setWindowTitle("Train model")
        self.pools, self.registry, self.backend = pools, registry, backend
        #: remembers the last task and folder between sessions (``train_task`` / ``train_folder``)
        self.settings = settings
        #: asked when Stop ended a run early: keep (register) the partial model? Tests replace it.
        self.confirm_keep_stopped: Callable[[str], bool] = self._ask_keep_stopped
        self.run: TrainingRun | None = None
        self.scan_result: Any = None
        self.outcome: Any = None
        self._scan_task: Task | None = None
        self._task_obj: Any = None
        self._training_missing = ""  # why training cannot run here (the train extra is missing), or ""
        self._t_start = 0.0
        self._epochs = 0
        self._batch_x: list[float] = []
        self._batch_y: list[float] = []
        self._ema: float | None = None
        self._epoch_x: list[float] = []
        self._epoch_logs: list[dict[str, float]] = []
        self._dirty = False
        self._epochs_dirty = False
        self._scanned_key: tuple[str, str] = ("", "")
        self._scan_error = False
        self._first_batch_t: float | None = None
        self._first_batch_done = 0
        self._eta_shown_t = 0.0

        # --- what to train, on what ---
        self.task_combo = QComboBox()
        from fpstation.ml.tasks import TASKS

        for name in tasks or list(TASKS):
            self.task_combo.addItem(TASK_TITLES.get(name, name), name)
        self.folder_edit = QLineEdit()
        self.folder_edit.setPlaceholderText("Folder with SOCOFing, LivDet (Live/ + Fake/), degraded/ + clean/, "
                                            "FVC or one sub-folder per class")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        self.folder_edit.editingFinished.connect(self._folder_edited)
        row = QHBoxLayout()
        row.addWidget(self.folder_edit, 1)
        row.addWidget(browse)
        self.scan_text = QPlainTextEdit()
        self.scan_text.setReadOnly(True)
        self.scan_text.setPlaceholderText("Choose a dataset folder to see what it contains.")
        self.scan_text.setMaximumBlockCount(500)

        # --- architecture and hyper-parameters ---
        self.arch_combo = QComboBox()
        self.epochs_spin = QSpinBox()
        self.epochs_spin.setRange(1, 10000)
        self.batch_spin = QSpinBox()
        self.batch_spin.setRange(1, 4096)
        self.lr_spin = QDoubleSpinBox()
        self.lr_spin.setDecimals(6)
        self.lr_spin.setRange(1e-6, 1.0)
        self.lr_spin.setSingleStep(1e-4)
        self.size_spin = QSpinBox()
        self.size_spin.setRange(16, 2048)
        self.size_spin.setSingleStep(16)
        self.augment_check = QCheckBox("Augment training images (as the task defines it)")
        self.val_spin = QDoubleSpinBox()
        self.val_spin.setRange(0.05, 0.9)
        self.val_spin.setSingleStep(0.05)
        self.val_spin.setDecimals(2)
        self.val_spin.valueChanged.connect(lambda _v: self.rescan())
        # whole-print PAD only (the shipped pad-socofing recipe, docs/adr/0264)
        self.alter_map_check = QCheckBox("Also learn where each print is altered (needs real/altered pairs "
                                         "of the same finger, as in SOCOFing)")
        self.alter_map_check.setChecked(True)  # used only when enabled: a SOCOFing-layout folder
        self.alter_map_check.setToolTip("A second, training-only output learns where each altered print differs "
                                        "from the real print it was made from; the saved model is the usual one.")
        self.mirror_check = QCheckBox("Score each print together with its mirror image")
        self.mirror_check.setChecked(True)
        self.mirror_check.setToolTip("The model's score is the mean of the print's and its left-right mirror's. "
                                     "In 7 cross-validated runs on SOCOFing alterations this always let fewer "
                                     "z-cuts through than the print alone or a per-run choice (docs/adr/0266).")
        # print CNNs (pad_cnn, gender_cnn): N networks on one split, their mean logit as one model
        self.members_spin = QSpinBox()
        self.members_spin.setRange(1, 9)
        self.members_spin.setValue(1)
        self.members_spin.setSpecialValueText("1 (one network)")
        self.members_spin.setSuffix(" networks, averaged")
        self.members_spin.setToolTip("Train this many networks on the same subjects (each with its own start and "
                                     "shuffling) and save the mean of their scores as one model: steadier scores, "
                                     "N times the training time. The card lists the members.")
        # pad_cnn: the networks cross-fitted instead (each leaves out a part of the subjects and is
        # calibrated on it; the threshold from every subject's out-of-fold score, docs/adr/0267)
        self.crossfit_check = QCheckBox("Cross-fit the networks: each leaves out its own part of the subjects "
                                        "and is calibrated there")
        self.crossfit_check.setObjectName("crossfitCheck")
        self.crossfit_check.setToolTip("The subjects are cut into as many parts as networks; each network trains on "
                                       "the others and is validated and calibrated on its part, so every subject "
                                       "is scored once by a network that never saw them, and all of them set the "
                                       "threshold. The pad-socofing recipe (5 networks, docs/adr/0267). The "
                                       "validation share is then not used.")
        self.crossfit_check.toggled.connect(lambda _on: self._update_pad_options())
        self.members_spin.valueChanged.connect(lambda _v: self._update_pad_options())
        self.activate_check = QCheckBox("Use the new model when training finishes")
        # the data's resolution, for files without dpi metadata (LivDet PNGs are 1000 dpi)
        self.dpi_spin = QSpinBox()
        self.dpi_spin.setRange(0, 5000)
        self.dpi_spin.setSingleStep(100)
        self.dpi_spin.setSuffix(" dpi (stated)")
        self.dpi_spin.setSpecialValueText("from the files")
        self.dpi_spin.setToolTip("Resolution of the training prints when their files carry none. With a dpi, "
                                 "presentation-attack training uses the texture-patch model.")
        self.dpi_spin.valueChanged.connect(self._dpi_changed)

        form = QFormLayout()
        form.addRow("Task", self.task_combo)
        form.addRow("Dataset folder", row)
        hp = QFormLayout()
        hp.addRow("Resolution of the data", self.dpi_spin)
        self.change_label = QLabel("")
        self.change_label.setWordWrap(True)
        self.change_label.setStyleSheet("color:#6a4a00;")
        hp.addRow(self.change_label)
        hp.addRow("Architecture", self.arch_combo)
        hp.addRow("Epochs", self.epochs_spin)
        hp.addRow("Batch size", self.batch_spin)
        hp.addRow("Learning rate", self.lr_spin)
        hp.addRow("Input size (px)", self.size_spin)
        hp.addRow("Validation share of subjects", self.val_spin)
        hp.addRow("Ensemble", self.members_spin)
        self._members_row_label = hp.labelForField(self.members_spin)
        hp.addRow("", self.crossfit_check)
        hp.addRow("", self.augment_check)
        hp.addRow("", self.alter_map_check)
        hp.addRow("", self.mirror_check)
        hp_box = QGroupBox("Model and hyper-parameters")
        hp_box.setLayout(hp)
        scan_box = QGroupBox("What was found")
        sl = QVBoxLayout(scan_box)
        sl.addWidget(self.scan_text)

        # --- run controls ---
        self.start_button = QPushButton("Start")
        self.start_button.clicked.connect(self.start)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("End after the current batch; you are then asked whether to keep the best "
                                    "checkpoint so far as a model (marked “stopped”).")
        self.stop_button.clicked.connect(self.stop)
        self.stop_button.setEnabled(False)
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 1000)
        self.status_label = QLabel("")
        self.epoch_label = QLabel("")
        self.error_label = QLabel("")
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("color: #b00020;")
        self.error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.result_text = QPlainTextEdit()
        self.result_text.setReadOnly(True)
        self.result_text.setMaximumHeight(130)
        controls = QHBoxLayout()
        controls.addWidget(self.start_button)
        controls.addWidget(self.stop_button)
        controls.addWidget(self.progress_bar, 1)
        controls.addWidget(self.epoch_label)

        # --- curves: created once, updated with setData ---
        pg.setConfigOptions(antialias=False)
        self.loss_plot = pg.PlotWidget(title="Loss")
        self.loss_plot.setLabel("bottom", "epoch")
        self.metric_plot = pg.PlotWidget(title="Metric")
        self.metric_plot.setLabel("bottom", "epoch")
        # legends under the plots, never over the curves
        self.loss_legend = QLabel(_legend_html([((150, 150, 150), "loss per batch (smoothed)"),
                                                ((31, 119, 180), "loss"), ((255, 127, 14), "val_loss")]))
        self.metric_legend = QLabel(_legend_html([((44, 160, 44), "validation"),
                                                  ((44, 160, 44), "training (dashed)")]))
        self.curves = {
            "batch_loss": self.loss_plot.plot([], [], pen=pg.mkPen((150, 150, 150), width=1),
                                              name="loss (per batch, smoothed)"),
            "loss": self.loss_plot.plot([], [], pen=pg.mkPen((31, 119, 180), width=2), symbol="o",
                                        symbolSize=6, symbolBrush=(31, 119, 180), name="loss"),
            "val_loss": self.loss_plot.plot([], [], pen=pg.mkPen((255, 127, 14), width=2), symbol="s",
                                            symbolSize=6, symbolBrush=(255, 127, 14), name="val_loss"),
            "metric": self.metric_plot.plot([], [], pen=pg.mkPen((44, 160, 44), width=2), symbol="t",
                                            symbolSize=7, symbolBrush=(44, 160, 44), name="validation"),
            "train_metric": self.metric_plot.plot([], [], pen=pg.mkPen((44, 160, 44), width=1,
                                                                       style=Qt.PenStyle.DashLine),
                                                  name="training"),
        }
        for plot in (self.loss_plot, self.metric_plot):
            # A fixed axis width: tick labels of a new width would otherwise re-layout and repaint
            # the whole plot on every update (halves the repaints per update).
            plot.getAxis("left").setWidth(48)
        self.curves["batch_loss"].setDownsampling(auto=True, method="mean")
        self.curves["batch_loss"].setClipToView(True)
        self._refresh_timer = QTimer(self)
        self._refresh_timer.setInterval(REFRESH_MS)
        self._refresh_timer.timeout.connect(self._refresh_curves)

        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        ll.addLayout(form)
        ll.addWidget(scan_box, 1)
        ll.addWidget(hp_box)
        ll.addWidget(self.activate_check)
        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        rl.addWidget(self.loss_plot, 1)
        rl.addWidget(self.loss_legend)
        rl.addWidget(self.metric_plot, 1)
        rl.addWidget(self.metric_legend)
        split = QSplitter()
        split.addWidget(left)
        split.addWidget(right)
        split.setStretchFactor(1, 1)
        lay = QVBoxLayout(self)
        lay.addWidget(split, 1)
        lay.addLayout(controls)
        lay.addWidget(self.status_label)
        lay.addWidget(self.error_label)
        lay.addWidget(self.result_text)
        self.resize(1100, 720)

        self.task_combo.currentIndexChanged.connect(self._task_changed)
        self.arch_combo.currentTextChanged.connect(self._arch_changed)
        last_task = str(getattr(settings, "train_task", "") or "")
        if last_task and self.task_combo.findData(last_task) >= 0:
            self.task_combo.blockSignals(True)
            self.task_combo.setCurrentIndex(self.task_combo.findData(last_task))
            self.task_combo.blockSignals(False)
        self._task_changed()
        last_folder = str(getattr(settings, "train_folder", "") or "")
        if last_folder and Path(last_folder).is_dir():
            self.set_folder(last_folder)
        preload(process=self.backend == "process")

    # ----------------------------------------------------------------- choices
    @property
    def task_name(self) -> str:
        return str(self.task_combo.currentData())

    def _task_changed(self) -> None:
        """Load the task's architectures and default hyper-parameters (light: no TensorFlow)."""
        from fpstation.ml.tasks import get_task

        self.error_label.clear()
        try:
            self._task_obj = get_task(self.task_name)
        except Exception as exc:  # noqa: BLE001 - e.g. a task module not installed: shown, not fatal
            self._task_obj = None
            self.arch_combo.clear()
            if isinstance(exc, ImportError):
                msg = (f"Training for “{self.task_combo.currentText()}” is not available in this installation "
                       f"(module {exc.name or '?'} is missing).")
            else:
                msg = f"This task is not available: {describe(exc).message}"
                log.error("task %s failed to load", self.task_name, exc_info=exc)
            self.error_label.setText(msg)
            self.start_button.setEnabled(False)
            return
        t = self._task_obj
        self._say_if_training_is_not_installed()
        h = t.default_hyper()
        self.arch_combo.clear()
        self.arch_combo.addItems(list(t.architectures))
        self.arch_combo.setCurrentText(h.architecture)
        self.change_label.clear()  # a new task starts from its own defaults: nothing "changed"
        self.epochs_spin.setValue(h.epochs)
        self.batch_spin.setValue(h.batch_size)
        self.lr_spin.setValue(h.learning_rate)
        self.size_spin.setValue(h.input_size)
        self.augment_check.setChecked(h.augment)
        self.val_spin.blockSignals(True)
        self.val_spin.setValue(h.val_fraction)
        self.val_spin.blockSignals(False)
        self.metric_plot.setTitle(t.metric)
        self.start_button.setEnabled(self.run is None and not self._training_missing)
        self.rescan()

    def _say_if_training_is_not_installed(self) -> None:
        """Without the ``train`` extra (TensorFlow), say plainly how to add it and keep Start off."""
        from fpstation.ml.tasks import training_unavailable

        self._training_missing = training_unavailable()
        if self._training_missing:
            self.error_label.setText(self._training_missing)

    def _arch_hyper(self, arch: str) -> Any:
        """The task's defaults for ``arch`` (the patch PAD model has its own)."""
        base = self._task_obj.default_hyper()
        if arch == "pad_patch_cnn" and hasattr(self._task_obj, "patch_hyper"):
            base = self._task_obj.patch_hyper(base)
        return base

    def _arch_changed(self, arch: str) -> None:
        self._update_pad_options()
        if self._task_obj is None or not arch:
            return
        h = self._arch_hyper(arch)
        fields = (("epochs", self.epochs_spin, h.epochs), ("batch size", self.batch_spin, h.batch_size),
                  ("learning rate", self.lr_spin, h.learning_rate), ("input size", self.size_spin, h.input_size))
        changed = [f"{name} {spin.value():g} → {new:g}" for name, spin, new in fields
                   if abs(float(spin.value()) - float(new)) > 1e-12]
        for _name, spin, new in fields:
            spin.setValue(new)
        # never silently: the form shows what the run will use, and says what just changed
        self.change_label.setText(f"Settings for {arch}: " + ", ".join(changed) + "." if changed else "")

    def _dpi_changed(self, value: int) -> None:
        # a stated dpi for presentation-attack data means texture patches at that resolution; the
        # switch and the settings it changes are said in the form (change_label)
        if value and self._task_obj is not None and "pad_patch_cnn" in self._task_obj.architectures \
                and self.arch_combo.currentText() != "pad_patch_cnn":
            self.arch_combo.setCurrentText("pad_patch_cnn")
            self.change_label.setText("A stated dpi uses the texture-patch model. " + self.change_label.text())

    def hyper(self) -> Any:
        """The Hyper for the current choices (task defaults overridden by the form)."""
        base = self._arch_hyper(self.arch_combo.currentText())
        extra = dict(base.extra)
        if self.dpi_spin.value():
            extra["dpi"] = float(self.dpi_spin.value())
        if self.arch_combo.currentText() == "pad_cnn":
            if self.alter_map_check.isChecked() and self.alter_map_check.isEnabled():
                extra["alter_map"] = 1.0
            if self.mirror_check.isChecked():
                extra["mirror"] = True
        if _can_ensemble(self.arch_combo.currentText()) and self.members_spin.value() > 1:
            if self._cross_fit():
                extra["cross_fit"] = self.members_spin.value()
            else:
                extra["members"] = self.members_spin.value()
        return replace(base, architecture=self.arch_combo.currentText(), epochs=self.epochs_spin.value(),
                       batch_size=self.batch_spin.value(), learning_rate=float(self.lr_spin.value()),
                       input_size=self.size_spin.value(), augment=self.augment_check.isChecked(),
                       val_fraction=float(self.val_spin.value()), extra=extra)

    def set_folder(self, folder: str | Path) -> None:
        self.folder_edit.setText(str(folder))
        self.rescan()

    def _browse(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Dataset folder", self.folder_edit.text())
        if d:
            self.set_folder(d)

    # ----------------------------------------------------------------- scan
    def _folder_edited(self) -> None:
        # editingFinished also fires when the field merely loses focus (e.g. Start disables it):
        # rescan only for a new folder, so a late scan cannot overwrite a run's messages.
        if self.folder_edit.text().strip() != self._scanned_key[0]:
            self.rescan()

    def rescan(self) -> None:
        """Scan the chosen folder on the io pool; the result fills "What was found"."""
        folder = self.folder_edit.text().strip()
        if self.run is not None:
            return  # the run scans (and shows) the data itself
        self._scanned_key = (folder, self.task_name)
        if self._scan_task is not None:
            self._scan_task.cancel()
            self._scan_task = None
        self.scan_result = None
        if not folder or self._task_obj is None:
            return
        self.scan_text.setPlainText(f"Scanning {folder} …")
        t = Task(_scan_job, self.task_name, Path(folder), self.hyper(), name="scan dataset")
        t.signals.result.connect(lambda scan, t=t: self._scanned(t, scan))
        t.signals.error.connect(lambda exc, t=t: self._scan_failed(t, exc))
        t.signals.progress.connect(lambda f, m, t=t: self._scan_progress(t, f))
        self._scan_task = t
        self.pools.start("io", t)

    def _scan_progress(self, task: Task, fraction: float) -> None:
        if task is self._scan_task:
            self.scan_text.setPlainText(f"Scanning {self.folder_edit.text()} … {fraction * 100:.0f} %")

    def _scanned(self, task: Task, scan: Any) -> None:
        if task is not self._scan_task:
            return  # an older scan finishing late
        self._scan_task = None
        self.scan_result = scan
        self._show_scan(scan)

    def _scan_failed(self, task: Task, exc: BaseException) -> None:
        if task is not self._scan_task:
            return
        self._scan_task = None
        self.scan_text.setPlainText("")
        self.error_label.setText(describe(exc).message)
        self._scan_error = True

    def _show_scan(self, scan: Any) -> None:
        lines = list(scan.summary())
        if scan.unreadable:
            lines.append("")
            lines.append("Unreadable files (skipped):")
            lines += [f"  {Path(p).name}: {why}" for p, why in scan.unreadable[:50]]
            if len(scan.unreadable) > 50:
                lines.append(f"  … and {len(scan.unreadable) - 50} more")
        empty = [k for k, v in scan.counts.items() if not v]
        if empty:
            lines.append(f"Class “{empty[0]}” has no images: training is not possible.")
        self._scan_lines = lines  # shown by _update_pad_options (with the cross-fit line when it applies)
        if self._scan_error:  # only a scan's own error is replaced by a successful scan
            self.error_label.clear()
            self._scan_error = False
        self._update_pad_options()

    def _render_scan(self) -> None:
        """The scan's summary, and what cross-fitting does to its split when that box is ticked."""
        lines = list(getattr(self, "_scan_lines", None) or [])
        if not lines:
            return
        if self._cross_fit():
            n = self.members_spin.value()
            lines.append(f"Cross-fitted: the subjects are cut into {n} parts; each of the {n} networks trains on "
                         "the others and is validated and calibrated on its own part (the split above is not used).")
        self.scan_text.setPlainText("\n".join(lines))

    def _cross_fit(self) -> bool:
        """The cross-fit box applies: pad_cnn, more than one network, and ticked."""
        return (self.arch_combo.currentText() == "pad_cnn" and self.members_spin.value() > 1
                and self.crossfit_check.isChecked())

    def _update_pad_options(self) -> None:
        """The whole-print PAD options show only for pad_cnn; the alteration map needs a
        SOCOFing-layout scan (real and altered prints of the same fingers): on by default there."""
        pad_cnn = self.arch_combo.currentText() == "pad_cnn"
        self.alter_map_check.setVisible(pad_cnn)
        self.mirror_check.setVisible(pad_cnn)
        ens = _can_ensemble(self.arch_combo.currentText())
        self.members_spin.setVisible(ens)
        self.crossfit_check.setVisible(pad_cnn and self.members_spin.value() > 1)
        self.val_spin.setEnabled(not self._cross_fit() and getattr(self, "run", None) is None)
        self._render_scan()
        if getattr(self, "_members_row_label", None) is not None:
            self._members_row_label.setVisible(ens)
        scan = getattr(self, "scan_result", None)
        pairs = pad_cnn and scan is not None and getattr(scan, "layout", "") == "socofing"
        self.alter_map_check.setEnabled(pairs and getattr(self, "run", None) is None)
    # ----------------------------------------------------------------- run
    def start(self) -> None:
        """Start a fit with the current choices (no-op while one runs)."""
        if self.run is not None or self._task_obj is None:
            return
        if self._training_missing:
            self.error_label.setText(self._training_missing)
            return
        folder = self.folder_edit.text().strip()
        if not folder:
            self.error_label.setText("Choose a dataset folder first.")
            return
        self.error_label.clear()
        self.result_text.clear()
        self.outcome = None
        self._remember_choices(folder)
        hyper = self.hyper()
        # an ensemble's members train one after the other: their epochs make one run on the curves
        self._epochs = hyper.epochs * int(hyper.extra.get("members") or hyper.extra.get("cross_fit") or 1)
        self._reset_curves()
        for plot in (self.loss_plot, self.metric_plot):
            # The x axis spans the whole run up front: it does not re-scale (and repaint) per batch.
            plot.enableAutoRange(x=False)
            plot.setXRange(0, self._epochs, padding=0.02)
        self.run = make_run(self.backend, self.task_name, folder, hyper, self.registry, self.pools, parent=self)
        self.run.event.connect(self._on_event)
        self._t_start = time.perf_counter()
        self.start_button.setEnabled(False)
        self.stop_button.setEnabled(True)
        self._set_inputs_enabled(False)
        self.status_label.setText("Starting…")
        self.epoch_label.setText(f"epoch 0/{self._epochs}")
        self._refresh_timer.start()
        self.run.start()

    def stop(self) -> None:
        """End the fit after the current batch; the best checkpoint is evaluated and registered."""
        if self.run is None:
            return
        self.run.stop()
        self.stop_button.setEnabled(False)
        self.status_label.setText("Stopping after this batch… then evaluating the best checkpoint; you will be "
                                  "asked whether to keep it.")

    @property
    def running(self) -> bool:
        return self.run is not None

    def _set_inputs_enabled(self, on: bool) -> None:
        for w in (self.task_combo, self.folder_edit, self.arch_combo, self.epochs_spin, self.batch_spin,
                  self.lr_spin, self.size_spin, self.augment_check, self.val_spin, self.mirror_check,
                  self.members_spin, self.crossfit_check):
            w.setEnabled(on)
        self._update_pad_options()

    def _remember_choices(self, folder: str) -> None:
        s = self.settings
        if s is None:
            return
        s.train_task, s.train_folder = self.task_name, folder
        try:
            s.save()
        except OSError as exc:
            log.warning("settings not saved: %s", exc)

    def _ask_keep_stopped(self, summary: str) -> bool:
        from PySide6.QtWidgets import QMessageBox

        answer = QMessageBox.warning(
            self, "Keep the stopped run?",
            f"{summary}\n\nA stopped run has seen only part of its training. Keep it as a selectable "
            "model, marked “stopped”? (No: it is discarded.)",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes

    def _on_event(self, kind: str, payload: Any) -> None:
        if kind == "progress":
            fraction, message = payload
            if not (self.run and self.run.stop_requested_at):
                # after Stop the bar stays where the fit was; evaluating the checkpoint is not progress
                self.progress_bar.setValue(int(fraction * 1000))
            # After Stop keep "Stopping…" until train() reports the fit ended (fraction ≥ 0.9); a
            # stopped run is not "registered" until the user said to keep it
            stopping = bool(self.run and self.run.stop_requested_at)
            if message and stopping and fraction >= 1.0:
                message = "stopped — keep the best checkpoint? (answer the question)"
            if message and (fraction >= 0.9 or not stopping):
                self.status_label.setText(message[0].upper() + message[1:])
        elif kind == "scan":
            self.scan_result = payload
            self._show_scan(payload)
        elif kind == "batch":
            self._add_batch(payload)
        elif kind == "epoch":
            self._add_epoch(payload)
        elif kind in ("done", "cancelled", "error"):
            self._ended(kind, payload)

    def _add_batch(self, b: Any) -> None:
        self._update_eta(b)
        loss = b.logs.get("loss")
        if loss is None:
            return
        x = b.epoch + ((b.batch + 1) / b.batches if b.batches else 0.0)
        self._ema = loss if self._ema is None else SMOOTHING * loss + (1 - SMOOTHING) * self._ema
        self._batch_x.append(x)
        self._batch_y.append(self._ema)
        self._dirty = True

    def _update_eta(self, b: Any) -> None:
        """Epoch counter + ETA from batch timing, so the first epoch already shows an estimate
        (the per-epoch ETA from fit_keras replaces it at each epoch end)."""
        now = time.perf_counter()
        if self._first_batch_t is None:
            self._first_batch_t, self._first_batch_done = now, b.epoch * max(b.batches, 1) + b.batch + 1
            return
        if not b.batches or now - self._eta_shown_t < 0.5:
            return
        self._eta_shown_t = now
        done = b.epoch * b.batches + b.batch + 1 - self._first_batch_done
        total = self._epochs * b.batches - self._first_batch_done
        if done > 0:
            eta = (now - self._first_batch_t) / done * max(total - done, 0)
            self.epoch_label.setText(f"epoch {b.epoch + 1}/{self._epochs} · ETA {_fmt_seconds(eta)}")

    def _add_epoch(self, e: Any) -> None:
        self._epoch_x.append(e.epoch + 1.0)
        self._epoch_logs.append(dict(e.logs))
        self._epochs_dirty = True
        self.epoch_label.setText(f"epoch {e.epoch + 1}/{e.epochs} · ETA {_fmt_seconds(e.eta_seconds)}")
        self._refresh_curves()

    def _series(self, key: str) -> tuple[list[float], list[float]]:
        # a model with a second output (PAD's alteration map) names its logit metrics "logit_…"
        alt = key.replace("val_", "val_logit_", 1) if key.startswith("val_") else f"logit_{key}"
        xs, ys = [], []
        for x, logs in zip(self._epoch_x, self._epoch_logs, strict=True):
            k = key if key in logs else alt
            if k in logs:
                xs.append(x)
                ys.append(logs[k])
        return xs, ys

    def _refresh_curves(self) -> None:
        # Only curves whose data changed get setData: every setData repaints its plot, and plot
        # paints were the GUI thread's largest cost during a fit (bench/training_gui_stall.py).
        if self._dirty:
            self._dirty = False
            self._decimate()
            self.curves["batch_loss"].setData(self._batch_x, self._batch_y)
        if self._epochs_dirty:
            self._epochs_dirty = False
            self.curves["loss"].setData(*self._series("loss"))
            self.curves["val_loss"].setData(*self._series("val_loss"))
            metric = self._task_obj.metric if self._task_obj is not None else ""
            self.curves["metric"].setData(*self._series(metric))
            train_metric = metric[4:] if metric.startswith("val_") else ""
            self.curves["train_metric"].setData(*self._series(train_metric))

    def _decimate(self) -> None:
        """Keep the per-batch curve under MAX_BATCH_POINTS by dropping every other old point
        (a long fit would otherwise make each repaint slower and slower)."""
        if len(self._batch_x) > MAX_BATCH_POINTS:
            half = len(self._batch_x) // 2
            self._batch_x = self._batch_x[:half:2] + self._batch_x[half:]
            self._batch_y = self._batch_y[:half:2] + self._batch_y[half:]

    def _reset_curves(self) -> None:
        self._first_batch_t: float | None = None
        self._first_batch_done = 0
        self._eta_shown_t = 0.0
        self._batch_x, self._batch_y, self._epoch_x, self._epoch_logs = [], [], [], []
        self._ema = None
        self._dirty = self._epochs_dirty = False
        for c in self.curves.values():
            c.setData([], [])

    def _ended(self, kind: str, payload: Any) -> None:
        self._refresh_timer.stop()
        self._dirty = self._epochs_dirty = True
        self._refresh_curves()
        self.run = None
        self.start_button.setEnabled(self._task_obj is not None)
        self.stop_button.setEnabled(False)
        self._set_inputs_enabled(True)
        took = _fmt_seconds(time.perf_counter() - self._t_start)
        if kind == "done":
            out = payload
            self.outcome = out
            run_of = f"epoch {out.fit.epochs_run}/{self._epochs}"
            if out.stopped:
                self.progress_bar.setValue(int(1000 * out.fit.epochs_run / max(self._epochs, 1)))
                summary = (f"The run was stopped at {run_of}; validation: "
                           + (", ".join(_fmt_metrics(out.metrics)) or "no figures") + ".")
                if not self.confirm_keep_stopped(summary):
                    self.registry.unregister(out.card)
                    out.discarded = True
                    self.status_label.setText(f"Stopped at {run_of} ({took}); discarded, nothing registered.")
                    self.result_text.setPlainText(summary + "\nDiscarded at your request.")
                    self.runEnded.emit(kind)
                    return
                how = f"Stopped at {run_of}; kept at your request, marked “stopped”"
            else:
                self.progress_bar.setValue(1000)
                how = "Finished"
            self.status_label.setText(f"{how} ({took}). Registered as {out.card.key}.")
            lines = [f"Model: {out.card.display}  — key {out.card.key}",
                     f"Best epoch: {out.fit.best_epoch + 1 if out.fit.best_epoch is not None else '—'} "
                     f"of {out.fit.epochs_run} run ({metric_words(out.fit.monitor)} "
                     f"{out.fit.best_value if out.fit.best_value is None else format(out.fit.best_value, '.4g')})",
                     "Validation: " + ", ".join(_fmt_metrics(out.metrics)),
                     f"Model card: {out.card_path}",
                     f"Same run from the command line: {out.command}"]
            self.result_text.setPlainText("\n".join(lines))
            self.modelRegistered.emit(out.card)
        elif kind == "cancelled":
            self.status_label.setText(f"Stopped before the first epoch finished ({took}); nothing was registered.")
        else:
            text = describe(payload)
            self.status_label.setText("Training failed.")
            self.error_label.setText(text.message)
            if not text.expected:
                log.error("training failed: %s", text.details)
        self.runEnded.emit(kind)

    def shutdown(self, wait_s: float = 5.0) -> None:
        """Application quit: stop a running fit (a child process is terminated if it lingers)."""
        if self._scan_task is not None:
            self._scan_task.cancel()
        run = self.run
        if run is not None:
            run.stop()
            if hasattr(run, "kill"):
                run.kill(wait_s)


class TrainingDialogs:
    """The Tools menu's "Train model…" and "Models…" dialogs, each created on first use (keeps
    start-up light) and then kept by this object (the window keeps it)."""

    def __init__(self, window: Window, models: ModelsDialogOpener) -> None:
        self.window = window
        self.models = models
        self.training: TrainingDialog | None = None

    def open_training(self) -> TrainingDialog:
        window, dlg = self.window, self.training
        if dlg is None:
            dlg = TrainingDialog(window.pools, window.registry, window,  # type: ignore[arg-type] - a QMainWindow
                                 settings=window.settings)
            dlg.modelRegistered.connect(lambda card, d=dlg: _registered(window, d, card))
            self.training = dlg
        dlg.show()
        dlg.raise_()
        return dlg

    def open_models(self) -> ModelsDialog:
        return self.models.open()

    def shutdown(self) -> None:
        """Stop a training run that is still going (the application is quitting)."""
        if self.training is not None:
            self.training.shutdown()


def install(window: Window) -> TrainingDialogs:
    """Add Tools → "Train model…" and Tools → "Models…" to the main window; return the object that
    opens (and keeps) their dialogs.

    ``window`` provides ``menu(title) -> QMenu``, ``pools``, ``settings``, ``registry`` and the
    ``modelsChanged`` signal.
    """
    from fpstation.gui.models_dialog import install as install_models

    menu = window.menu("&Tools")
    act = QAction("Train model…", window)  # type: ignore[call-overload] - the window is a QMainWindow
    act.setObjectName("actionTrainModel")
    menu.addAction(act)
    dialogs = TrainingDialogs(window, install_models(window))
    act.triggered.connect(lambda: dialogs.open_training())
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    if app is not None:
        app.aboutToQuit.connect(dialogs.shutdown)
    return dialogs


def _registered(window: Window, dlg: TrainingDialog, card: Any) -> None:
    if dlg.activate_check.isChecked():
        from fpstation.gui.models_dialog import activate

        activate(window.settings, card.task, card.key)
    window.modelsChanged.emit()
