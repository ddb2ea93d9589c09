"""Is this image a face or a fingerprint? A simple, measured check.

Two cheap cues:

1. **A face detector hit** (dlib HOG, :func:`fpstation.ml.face.detect.detect_faces`).
2. **Ridge frequency**: a fingerprint's power spectrum peaks at its ridge frequency — many cycles
   across the image (FVC/LivDet/SOCOFing prints: 10–60 cycles over the shorter side), while a
   face's spectrum falls off from the lowest frequencies (peak at a few cycles). The statistic is
   the centre of the strongest of 24 log-spaced radial frequency bands of the Hann-windowed
   image, in cycles per shorter side.

Rule: ``fingerprint`` when the spectral peak is at ≥ ``RIDGE_CYCLES`` cycles; else ``face`` when a
face is detected; else ``unknown``. The fingerprint models skip an image judged ``face``; the face
panel refuses one judged ``fingerprint``. How often each happens on ORL faces and on the
fingerprint sets is measured by bench/face_bench.py (``modality`` in bench/results/face.json).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: spectral peak (cycles per shorter side) at and above which an image is taken for a fingerprint
RIDGE_CYCLES = 10.0
MAX_SIDE = 512
BANDS = 24

FACE, FINGERPRINT, UNKNOWN = "face", "fingerprint", "unknown"


@dataclass(frozen=True)
class ModalityCheck:
    kind: str  # "face" | "fingerprint" | "unknown"
    faces_found: int
    ridge_cycles: float
    reason: str

    def to_dict(self) -> dict:
        return {"kind": self.kind, "faces_found": self.faces_found,
                "ridge_cycles": round(self.ridge_cycles, 2), "reason": self.reason}


def spectral_peak_cycles(pixels: np.ndarray) -> float:
    """Centre of the strongest radial frequency band, in cycles per shorter image side."""
    from fpstation.ml.face.detect import as_gray

    g = as_gray(pixels)
    step = int(np.ceil(max(g.shape) / MAX_SIDE))
    g = g[::step, ::step].astype(np.float32) if step > 1 else g.astype(np.float32)
    h, w = g.shape
    n = min(h, w)
    if n < 16:
        return 0.0
    g = (g - g.mean()) * np.outer(np.hanning(h), np.hanning(w)).astype(np.float32)
    power = np.abs(np.fft.rfft2(g)) ** 2
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    r = np.sqrt(fx ** 2 + fy ** 2)
    edges = np.geomspace(3.0 / n, 0.5, BANDS + 1)
    idx = np.digitize(r.ravel(), edges) - 1
    ok = (idx >= 0) & (idx < BANDS)
    energy = np.bincount(idx[ok], weights=power.ravel()[ok], minlength=BANDS)
    k = int(np.argmax(energy))
    return float(np.sqrt(edges[k] * edges[k + 1]) * n)


def check(pixels: np.ndarray, faces_found: int | None = None) -> ModalityCheck:
    """Face, fingerprint or unknown (see the module docstring). ``faces_found`` may be passed
    when the caller already ran the detector."""
    from fpstation.ml.face.detect import detect_faces

    cycles = spectral_peak_cycles(pixels)
    if cycles >= RIDGE_CYCLES:
        return ModalityCheck(FINGERPRINT, faces_found or 0, cycles,
                             f"it has the regular ridge pattern of a fingerprint ({cycles:.0f} ridge cycles "
                             "across), not a face")
    n = len(detect_faces(pixels)) if faces_found is None else faces_found
    if n:
        return ModalityCheck(FACE, n, cycles, "it looks like a photograph of a face (a face was detected), "
                                              "not a fingerprint")
    return ModalityCheck(UNKNOWN, 0, cycles, "neither a face nor fingerprint ridges were found")
