"""Training task for the small face CNN (MobileNet-style), as the reference recogniser.

Driven by the training dialog, ``fpstation train face`` and training/train_face.py alike
(ml/training.py). The data is a folder with one sub-folder per person (ORL layout).

Subject-disjoint: people are split with :func:`fpstation.ml.datasets.subject_split`
(``val_fraction`` of them are held out). The CNN learns to classify the *training* people from
their aligned face chips; Keras' validation (``val_loss``/``val_accuracy``, the live curves and the
best-checkpoint choice) is each training person's last image, never trained on. The figures that
matter are measured on the *held-out* people, whom the CNN never saw: its 128-d ``embedding``
layer is used like any face embedding (gallery + cosine similarity), the open-set threshold is
chosen on half of the held-out people and FNIR/FPIR are reported on the other half
(:mod:`fpstation.ml.face.protocol`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from fpstation.core.errors import DatasetError
from fpstation.core.jobs import NEVER_CANCELLED, CancelToken, Progress, null_progress
from fpstation.ml.face.embed import chips_to_input
from fpstation.ml.tasks import DatasetScan, Hyper

ARCH = "face_mobilenet"
EMBEDDING_DIM = 128


def build_face_mobilenet(input_size: int, n_classes: int, *, width: int = 32, augment: bool = True,
                         learning_rate: float = 1e-3) -> Any:
    """MobileNet-style classifier (depthwise-separable blocks, ReLU6) whose ``embedding`` layer
    (128-d) is the face descriptor; the softmax head only serves training.

    BatchNormalization uses momentum 0.9 (Keras: 0.99): a face set gives only a few batches per
    epoch, and with 0.99 the moving statistics were still far from the data after 90 steps, so
    inference-mode predictions were at chance while training accuracy was near 1."""
    import keras
    from keras import layers

    inp = keras.Input((input_size, input_size, 1), name="face")
    x = inp
    if augment:  # active only while training; identity at inference
        x = layers.RandomFlip("horizontal")(x)
        x = layers.RandomTranslation(0.06, 0.06, fill_mode="reflect")(x)
        x = layers.RandomRotation(0.03, fill_mode="reflect")(x)
        x = layers.RandomContrast(0.3)(x)
    x = layers.Conv2D(width, 3, strides=2, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization(momentum=0.9)(x)
    x = layers.ReLU(6.0)(x)
    for filters, stride in ((2 * width, 1), (4 * width, 2), (4 * width, 1), (8 * width, 2), (8 * width, 1)):
        x = layers.DepthwiseConv2D(3, strides=stride, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization(momentum=0.9)(x)
        x = layers.ReLU(6.0)(x)
        x = layers.Conv2D(filters, 1, use_bias=False)(x)
        x = layers.BatchNormalization(momentum=0.9)(x)
        x = layers.ReLU(6.0)(x)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(0.3)(x)
    emb = layers.Dense(EMBEDDING_DIM, name="embedding")(x)
    h = layers.BatchNormalization(momentum=0.9)(emb)
    out = layers.Dense(n_classes, activation="softmax", name="identity")(h)
    model = keras.Model(inp, out, name=ARCH)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


class FaceTask:
    name = "face"
    title = "Face identification (small CNN)"
    architectures = [ARCH]
    monitor = "val_loss"
    monitor_mode = "min"
    metric = "val_accuracy"

    def __init__(self) -> None:
        self._chips: dict[str, np.ndarray] = {}
        self._boxes: dict[str, str] = {}

    def default_hyper(self) -> Hyper:
        return Hyper(architecture=ARCH, epochs=80, batch_size=32, learning_rate=2e-3, input_size=64,
                     augment=True, seed=0, val_fraction=0.5, extra={})

    # ---------------------------------------------------------------- data
    def scan(self, root: Path, hyper: Hyper, progress: Progress = null_progress,
             cancel: CancelToken = NEVER_CANCELLED) -> DatasetScan:
        from fpstation.ml.datasets import file_list_sha256, subject_split
        from fpstation.ml.face.gallery import person_folders

        folders = person_folders(root)
        items = []
        for person, files in folders:
            for k, f in enumerate(files):
                items.append({"path": str(f), "label": person, "subject": person, "order": k,
                              "n_images": len(files)})
        people = [p for p, _ in folders]
        train, val = subject_split(people, hyper.val_fraction, hyper.seed)
        few = [p for p, f in folders if p in train and len(f) < 2]
        if few:
            raise DatasetError(f"Person “{few[0]}” has only one image: every training person needs at least "
                               "two (one is kept for Keras validation).", path=str(root))
        hyper.extra = dict(hyper.extra, n_classes=len(train), classes=sorted(train))
        progress(1.0, "scanned")
        return DatasetScan(root=Path(root), layout="person-folders", items=items,
                           counts={"images": len(items), "people": len(people)}, subjects=len(people),
                           train_subjects=set(train), val_subjects=set(val),
                           file_list_sha256=file_list_sha256([it["path"] for it in items], root),
                           notes=["faces are detected and aligned with dlib (5 points) before training; "
                                  "Keras validation = each training person's last image; identification "
                                  "figures on the held-out people"])

    def _chip(self, path: str) -> np.ndarray:
        if path not in self._chips:
            from fpstation.core.imageio import read_print
            from fpstation.ml.face.detect import align

            a = align(read_print(path).pixels)
            self._chips[path] = a.chip
            self._boxes[path] = a.box.method
        return self._chips[path]

    def _arrays(self, items: list[dict[str, Any]], size: int, cancel: CancelToken = NEVER_CANCELLED,
                progress: Progress = null_progress) -> tuple[np.ndarray, list[dict[str, Any]]]:
        chips, kept = [], []
        for i, it in enumerate(items):
            if i % 16 == 0:
                cancel.raise_if_cancelled()
                progress(i / max(len(items), 1), f"aligning faces {i}/{len(items)}")
            try:
                chips.append(self._chip(it["path"]))
                kept.append(it)
            except Exception:  # noqa: BLE001 - an unusable image is skipped (counted in the card)
                continue
        x = chips_to_input(np.stack(chips), size) if chips else np.zeros((0, size, size, 1), np.float32)
        return x, kept

    def build_model(self, hyper: Hyper) -> Any:
        n = int(hyper.extra.get("n_classes") or 0)
        if n < 2:
            raise DatasetError("Face training needs at least two training people (scan the data first).")
        return build_face_mobilenet(hyper.input_size, n, width=int(hyper.extra.get("width", 32)),
                                    augment=hyper.augment, learning_rate=hyper.learning_rate)

    def datasets(self, scan: DatasetScan, hyper: Hyper) -> dict[str, Any]:
        classes = {c: i for i, c in enumerate(hyper.extra["classes"])}
        tr = [it for it in scan.train_items if it["order"] < it["n_images"] - 1]
        va = [it for it in scan.train_items if it["order"] == it["n_images"] - 1]
        xt, tr = self._arrays(tr, hyper.input_size)
        xv, va = self._arrays(va, hyper.input_size)
        yt = np.array([classes[it["label"]] for it in tr], np.int64)
        yv = np.array([classes[it["label"]] for it in va], np.int64)
        import tensorflow as tf

        train = (tf.data.Dataset.from_tensor_slices((xt, yt))
                 .shuffle(len(xt), seed=hyper.seed, reshuffle_each_iteration=True).batch(hyper.batch_size))
        val = tf.data.Dataset.from_tensor_slices((xv, yv)).batch(hyper.batch_size)
        return {"train": train, "val": val, "steps_per_epoch": None, "validation_steps": None,
                "class_weight": None}

    # ---------------------------------------------------------------- evaluation
    def evaluate(self, model: Any, scan: DatasetScan, hyper: Hyper, progress: Progress = null_progress,
                 cancel: CancelToken = NEVER_CANCELLED) -> dict[str, Any]:
        import keras

        from fpstation.ml.datasets import subject_split
        from fpstation.ml.face import metrics as fm
        from fpstation.ml.face.embed import l2n
        from fpstation.ml.face.protocol import Embedded, pooled, split_scores

        x, kept = self._arrays(scan.val_items, hyper.input_size, cancel, progress)
        emb_model = keras.Model(model.inputs[0], model.get_layer("embedding").output)
        v = l2n(np.asarray(emb_model.predict(x, verbose=0))) if len(x) else np.zeros((0, EMBEDDING_DIM))
        e = Embedded(v, [it["subject"] for it in kept], np.array([it["order"] for it in kept]),
                     [it["path"] for it in kept], sum(self._boxes.get(it["path"]) == "whole image" for it in kept),
                     [], [])
        held = sorted(scan.val_subjects)
        # ORL (8 images per person): 5 enrolled, 3 probes, as in the bench; fewer images: all but one
        gal_imgs = min(5, max(1, min((it["n_images"] for it in kept), default=2) - 1))
        closed = split_scores(e, held, set(), gal_imgs)
        rank1_all = float(np.mean(closed["ranks"] <= 1)) if len(closed["ranks"]) else None
        thr_people, rep_people = subject_split(held, 0.5, hyper.seed + 1)
        thr_people, rep_people = sorted(thr_people), sorted(rep_people)
        out: dict[str, Any] = {
            "heldout_people_closed_set": {"people": len(held), "gallery_images": gal_imgs,
                                          "rank1": rank1_all,
                                          "rank5": float(np.mean(closed["ranks"] <= 5)) if rank1_all is not None
                                          else None, "n": int(len(closed["ranks"]))},
            "whole_image_faces": e.whole_image}
        if len(thr_people) >= 2 and len(rep_people) >= 2:
            vpool = pooled(e, thr_people, max(1, round(len(thr_people) / 4)), gal_imgs, 50, hyper.seed)
            chosen = fm.choose_threshold(vpool["mate_scores"], vpool["ranks"], vpool["nonmated_best"], 0.05)
            rpool = pooled(e, rep_people, max(1, round(len(rep_people) / 4)), gal_imgs, 50, hyper.seed + 1)
            rep = fm.open_set(rpool["mate_scores"], rpool["ranks"], rpool["nonmated_best"], chosen["threshold"])
            out["threshold"] = {"similarity": round(float(chosen["threshold"]), 6), "rule": chosen["rule"],
                                "chosen_on_people": thr_people,
                                "validation": {k: chosen[k] for k in ("fnir", "fpir", "n_mated", "n_nonmated")},
                                "metric": "cosine similarity of L2-normalised embeddings"}
            out["report_people"] = {"people": rep_people, "rank1": float(np.mean(rpool["ranks"] <= 1)),
                                    "rank5": float(np.mean(rpool["ranks"] <= 5)), "fnir": rep["fnir"],
                                    "fpir": rep["fpir"], "n_mated_searches": rep["n_mated"],
                                    "n_nonmated_searches": rep["n_nonmated"],
                                    "note": "pooled over 50 random splits (a quarter of the people left out)"}
        progress(1.0, "evaluated")
        return out

    def card_fields(self, scan: DatasetScan, hyper: Hyper) -> dict[str, Any]:
        return {"input": {"shape": [hyper.input_size, hyper.input_size, 1],
                          "preprocessing": "dlib HOG detection + 5-point alignment to a 150x150 chip (padding "
                                           "0.25; whole image when no face is found in a small image), grey, "
                                           f"resized to {hyper.input_size}x{hyper.input_size}, scaled to [0,1]"},
                "embedding": {"layer": "embedding", "dim": EMBEDDING_DIM,
                              "similarity": "cosine of L2-normalised vectors"},
                "default": False}
