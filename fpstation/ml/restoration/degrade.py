"""Synthetic degradations that turn clean prints into (degraded, clean) training pairs.

Everything is deterministic by seed: ``degrade(clean, seed)`` always returns the same pair, so a
training set or an evaluation folder can be rebuilt bit for bit from the clean prints and a seed.

Images are float32 in [0, 1] with 0 = black ridge ink and 1 = white background (uint8 inputs are
scaled). Marks (stamps, strokes, blobs) are composited multiplicatively, like ink on paper.

Two kinds of effect:

- *geometric* (``rotate``, ``elastic``) move the print; they are applied to the clean target
  too, because a restorer must return its input's alignment: it cannot know the "true" pose.
- *photometric* (all the others) damage only the degraded side.

Only numpy, scipy and OpenCV are used (no TensorFlow): it runs in data pipelines and tests.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import cv2
import numpy as np

Effect = Callable[[np.ndarray, np.random.Generator], np.ndarray]

GEOMETRIC = ("rotate", "elastic")
PHOTOMETRIC = ("texture", "clutter", "blobs", "stamp", "strokes", "lines", "gaussian_noise",
               "speckle", "blur", "illumination", "contrast", "erasure")
EFFECTS = GEOMETRIC + PHOTOMETRIC

# The order photometric effects are applied in when several are drawn: damage to the print
# itself first, then marks on top, then the capture chain (lighting, optics, sensor noise).
_ORDER = ("erasure", "texture", "clutter", "lines", "strokes", "stamp", "blobs", "illumination",
          "contrast", "blur", "gaussian_noise", "speckle")


def to_float(image: np.ndarray) -> np.ndarray:
    """uint8 (0..255) or float image -> float32 in [0, 1]."""
    a = np.asarray(image)
    if a.dtype == np.uint8:
        return a.astype(np.float32) / 255.0
    return np.clip(a.astype(np.float32), 0.0, 1.0)


def to_uint8(image: np.ndarray) -> np.ndarray:
    """float image in [0, 1] -> uint8, rounded."""
    return np.clip(np.rint(np.asarray(image, dtype=np.float32) * 255.0), 0, 255).astype(np.uint8)


def _smooth_field(shape: tuple[int, int], rng: np.random.Generator, scale: float) -> np.ndarray:
    """Zero-mean, unit-std random field with features about ``scale`` pixels across."""
    h, w = shape
    gh, gw = max(2, int(np.ceil(h / scale)) + 2), max(2, int(np.ceil(w / scale)) + 2)
    coarse = rng.standard_normal((gh, gw)).astype(np.float32)
    f = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)
    f -= f.mean()
    sd = float(f.std())
    return f / sd if sd > 1e-6 else f


def _ink(shape: tuple[int, int], draw: Callable[[np.ndarray], None], blur: float = 0.0) -> np.ndarray:
    """Rasterise marks drawn by ``draw`` on a black canvas (255 = ink) -> coverage in [0, 1]."""
    canvas = np.zeros(shape, np.uint8)
    draw(canvas)
    cov = canvas.astype(np.float32) / 255.0
    if blur > 0:
        cov = cv2.GaussianBlur(cov, (0, 0), blur)
    return cov


def _soft_ellipse(shape: tuple[int, int], rng: np.random.Generator, axis_frac: tuple[float, float],
                  blur: tuple[float, float], line_type: int) -> np.ndarray:
    """Coverage of one filled, blurred ellipse at a random place: axes ``axis_frac`` of the image
    size (+2 px), random angle. Draws blur, centre, axes, angle from ``rng`` in that order."""
    h, w = shape
    sigma = float(rng.uniform(*blur))
    return _ink((h, w), lambda c: cv2.ellipse(
        c, (int(rng.integers(0, w)), int(rng.integers(0, h))),
        (int(rng.uniform(*axis_frac) * w) + 2, int(rng.uniform(*axis_frac) * h) + 2),
        float(rng.uniform(0, 180)), 0, 360, 255, -1, line_type), blur=sigma)


def _apply_ink(img: np.ndarray, coverage: np.ndarray, darkness: float) -> np.ndarray:
    """Multiplicative ink: where coverage is 1 the pixel becomes ``1 - darkness`` times itself."""
    return img * (1.0 - darkness * coverage)


# ---------------------------------------------------------------------------------------------
# geometric (applied to both sides)

def rotate(img: np.ndarray, rng: np.random.Generator, max_deg: float = 12.0) -> np.ndarray:
    """Small rotation about the centre; uncovered corners become white background."""
    h, w = img.shape
    ang = float(rng.uniform(-max_deg, max_deg))
    if abs(ang) < 2.0:
        ang = 2.0 if ang >= 0 else -2.0
    m = cv2.getRotationMatrix2D((w / 2.0, h / 2.0), ang, 1.0)
    return cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=1.0)


def elastic(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Smooth elastic distortion (skin plasticity): displacement up to a few pixels."""
    h, w = img.shape
    amp = float(rng.uniform(2.0, 5.0))
    scale = float(rng.uniform(20.0, 50.0))
    dx = _smooth_field((h, w), rng, scale) * amp
    dy = _smooth_field((h, w), rng, scale) * amp
    xx, yy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(img, xx + dx, yy + dy, interpolation=cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_CONSTANT, borderValue=1.0)


