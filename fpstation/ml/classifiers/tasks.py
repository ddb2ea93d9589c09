"""Training tasks for the PAD and gender classifiers (the TrainingTask protocol of ml/tasks.py).

Both tasks: scan a folder (SOCOFing, LivDet-style Live/Fake, or one folder per class), split it
by subject with :func:`fpstation.ml.datasets.subject_split`, fit a small CNN on whole prints
fitted to the input size (:func:`fpstation.ml.classifiers.fit_to_input`), then calibrate the
logit on validation (Platt scaling) and, for PAD, choose the operating threshold there.

Images are decoded once into a uint8 array (optionally cached as ``.npy`` in
``hyper.extra["cache_dir"]``) so an epoch costs only the CNN.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from fpstation.core.errors import DatasetError
from fpstation.core.jobs import NEVER_CANCELLED, CancelToken, Progress, null_progress, wrap_progress
from fpstation.ml.classifiers import metrics as cm
from fpstation.ml.classifiers.train_data import (  # noqa: F401 - load_array: part of this module's API
    _augment_fn,
    _balanced_weights,
    _patch_augment,
    add_synthetic_alterations,
    alteration_masks,
    load_array,
    map_dataset,
    mask_cells,
    sample_weights,
    weighted_dataset,
)
from fpstation.ml.datasets import (
    SOCOFING_ATTACKS,
    dataset_root,
    detect_layout,
    file_list_sha256,
    read_gray,
    scan_class_folders,
    scan_livdet,
    scan_socofing,
    subject_split,
)
from fpstation.ml.tasks import DatasetScan, Hyper

_LIVE_CLASS_NAMES = {"live", "real", "bonafide", "bona_fide", "bona-fide", "genuine"}
_FEMALE_NAMES = {"f", "female", "woman", "women"}
_MALE_NAMES = {"m", "male", "man", "men"}


#: what a whole-print PAD card's preprocessing adds when it scores the mirror view too
MIRROR_NOTE = "; logit = mean of the print's and its left-right mirror's"


class _ClassifierTask:
    """Shared parts of the PAD and gender tasks."""

    name = ""
    title = ""
    architectures: list[str] = []
    monitor = "val_auc"
    monitor_mode = "max"
    metric = "val_auc"
    rotate_augment = False

    # -- protocol -----------------------------------------------------------------------
    def default_hyper(self) -> Hyper:
        return Hyper(architecture=self.architectures[0], epochs=30, batch_size=64, learning_rate=1e-3,
                     input_size=96, augment=True, seed=0, val_fraction=0.2,
                     extra={"width": 16, "cache_dir": ""})

    def input_shape(self, hyper: Hyper) -> tuple[int, int]:
        s = hyper.extra.get("input_shape")
        if s:
            return int(s[0]), int(s[1])
        # input_size = width; SOCOFing's aspect (103:96) rounded to a multiple of 8
        w = int(hyper.input_size)
        return int(round(w * 103 / 96 / 8) * 8), w

    def build_model(self, hyper: Hyper) -> Any:
        from fpstation.ml.architectures import CLASSIFIER_BUILDERS

        if hyper.architecture not in CLASSIFIER_BUILDERS:
            raise DatasetError(f"Unknown architecture “{hyper.architecture}” for {self.title}.")
        h, w = self.input_shape(hyper)
        kwargs: dict[str, Any] = {"learning_rate": hyper.learning_rate}
        if hyper.architecture != "reference_gender_cnn":
            kwargs["width"] = int(hyper.extra.get("width", 16))
            kwargs["convs_per_block"] = int(hyper.extra.get("convs_per_block", 1))
        if hyper.extra.get("alter_map"):
            if hyper.architecture != "pad_cnn":
                raise DatasetError(f"An alteration map is trained only with pad_cnn, not “{hyper.architecture}”.")
            kwargs["alter_map"] = float(hyper.extra["alter_map"])
        return CLASSIFIER_BUILDERS[hyper.architecture]((h, w, 1), **kwargs)

    def _items(self, root: Path, hyper: Hyper) -> tuple[str, list[dict], list[str]]:
        raise NotImplementedError

    def scan(self, root: Path, hyper: Hyper, progress: Progress = null_progress,
             cancel: CancelToken = NEVER_CANCELLED) -> DatasetScan:
        root = dataset_root(root)
        progress(0.0, "listing files")
        layout, items, notes = self._items(root, hyper)
        cancel.raise_if_cancelled()
        if not items:
            raise DatasetError(f"No usable images for {self.title} were found in “{root}”.", path=str(root))
        if len({it["y"] for it in items}) < 2:
            raise DatasetError(f"“{root}” holds only one class; {self.title} needs both.", path=str(root))
        subjects = {str(it["subject"]) for it in items}
        train_s, val_s = subject_split(subjects, hyper.val_fraction, hyper.seed)
        forced = [str(v) for v in hyper.extra.get("val_subjects") or []]
        if forced:
            missing = [v for v in forced if v not in subjects]
            if missing:
                raise DatasetError(f"Validation subject(s) {', '.join(missing)} are not in “{root}”.", path=str(root))
            val_s, train_s = set(forced), subjects - set(forced)
            notes.append(f"Validation subjects chosen by the user: {', '.join(sorted(val_s, key=_natural))}.")
        elif (not val_s or not train_s) and len(subjects) >= 2:
            # A handful of subjects (e.g. LivDet's 7): the salted-hash split can leave one side
            # empty; validate on the last subject (natural order) that holds both classes.
            both = [sj for sj in sorted(subjects, key=_natural)
                    if len({it["y"] for it in items if str(it["subject"]) == sj}) == 2]
            val_s = {(both or sorted(subjects, key=_natural))[-1]}
            train_s = subjects - val_s
            notes.append(f"Only {len(subjects)} subjects: validation = subject {next(iter(val_s))} "
                         "(the last holding both classes).")
        if not val_s or not train_s:
            raise DatasetError(f"Too few subjects ({len(subjects)}) for a subject-disjoint split.", path=str(root))
        scan = DatasetScan(root=root, layout=layout, items=items, counts=self._counts(items),
                           subjects=len(subjects), train_subjects=train_s, val_subjects=val_s,
                           file_list_sha256=file_list_sha256([it["path"] for it in items], root), notes=notes)
        for part in (scan.train_items, scan.val_items):
            if len({it["y"] for it in part}) < 2:
                scan.notes.append("Warning: one side of the split holds a single class; add data.")
        progress(1.0, "scan done")
        return scan

    def _counts(self, items: list[dict]) -> dict[str, int]:
        return dict(sorted(Counter(it["class_name"] for it in items).items()))

    def arrays(self, items: list[dict], hyper: Hyper, progress: Progress = null_progress,
               cancel: CancelToken = NEVER_CANCELLED) -> tuple[np.ndarray, np.ndarray, list[dict]]:
        """(x float32 (N,H,W,1) in [0,1], y int (N,), kept items) with unreadable files dropped."""
        x, bad = load_array(items, self.input_shape(hyper), hyper.extra.get("cache_dir") or None, progress, cancel)
        badset = {p for p, _ in bad}
        keep = [i for i, it in enumerate(items) if it["path"] not in badset]
        y = np.array([items[i]["y"] for i in keep], np.int32)
        return x[keep].astype(np.float32)[..., None] / 255.0, y, [items[i] for i in keep]

    def datasets(self, scan: DatasetScan, hyper: Hyper) -> dict[str, Any]:
        import tensorflow as tf

        xt, yt, _ = self.arrays(scan.train_items, hyper)
        xt, yt = self._more_training(xt, yt, hyper)
        xv, yv, _ = self.arrays(scan.val_items, hyper)
        ds = tf.data.Dataset.from_tensor_slices((xt, yt.astype(np.float32)[:, None]))
        ds = ds.shuffle(len(xt), seed=hyper.seed, reshuffle_each_iteration=True)
        ds = ds.batch(hyper.batch_size)
        if hyper.augment:
            ds = ds.map(_augment_fn(self.rotate_augment), num_parallel_calls=1)
        ds = ds.prefetch(2)
        return {"train": ds, "val": (xv, yv.astype(np.float32)[:, None]), "steps_per_epoch": None,
                "validation_steps": None, "class_weight": _balanced_weights(yt)}

    def _more_training(self, x: np.ndarray, y: np.ndarray, hyper: Hyper) -> tuple[np.ndarray, np.ndarray]:
        """Training rows added to the training split's own (none by default)."""
        return x, y

    @staticmethod
    def logits(model: Any, x: np.ndarray, batch: int = 256, cancel: CancelToken = NEVER_CANCELLED) -> np.ndarray:
        """Model logits in batches (a direct call: no per-call ``predict`` overhead)."""
        out = []
        for i in range(0, len(x), batch):
            cancel.raise_if_cancelled()
            z = model(x[i:i + batch], training=False)
            out.append(np.asarray(z["logit"] if isinstance(z, dict) else z).reshape(-1))
        return np.concatenate(out) if out else np.zeros(0)

    @classmethod
    def mirror_logits(cls, model: Any, x: np.ndarray, z: np.ndarray | None = None) -> np.ndarray:
        """Per print: the mean of its logit and its left-right mirror's (the mirror view; ``z``: the
        prints' own logits when already computed)."""
        z = cls.logits(model, x) if z is None else z
        return 0.5 * (z + cls.logits(model, np.ascontiguousarray(x[:, :, ::-1])))

    def card_fields(self, scan: DatasetScan, hyper: Hyper) -> dict[str, Any]:
        h, w = self.input_shape(hyper)
        return {
            "task": self.name,
            "architecture": hyper.architecture,
            "input": {"shape": [h, w, 1], "dpi": hyper.extra.get("dpi"),
                      "preprocessing": "whole print fitted to the input (aspect kept, shrunk only if larger, "
                                       "edge-replicated margins), scaled to [0,1]; resampled to 'dpi' first "
                                       "when both the model's and the image's dpi are known"},
            "data": {"root": str(scan.root), "layout": scan.layout, "counts": scan.counts,
                     "subjects": scan.subjects, "file_list_sha256": scan.file_list_sha256,
                     "notes": list(scan.notes)},
            "split": {"rule": f"fpstation.ml.datasets.subject_split(val_fraction={hyper.val_fraction}, "
                              f"seed={hyper.seed}) over subject ids",
                      "val_fraction": hyper.val_fraction, "seed": hyper.seed,
                      "train_subjects": sorted(scan.train_subjects, key=_natural),
                      "val_subjects": sorted(scan.val_subjects, key=_natural),
                      "n_train": len(scan.train_items), "n_val": len(scan.val_items)},
            "hyper": {"epochs": hyper.epochs, "batch_size": hyper.batch_size, "learning_rate": hyper.learning_rate,
                      "augment": hyper.augment, "width": hyper.extra.get("width"),
                      "convs_per_block": hyper.extra.get("convs_per_block", 1),
                      **({"synth_alter": hyper.extra["synth_alter"]} if hyper.extra.get("synth_alter") else {}),
                      **({"alter_map": hyper.extra["alter_map"]} if hyper.extra.get("alter_map") else {}),
                      **({"attack_weights": hyper.extra["attack_weights"]} if hyper.extra.get("attack_weights") else {})},
        }


