"""Does a print have the resolution it is said to have? (ridge spacing and fine detail)

A model validated at one resolution (pad-livdet: 1000 dpi) can only trust a print whose dpi is
right. The file's or the user's dpi is a claim; two measurements on the print check it:

- **ridge period** (mm): the spacing of the ridges at the claimed dpi, from the peak of the power
  spectrum of square tiles of the finger area (median over the tiles). Human ridges repeat every
  0.3–0.6 mm or so; a 500-dpi print said to be 1000 dpi shows ridges half as far apart;
- **fine detail**: the power of the finest spatial frequencies (0.6–0.9 of the sampling limit)
  relative to the power of the ridges. A sensor that really samples at the claimed dpi records
  some (skin texture, pores, sensor noise); a print enlarged from a lower resolution has almost
  none above the old sampling limit.

:func:`ridge_spectrum` measures both; :mod:`fpstation.core.domain` compares them with the range a
model card states (``domain.resolution``). Also here: :func:`resample_to` and
:func:`foreground_mask`, the image steps every texture model shares. numpy/OpenCV, no Qt.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: tile side in pixels at the model's dpi, and the share of it that must be finger
TILE = 128
TILE_COVER = 0.9
MAX_TILES = 64
MIN_TILES = 4
#: periods searched for the ridge peak (mm) and the ridge band of the detail ratio (mm)
PEAK_MM = (0.1, 1.0)
RIDGE_MM = (0.2, 0.8)
#: the fine-detail band, as fractions of the sampling limit (0.5 cycles per pixel)
DETAIL_BAND = (0.6, 0.9)


def resample_to(pixels: np.ndarray, dpi: float | None, model_dpi: float | None) -> np.ndarray:
    """``pixels`` resampled from ``dpi`` to ``model_dpi`` (unchanged when either is unknown)."""
    import cv2

    img = np.asarray(pixels, np.uint8)
    if not dpi or not model_dpi:
        return img
    scale = float(model_dpi) / float(dpi)
    if abs(scale - 1.0) < 0.02:
        return img
    h, w = img.shape[:2]
    return cv2.resize(img, (max(1, round(w * scale)), max(1, round(h * scale))),
                      interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)


def foreground_mask(img: np.ndarray, block: int = 16, min_std: float = 18.0, clean: bool = True) -> np.ndarray:
    """Boolean H×W mask of the ridge area: local grey-level std (window ``2*block``) above
    ``min_std`` and not blank paper, closed and cleaned with a morphological open/close
    (``clean=False``: without them, a few times faster)."""
    import cv2

    f = img.astype(np.float32)
    k = (2 * block + 1, 2 * block + 1)
    m = cv2.blur(f, k)
    s = np.sqrt(np.maximum(cv2.blur(f * f, k) - m * m, 0))
    mask = ((s > min_std) & (m < 235)).astype(np.uint8)
    if not clean:
        return mask.astype(bool)
    ker = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * block + 1, 2 * block + 1))
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, ker)
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, ker)
    return mask.astype(bool)


@dataclass(frozen=True)
class RidgeSpectrum:
    """What :func:`ridge_spectrum` measured; ``None`` values when the print is smaller than a tile."""

    period_mm: float | None
    detail: float | None
    tiles: int


def _tile_corners(img: np.ndarray, mask: np.ndarray) -> list[tuple[int, int]]:
    """Corners of the :data:`TILE`-px squares (half-overlapping grid) that are at least
    :data:`TILE_COVER` finger, evenly spread when there are more than :data:`MAX_TILES`; when
    fewer than :data:`MIN_TILES` are (a faint print, whose finger area the contrast mask misses),
    the :data:`MIN_TILES` squares with the most finger and then the most contrast."""
    import cv2

    h, w = mask.shape
    if h < TILE or w < TILE:
        return []
    ci = cv2.integral(mask.astype(np.uint8))
    si, sq = cv2.integral2(img.astype(np.float64))[:2]
    step = TILE // 2
    corners, keys = [], []
    for y in range(0, h - TILE + 1, step):
        for x in range(0, w - TILE + 1, step):
            y1, x1 = y + TILE, x + TILE
            cover = (ci[y1, x1] - ci[y, x1] - ci[y1, x] + ci[y, x]) / TILE ** 2
            s1 = (si[y1, x1] - si[y, x1] - si[y1, x] + si[y, x]) / TILE ** 2
            s2 = (sq[y1, x1] - sq[y, x1] - sq[y1, x] + sq[y, x]) / TILE ** 2
            corners.append((y, x))
            keys.append((float(cover), float(s2 - s1 * s1)))
    good = [c for c, k in zip(corners, keys, strict=True) if k[0] >= TILE_COVER]
    if len(good) < MIN_TILES:
        order = sorted(range(len(corners)), key=lambda i: keys[i], reverse=True)
        return [corners[i] for i in sorted(order[:MIN_TILES])]
    if len(good) > MAX_TILES:   # evenly spread, so the cost stays bounded on very large prints
        good = [good[i] for i in np.linspace(0, len(good) - 1, MAX_TILES).round().astype(int)]
    return good


def ridge_spectrum(img: np.ndarray, dpi: float, mask: np.ndarray | None = None) -> RidgeSpectrum:
    """Ridge period (mm) and fine-detail ratio of ``img`` (uint8, sampled at ``dpi``).

    ``mask`` = the finger area (default :func:`foreground_mask` without its morphological cleaning:
    a tile must be 90 % finger anyway). Tiles of :data:`TILE` px that are at least 90 % finger
    (at least the 4 with the most finger, see :func:`_tile_corners`) are Hann-windowed; each tile's ridge period is the period of its strongest
    frequency between 0.1 and 1 mm, and ``period_mm`` is their median; ``detail`` = mean power at
    0.6–0.9 of the sampling limit over mean power at periods of 0.2–0.8 mm, from the tiles' summed
    spectra.
    """
    img = np.asarray(img, np.uint8)
    mask = foreground_mask(img, clean=False) if mask is None else np.asarray(mask, bool)
    corners = _tile_corners(img, mask)
    if not corners:
        return RidgeSpectrum(None, None, 0)
    fy, fx = np.fft.fftfreq(TILE), np.fft.rfftfreq(TILE)
    r = np.sqrt(fy[:, None] ** 2 + fx[None, :] ** 2)        # cycles per pixel (half plane)
    mm_per_px = 25.4 / float(dpi)
    period_mm = mm_per_px / np.maximum(r, 1e-12)
    peak_band = (period_mm >= PEAK_MM[0]) & (period_mm <= PEAK_MM[1])
    ridge_band = (period_mm >= RIDGE_MM[0]) & (period_mm <= RIDGE_MM[1])
    detail_band = (r >= DETAIL_BAND[0] * 0.5) & (r <= DETAIL_BAND[1] * 0.5)
    win = np.outer(np.hanning(TILE), np.hanning(TILE)).astype(np.float32)
    tiles = np.stack([img[y:y + TILE, x:x + TILE] for y, x in corners]).astype(np.float32)
    tiles = (tiles - tiles.mean(axis=(1, 2), keepdims=True)) * win
    p = np.abs(np.fft.rfft2(tiles)) ** 2                      # (n, TILE, TILE // 2 + 1)
    peaks = np.argmax(np.where(peak_band, p, -1.0).reshape(len(p), -1), axis=1)
    periods = period_mm.reshape(-1)[peaks]
    total = p.sum(axis=0)
    ridge = float(total[ridge_band].mean())
    detail = float(total[detail_band].mean()) / ridge if ridge > 0 else None
    return RidgeSpectrum(float(np.median(periods)), detail, len(corners))


#: margins of :func:`resolution_rule` around the training prints' own range (docs/adr/0271)
PERIOD_MARGIN = 0.1
DETAIL_FACTOR = 0.5


def resolution_rule(spectra: list[RidgeSpectrum]) -> dict:
    """A card's ``domain.resolution`` entry from its training prints' spectra: the ridge period
    range widened by 10 % each way, and half the lowest fine-detail ratio."""
    per = np.array([s.period_mm for s in spectra if s.period_mm is not None], np.float64)
    det = np.array([s.detail for s in spectra if s.detail is not None], np.float64)
    if not len(per) or not len(det):
        raise ValueError("no training print had enough finger area to measure its ridge spectrum")
    return {"ridge_period_mm": [round(float(per.min()) * (1 - PERIOD_MARGIN), 4),
                                round(float(per.max()) * (1 + PERIOD_MARGIN), 4)],
            "detail_min": float(f"{float(det.min()) * DETAIL_FACTOR:.4g}"),
            "rule": "ridge period within the training prints' range widened by 10 % each way; fine-detail "
                    "ratio at least half the training prints' lowest (fpstation.core.resolution, docs/adr/0271)"}