# ---------------------------------------------------------------------------------------------
# photometric (degraded side only)

def texture(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Paper / surface texture: grain plus mottled tone, strongest on the background."""
    h, w = img.shape
    grain = cv2.GaussianBlur(rng.standard_normal((h, w)).astype(np.float32), (0, 0), float(rng.uniform(0.6, 1.5)))
    mottle = _smooth_field((h, w), rng, float(rng.uniform(8, 30)))
    tex = 1.0 - float(rng.uniform(0.08, 0.25)) * np.clip(0.5 + 0.35 * mottle + 0.35 * grain, 0, 1.5)
    return img * np.clip(tex, 0.0, 1.0)


def clutter(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Background clutter: small random specks, dots and short dashes (dust, debris, fibres)."""
    h, w = img.shape
    n = int(rng.integers(15, 60) * max(1.0, h * w / 150_000))

    def draw(c: np.ndarray) -> None:
        for _ in range(n):
            x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
            if rng.random() < 0.5:
                cv2.circle(c, (x, y), int(rng.integers(1, 4)), int(rng.integers(120, 256)), -1, cv2.LINE_AA)
            else:
                dx, dy = rng.integers(-12, 13, size=2)
                cv2.line(c, (x, y), (int(x + dx), int(y + dy)), int(rng.integers(120, 256)), 1, cv2.LINE_AA)

    return _apply_ink(img, _ink((h, w), draw, blur=0.5), float(rng.uniform(0.4, 0.9)))


def blobs(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Occluding blobs (smudges, stains, glare): soft ellipses that darken or wash out."""
    out = img.copy()
    for _ in range(int(rng.integers(1, 4))):
        cov = _soft_ellipse(img.shape, rng, (0.05, 0.18), (1.5, 5.0), cv2.LINE_AA)
        strength = float(rng.uniform(0.4, 0.9))
        if rng.random() < 0.6:  # dark stain
            out = _apply_ink(out, cov, strength)
        else:  # glare / wash-out: pull toward a light grey
            tone = float(rng.uniform(0.75, 1.0))
            out = out * (1 - strength * cov) + tone * strength * cov
    return out


def stamp(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A rubber stamp: ring or box outline with text, translucent ink."""
    h, w = img.shape
    cx, cy = int(rng.integers(0, w)), int(rng.integers(0, h))
    r = int(rng.uniform(0.15, 0.35) * min(h, w)) + 6
    words = ["RECEIVED", "COPY", "EVIDENCE", "POLICE", "No. 4711", "APPROVED", "FILE", "2019"]

    def draw(c: np.ndarray) -> None:
        th = int(rng.integers(1, 3))
        if rng.random() < 0.5:
            cv2.circle(c, (cx, cy), r, 255, th, cv2.LINE_AA)
            cv2.circle(c, (cx, cy), max(2, int(r * 0.8)), 255, 1, cv2.LINE_AA)
        else:
            cv2.rectangle(c, (cx - r, cy - r // 2), (cx + r, cy + r // 2), 255, th, cv2.LINE_AA)
        scale = max(0.25, r / 70.0)
        text = words[int(rng.integers(0, len(words)))]
        (tw, _th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
        cv2.putText(c, text, (cx - tw // 2, cy + int(6 * scale)), cv2.FONT_HERSHEY_SIMPLEX, scale, 255,
                    max(1, int(scale * 2)), cv2.LINE_AA)

    cov = _ink((h, w), draw, blur=0.6)
    ang = float(rng.uniform(-30, 30))
    m = cv2.getRotationMatrix2D((float(cx), float(cy)), ang, 1.0)
    cov = cv2.warpAffine(cov, m, (w, h), flags=cv2.INTER_LINEAR, borderValue=0.0)
    return _apply_ink(img, cov, float(rng.uniform(0.35, 0.8)))


def strokes(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Handwriting-like pen strokes: a few smooth random curves (sums of sines), 1-3 px wide."""
    h, w = img.shape

    def draw(c: np.ndarray) -> None:
        for _ in range(int(rng.integers(1, 4))):
            n = 60
            t = np.linspace(0, 1, n)
            x0, y0 = rng.uniform(0, w), rng.uniform(0, h)
            length = rng.uniform(0.3, 0.9) * w
            ang = rng.uniform(0, np.pi)
            xs = x0 + np.cos(ang) * length * (t - 0.5)
            ys = y0 + np.sin(ang) * length * (t - 0.5)
            for _k in range(2):  # wiggles like cursive writing
                f, a, ph = rng.uniform(2, 9), rng.uniform(2, 10), rng.uniform(0, 2 * np.pi)
                xs = xs + a * np.sin(2 * np.pi * f * t + ph) * -np.sin(ang)
                ys = ys + a * np.sin(2 * np.pi * f * t + ph) * np.cos(ang)
            pts = np.stack([xs, ys], 1).astype(np.int32).reshape(-1, 1, 2)
            cv2.polylines(c, [pts], False, 255, int(rng.integers(1, 4)), cv2.LINE_AA)

    return _apply_ink(img, _ink((h, w), draw), float(rng.uniform(0.5, 0.95)))


def lines(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Straight lines: ruled paper, form borders, scratches, card edges."""
    h, w = img.shape

    def draw(c: np.ndarray) -> None:
        if rng.random() < 0.5:  # ruled
            gap = int(rng.integers(12, 40))
            off = int(rng.integers(0, gap))
            horiz = rng.random() < 0.7
            for k in range(off, h if horiz else w, gap):
                if horiz:
                    cv2.line(c, (0, k), (w, k), 200, 1, cv2.LINE_AA)
                else:
                    cv2.line(c, (k, 0), (k, h), 200, 1, cv2.LINE_AA)
        else:  # a few arbitrary lines
            for _ in range(int(rng.integers(1, 5))):
                p1 = (int(rng.integers(-w // 4, w + w // 4)), int(rng.integers(-h // 4, h + h // 4)))
                p2 = (int(rng.integers(-w // 4, w + w // 4)), int(rng.integers(-h // 4, h + h // 4)))
                cv2.line(c, p1, p2, 255, int(rng.integers(1, 3)), cv2.LINE_AA)

    return _apply_ink(img, _ink((h, w), draw), float(rng.uniform(0.3, 0.85)))


def gaussian_noise(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Additive Gaussian sensor noise, sigma 0.03-0.12."""
    return img + float(rng.uniform(0.03, 0.12)) * rng.standard_normal(img.shape).astype(np.float32)


def speckle(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Multiplicative speckle noise plus sparse salt-and-pepper."""
    out = img * (1.0 + float(rng.uniform(0.1, 0.35)) * rng.standard_normal(img.shape).astype(np.float32))
    sp = rng.random(img.shape)
    p = float(rng.uniform(0.002, 0.02))
    out = np.where(sp < p / 2, 0.0, np.where(sp > 1 - p / 2, 1.0, out))
    return out.astype(np.float32)


def blur(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Defocus (Gaussian) or motion blur."""
    if rng.random() < 0.6:
        return cv2.GaussianBlur(img, (0, 0), float(rng.uniform(0.8, 1.8)))
    k = int(rng.integers(3, 8))
    kernel = np.zeros((k, k), np.float32)
    kernel[k // 2, :] = 1.0
    m = cv2.getRotationMatrix2D(((k - 1) / 2.0, (k - 1) / 2.0), float(rng.uniform(0, 180)), 1.0)
    kernel = cv2.warpAffine(kernel, m, (k, k))
    kernel /= max(float(kernel.sum()), 1e-6)
    return cv2.filter2D(img, -1, kernel, borderType=cv2.BORDER_REFLECT)


def illumination(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Uneven illumination: a smooth gain field plus a linear ramp (vignetting, shadows)."""
    h, w = img.shape
    field = _smooth_field((h, w), rng, float(rng.uniform(0.4, 1.0) * max(h, w)))
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    ang = rng.uniform(0, 2 * np.pi)
    ramp = (np.cos(ang) * (xx / max(w - 1, 1) - 0.5) + np.sin(ang) * (yy / max(h - 1, 1) - 0.5))
    gain = 1.0 + float(rng.uniform(0.1, 0.3)) * field + float(rng.uniform(0.2, 0.6)) * ramp
    offset = float(rng.uniform(-0.1, 0.1))
    return img * np.clip(gain, 0.3, 1.6) + offset


def contrast(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Low or uneven contrast (faint or over-inked print): squeeze the range, gamma."""
    lo = float(rng.uniform(0.1, 0.45))
    hi = float(rng.uniform(0.75, 1.0))
    gamma = float(np.exp(rng.uniform(-0.5, 0.5)))
    return lo + (hi - lo) * np.power(np.clip(img, 0, 1), gamma)


def erasure(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Partial erasure: ridges fade to background in a few soft patches (dry skin, lifted print gaps)."""
    out = img.copy()
    for _ in range(int(rng.integers(1, 4))):
        cov = _soft_ellipse(img.shape, rng, (0.04, 0.15), (2.0, 6.0), cv2.LINE_8)
        amount = float(rng.uniform(0.5, 1.0))
        out = out + (1.0 - out) * amount * cov
    return out


_FUNCS: dict[str, Effect] = {
    "rotate": rotate, "elastic": elastic, "texture": texture, "clutter": clutter, "blobs": blobs,
    "stamp": stamp, "strokes": strokes, "lines": lines, "gaussian_noise": gaussian_noise,
    "speckle": speckle, "blur": blur, "illumination": illumination, "contrast": contrast,
    "erasure": erasure,
}


def apply_effect(image: np.ndarray, name: str, seed: int) -> np.ndarray:
    """Apply a single named effect (for tests and the degradation gallery); float32 in [0, 1]."""
    if name not in _FUNCS:
        raise ValueError(f"unknown degradation {name!r}; choose from {', '.join(EFFECTS)}")
    rng = np.random.default_rng(seed)
    return np.clip(_FUNCS[name](to_float(image), rng), 0.0, 1.0).astype(np.float32)


def degrade(clean: np.ndarray, seed: int, *, effects: Sequence[str] | None = None,
            n_effects: tuple[int, int] = (2, 4), p_geometric: float = 0.3,
            ) -> tuple[np.ndarray, np.ndarray]:
    """Make one (degraded, clean) training pair from a clean print.

    Parameters
    ----------
    clean : H×W uint8 or float image (0 = ridge ink, 1/255 = background).
    seed : everything drawn from ``numpy.random.default_rng(seed)``: same seed, same pair.
    effects : apply exactly these (in a fixed, sensible order); ``None`` draws at random
        ``n_effects`` photometric effects and each geometric one with probability ``p_geometric``.
    n_effects : inclusive range of the number of photometric effects drawn when ``effects`` is None.
    p_geometric : probability of each geometric effect when ``effects`` is None.

    Returns
    -------
    (degraded, target) : float32 arrays in [0, 1], same shape as ``clean``. ``target`` is the clean
    print after the same geometric effects as ``degraded`` (identical to ``clean`` when none).
    """
    rng = np.random.default_rng(seed)
    img = to_float(clean)
    if img.ndim != 2:
        raise ValueError("degrade() expects a single-channel H×W image")
    if effects is None:
        geo = [g for g in GEOMETRIC if rng.random() < p_geometric]
        k = int(rng.integers(n_effects[0], n_effects[1] + 1))
        photo = list(rng.choice(PHOTOMETRIC, size=min(k, len(PHOTOMETRIC)), replace=False))
    else:
        unknown = [e for e in effects if e not in _FUNCS]
        if unknown:
            raise ValueError(f"unknown degradations {unknown}; choose from {', '.join(EFFECTS)}")
        geo = [g for g in GEOMETRIC if g in effects]
        photo = [e for e in effects if e in PHOTOMETRIC]
    target = img
    for g in geo:
        # one sub-seed per geometric effect so the target and the degraded side move identically
        target = _FUNCS[g](target, np.random.default_rng(int(rng.integers(0, 2**31))))
    out = target.copy()
    for name in sorted(photo, key=_ORDER.index):
        out = np.clip(_FUNCS[name](out, np.random.default_rng(int(rng.integers(0, 2**31)))), 0.0, 1.0)
    return out.astype(np.float32), target.astype(np.float32)
