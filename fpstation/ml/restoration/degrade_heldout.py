"""A second, independent degradation recipe, used ONLY to evaluate restorers (issue #17).

:mod:`fpstation.ml.restoration.degrade` makes the training pairs. A restorer scored only on that
generator's output is scored on damage it has seen. This module damages prints in ways that
generator never produces, written separately and with its own parameters, so a score on these
pairs says something about damage the network was not trained on:

========================  ======================================================================
``over_inked``            ridges spread and valleys close (grey-level dilation of the ink)
``dry``                   ridges break into dots (erosion of the ink + random pores)
``coffee_ring``           ring stains: a dark rim and a lighter, tinted inside
``crease``                a paper fold: a bright line with a shaded step across the print
``tape``                  sticky tape: a sharp-edged band with sheen and lower contrast
``moire``                 a periodic interference pattern near the ridge frequency
``pixelate``              capture at a lower resolution, shown with blocky pixels
``halftone``              a print-and-scan halftone screen (clustered dots)
``jpeg``                  heavy JPEG compression (8×8 blocks, ringing)
``threshold``             a fax-like 1-bit capture at a random threshold
========================  ======================================================================

None of these names, and none of their mechanisms (morphology, JPEG, halftoning, quantisation,
periodic interference, fold shading), appear in the training generator;
tests/ml/test_restoration_heldout.py checks that the names are disjoint and that no training
code imports this module. The target is always the clean print itself (no geometric change).

Everything is deterministic by seed; images are float32 in [0, 1] (0 = ink).
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from fpstation.ml.restoration.degrade import to_float

HeldoutEffect = Callable[[np.ndarray, np.random.Generator], np.ndarray]

#: the order effects are applied in: the print itself, then the document, then the capture chain
HELDOUT_EFFECTS = ("over_inked", "dry", "coffee_ring", "crease", "tape", "moire", "pixelate", "halftone",
                   "threshold", "jpeg")
#: how many effects a pair gets (inclusive range)
N_EFFECTS = (2, 3)


def over_inked(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Too much ink or pressure: a grey-level erosion of the (white) valleys, then a little bleed."""
    k = int(rng.integers(2, 4))
    ker = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
    out = cv2.erode(img, ker)  # min filter: dark ink spreads
    return cv2.blur(out, (2, 2)) * float(rng.uniform(0.85, 1.0))