def pad_evaluation(s: np.ndarray, yv: np.ndarray, types: list, max_bpcer: float, cal: dict[str, Any],
                   note: str = "threshold, calibration and these rates all come from the same validation subjects",
                   rule: str = "") -> dict[str, Any]:
    """A PAD card's evaluation from calibrated attack scores ``s`` of labelled prints: the threshold
    (lowest with BPCER <= ``max_bpcer``), APCER per attack type, BPCER20/100, a dense ROC and the
    score histograms. Flat: the training drivers store it as the card's "metrics" and lift
    "calibration" / "threshold" / "roc" / "score_distribution" to the top."""
    yv = np.asarray(yv)
    thr = cm.threshold_for_bpcer(s, yv, max_bpcer)
    rates = cm.pad_rates(s, yv, types, thr)
    hist_bins = np.linspace(0, 1, 51)
    # dense ROC (+ APCER per attack type at the same thresholds) so the panel can show the
    # validation APCER/BPCER for any threshold the operator picks
    roc = cm.roc_points(s, yv, max_points=1500)
    roc["apcer_by_type"] = cm.apcer_by_type_at(s, yv, types, roc["threshold"])
    return {
        "val_n": int(len(yv)), "auc": cm.roc_auc(s, yv),
        "apcer": rates["apcer"], "apcer_max": rates["apcer_max"], "apcer_pooled": rates["apcer_pooled"],
        "bpcer": rates["bpcer"],
        "bpcer20": cm.bpcer_at_apcer(s, yv, types, 0.05), "bpcer100": cm.bpcer_at_apcer(s, yv, types, 0.01),
        "at_0.5": cm.pad_rates(s, yv, types, 0.5),
        "note": note,
        "calibration": cal,
        "threshold": {"value": thr, "rule": rule or f"lowest threshold with validation BPCER <= {max_bpcer:g}",
                      "apcer": rates["apcer"], "apcer_max": rates["apcer_max"], "bpcer": rates["bpcer"]},
        "roc": roc,
        "score_distribution": {
            "bins": [float(b) for b in hist_bins],
            "bona_fide": np.histogram(s[yv == 0], hist_bins)[0].tolist(),
            "attack": np.histogram(s[yv == 1], hist_bins)[0].tolist()},
    }


