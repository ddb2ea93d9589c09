"""Training data of the PAD and gender tasks: prints decoded once into a uint8 array (optionally
cached), augmentation as ``tf.data`` maps, class weights. TensorFlow is imported inside the functions
that build graphs (training only)."""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from fpstation.core.jobs import NEVER_CANCELLED, CancelToken, Progress, null_progress
from fpstation.ml.datasets import read_gray


def load_array(items: list[dict[str, Any]], shape: tuple[int, int], cache_dir: str | Path | None = None,
               progress: Progress = null_progress, cancel: CancelToken = NEVER_CANCELLED,
               ) -> tuple[np.ndarray, list[tuple[str, str]]]:
    """Decode and fit every item's image to ``shape``; uint8 (N, H, W).

    Unreadable files are returned as (path, reason) and their rows are zero; callers drop them.
    """
    from fpstation.ml.classifiers import fit_to_input

    paths = [it["path"] for it in items]
    cache = None
    if cache_dir:
        key = hashlib.sha256(("\n".join(paths) + f"|{shape}").encode()).hexdigest()[:16]
        cache = Path(cache_dir) / f"prints_{shape[0]}x{shape[1]}_{key}.npz"
        if cache.is_file():
            with np.load(cache, allow_pickle=False) as z:
                bad = [tuple(b) for b in z["bad"].tolist()]
                return z["x"], bad  # type: ignore[return-value]
    x = np.zeros((len(paths), shape[0], shape[1]), np.uint8)
    bad: list[tuple[str, str]] = []
    for i, p in enumerate(paths):
        if i % 64 == 0:
            cancel.raise_if_cancelled()
            progress(i / max(len(paths), 1), f"reading {i}/{len(paths)}")
        try:
            x[i] = np.round(fit_to_input(read_gray(p), shape) * 255).astype(np.uint8)
        except Exception as exc:  # noqa: BLE001 - a bad file is reported and skipped, not fatal
            bad.append((p, f"{type(exc).__name__}: {exc}"))
    progress(1.0, "images read")
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez(cache, x=x, bad=np.array(bad, dtype=str).reshape(-1, 2))
    return x, bad


#: a pixel differs from the print it was altered from by more than this (x in [0, 1])
ALTER_DIFF = 0.02
#: a cell of the alteration map is "altered" when at least this fraction of its pixels are
ALTER_CELL_FRACTION = 0.2


def alteration_masks(x: np.ndarray, items: list[dict[str, Any]], max_fraction: float = 0.6) -> np.ndarray:
    """Where each print is altered: float32 (N, H, W) of 0/1, or all -1 where unknown.

    SOCOFing's altered prints are made from the same subject's real print of the same finger
    (same size, pixel-aligned), so the alteration is where the two differ (``> ALTER_DIFF``, holes
    closed with a 5x5 closing). A bona fide print is 0 everywhere. An altered print with no real
    print of the same finger in ``items``, or one differing over more than ``max_fraction`` of
    its area (not pixel-aligned), is -1 everywhere: no map supervision, only its label.
    ``x``: (N, H, W[, 1]) in [0, 1], rows matching ``items``.
    """
    import cv2

    x = x.reshape(x.shape[0], x.shape[1], x.shape[2])
    key = lambda it: (str(it.get("subject")), it.get("hand"), it.get("finger"))  # noqa: E731
    real = {key(it): i for i, it in enumerate(items) if not it["y"] and it.get("kind") == "real"}
    out = np.zeros(x.shape, np.float32)
    kernel = np.ones((5, 5), np.uint8)
    for i, it in enumerate(items):
        if not it["y"]:
            continue
        j = real.get(key(it))
        if j is None:
            out[i] = -1.0
            continue
        m = (np.abs(x[i] - x[j]) > ALTER_DIFF).astype(np.uint8)
        m = cv2.morphologyEx(m, cv2.MORPH_CLOSE, kernel)
        out[i] = m if 0 < m.mean() <= max_fraction else -1.0
    return out


