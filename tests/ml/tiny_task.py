"""A tiny two-class "one-folder-per-class" TrainingTask for testing the training machinery.

Real tasks (restoration, PAD, gender) need real-sized prints; this one trains a 2-layer CNN on
generated 32×32 stripe images in about a second, so the dialog, CLI and orchestration tests stay
fast. Register it with ``monkeypatch.setitem(TASKS, "tiny", TINY_SPEC)``.

Test fixtures are written with OpenCV directly (core/imageio.py is the app's reader; this
fixture only needs PNGs on disk).
"""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Any

import numpy as np

from fpstation.core.errors import DatasetError
from fpstation.core.jobs import CancelToken, Progress
from fpstation.ml.datasets import file_list_sha256, subject_split
from fpstation.ml.tasks import DatasetScan, Hyper

TINY_SPEC = "tests.ml.tiny_task:TinyTask"
CLASSES = ("horizontal", "vertical")


def make_dataset(root: Path, subjects: int = 10, per_subject: int = 4, size: int = 32,
                 corrupt: bool = True, empty_class: bool = False) -> Path:
    """Write ``root/<class>/<subject>_<k>.png`` stripe images (+ one damaged file)."""
    import cv2

    rng = np.random.default_rng(0)
    for ci, cls in enumerate(CLASSES):
        d = root / cls
        d.mkdir(parents=True, exist_ok=True)
        if empty_class and ci == 1:
            continue
        for s in range(subjects):
            for k in range(per_subject):
                period = int(rng.integers(4, 8))
                ramp = (np.arange(size) // (period // 2)) % 2 * 200 + 25
                img = np.tile(ramp, (size, 1)) if cls == "vertical" else np.tile(ramp[:, None], (1, size))
                img = np.clip(img + rng.normal(0, 20, img.shape), 0, 255).astype(np.uint8)
                cv2.imwrite(str(d / f"s{s:02d}_{k}.png"), img)
    if corrupt:
        (root / CLASSES[0] / "s99_broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    return root


class TinyTask:
    name = "tiny"
    title = "Tiny stripes (test)"
    architectures = ["cnn2", "cnn1"]
    monitor = "val_loss"
    monitor_mode = "min"
    metric = "val_accuracy"

    def default_hyper(self) -> Hyper:
        return Hyper(architecture="cnn2", epochs=2, batch_size=8, learning_rate=1e-2, input_size=32,
                     augment=False, val_fraction=0.3)

    def scan(self, root: Path, hyper: Hyper, progress: Progress, cancel: CancelToken) -> DatasetScan:
        import cv2

        root = Path(root)
        classes = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
        if len(classes) < 2:
            raise DatasetError(f"“{root}” needs one sub-folder per class (at least two).", path=str(root))
        files = [(c, f) for c in classes for f in sorted((root / c).glob("*.png"))]
        items, unreadable = [], []
        for i, (cls, f) in enumerate(files):
            cancel.raise_if_cancelled()
            if cv2.imread(str(f), cv2.IMREAD_GRAYSCALE) is None:
                unreadable.append((str(f), "not a readable PNG"))
            else:
                items.append({"path": str(f), "label": classes.index(cls), "class": cls,
                              "subject": f.stem.split("_")[0]})
            progress((i + 1) / max(len(files), 1), "scanning")
        counts = {c: sum(1 for it in items if it["class"] == c) for c in classes}
        subjects = {it["subject"] for it in items}
        train_s, val_s = subject_split(subjects, hyper.val_fraction, hyper.seed)
        return DatasetScan(root=root, layout="class-folders", items=items, counts=counts,
                           subjects=len(subjects), train_subjects=train_s, val_subjects=val_s,
                           unreadable=unreadable,
                           file_list_sha256=file_list_sha256([it["path"] for it in items], root))

    def build_model(self, hyper: Hyper) -> Any:
        import keras

        s = hyper.input_size
        inp = keras.Input((s, s, 1))
        x = keras.layers.Conv2D(4, 3, activation="relu")(inp)
        x = keras.layers.MaxPooling2D()(x)
        if hyper.architecture == "cnn2":
            x = keras.layers.Conv2D(8, 3, activation="relu")(x)
        x = keras.layers.GlobalAveragePooling2D()(x)
        out = keras.layers.Dense(2, activation="softmax")(x)
        model = keras.Model(inp, out, name=f"tiny_{hyper.architecture}")
        model.compile(optimizer=keras.optimizers.Adam(hyper.learning_rate),
                      loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        return model

    def _arrays(self, items: list[dict[str, Any]], size: int) -> tuple[np.ndarray, np.ndarray]:
        import cv2

        x = np.stack([cv2.resize(cv2.imread(it["path"], cv2.IMREAD_GRAYSCALE), (size, size))
                      for it in items]).astype("float32")[..., None] / 255.0
        y = np.array([it["label"] for it in items], "int32")
        return x, y

    def datasets(self, scan: DatasetScan, hyper: Hyper) -> dict[str, Any]:
        import tensorflow as tf

        xt, yt = self._arrays(scan.train_items, hyper.input_size)
        xv, yv = self._arrays(scan.val_items, hyper.input_size)
        seed = zlib.crc32(str(hyper.seed).encode())
        train = tf.data.Dataset.from_tensor_slices((xt, yt)).shuffle(len(xt), seed=seed).batch(hyper.batch_size)
        val = tf.data.Dataset.from_tensor_slices((xv, yv)).batch(hyper.batch_size)
        return {"train": train, "val": val, "steps_per_epoch": None, "validation_steps": None,
                "class_weight": None}

    def evaluate(self, model: Any, scan: DatasetScan, hyper: Hyper, progress: Progress,
                 cancel: CancelToken) -> dict[str, Any]:
        xv, yv = self._arrays(scan.val_items, hyper.input_size)
        cancel.raise_if_cancelled()
        p = np.asarray(model(xv, training=False))
        progress(1.0, "evaluated")
        return {"val_accuracy": float((p.argmax(1) == yv).mean()), "n_val": int(len(yv))}

    def card_fields(self, scan: DatasetScan, hyper: Hyper) -> dict[str, Any]:
        return {"input": {"shape": [hyper.input_size, hyper.input_size, 1], "dpi": None},
                "classes": sorted(scan.counts)}