def _calibrate(z: np.ndarray, y: np.ndarray, balanced: bool) -> dict[str, Any]:
    """Platt scaling on validation; identity (with a note) when validation lacks a class."""
    try:
        return cm.platt_fit(z, y, balanced=balanced)
    except ValueError as exc:
        return {"method": "none", "a": 1.0, "b": 0.0, "balanced": balanced, "note": str(exc)}


def _natural(s: str) -> tuple:
    return (0, int(s), "") if str(s).isdigit() else (1, 0, str(s))


def shortcut_check(x: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """AUC of trivial image statistics for the label: a value far from 0.5 warns that a model
    could separate the classes by a format/intensity artefact instead of the print content."""
    flat = x.reshape(len(x), -1)
    feats = {"mean_intensity": flat.mean(1), "std_intensity": flat.std(1),
             "dark_fraction": (flat < 0.1).mean(1), "white_fraction": (flat > 0.9).mean(1)}
    out = {}
    for k, v in feats.items():
        a = cm.roc_auc(v, y)
        out[k] = float(max(a, 1 - a))  # direction-free separability
    return out


# ------------------------------------------------------------------------------------ PAD
def socofing_domain(items: list[dict]) -> dict[str, Any]:
    """What a whole-print model trained on a SOCOFing-layout folder was validated on (its card's
    ``domain``): the sensors' 500 dpi ±10 % (files without dpi assumed to match), and print sizes
    as read, 0.8x the smallest to 1.25x the largest of ``items`` (SOCOFing: 103x96 and a few 298x241)."""
    import cv2

    hs, ws = [], []
    for it in items:
        im = cv2.imread(str(it["path"]), cv2.IMREAD_UNCHANGED)
        if im is not None:
            hs.append(im.shape[0])
            ws.append(im.shape[1])
    out: dict[str, Any] = {"sensors": ["SOCOFing (Hamster Plus, SecuGen SDU03PTM), 500 dpi"],
                           "dpi": {"nominal": 500, "min": 450, "max": 550, "unknown": "assume"}}
    if hs:
        out["size_px"] = {"height": [int(0.8 * min(hs)), int(round(1.25 * max(hs)))],
                          "width": [int(0.8 * min(ws)), int(round(1.25 * max(ws)))],
                          "rule": "0.8x the smallest to 1.25x the largest training/validation print, in pixels "
                                  "as read (the model fits the whole print to its input, no resampling)"}
    return out


class PadTask(_ClassifierTask):
    """Bona fide (0) vs presentation attack (1): SOCOFing Real vs Altered, or LivDet Live vs Fake.

    Two architectures: ``pad_cnn`` sees the whole print fitted to a thumbnail (alterations);
    ``pad_patch_cnn`` sees texture patches at a fixed physical resolution (material spoofs, see
    :mod:`fpstation.ml.classifiers.patches`); its print score is the mean patch logit, calibrated
    and thresholded per print. ``hyper.extra["dpi"]`` = the dataset's resolution stated by the user
    (files without dpi metadata); ``hyper.extra["val_subjects"]`` forces the validation subjects.
    """

    name = "pad"
    title = "Presentation attack"
    architectures = ["pad_cnn", "pad_patch_cnn"]

    def __init__(self) -> None:
        self._patch_cache: dict[tuple, Any] = {}

    def default_hyper(self) -> Hyper:
        h = super().default_hyper()
        h.extra["max_bpcer"] = 0.01
        return h

    @staticmethod
    def patch_hyper(h: Hyper) -> Hyper:
        """``h`` switched to the patch model's defaults (``train pad --dpi N`` without ``--arch``)."""
        from fpstation.ml.classifiers.patches import PATCH_DPI, PATCH_SIZE

        h.architecture = "pad_patch_cnn"
        h.input_size = PATCH_SIZE
        h.epochs, h.batch_size, h.learning_rate = 8, 128, 2e-3
        h.extra.update(model_dpi=PATCH_DPI, train_stride=48, train_patches=48, steps_per_epoch=60)
        return h

    # -- patch model ------------------------------------------------------------------
    @staticmethod
    def is_patch(hyper: Hyper) -> bool:
        return hyper.architecture == "pad_patch_cnn"

    def input_shape(self, hyper: Hyper) -> tuple[int, int]:
        if self.is_patch(hyper):
            return int(hyper.input_size), int(hyper.input_size)
        return super().input_shape(hyper)

    def print_patches(self, item: dict, hyper: Hyper, training: bool) -> Any:
        """The :class:`~fpstation.ml.classifiers.patches.Patches` of one item (cached per task):
        ``training`` = overlapping grid (more, varied patches); else the inference grid."""
        from fpstation.ml.classifiers.patches import extract_patches

        model_dpi = hyper.extra.get("model_dpi")
        stride = int(hyper.extra.get("train_stride", hyper.input_size)) if training else None
        cap = int(hyper.extra.get("train_patches", 48)) if training else 64
        key = (item["path"], training, model_dpi, stride, cap, hyper.input_size, hyper.extra.get("dpi"))
        if key not in self._patch_cache:
            self._patch_cache[key] = extract_patches(read_gray(item["path"]), hyper.extra.get("dpi"), model_dpi,
                                                     int(hyper.input_size), stride=stride, max_patches=cap)
        return self._patch_cache[key]

    def patch_arrays(self, items: list[dict], hyper: Hyper, training: bool, progress: Progress = null_progress,
                     cancel: CancelToken = NEVER_CANCELLED) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[dict]]:
        """(patches uint8 (P, S, S), patch labels (P,), owner index (P,) into kept items, kept items)."""
        xs, ys, owner, kept = [], [], [], []
        for i, it in enumerate(items):
            if i % 16 == 0:
                cancel.raise_if_cancelled()
                progress(i / max(len(items), 1), f"cutting patches {i}/{len(items)}")
            try:
                pt = self.print_patches(it, hyper, training)
            except Exception:  # noqa: BLE001 - an unreadable file is skipped, as in arrays()
                continue
            xs.append(pt.pixels)
            ys.append(np.full(len(pt.pixels), it["y"], np.int32))
            owner.append(np.full(len(pt.pixels), len(kept), np.int32))
            kept.append(it)
        progress(1.0, "patches cut")
        if not xs:
            raise DatasetError("No readable prints to cut patches from.")
        return np.concatenate(xs), np.concatenate(ys), np.concatenate(owner), kept

    def print_logits(self, model: Any, items: list[dict], hyper: Hyper, progress: Progress = null_progress,
                     cancel: CancelToken = NEVER_CANCELLED) -> tuple[np.ndarray, list[dict]]:
        """Fused (mean patch logit) logit per readable item, on the inference patch grid."""
        from fpstation.ml.classifiers.patches import fuse_logits

        x, _, owner, kept = self.patch_arrays(items, hyper, False, wrap_progress(progress, 0, 0.5), cancel)
        z = self.logits(model, x.astype(np.float32)[..., None] / 255.0, cancel=cancel)
        return np.array([fuse_logits(z[owner == i]) for i in range(len(kept))]), kept

    def _patch_datasets(self, scan: DatasetScan, hyper: Hyper) -> dict[str, Any]:
        import tensorflow as tf

        xt, yt, _, _ = self.patch_arrays(scan.train_items, hyper, True)
        xv, yv, _, _ = self.patch_arrays(scan.val_items, hyper, False)
        ds = tf.data.Dataset.from_tensor_slices((xt[..., None], yt.astype(np.float32)[:, None]))
        ds = ds.shuffle(len(xt), seed=hyper.seed, reshuffle_each_iteration=True).repeat()
        ds = ds.batch(hyper.batch_size).map(_patch_augment(hyper.augment), num_parallel_calls=1).prefetch(2)
        steps = int(hyper.extra.get("steps_per_epoch") or 0) or max(1, len(xt) // hyper.batch_size)
        return {"train": ds, "val": (xv.astype(np.float32)[..., None] / 255.0, yv.astype(np.float32)[:, None]),
                "steps_per_epoch": steps, "validation_steps": None, "class_weight": _balanced_weights(yt)}

    def datasets(self, scan: DatasetScan, hyper: Hyper) -> dict[str, Any]:
        if self.is_patch(hyper):
            return self._patch_datasets(scan, hyper)
        if hyper.extra.get("alter_map"):
            return self._map_datasets(scan, hyper)
        if hyper.extra.get("attack_weights"):
            if hyper.extra.get("synth_alter"):
                raise DatasetError("Attack weights and synthetic alterations cannot be combined.")
            xt, yt, kt = self.arrays(scan.train_items, hyper)
            xv, yv, _ = self.arrays(scan.val_items, hyper)
            sw = sample_weights(kt, yt, hyper.extra["attack_weights"])
            return {"train": weighted_dataset(xt, yt, sw, hyper.batch_size, hyper.seed, hyper.augment, self.rotate_augment),
                    "val": (xv, yv.astype(np.float32)[:, None]), "steps_per_epoch": None, "validation_steps": None,
                    "class_weight": None}
        return super().datasets(scan, hyper)

    def _map_datasets(self, scan: DatasetScan, hyper: Hyper) -> dict[str, Any]:
        """``hyper.extra["alter_map"]`` > 0: the print label plus *where* each training print is
        altered (:func:`~fpstation.ml.classifiers.train_data.alteration_masks`, from the real print
        each SOCOFing alteration was made from), as 8x8-pixel cell targets of the ``alter_map`` output."""
        from fpstation.ml.architectures import PAD_MAP_BLOCK

        if hyper.extra.get("synth_alter"):
            raise DatasetError("An alteration map and synthetic alterations cannot be combined.")
        cell = 2 ** PAD_MAP_BLOCK
        xt, yt, kt = self.arrays(scan.train_items, hyper)
        xv, yv, kv = self.arrays(scan.val_items, hyper)
        mt, mv = alteration_masks(xt, kt), alteration_masks(xv, kv)
        if not (mt[yt == 1] >= 0).any():
            raise DatasetError("No altered training print has its real print beside it, so no alteration "
                               "map can be learnt (the map needs SOCOFing-style pairs).", path=str(scan.root))
        sw = sample_weights(kt, yt, hyper.extra.get("attack_weights"))
        train = map_dataset(xt, yt, mt, sw, hyper.batch_size, hyper.seed, hyper.augment, cell)
        val = (xv, {"logit": yv.astype(np.float32)[:, None], "alter_map": mask_cells(mv, cell)})
        return {"train": train, "val": val, "steps_per_epoch": None, "validation_steps": None,
                "class_weight": None, "monitor": "val_logit_auc"}

    def _more_training(self, x: np.ndarray, y: np.ndarray, hyper: Hyper) -> tuple[np.ndarray, np.ndarray]:
        """``hyper.extra["synth_alter"]`` = r > 0: r × (training bona fide) synthetic flap
        alterations of training bona fide prints, as attacks (:func:`add_synthetic_alterations`)."""
        rate = float(hyper.extra.get("synth_alter") or 0.0)
        if rate <= 0:
            return x, y
        u8 = np.round(x[..., 0] * 255.0).astype(np.uint8)
        u8, y = add_synthetic_alterations(u8, y, rate, int(hyper.seed))
        return u8.astype(np.float32)[..., None] / 255.0, y

    def domain(self, scan: DatasetScan, hyper: Hyper) -> dict[str, Any]:
        """The card's ``domain`` entry: the data's (stated) dpi ±10 %, print sizes at the model's
        dpi from 0.3× the smallest to 1.5× the largest training print."""
        from fpstation.core.imageio import read_print

        dpi = hyper.extra.get("dpi")
        model_dpi = hyper.extra.get("model_dpi") or dpi
        hs, ws = [], []
        for it in scan.items[:: max(1, len(scan.items) // 50)]:
            try:
                im = read_print(it["path"])
            except Exception:  # noqa: BLE001
                continue
            f = float(model_dpi) / float(dpi or im.dpi or model_dpi) if model_dpi else 1.0
            hs.append(im.height * f)
            ws.append(im.width * f)
        out: dict[str, Any] = {"sensors": list(hyper.extra.get("sensors") or [scan.layout + " data"])}
        if dpi or model_dpi:
            nominal = float(dpi or model_dpi)
            # a texture model works at a physical scale: with no dpi (read or stated) it cannot
            # know the scale, so such a print is outside its domain rather than assumed to fit
            out["dpi"] = {"nominal": nominal, "min": round(nominal * 0.9), "max": round(nominal * 1.1),
                          "unknown": "outside"}
        if hs:
            out["size_px"] = {"height": [round(0.3 * min(hs)), round(1.5 * max(hs))],
                              "width": [round(0.3 * min(ws)), round(1.5 * max(ws))],
                              "rule": "0.3x the smallest to 1.5x the largest training print, at the model's dpi"}
        return out

    def _items(self, root: Path, hyper: Hyper) -> tuple[str, list[dict], list[str]]:
        layout = detect_layout(root)
        notes: list[str] = []
        if layout == "socofing":
            items = scan_socofing(root)
            for it in items:
                it["y"] = int(it["kind"] == "altered")
                it["class_name"] = f"attack: {it['attack_type']}" if it["y"] else "bona fide"
            notes.append("Attacks are SOCOFing's synthetic alterations (obliteration, z-cut, central rotation) "
                         "of the same subjects' real prints: alteration attacks, not physical spoofs.")
        elif layout == "livdet":
            items, notes = scan_livdet(root)
            for it in items:
                it["y"] = int(it["label"] == "attack")
                it["class_name"] = f"attack: {it['attack_type']}" if it["y"] else "bona fide"
        elif layout == "class-folders":
            items, notes = scan_class_folders(root)
            for it in items:
                live = it["label"].lower() in _LIVE_CLASS_NAMES
                it["y"] = int(not live)
                it["attack_type"] = None if live else it["label"]
                it["class_name"] = "bona fide" if live else f"attack: {it['label']}"
            if not any(it["y"] == 0 for it in items):
                raise DatasetError("No bona fide class folder (Live/Real/Bonafide) was found.", path=str(root))
        else:
            raise DatasetError(f"“{root}” is neither SOCOFing (Real/, Altered/), LivDet-style (Live/, Fake/ or "
                               "Spoof/) nor one folder per class.", path=str(root))
        return layout, items, notes

    def attack_types(self, scan: DatasetScan) -> list[str]:
        return sorted({it["attack_type"] for it in scan.train_items if it["y"] == 1 and it["attack_type"]})

    def evaluate(self, model: Any, scan: DatasetScan, hyper: Hyper, progress: Progress = null_progress,
                 cancel: CancelToken = NEVER_CANCELLED) -> dict[str, Any]:
        """Calibrate on validation, choose the threshold for BPCER ≤ ``max_bpcer``, report rates."""
        if self.is_patch(hyper):
            z, items = self.print_logits(model, scan.val_items, hyper, wrap_progress(progress, 0, 0.7), cancel)
            yv = np.array([it["y"] for it in items], np.int32)
            xv = None
        else:
            xv, yv, items = self.arrays(scan.val_items, hyper, wrap_progress(progress, 0, 0.5), cancel)
            z = self.logits(model, xv, cancel=cancel)
        types = [it["attack_type"] if it["y"] else None for it in items]
        max_bpcer = float(hyper.extra.get("max_bpcer", 0.01))
        view = None
        if xv is not None and hyper.extra.get("mirror"):
            z, view = self._mirror_view(model, xv, z, yv, types, hyper, max_bpcer)
        progress(0.8, "calibrating")
        cal = _calibrate(z, yv, balanced=False)
        s = cm.sigmoid(cm.apply_calibration(z, cal))
        ev = pad_evaluation(s, yv, types, max_bpcer, cal)
        progress(1.0, "evaluated")
        return {
            **ev,
            **({"shortcut_check": shortcut_check(xv, yv)} if xv is not None else {}),
            **({"view": view} if view else {}),
        }

    def _mirror_view(self, model: Any, xv: np.ndarray, z: np.ndarray, yv: np.ndarray, types: list,
                     hyper: Hyper, max_bpcer: float) -> tuple[np.ndarray, dict[str, Any]]:
        """``hyper.extra["mirror"]``: True = score the mean logit of each print and its left-right
        mirror; "auto" = that only if it gives the lower validation APCER_max at the BPCER
        ≤ ``max_bpcer`` threshold (ties: the print as given). Resolves "auto" to True/False in
        ``hyper.extra`` (the card's ``input.mirror``) and returns (validation logits, the choice)."""
        zm = self.mirror_logits(model, xv, z)
        apcer = {}
        for name, zz in (("plain", z), ("mirror", zm)):
            ss = cm.sigmoid(cm.apply_calibration(zz, _calibrate(zz, yv, balanced=False)))
            apcer[name] = float(cm.pad_rates(ss, yv, types, cm.threshold_for_bpcer(ss, yv, max_bpcer))["apcer_max"])
        hyper.extra.setdefault("mirror_asked", hyper.extra["mirror"])  # what was asked (the card's command)
        if hyper.extra["mirror"] == "auto":
            hyper.extra["mirror"] = bool(apcer["mirror"] < apcer["plain"])
        chosen = "mirror" if hyper.extra["mirror"] else "plain"
        return (zm if chosen == "mirror" else z), {
            "chosen": chosen, "validation_apcer_max": apcer,
            "rule": f"the mirror mean if hyper mirror=true, or if 'auto' and its validation APCER_max at BPCER <= {max_bpcer:g} is lower"}

    def card_fields(self, scan: DatasetScan, hyper: Hyper) -> dict[str, Any]:
        d = super().card_fields(scan, hyper)
        if self.is_patch(hyper):
            d["input"] = {"shape": [int(hyper.input_size), int(hyper.input_size), 1],
                          "dpi": hyper.extra.get("model_dpi"), "patches": True,
                          "data_dpi": hyper.extra.get("dpi"),
                          "preprocessing": "print resampled to 'dpi' (from the file's or the stated dpi), "
                                           "foreground by local grey-level variance, non-overlapping "
                                           "patches on a grid with >= 60 % foreground (at most 64), "
                                           "scaled to [0,1]; print logit = mean patch logit"}
            d["hyper"].update(train_stride=hyper.extra.get("train_stride"),
                              train_patches=hyper.extra.get("train_patches"),
                              steps_per_epoch=hyper.extra.get("steps_per_epoch"))
            d["domain"] = self.domain(scan, hyper)
        seen = self.attack_types(scan)
        if scan.layout == "socofing":
            order = list(SOCOFING_ATTACKS.values())
            seen = [t for t in ["obliteration", "z-cut", "central rotation"] if t in seen] or order
            if not self.is_patch(hyper):
                d["domain"] = socofing_domain(scan.items)
                d["attack_kind"] = "alteration (synthetic obliteration, z-cut, central rotation of a real print)"
        d["attack_types_seen"] = seen
        if not self.is_patch(hyper) and hyper.extra.get("mirror") is True:
            d["input"]["mirror"] = True
            d["input"]["preprocessing"] += MIRROR_NOTE
        d["score"] = "calibrated probability of a presentation attack; ATTACK when score >= threshold"
        return d


# ------------------------------------------------------------------------------------ gender
class GenderTask(_ClassifierTask):
    """Female (1) vs male (0) from one print; SOCOFing (gender in the file name) or class folders."""

    name = "gender"
    title = "Gender"
    architectures = ["gender_cnn", "reference_gender_cnn"]
    rotate_augment = True

    def _items(self, root: Path, hyper: Hyper) -> tuple[str, list[dict], list[str]]:
        layout = detect_layout(root)
        notes: list[str] = []
        if layout == "socofing":
            items = [it for it in scan_socofing(root) if it["kind"] == "real"]
            if hyper.extra.get("include_altered"):
                items = scan_socofing(root)
                notes.append("Altered prints included (same subjects; validation uses the same items).")
            for it in items:
                it["y"] = int(it["gender"] == "F")
                it["class_name"] = "female" if it["y"] else "male"
        elif layout == "class-folders":
            items, notes = scan_class_folders(root)
            kept = []
            for it in items:
                lab = it["label"].lower()
                if lab in _FEMALE_NAMES | _MALE_NAMES:
                    it["y"] = int(lab in _FEMALE_NAMES)
                    it["class_name"] = "female" if it["y"] else "male"
                    kept.append(it)
            items = kept
        else:
            raise DatasetError(f"“{root}” is not a SOCOFing folder (Real/ with names like "
                               "12__F_Left_index_finger.BMP) nor Female/ + Male/ folders.", path=str(root))
        return layout, items, notes

    def evaluate(self, model: Any, scan: DatasetScan, hyper: Hyper, progress: Progress = null_progress,
                 cancel: CancelToken = NEVER_CANCELLED) -> dict[str, Any]:
        """Balanced Platt calibration on validation; per-print and per-subject (combined) metrics."""
        xv, yv, items = self.arrays(scan.val_items, hyper, wrap_progress(progress, 0, 0.5), cancel)
        z = self.logits(model, xv, cancel=cancel)
        progress(0.8, "calibrating")
        cal = _calibrate(z, yv, balanced=True)
        zc = cm.apply_calibration(z, cal)
        metrics = gender_metrics(zc, yv, [str(it["subject"]) for it in items],
                                 float(hyper.extra.get("uncertain_band", 0.1)))
        fingers = [it.get("finger") for it in items]
        if all(fingers):
            # which finger types carry the most gender evidence (per-print, validation)
            per = {}
            for f in sorted(set(fingers)):
                m = np.array([g == f for g in fingers])
                r = cm.binary_summary(cm.sigmoid(zc[m]), yv[m])
                per[f] = {"n": r["n"], "balanced_accuracy": r["balanced_accuracy"], "auc": r["auc"]}
            metrics["per_finger"] = per
        progress(1.0, "evaluated")
        return {**metrics, "calibration": cal, "shortcut_check": shortcut_check(xv, yv)}

    def card_fields(self, scan: DatasetScan, hyper: Hyper) -> dict[str, Any]:
        d = super().card_fields(scan, hyper)
        n_f = sum(it["y"] for it in scan.items)
        d["prior_female"] = n_f / max(len(scan.items), 1)
        d["score"] = ("calibrated P(female) for EQUAL priors (class-balanced Platt scaling); multiply the odds "
                      "by prior_female/(1-prior_female) for a population with that share of women")
        return d


def gender_metrics(z_cal: np.ndarray, y: np.ndarray, subjects: list[str], uncertain_band: float = 0.1) -> dict:
    """Per-print and per-subject (mean calibrated logit) figures at P(female) = 0.5."""
    p = cm.sigmoid(z_cal)
    out = cm.binary_summary(p, y)
    half = uncertain_band / 2
    sure = np.abs(p - 0.5) >= half
    out["classes"] = ["male", "female"]
    out["uncertain_band"] = uncertain_band
    out["decided_fraction"] = float(sure.mean()) if len(p) else float("nan")
    out["balanced_accuracy_decided"] = cm.binary_summary(p[sure], y[sure])["balanced_accuracy"] if sure.any() \
        else float("nan")
    by_subj: dict[str, list[int]] = {}
    for i, s in enumerate(subjects):
        by_subj.setdefault(s, []).append(i)
    zs = np.array([cm.combine_logits(z_cal[idx]) for idx in by_subj.values()])
    ys = np.array([int(y[idx[0]]) for idx in by_subj.values()])
    per_subject = cm.binary_summary(cm.sigmoid(zs), ys)
    per_subject["prints_per_subject_mean"] = float(np.mean([len(v) for v in by_subj.values()]))
    out["per_subject"] = per_subject
    return out
