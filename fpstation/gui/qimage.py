"""The only place that turns numpy arrays into QImage / QPixmap.

Why a dedicated module: a QImage built on a numpy buffer *borrows* that memory and must be told
the row stride explicitly. Getting either wrong gives sheared pictures (odd widths, non-contiguous
slices) or use-after-free crashes once the array is garbage collected. Every converter here makes
the array C-contiguous, passes ``strides[0]`` as bytes-per-line and returns a deep ``copy()`` so the
QImage owns its pixels.

QImage (unlike QPixmap) may be created on worker threads, so thumbnails are built off the GUI
thread with :func:`thumbnail` and only turned into a QPixmap in the GUI thread.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPixmap


def gray_to_qimage(pixels: np.ndarray) -> QImage:
    """Convert an H×W uint8 grayscale array to an owned ``Format_Grayscale8`` QImage.

    Parameters
    ----------
    pixels : numpy.ndarray
        H×W array. Non-uint8 input is clipped to [0, 255] first (a float map in [0, 1] must be
        scaled by the caller: this function never guesses a range).

    Returns
    -------
    QImage
        A deep copy; the array may be freed afterwards.
    """
    a = np.asarray(pixels)
    if a.ndim != 2:
        raise ValueError(f"expected an H×W array, got shape {a.shape}")
    if a.dtype != np.uint8:
        a = np.clip(a, 0, 255).astype(np.uint8)
    a = np.ascontiguousarray(a)
    h, w = a.shape
    img = QImage(a.data, w, h, int(a.strides[0]), QImage.Format.Format_Grayscale8)
    return img.copy()


def rgb_to_qimage(rgb: np.ndarray) -> QImage:
    """Convert an H×W×3 (RGB) or H×W×4 (RGBA, straight alpha) uint8 array to an owned QImage."""
    a = np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8))
    if a.ndim != 3 or a.shape[2] not in (3, 4):
        raise ValueError(f"expected an H×W×3 or H×W×4 array, got shape {a.shape}")
    h, w, c = a.shape
    fmt = QImage.Format.Format_RGB888 if c == 3 else QImage.Format.Format_RGBA8888
    img = QImage(a.data, w, h, int(a.strides[0]), fmt)
    return img.copy()


def to_qimage(pixels: np.ndarray) -> QImage:
    """Grayscale (H×W) or colour (H×W×3/4) array to QImage."""
    a = np.asarray(pixels)
    return gray_to_qimage(a) if a.ndim == 2 else rgb_to_qimage(a)


def to_qpixmap(pixels: np.ndarray) -> QPixmap:
    """Array to QPixmap. GUI thread only (QPixmap is not thread-safe)."""
    return QPixmap.fromImage(to_qimage(pixels))


def thumbnail(pixels: np.ndarray, size: int = 96) -> QImage:
    """A smooth, aspect-preserving thumbnail of at most ``size``×``size`` (safe on worker threads)."""
    return to_qimage(pixels).scaled(size, size, Qt.AspectRatioMode.KeepAspectRatio,
                      Qt.TransformationMode.SmoothTransformation)


# A perceptually ordered colour map (a 9-stop approximation of "turbo") for heat overlays such as
# Grad-CAM: dark blue = 0, red = 1. Display only: the values come from the caller unchanged.
_TURBO_STOPS = np.array([
    [48, 18, 59], [70, 107, 227], [40, 187, 236], [49, 242, 153], [162, 252, 60],
    [237, 208, 58], [251, 128, 34], [208, 47, 5], [122, 4, 3]], dtype=np.float64)
_LUT = np.stack([np.interp(np.linspace(0, 1, 256), np.linspace(0, 1, len(_TURBO_STOPS)), _TURBO_STOPS[:, c])
                 for c in range(3)], axis=1).round().astype(np.uint8)


def heat_to_rgba(heat: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    """Colour-map a float map in [0, 1] (H×W) to an RGBA uint8 array with constant ``alpha``.

    NaN (no value) becomes fully transparent; values outside [0, 1] are clipped.
    """
    h = np.asarray(heat, dtype=np.float32)
    if h.ndim != 2:
        raise ValueError(f"expected an H×W heat map, got shape {h.shape}")
    valid = np.isfinite(h)
    idx = (np.clip(np.where(valid, h, 0.0), 0.0, 1.0) * 255.0).round().astype(np.uint8)
    out = np.empty(h.shape + (4,), dtype=np.uint8)
    out[..., :3] = _LUT[idx]
    out[..., 3] = np.where(valid, int(round(np.clip(alpha, 0.0, 1.0) * 255)), 0).astype(np.uint8)
    return out


def difference_image(original: np.ndarray, restored: np.ndarray) -> np.ndarray:
    """|original − restored| as uint8 (black = unchanged), for the difference view mode."""
    o = np.asarray(original, dtype=np.int16)
    r = np.asarray(restored, dtype=np.int16)
    return np.abs(o - r).astype(np.uint8)


def stretched_difference(original: np.ndarray, restored: np.ndarray, quantile: float = 99.5
                         ) -> tuple[np.ndarray, int]:
    """|original − restored| with its contrast stretched for viewing, and the scale.

    Differences are typically a few grey levels (mean ~8/255), which shows as almost black; here
    the ``quantile``-th percentile of the difference maps to white. Returns ``(pixels, top)``:
    white means a difference of ``top`` grey levels or more, black none (the caption says so).
    """
    d = difference_image(original, restored)
    top = int(np.ceil(np.percentile(d, quantile))) if d.size else 1
    top = max(top, 1)
    out = np.clip(d.astype(np.float32) * (255.0 / top), 0, 255).astype(np.uint8)
    return out, top


def red_cyan_overlay(original: np.ndarray, restored: np.ndarray) -> np.ndarray:
    """Original in the red channel, restored in green+blue: agreeing pixels look gray, ridges that
    only the original has show cyan, ridges that only the restoration has show red."""
    o = np.asarray(original, dtype=np.uint8)
    r = np.asarray(restored, dtype=np.uint8)
    return np.ascontiguousarray(np.stack([o, r, r], axis=-1))
