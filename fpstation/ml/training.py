"""Generic Keras fit loop with progress, stop and best-checkpoint, shared by scripts, CLI and dialog.

``fit_keras`` adapts Keras callbacks to fpstation's job protocol: ``progress`` gets the overall
fraction, ``on_batch`` / ``on_epoch`` get loss/metric dicts as they come (the dialog plots them),
and the :class:`~fpstation.core.jobs.CancelToken` is checked after every batch. A *stop* requested
through the token ends the run after the current batch and keeps the best checkpoint so far: the
result says ``stopped=True``; the caller decides whether that is a usable model.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fpstation.core.jobs import NEVER_CANCELLED, CancelToken, Progress, null_progress


@dataclass
class BatchLog:
    epoch: int  # 0-based
    batch: int  # 0-based within the epoch
    batches: int  # batches per epoch (0 if unknown)
    logs: dict[str, float]


@dataclass
class EpochLog:
    epoch: int  # 0-based
    epochs: int
    logs: dict[str, float]  # loss, val_loss, metrics
    seconds: float
    eta_seconds: float


@dataclass
class FitResult:
    checkpoint: Path | None  # best weights saved in Keras format (None if nothing was trained)
    best_epoch: int | None
    best_value: float | None
    monitor: str
    stopped: bool
    epochs_run: int
    history: list[dict[str, float]] = field(default_factory=list)


def _floats(logs: dict[str, Any] | None) -> dict[str, float]:
    out = {}
    for k, v in (logs or {}).items():
        try:
            out[k] = float(v)
        except (TypeError, ValueError):
            pass
    return out


def fit_keras(
    model: Any,
    train: Any,
    val: Any | None,
    *,
    epochs: int,
    checkpoint: str | Path,
    monitor: str = "val_loss",
    mode: str = "min",
    steps_per_epoch: int | None = None,
    validation_steps: int | None = None,
    class_weight: dict[int, float] | None = None,
    progress: Progress = null_progress,
    cancel: CancelToken = NEVER_CANCELLED,
    on_batch: Callable[[BatchLog], None] | None = None,
    on_epoch: Callable[[EpochLog], None] | None = None,
    verbose: int = 0,
) -> FitResult:
    """Train a compiled Keras model, saving the best epoch (by ``monitor``) to ``checkpoint``.

    Parameters
    ----------
    model : compiled ``keras.Model``.
    train, val : anything ``model.fit`` accepts (tf.data.Dataset, PyDataset, (x, y) tuple).
    checkpoint : path of the ``.keras`` file that receives the best model.
    """
    import keras

    checkpoint = Path(checkpoint)
    checkpoint.parent.mkdir(parents=True, exist_ok=True)
    better = (lambda a, b: a < b) if mode == "min" else (lambda a, b: a > b)
    state: dict[str, Any] = {"best": None, "best_epoch": None, "stopped": False, "epochs_run": 0,
                             "t0": time.perf_counter(), "history": [], "saved": False}

    class Adapter(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            state["epoch"] = epoch
            state["epoch_t0"] = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            batches = int(self.params.get("steps") or 0)
            if on_batch is not None:
                on_batch(BatchLog(state["epoch"], batch, batches, _floats(logs)))
            if batches:
                progress((state["epoch"] + (batch + 1) / batches) / epochs, f"epoch {state['epoch'] + 1}/{epochs}")
            if cancel.cancelled:
                state["stopped"] = True
                self.model.stop_training = True

        def on_test_batch_end(self, batch, logs=None):
            if cancel.cancelled:
                state["stopped"] = True
                # Keras 3: ends evaluate() early so Stop does not wait for a whole validation pass.
                self.model.stop_evaluating = True

        def on_epoch_end(self, epoch, logs=None):
            logs = _floats(logs)
            state["epochs_run"] = epoch + 1
            if state["stopped"]:
                # A stopped epoch is partial: do not let its (partial) numbers pick the checkpoint.
                if not state["saved"]:
                    self.model.save(checkpoint)
                    state["saved"] = True
                return
            state["history"].append(logs)
            value = logs.get(monitor, logs.get("loss"))
            if value is not None and not math.isnan(value) and (state["best"] is None or better(value, state["best"])):
                state["best"], state["best_epoch"] = value, epoch
                self.model.save(checkpoint)
                state["saved"] = True
            elapsed = time.perf_counter() - state["t0"]
            eta = elapsed / (epoch + 1) * (epochs - epoch - 1)
            if on_epoch is not None:
                on_epoch(EpochLog(epoch, epochs, logs, time.perf_counter() - state["epoch_t0"], eta))
            progress((epoch + 1) / epochs, f"epoch {epoch + 1}/{epochs} done")

    if cancel.cancelled:
        return FitResult(None, None, None, monitor, True, 0)
    model.fit(train, validation_data=val, epochs=epochs, steps_per_epoch=steps_per_epoch,
              validation_steps=validation_steps, class_weight=class_weight, verbose=verbose,
              callbacks=[Adapter()])
    return FitResult(checkpoint if state["saved"] else None, state["best_epoch"], state["best"], monitor,
                     state["stopped"], state["epochs_run"], state["history"])
