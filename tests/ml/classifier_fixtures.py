"""Generated SOCOFing- and LivDet-layout folders and a tiny installed PAD/gender model pair.

Prints are 48×44 synthetic ridge patterns (oriented sinusoids). Women get a higher ridge
frequency (as in real prints, which is what makes the tiny models learn something); altered
prints get a black blob (obliteration), a shifted band (z-cut) or a rotated centre (CR).
Files are written through core/imageio (the app's only writer).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

FINGERS = ("thumb", "index", "middle")


def ridge_print(rng: np.random.Generator, freq: float, h: int = 48, w: int = 44) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    theta = rng.uniform(0, np.pi)
    phase = rng.uniform(0, 2 * np.pi)
    v = np.sin(2 * np.pi * freq * (xx * np.cos(theta) + yy * np.sin(theta)) + phase)
    img = 128 + 100 * v + rng.normal(0, 10, (h, w))
    return np.clip(img, 0, 255).astype(np.uint8)


def alter(img: np.ndarray, kind: str, rng: np.random.Generator) -> np.ndarray:
    import cv2

    out = img.copy()
    h, w = out.shape
    if kind == "Obl":
        cv2.circle(out, (w // 2, h // 2), 9, 0, -1)
    elif kind == "Zcut":
        band = out[h // 3: 2 * h // 3].copy()
        out[h // 3: 2 * h // 3] = np.roll(band, 7, axis=1)
        out[h // 3] = 0
    else:  # CR
        c = out[h // 4: 3 * h // 4, w // 4: 3 * w // 4]
        out[h // 4: 3 * h // 4, w // 4: 3 * w // 4] = np.rot90(c, 2)
        out[h // 4, w // 4: 3 * w // 4] = 255
    return out


def make_socofing(root: Path, subjects: int = 24, seed: int = 0) -> Path:
    """``root/Real/<id>__<G>_Left_<finger>_finger.BMP`` + ``root/Altered/Altered-Easy/..._<CR|Obl|Zcut>.BMP``."""
    from fpstation.core.imageio import write_image

    rng = np.random.default_rng(seed)
    (root / "Real").mkdir(parents=True, exist_ok=True)
    alt = root / "Altered" / "Altered-Easy"
    alt.mkdir(parents=True, exist_ok=True)
    kinds = ("CR", "Obl", "Zcut")
    for s in range(1, subjects + 1):
        g = "F" if s % 2 == 0 else "M"
        for k, finger in enumerate(FINGERS):
            img = ridge_print(rng, 0.22 if g == "F" else 0.09)
            stem = f"{s}__{g}_Left_{finger}_finger"
            write_image(root / "Real" / f"{stem}.BMP", img)
            kind = kinds[(s + k) % 3]
            write_image(alt / f"{stem}_{kind}.BMP", alter(img, kind, rng))
    (root / "Real" / "README.txt").write_text("not an image")
    return root


def make_livdet(root: Path, subjects: int = 8, seed: int = 1, nested: bool = True,
                subject_ids: bool = True, size: tuple[int, int] = (48, 44)) -> Path:
    """``root/[Train/]Live/<id>_<k>.png`` + ``root/[Train/]Fake/<Material>/<id>_<k>.png`` (mixed case).
    Spoofs have a washed-out grey range (a texture cue a patch model can learn)."""
    from fpstation.core.imageio import write_image

    rng = np.random.default_rng(seed)
    base = root / "Train" if nested else root
    materials = ("Gelatine", "latex")
    for s in range(subjects):
        for k in range(2):
            name = f"{s + 1}_{k}.png" if subject_ids else f"img{s}x{k}.png"
            live = ridge_print(rng, 0.12, *size)
            d = base / "Live"
            d.mkdir(parents=True, exist_ok=True)
            write_image(d / name, live)
            fake = np.clip(ridge_print(rng, 0.12, *size).astype(np.float64) * 0.3 + 150, 0, 255).astype(np.uint8)
            d = base / ("SPOOF" if s % 2 else "Fake") / materials[s % 2]
            d.mkdir(parents=True, exist_ok=True)
            write_image(d / name, fake)
    return root


def tiny_hyper(task, epochs: int = 1):
    h = task.default_hyper()
    h.epochs = epochs
    h.batch_size = 16
    h.input_size = 32  # -> 32×32 input (small and fast)
    h.extra["width"] = 4
    h.val_fraction = 0.35
    return h


def install_tiny_models(models_dir: Path, data: Path, epochs: int = 1) -> dict[str, dict]:
    """Train 1-epoch PAD and gender models on ``data`` and install them (card + weights) in
    ``models_dir`` exactly as training/classifier_common.py does. Returns the cards."""
    from fpstation.ml.classifiers.tasks import GenderTask, PadTask
    from fpstation.ml.registry import sha256_file
    from fpstation.ml.training import fit_keras

    models_dir.mkdir(parents=True, exist_ok=True)
    cards = {}
    for task, name in ((PadTask(), "pad-tiny"), (GenderTask(), "gender-tiny")):
        hyper = tiny_hyper(task, epochs)
        scan = task.scan(data, hyper)
        model = task.build_model(hyper)
        ds = task.datasets(scan, hyper)
        res = fit_keras(model, ds["train"], ds["val"], epochs=hyper.epochs,
                        checkpoint=models_dir / f"_{name}_ckpt.keras", class_weight=ds["class_weight"],
                        monitor=task.monitor, mode=task.monitor_mode)
        ev = task.evaluate(model, scan, hyper)
        weights = models_dir / f"{name}.keras"
        model.save(weights)
        res.checkpoint.unlink()
        card = {"name": name, "task": task.name, "version": "1", "file": weights.name,
                "sha256": sha256_file(weights), "default": True}
        card.update(task.card_fields(scan, hyper))
        lifted = ("calibration", "threshold", "roc", "score_distribution")
        card["metrics"] = {k: v for k, v in ev.items() if k not in lifted}
        card.update({k: ev[k] for k in lifted if k in ev})
        (models_dir / f"{name}.json").write_text(json.dumps(card), encoding="utf-8")
        cards[task.name] = card
    return cards


def install_feature_gender_model(models_dir: Path, data: Path, name: str = "gender-features-tiny",
                                 default: bool = True) -> dict:
    """A gender feature model (gender_features.FeatureModel, the shipped v2 kind) fitted on the Real
    prints of ``data``, with a domain entry (size range of those prints, Mahalanobis statistic of
    their standardised features) and cross-validated figures in the shape of the real card."""
    from fpstation.core.domain import fit_stats
    from fpstation.core.imageio import read_print
    from fpstation.ml.classifiers.gender_features import GROUPS, FeatureModel, columns, describe, features
    from fpstation.ml.registry import sha256_file

    paths = sorted((data / "Real").glob("*.BMP"))
    f = np.stack([features(read_print(p).pixels) for p in paths])
    y = np.array([int("__F_" in p.name) for p in paths])
    model = FeatureModel.fit(f, y, columns([g for g in GROUPS if g != "finger"]), l2=10.0)
    model.coef = np.vstack([model.coef, model.coef * 0.8])  # two members: a spread to show
    models_dir.mkdir(parents=True, exist_ok=True)
    npz = models_dir / f"{name}.npz"
    model.save(npz)
    shapes = np.array([read_print(p).pixels.shape for p in paths[:3]])
    ci = {"value": 0.7, "ci95": [0.6, 0.8], "fold_mean": 0.7, "fold_std": 0.05}
    card = {"name": name, "task": "gender", "version": "2", "file": npz.name, "sha256": sha256_file(npz),
            "default": default, "architecture": "feature_logreg",
            "input": {"kind": "features", "dpi": None, "features": describe()},
            "data": {"layout": "socofing"},
            "split": {"train_subjects": [], "val_subjects": []},
            "calibration": {"a": 1.0, "b": 0.0, "balanced": True},
            "uncertain_band": 0.1, "uncertain_band_combined": 0.2,
            "metrics": {"per_print": {"balanced_accuracy": ci, "auc": ci},
                        "per_print_finger_known": {"balanced_accuracy": dict(ci, value=0.75, ci95=[0.65, 0.85])},
                        "per_subject": {"balanced_accuracy": dict(ci, value=0.8, ci95=[0.7, 0.9]), "auc": ci}},
            "domain": {"sensors": ["generated test prints"],
                       "dpi": {"nominal": 500, "min": 450, "max": 550, "unknown": "assume"},
                       "size_px": {"height": [int(shapes[:, 0].min()) - 3, int(shapes[:, 0].max()) + 3],
                                   "width": [int(shapes[:, 1].min()) - 3, int(shapes[:, 1].max()) + 3]},
                       "stats": fit_stats(model.standardise(f), "test features", 1.0)}}
    (models_dir / f"{name}.json").write_text(json.dumps(card), encoding="utf-8")
    return card