def mask_cells(mask: np.ndarray, cell: int) -> np.ndarray:
    """(N, H, W) masks -> (N, H/cell * W/cell) cell targets: 1 altered, 0 not, -1 unknown (numpy
    twin of the ``tf`` pooling in :func:`_augment_fn`)."""
    n, h, w = mask.shape
    avg = mask[:, : h // cell * cell, : w // cell * cell].reshape(n, h // cell, cell, w // cell, cell).mean((2, 4))
    return np.where(avg < 0, -1.0, (avg >= ALTER_CELL_FRACTION).astype(np.float32)).reshape(n, -1).astype(np.float32)


def _tf_mask_cells(mask: Any, cell: int) -> Any:
    import tensorflow as tf

    avg = tf.nn.avg_pool2d(mask, cell, cell, "VALID")
    cells = tf.where(avg < 0, -1.0, tf.cast(avg >= ALTER_CELL_FRACTION, tf.float32))
    return tf.reshape(cells, [tf.shape(mask)[0], -1])


def sample_weights(items: list[dict[str, Any]], y: np.ndarray, spec: dict[str, float] | None = None) -> np.ndarray:
    """Per-print training weights: balanced class weights, and within the attacks the prints that
    ``spec`` names weighted up, e.g. ``{"z-cut/Easy": 3}`` (attack type, optionally "/" level
    suffix: SOCOFing's ``Altered-Easy`` is "Easy"). The attacks are then rescaled so that their class
    keeps its total weight: ``spec`` moves attention between attacks, not the class balance."""
    cw = _balanced_weights(y)
    w = np.array([cw[int(v)] for v in y], np.float64)
    if spec:
        mult = np.ones(len(y))
        for key, factor in spec.items():
            t, _, lv = key.partition("/")
            hit = np.array([bool(it["y"]) and it.get("attack_type") == t and (not lv or str(it.get("level", "")).endswith(lv))
                            for it in items], bool)
            if not hit.any():
                raise ValueError(f"no training attack matches “{key}”")
            mult[hit] *= float(factor)
        att = y == 1
        w[att] *= mult[att] * att.sum() / mult[att].sum()
    return w.astype(np.float32)


def weighted_dataset(x: np.ndarray, y: np.ndarray, weights: np.ndarray, batch_size: int, seed: int,
                     augment: bool, rotate: bool = False) -> Any:
    """Training ``tf.data`` of (x, y, per-print weight) batches, augmented like the class-weighted one."""
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((x, y.astype(np.float32)[:, None], weights.astype(np.float32)))
    ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True).batch(batch_size)
    if augment:
        aug = _augment_fn(rotate)
        ds = ds.map(lambda xb, yb, wb: (*aug(xb, yb), wb), num_parallel_calls=1)
    return ds.prefetch(2)


def map_dataset(x: np.ndarray, y: np.ndarray, masks: np.ndarray, weights: np.ndarray, batch_size: int,
                seed: int, augment: bool, cell: int) -> Any:
    """Training ``tf.data`` for a model with an ``alter_map`` output: batches of (x, {"logit": y,
    "alter_map": cell targets}, per-print weights). The full-resolution mask rides through the
    same flips and shift as the print, then is pooled to cells."""
    import tensorflow as tf

    sw = np.asarray(weights, np.float32)
    ds = tf.data.Dataset.from_tensor_slices((x, y.astype(np.float32)[:, None], masks[..., None].astype(np.float32), sw))
    ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True).batch(batch_size)
    aug = _augment_fn(False) if augment else None

    def to_targets(xb, yb, mb, wb):
        if aug is not None:
            both, _ = aug(tf.concat([xb, mb], axis=-1), yb, photometric_channels=1)
            xb, mb = both[..., :1], both[..., 1:]
        return xb, {"logit": yb, "alter_map": _tf_mask_cells(mb, cell)}, wb

    return ds.map(to_targets, num_parallel_calls=1).prefetch(2)


def _augment_fn(rotate: bool, shift: int = 6):
    """tf.data map function on a *batch*: per-sample flips, brightness/contrast and (optionally)
    small rotations; one random integer shift per batch (reflect padding). Vectorised over the
    batch because per-image tf ops cost more CPU than the small CNN itself. PAD uses no rotation:
    interpolation would blur the resampling artefacts that give a synthetically rotated region away.
    """
    import tensorflow as tf

    rot = None
    if rotate:
        import keras

        rot = keras.layers.RandomRotation(0.03, fill_mode="reflect")

    def aug(x, y, photometric_channels: int | None = None):
        # photometric_channels=k: channels after the first k (e.g. a mask) get the geometric part only
        n = tf.shape(x)[0]
        h, w, ch = x.shape[1], x.shape[2], x.shape[3]
        flip = tf.random.uniform([n, 1, 1, 1]) < 0.5
        x = tf.where(flip, tf.reverse(x, axis=[2]), x)
        x = tf.pad(x, [[0, 0], [shift, shift], [shift, shift], [0, 0]], mode="REFLECT")
        dy = tf.random.uniform([], 0, 2 * shift + 1, dtype=tf.int32)
        dx = tf.random.uniform([], 0, 2 * shift + 1, dtype=tf.int32)
        x = x[:, dy:dy + h, dx:dx + w, :]
        if rot is not None:
            x = rot(x, training=True)
        rest = None
        if photometric_channels is not None:
            x, rest = x[..., :photometric_channels], x[..., photometric_channels:]
        c = tf.random.uniform([n, 1, 1, 1], 0.85, 1.15)
        b = tf.random.uniform([n, 1, 1, 1], -0.05, 0.05)
        m = tf.reduce_mean(x, axis=[1, 2, 3], keepdims=True)
        x = tf.clip_by_value((x - m) * c + m + b, 0.0, 1.0)
        if rest is not None:
            x = tf.concat([x, rest], axis=-1)
        return tf.ensure_shape(x, [None, h, w, ch]), y

    return aug


