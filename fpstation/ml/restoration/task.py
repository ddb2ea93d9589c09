"""The restoration training task (TrainingTask protocol of ml/tasks.py).

Accepted folder layouts, tried in this order:

1. **paired**: ``DIR/degraded/NAME`` + ``DIR/clean/NAME`` (identical file names): real pairs.
2. **fvc**: FVC-style names ``<finger>_<impression>.<ext>`` anywhere below DIR: clean prints,
   subject = ``<folder>/<finger>``; degraded synthetically.
3. **clean**: any folder of clean prints: degraded synthetically by
   :func:`fpstation.ml.restoration.degrade.degrade` (deterministic seeds from the file names).

The split is subject-disjoint (:func:`fpstation.ml.datasets.subject_split`): SOCOFing subject id,
FVC finger, else a leading number of the file name, else the file itself (with a note).
Training uses patches (``hyper.input_size``, 224 for the reference encoder-decoder); the card's
metrics are SSIM / PSNR / MAE of full-size validation prints through the application's inference
path (:func:`fpstation.ml.restoration.restore_pixels`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from fpstation.core.errors import DatasetError
from fpstation.core.jobs import NEVER_CANCELLED, CancelToken, Progress, null_progress
from fpstation.ml.datasets import (
    FVC_RE,
    LEADING_ID_RE,
    dataset_root,
    file_list_sha256,
    image_files,
    parse_socofing_name,
    subject_split,
)
from fpstation.ml.restoration import data as rd
from fpstation.ml.tasks import DatasetScan, Hyper

#: most validation prints scored for the card (keeps the evaluation step short)
MAX_EVAL = 300


def _subject(path: Path, root: Path) -> str | None:
    n = parse_socofing_name(path)
    if n is not None:
        return f"socofing/{n.subject}"
    m = FVC_RE.match(path.stem)
    if m:
        return f"{path.parent.relative_to(root)}/{m.group('finger')}"
    m = LEADING_ID_RE.match(path.stem)
    return f"{path.parent.relative_to(root)}/{int(m.group('id'))}" if m else None


def _to_sources(items: list[dict[str, Any]]) -> list[rd.Source]:
    return [rd.Source(rel=it["rel"], clean=it["path"], subject=str(it["subject"]),
                      kind="altered" if it.get("degraded") else "clean", dpi=rd.MODEL_DPI,
                      degraded=it.get("degraded", "")) for it in items]


class RestorationTask:
    """Train a U-Net (default) or the reference encoder-decoder on a folder of prints."""

    name = "restoration"
    title = "Restoration"
    architectures = ["unet", "autoencoder"]
    monitor = "val_loss"
    monitor_mode = "min"
    metric = "val_ssim"

    def default_hyper(self) -> Hyper:
        return Hyper(architecture="unet", epochs=10, batch_size=16, learning_rate=1e-3, input_size=96,
                     augment=True, seed=0, val_fraction=0.2,
                     extra={"base": 8, "levels": 3, "loss": "l1_ssim", "degradations": 4, "crops": 4})

    # -- scan -----------------------------------------------------------------------------
    def scan(self, root: Path, hyper: Hyper, progress: Progress = null_progress,
             cancel: CancelToken = NEVER_CANCELLED) -> DatasetScan:
        root = dataset_root(root)
        progress(0.0, "listing files")
        notes: list[str] = []
        items: list[dict[str, Any]] = []
        sub = {d.name.lower(): d for d in root.iterdir() if d.is_dir()}
        if "degraded" in sub and "clean" in sub:
            layout = "paired"
            clean = {p.relative_to(sub["clean"]).as_posix(): p for p in image_files(sub["clean"])}
            unmatched = 0
            for p in image_files(sub["degraded"]):
                rel = p.relative_to(sub["degraded"]).as_posix()
                if rel in clean:
                    items.append({"path": str(clean[rel]), "degraded": str(p), "rel": rel, "label": "pair"})
                else:
                    unmatched += 1
            if unmatched:
                notes.append(f"{unmatched} degraded image(s) have no clean file of the same name (skipped).")
            counts_key = "pairs"
        else:
            files = image_files(root)
            layout = "fvc" if files and all(FVC_RE.match(p.stem) for p in files) else "clean"
            items = [{"path": str(p), "rel": p.relative_to(root).as_posix(), "label": "clean"} for p in files]
            notes.append("Clean prints: training pairs are made by synthetic degradation "
                         "(fpstation.ml.restoration.degrade, deterministic seeds).")
            counts_key = "clean prints"
        cancel.raise_if_cancelled()
        unknown = 0
        for it in items:
            s = _subject(Path(it["path"]), root if layout != "paired" else sub["clean"])
            if s is None:
                unknown += 1
                s = it["rel"]
            it["subject"] = s
        if unknown:
            notes.append(f"{unknown} file name(s) carry no subject id: each is its own subject, so the split "
                         "could NOT be made fully subject-disjoint.")
        subjects = {it["subject"] for it in items}
        train_s, val_s = subject_split(subjects, hyper.val_fraction, hyper.seed)
        files = [it["path"] for it in items] + [it["degraded"] for it in items if it.get("degraded")]
        progress(1.0, "scan done")
        return DatasetScan(root=root, layout=layout, items=items, counts={counts_key: len(items)},
                           subjects=len(subjects), train_subjects=train_s, val_subjects=val_s,
                           file_list_sha256=file_list_sha256(files, root) if files else "", notes=notes)

    # -- model ----------------------------------------------------------------------------
    def _patch(self, hyper: Hyper) -> int:
        if hyper.architecture == "autoencoder":
            return 224  # the reference model's fixed input
        m = 2 ** int(hyper.extra.get("levels", 3))
        return max(m, int(round(int(hyper.input_size) / m)) * m)

    def build_model(self, hyper: Hyper) -> Any:
        from fpstation.ml.architectures import build_autoencoder, build_unet

        if hyper.architecture == "autoencoder":
            return build_autoencoder((224, 224, 1), learning_rate=hyper.learning_rate)
        if hyper.architecture != "unet":
            raise DatasetError(f"Unknown architecture “{hyper.architecture}” for restoration.")
        return build_unet((None, None, 1), base=int(hyper.extra.get("base", 8)),
                          levels=int(hyper.extra.get("levels", 3)), learning_rate=hyper.learning_rate,
                          loss=str(hyper.extra.get("loss", "l1_ssim")),
                          residual=bool(hyper.extra.get("residual", True)),
                          upsampling=str(hyper.extra.get("upsampling", "transpose")))

    def _arrays(self, items: list[dict], hyper: Hyper, tag: str, degradations: int, crops: int,
                ) -> tuple[np.ndarray, np.ndarray]:
        per = {"clean": (degradations, crops), "altered": (1, crops)}
        x, y = rd.make_patches(_to_sources(items), self._patch(hyper), tag=f"{tag}:{hyper.seed}", per_image=per)
        return x, y

    def datasets(self, scan: DatasetScan, hyper: Hyper) -> dict[str, Any]:
        import tensorflow as tf

        deg, crops = int(hyper.extra.get("degradations", 4)), int(hyper.extra.get("crops", 4))
        xt, yt = self._arrays(scan.train_items, hyper, "train", deg, crops)
        xv, yv = self._arrays(scan.val_items, hyper, "val", 1, crops)

        def prep(augment: bool):
            def f(a, b):
                a = tf.cast(a, tf.float32)[..., None] / 255.0
                b = tf.cast(b, tf.float32)[..., None] / 255.0
                if augment:  # the same flip / quarter turn on both sides
                    ab = tf.image.random_flip_left_right(tf.concat([a, b], -1))
                    ab = tf.image.rot90(ab, tf.random.uniform([], 0, 4, tf.int32))
                    a, b = ab[..., :1], ab[..., 1:]
                return a, b
            return f

        train = (tf.data.Dataset.from_tensor_slices((xt, yt))
                 .shuffle(len(xt), seed=hyper.seed, reshuffle_each_iteration=True)
                 .map(prep(hyper.augment), num_parallel_calls=1).batch(hyper.batch_size).prefetch(2))
        val = tf.data.Dataset.from_tensor_slices((xv, yv)).map(prep(False)).batch(max(hyper.batch_size, 32))
        return {"train": train, "val": val, "steps_per_epoch": None, "validation_steps": None,
                "class_weight": None}

    # -- evaluation -------------------------------------------------------------------------
    def evaluate(self, model: Any, scan: DatasetScan, hyper: Hyper, progress: Progress = null_progress,
                 cancel: CancelToken = NEVER_CANCELLED) -> dict[str, Any]:
        from fpstation.ml.cards import parse_card
        from fpstation.ml.restoration import _size_agnostic, card_levels, card_min_size, model_fn
        from fpstation.ml.restoration.eval import evaluate_sources

        # the card this run will get decides levels, minimum size and size-agnostic rebuild, as at inference
        card = parse_card(self.card_fields(scan, hyper), strict=False)
        srcs = sorted(_to_sources(scan.val_items), key=lambda s: rd.stable_seed("pick", s.rel))[:MAX_EVAL]
        r = evaluate_sources(model_fn(_size_agnostic(model, card)), card_levels(card), srcs,
                             tag=f"eval:{hyper.seed}", min_size=card_min_size(card), progress=progress, cancel=cancel)
        return {"n": r["n"], "ssim": r["ssim"], "psnr": r["psnr"], "mae": r["mae"], "identity": r["identity"],
                "note": "full-size validation prints (subject-disjoint), images in [0,1]; identity = the "
                        "degraded input itself"}

    def card_fields(self, scan: DatasetScan, hyper: Hyper) -> dict[str, Any]:
        levels = 2 if hyper.architecture == "autoencoder" else int(hyper.extra.get("levels", 3))
        return {
            "task": self.name, "architecture": hyper.architecture, "levels": levels,
            "loss": "mse" if hyper.architecture == "autoencoder" else str(hyper.extra.get("loss", "l1_ssim")),
            "input": {"shape": [224, 224, 1] if hyper.architecture == "autoencoder" else [None, None, 1],
                      "dpi": rd.MODEL_DPI, "patch": self._patch(hyper),
                      "preprocessing": "grey levels scaled to [0,1]; trained on patches; inference reflect-pads "
                                       "to a multiple of 2**levels and crops back"},
        }
