"""Training tasks: what the training dialog, ``fpstation train`` and training/ scripts all drive.

A task knows how to scan a dataset folder, build its model, make subject-disjoint train/validation
data, evaluate, and fill the task-specific part of the model card. ``ml/training.py`` runs any task
with the same fit loop (progress, stop, best checkpoint, card, registration).

Implementations register here by import path so this module stays light:
- "restoration" -> fpstation.ml.restoration.task:RestorationTask
- "pad"         -> fpstation.ml.classifiers.tasks:PadTask
- "gender"      -> fpstation.ml.classifiers.tasks:GenderTask
- "face"        -> fpstation.ml.face.task:FaceTask
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from fpstation.core.jobs import CancelToken, Progress

#: how to add training (TensorFlow/Keras and the ONNX exporter): the optional ``train`` extra
TRAIN_EXTRA_HINT = ("Training needs TensorFlow, which this installation does not include (analysis runs "
                    "on onnxruntime without it). To add training, install the training extra: "
                    "pip install 'fpstation[train]' (from a source checkout: pip install -e '.[train]'), "
                    "then reopen this window.")


def training_unavailable() -> str:
    """Why training cannot run here (:data:`TRAIN_EXTRA_HINT`), or "" when TensorFlow, Keras and
    onnx are installed. Looks the packages up without importing them (cheap)."""
    import importlib.util

    from fpstation import paths

    missing = [m for m in ("tensorflow", "keras", "onnx") if importlib.util.find_spec(m) is None]
    if not missing:
        return ""
    if paths.is_frozen():  # pip cannot add to the packaged application
        return ("The packaged application analyses prints without TensorFlow and does not include training. "
                "To train models, install fpstation from its source with the training extra: "
                "pip install -e '.[train]'.")
    return f"{TRAIN_EXTRA_HINT} (missing: {', '.join(missing)})"


TASKS: dict[str, str] = {
    "restoration": "fpstation.ml.restoration.task:RestorationTask",
    "pad": "fpstation.ml.classifiers.tasks:PadTask",
    "gender": "fpstation.ml.classifiers.tasks:GenderTask",
    "face": "fpstation.ml.face.task:FaceTask",
}


@dataclass
class DatasetScan:
    """What was found in a dataset folder (shown in the training dialog before Start)."""

    root: Path
    layout: str  # "socofing" | "livdet" | "paired" | "fvc" | "class-folders"
    #: one entry per usable file: {"path": str, "label": str|int, "subject": str, ...task extras}
    items: list[dict[str, Any]]
    counts: dict[str, int]  # per class (or per kind, e.g. degraded/clean pairs)
    subjects: int
    train_subjects: set[str]
    val_subjects: set[str]
    unreadable: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    file_list_sha256: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def train_items(self) -> list[dict[str, Any]]:
        return [it for it in self.items if str(it["subject"]) in self.train_subjects]

    @property
    def val_items(self) -> list[dict[str, Any]]:
        return [it for it in self.items if str(it["subject"]) in self.val_subjects]

    def summary(self) -> list[str]:
        """Human-readable lines for the dialog and the CLI."""
        lines = [f"Layout: {self.layout}  ({self.root})",
                 "Per class: " + ", ".join(f"{k}: {v}" for k, v in self.counts.items()),
                 f"Subjects: {self.subjects} → train {len(self.train_subjects)} / "
                 f"validation {len(self.val_subjects)} (subject-disjoint)",
                 f"Items: train {len(self.train_items)} / validation {len(self.val_items)}"]
        if self.unreadable:
            lines.append(f"Unreadable files: {len(self.unreadable)} (skipped)")
        lines += self.notes
        return lines


@dataclass
class Hyper:
    """Hyper-parameters shown in the dialog; tasks may add keys in ``extra``."""

    architecture: str
    epochs: int
    batch_size: int
    learning_rate: float
    input_size: int
    augment: bool = True
    seed: int = 0
    val_fraction: float = 0.2
    extra: dict[str, Any] = field(default_factory=dict)


class TrainingTask(Protocol):
    name: str  # key in TASKS
    title: str  # "Restoration", "Presentation attack", "Gender"
    architectures: list[str]  # choices for Hyper.architecture, first = default
    monitor: str  # e.g. "val_loss"
    monitor_mode: str  # "min" | "max"
    metric: str  # the task's headline metric logged per epoch for the third curve, e.g. "val_auc"

    def default_hyper(self) -> Hyper: ...

    def scan(self, root: Path, hyper: Hyper, progress: Progress, cancel: CancelToken) -> DatasetScan:
        """Detect the layout, list files, split by subject; raise DatasetError for unusable data."""

    def build_model(self, hyper: Hyper) -> Any:
        """A compiled keras.Model (pure builders live in ml/architectures.py)."""

    def datasets(self, scan: DatasetScan, hyper: Hyper) -> dict[str, Any]:
        """{"train": ..., "val": ..., "steps_per_epoch": int|None, "validation_steps": int|None,
        "class_weight": dict|None} ready for fit_keras."""

    def evaluate(self, model: Any, scan: DatasetScan, hyper: Hyper, progress: Progress,
                 cancel: CancelToken) -> dict[str, Any]:
        """Validation metrics for the card; may include "calibration" and "threshold" entries."""

    def card_fields(self, scan: DatasetScan, hyper: Hyper) -> dict[str, Any]:
        """Task-specific card entries: input shape/dpi, attack types seen, etc."""


def get_task(name: str) -> TrainingTask:
    from fpstation.core.errors import DatasetError

    if name not in TASKS:
        raise DatasetError(f"Unknown training task “{name}”. Choose one of: {', '.join(TASKS)}.")
    mod_name, cls_name = TASKS[name].split(":")
    return getattr(importlib.import_module(mod_name), cls_name)()