def _patch_augment(enabled: bool):
    """Batch map for uint8 patches: to [0, 1]; when ``enabled``, random flips and 90° turns only.
    No brightness/contrast jitter and no interpolation: grey-level spread and edge sharpness are
    the cues that tell gelatine from skin."""
    import tensorflow as tf

    def aug(x, y):
        x = tf.cast(x, tf.float32) / 255.0
        if enabled:
            x = tf.image.rot90(x, k=tf.random.uniform([], 0, 4, dtype=tf.int32))
            n = tf.shape(x)[0]
            flip = tf.random.uniform([n, 1, 1, 1]) < 0.5
            x = tf.where(flip, tf.reverse(x, axis=[2]), x)
        return x, y

    return aug


def _balanced_weights(y: np.ndarray) -> dict[int, float]:
    counts = Counter(int(v) for v in y)
    n = len(y)
    return {k: n / (len(counts) * c) for k, c in counts.items()}


def _ridge_area(img: np.ndarray, margin: int = 10) -> np.ndarray:
    """Where a print has ridges: local contrast high and not background, away from the frame."""
    import cv2

    f = img.astype(np.float32) / 255.0
    m = cv2.blur(f, (9, 9))
    sd = np.sqrt(np.maximum(cv2.blur(f * f, (9, 9)) - m * m, 0.0))
    fg = (sd > 0.25) & (m < 0.8)
    fg[:margin] = False
    fg[-margin:] = False
    fg[:, :margin] = False
    fg[:, -margin:] = False
    return fg


def synthetic_flap(img: np.ndarray, rng: np.random.Generator, size: tuple[float, float] = (20.0, 40.0),
                   angle: tuple[float, float] = (10.0, 150.0)) -> np.ndarray | None:
    """A synthetic surgical alteration of a bona fide uint8 print: the skin of a sheared
    parallelogram inside the ridge area is turned about its centre (a flap cut and sewn back
    turned, as in a Z-cut or a central rotation), resampled bilinearly. ``size`` = the side in
    pixels, ``angle`` = the turn in degrees (either sense). None when the print has no ridge area.

    Training-time augmentation (``hyper.extra["synth_alter"]``): more, and more varied, small
    local alterations than the dataset's own, from the training subjects' bona fide prints only.
    """
    import cv2

    h, w = img.shape
    fg = _ridge_area(img)
    ys, xs = np.nonzero(fg)
    if len(ys) == 0:
        return None
    i = int(rng.integers(len(ys)))
    cy, cx = float(ys[i]), float(xs[i])
    s = float(rng.uniform(*size))
    a = float(rng.uniform(0.5, 0.9)) * s
    shear, phi = float(rng.uniform(-0.8, 0.8)), float(rng.uniform(0.0, np.pi))
    rot = np.array([[np.cos(phi), -np.sin(phi)], [np.sin(phi), np.cos(phi)]], np.float32)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    d = np.stack([xx - cx, yy - cy], -1) @ rot
    v = d[..., 1]
    u = d[..., 0] - shear * v
    inside = (np.abs(u) <= s / 2) & (np.abs(v) <= a / 2) & fg
    if not inside.any():
        return None
    th = float(rng.uniform(*angle)) * float(rng.choice([-1.0, 1.0]))
    m = cv2.getRotationMatrix2D((cx, cy), th, 1.0)
    turned = cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    out = img.copy()
    out[inside] = turned[inside]
    return out


def add_synthetic_alterations(x: np.ndarray, y: np.ndarray, rate: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``x`` uint8 (N, H, W) / ``y`` with ``round(rate × bona fide)`` synthetic alterations
    (:func:`synthetic_flap`, label 1) of randomly drawn bona fide rows appended."""
    rng = np.random.default_rng(seed)
    bona = np.flatnonzero(y == 0)
    n = int(round(rate * len(bona)))
    if n <= 0 or len(bona) == 0:
        return x, y
    made = [synthetic_flap(x[int(i)], rng) for i in rng.choice(bona, n, replace=n > len(bona))]
    made = [m for m in made if m is not None]
    if not made:
        return x, y
    return np.concatenate([x, np.stack(made)]), np.concatenate([y, np.ones(len(made), y.dtype)])
