"""Training that survives sessions: a periodic resume checkpoint (issue #17).

Every ``every_s`` seconds of training (and at every epoch end) the model's weights, the optimizer's
state (moments and iteration count, so a learning-rate schedule continues where it was) and a
small JSON state are written to a work folder. ``training/train_restoration.py --resume`` reads
them back and continues from the start of the epoch that was running (the steps of that partial
epoch are repeated with the partly trained weights). The JSON also accumulates the compute: the
seconds and the wall-clock start of every session, which the model card reports.

Files are written to a temporary name and renamed, so a run killed while saving leaves the previous
checkpoint intact. TensorFlow/Keras are imported lazily.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np


class ResumeCheckpoint:
    """The resume files ``<folder>/<name>.resume.{weights.h5,opt.npz,json}``."""

    def __init__(self, folder: str | Path, name: str, every_s: float = 300.0) -> None:
        self.folder = Path(folder)
        self.name = name
        self.every_s = float(every_s)
        self.weights = self.folder / f"{name}.resume.weights.h5"
        self.opt = self.folder / f"{name}.resume.opt.npz"
        self.json = self.folder / f"{name}.resume.json"

    def exists(self) -> bool:
        return self.weights.is_file() and self.opt.is_file() and self.json.is_file()

    def state(self) -> dict[str, Any]:
        """The saved state (``epoch`` to start from, ``compute_seconds``, ``sessions``, ``best``...)."""
        return json.loads(self.json.read_text(encoding="utf-8"))

    def save(self, model: Any, state: dict[str, Any]) -> None:
        """Write weights, optimizer variables and ``state`` (each atomically)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp_w = self.weights.with_name(self.weights.name.replace(".weights.h5", ".tmp.weights.h5"))
        model.save_weights(tmp_w)
        os.replace(tmp_w, self.weights)
        opt_vars = [np.asarray(v.numpy()) for v in model.optimizer.variables]
        tmp_o = self.opt.with_suffix(".tmp.npz")
        np.savez(tmp_o, *opt_vars)
        os.replace(tmp_o, self.opt)
        tmp_j = self.json.with_suffix(".tmp")
        tmp_j.write_text(json.dumps(state, indent=1) + "\n", encoding="utf-8")
        os.replace(tmp_j, self.json)

    def restore(self, model: Any) -> dict[str, Any]:
        """Load weights and optimizer state into a compiled ``model``; returns the saved state."""
        opt = model.optimizer
        opt.build(model.trainable_variables)  # before load_weights, which then finds a built optimizer
        model.load_weights(self.weights)
        with np.load(self.opt) as z:
            values = [z[f"arr_{i}"] for i in range(len(z.files))]
        if len(values) != len(opt.variables):
            raise ValueError(f"the resume checkpoint holds {len(values)} optimizer variables, the model "
                             f"{len(opt.variables)}: it was written by a different model or optimizer")
        for var, val in zip(opt.variables, values, strict=True):
            var.assign(val)
        return self.state()

    def callback(self, state: dict[str, Any], session_t0: float, base_seconds: float) -> Any:
        """A Keras callback that saves every ``every_s`` seconds and at each epoch end.

        ``state`` is updated in place (``epoch``, ``compute_seconds``, ``history``, ``best``...
        are the caller's to fill; this sets ``epoch`` and ``compute_seconds`` and the current
        session's seconds).
        """
        import keras

        ckpt = self

        class Periodic(keras.callbacks.Callback):
            def __init__(self) -> None:
                super().__init__()
                self.last = time.monotonic()
                self.epoch = 0

            def _save(self, epoch: int) -> None:
                spent = time.perf_counter() - session_t0
                state["epoch"] = epoch
                state["compute_seconds"] = round(base_seconds + spent, 1)
                state["sessions"][-1]["seconds"] = round(spent, 1)
                ckpt.save(self.model, state)
                self.last = time.monotonic()

            def on_epoch_begin(self, epoch, logs=None):
                self.epoch = epoch

            def on_train_batch_end(self, batch, logs=None):
                if time.monotonic() - self.last >= ckpt.every_s:
                    self._save(self.epoch)  # a resume restarts this (partial) epoch

            def on_epoch_end(self, epoch, logs=None):
                self._save(epoch + 1)

        return Periodic()