def dry(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Too little ink: ridges thin (dilation of the white) and break up into dots."""
    k = int(rng.integers(2, 4))
    out = cv2.dilate(img, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    holes = rng.random(img.shape) < float(rng.uniform(0.05, 0.25))
    holes = cv2.dilate(holes.astype(np.uint8), np.ones((2, 2), np.uint8)).astype(bool)
    return np.where(holes, np.maximum(out, float(rng.uniform(0.6, 0.95))), out)


def coffee_ring(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One or two ring-shaped stains: a dark irregular rim, the inside slightly darkened."""
    h, w = img.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    out = img
    for _ in range(int(rng.integers(1, 3))):
        cx, cy = float(rng.uniform(0, w)), float(rng.uniform(0, h))
        r = float(rng.uniform(0.2, 0.6)) * min(h, w)
        ang = np.arctan2(yy - cy, xx - cx)
        wobble = 1 + 0.06 * np.sin(3 * ang + rng.uniform(0, 6)) + 0.03 * np.sin(7 * ang + rng.uniform(0, 6))
        d = np.sqrt((xx - cx) ** 2 + (yy - cy) ** 2) / (r * wobble)
        rim = np.exp(-((d - 1.0) / float(rng.uniform(0.02, 0.06))) ** 2)
        inside = (d < 1).astype(np.float32) * float(rng.uniform(0.05, 0.2))
        out = out * (1 - float(rng.uniform(0.3, 0.7)) * rim) * (1 - inside)
    return out


def crease(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A fold in the paper: a thin bright line, darker on one side (shading) and shifted by a pixel."""
    h, w = img.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    a = float(rng.uniform(0, np.pi))
    d = np.cos(a) * (xx - rng.uniform(0.2, 0.8) * w) + np.sin(a) * (yy - rng.uniform(0.2, 0.8) * h)
    shade = np.where(d > 0, 1.0 - float(rng.uniform(0.1, 0.35)) * np.exp(-d / float(rng.uniform(10, 40))), 1.0)
    line = np.exp(-(d / float(rng.uniform(0.8, 2.0))) ** 2)
    shifted = np.where(d > 0, np.roll(img, int(rng.integers(1, 3)), axis=int(rng.integers(0, 2))), img)
    return shifted * shade * (1 - line) + line * float(rng.uniform(0.85, 1.0))


def tape(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A strip of sticky tape: inside a sharp-edged band contrast drops, a sheen and a tint appear."""
    h, w = img.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    a = float(rng.uniform(0, np.pi))
    d = np.abs(np.cos(a) * (xx - rng.uniform(0, w)) + np.sin(a) * (yy - rng.uniform(0, h)))
    band = (d < float(rng.uniform(0.1, 0.3)) * max(h, w)).astype(np.float32)
    sheen = np.clip(np.cos(a + np.pi / 2) * xx / w + np.sin(a + np.pi / 2) * yy / h, 0, 1) * float(rng.uniform(0, 0.3))
    tint = float(rng.uniform(0.75, 0.95))
    inside = (0.5 + float(rng.uniform(0.2, 0.6)) * (img - 0.5)) * tint + sheen
    edge = cv2.Canny((band * 255).astype(np.uint8), 50, 150).astype(np.float32) / 255.0
    return img * (1 - band) + inside * band - 0.4 * edge


def moire(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Periodic interference (screen re-capture): a sinusoid at a ridge-like period, beat-modulated."""
    h, w = img.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    a = float(rng.uniform(0, np.pi))
    period = float(rng.uniform(5, 14))
    u = np.cos(a) * xx + np.sin(a) * yy
    beat = 0.5 + 0.5 * np.cos(2 * np.pi * (-np.sin(a) * xx + np.cos(a) * yy) / float(rng.uniform(40, 150)))
    return img + float(rng.uniform(0.1, 0.3)) * beat * np.cos(2 * np.pi * u / period)


def pixelate(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A low-resolution capture (factor 2-3.5) shown with nearest-neighbour pixels."""
    h, w = img.shape
    f = float(rng.uniform(2.0, 3.5))
    small = cv2.resize(img, (max(4, int(w / f)), max(4, int(h / f))), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST)


def halftone(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A clustered-dot halftone screen (printed, then scanned and slightly blurred)."""
    h, w = img.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    cell = float(rng.uniform(2.5, 5.0))
    a = float(rng.uniform(0, np.pi / 2))
    u, v = np.cos(a) * xx + np.sin(a) * yy, -np.sin(a) * xx + np.cos(a) * yy
    screen = 0.5 + 0.25 * (np.cos(2 * np.pi * u / cell) + np.cos(2 * np.pi * v / cell))  # in [0, 1]
    out = (img > screen).astype(np.float32)
    return cv2.GaussianBlur(out, (0, 0), float(rng.uniform(0.5, 1.0)))


def threshold(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A 1-bit (fax-like) capture: a little noise, then a global threshold."""
    noisy = img + float(rng.uniform(0.02, 0.08)) * rng.standard_normal(img.shape).astype(np.float32)
    return (noisy > float(rng.uniform(0.35, 0.65))).astype(np.float32)


def jpeg(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Heavy JPEG compression (quality 5-25)."""
    q = int(rng.integers(5, 26))
    ok, buf = cv2.imencode(".jpg", np.clip(np.rint(img * 255), 0, 255).astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, q])
    if not ok:  # pragma: no cover - OpenCV always encodes a valid uint8 image
        raise RuntimeError("JPEG encoding failed")
    return cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE).astype(np.float32) / 255.0


_FUNCS: dict[str, HeldoutEffect] = {
    "over_inked": over_inked, "dry": dry, "coffee_ring": coffee_ring, "crease": crease, "tape": tape,
    "moire": moire, "pixelate": pixelate, "halftone": halftone, "threshold": threshold, "jpeg": jpeg,
}


def apply_heldout_effect(image: np.ndarray, name: str, seed: int) -> np.ndarray:
    """Apply one named held-out effect (tests, gallery); float32 in [0, 1]."""
    if name not in _FUNCS:
        raise ValueError(f"unknown held-out degradation {name!r}; choose from {', '.join(HELDOUT_EFFECTS)}")
    return np.clip(_FUNCS[name](to_float(image), np.random.default_rng(seed)), 0.0, 1.0).astype(np.float32)


def degrade_heldout(clean: np.ndarray, seed: int, effects: list[str] | None = None,
                    ) -> tuple[np.ndarray, np.ndarray]:
    """A (degraded, clean) evaluation pair from the held-out recipe.

    Parameters
    ----------
    clean : H×W uint8 or float print (0 = ink).
    seed : the pair depends only on ``clean`` and ``seed``.
    effects : apply exactly these (in :data:`HELDOUT_EFFECTS` order); ``None`` draws
        :data:`N_EFFECTS` of them. At most one of the 1-bit captures (halftone, threshold) is drawn,
        since a second one would see a binary image.

    Returns
    -------
    (degraded, target) : float32 in [0, 1]; ``target`` is ``clean`` as float.
    """
    img = to_float(clean)
    if img.ndim != 2:
        raise ValueError("degrade_heldout() expects a single-channel H×W image")
    rng = np.random.default_rng(seed)
    if effects is None:
        k = int(rng.integers(N_EFFECTS[0], N_EFFECTS[1] + 1))
        picked = list(rng.choice(HELDOUT_EFFECTS, size=k, replace=False))
        if "halftone" in picked and "threshold" in picked:
            picked.remove("threshold" if rng.random() < 0.5 else "halftone")
        effects = picked
    unknown = [e for e in effects if e not in _FUNCS]
    if unknown:
        raise ValueError(f"unknown held-out degradations {unknown}; choose from {', '.join(HELDOUT_EFFECTS)}")
    out = img.copy()
    for name in sorted(effects, key=HELDOUT_EFFECTS.index):
        out = np.clip(_FUNCS[name](out, np.random.default_rng(int(rng.integers(0, 2**31)))), 0.0, 1.0)
    return out.astype(np.float32), img.astype(np.float32)
