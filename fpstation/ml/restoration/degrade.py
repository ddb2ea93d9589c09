"""Synthetic degradations that turn clean prints into (degraded, clean) training pairs.

Everything is deterministic by seed: ``degrade(clean, seed)`` always returns the same pair, so a
training set or an evaluation folder can be rebuilt bit for bit from the clean prints and a seed.

Images are float32 in [0, 1] with 0 = black ridge ink and 1 = white background (uint8 inputs are
scaled). Marks (stamps, strokes, blobs) are composited multiplicatively, like ink on paper.

Two kinds of effect:

- *geometric* (``rotate``, ``elastic``) move the print; they are applied to the clean target
  too, because a restorer must return its input's alignment: it cannot know the "true" pose.
- *photometric* (all the others) damage only the degraded side.

Two *profiles* draw from these effects (``degrade(..., profile=...)``):

- ``"v2"`` (default): the recipe restore-unet v2 was trained on, kept bit for bit so its card's
  pairs can be rebuilt;
- ``"wide"``: domain randomisation (issue #17): everything in v2 plus paper / fabric / wood-grain
  backgrounds, text and stamp shapes in coloured inks converted to grey, a print inked in colour
  on tinted paper, wider contrast/gamma, blur and noise ranges, strong elastic distortion and
  partial prints.

A second, independent recipe that no profile here ever produces lives in
:mod:`fpstation.ml.restoration.degrade_heldout`; it is only for evaluation.

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
#: domain-randomisation effects added by the "wide" profile
GEOMETRIC_WIDE = ("elastic_strong", "partial")
PHOTOMETRIC_WIDE = ("background", "ink_colour", "text", "shapes", "contrast_wide", "blur_wide", "noise_wide")
EFFECTS = GEOMETRIC + PHOTOMETRIC + GEOMETRIC_WIDE + PHOTOMETRIC_WIDE
#: profile -> (geometric effects, photometric effects, default number of photometric effects)
PROFILES: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[int, int]]] = {
    "v2": (GEOMETRIC, PHOTOMETRIC, (2, 4)),
    "wide": (GEOMETRIC + GEOMETRIC_WIDE, PHOTOMETRIC + PHOTOMETRIC_WIDE, (2, 5)),
}

# The order photometric effects are applied in when several are drawn: damage to the print
# itself first, then the surface it lies on, then marks on top, then the capture chain
# (lighting, optics, sensor noise).
_ORDER = ("erasure", "ink_colour", "texture", "background", "clutter", "lines", "strokes", "text", "stamp",
          "shapes", "blobs", "illumination", "contrast", "contrast_wide", "blur", "blur_wide", "gaussian_noise",
          "speckle", "noise_wide")


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


# ---------------------------------------------------------------------------------------------
# domain randomisation ("wide" profile)

#: ink colours (RGB in [0, 1]) of marks and prints: black, blue, violet, red, green, brown, grey
_INKS = ((0.05, 0.05, 0.08), (0.10, 0.20, 0.65), (0.40, 0.15, 0.55), (0.75, 0.10, 0.12),
         (0.10, 0.45, 0.20), (0.45, 0.30, 0.15), (0.35, 0.35, 0.35))


def _grey_weights(rng: np.random.Generator) -> np.ndarray:
    """RGB -> grey weights of an unknown capture: Rec.601 jittered, or one channel dominating."""
    if rng.random() < 0.25:
        w = np.full(3, 0.1) + np.eye(3)[int(rng.integers(0, 3))] * 0.8
    else:
        w = np.array([0.299, 0.587, 0.114]) * np.exp(rng.uniform(-0.4, 0.4, 3))
    return (w / w.sum()).astype(np.float32)


def ink_darkness(rng: np.random.Generator) -> float:
    """How dark a random coloured ink comes out after conversion to grey (1 = black)."""
    colour = np.clip(np.asarray(_INKS[int(rng.integers(0, len(_INKS)))]) + rng.normal(0, 0.06, 3), 0, 1)
    grey = float(colour @ _grey_weights(rng))
    return float(np.clip((1.0 - grey) * rng.uniform(0.6, 1.0), 0.1, 0.95))


def background(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A surface under the print: paper fibres, woven fabric or wood grain (multiplicative)."""
    h, w = img.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    kind = int(rng.integers(0, 3))
    if kind == 0:  # paper: short oriented fibres over a mottled tone
        fib = cv2.GaussianBlur(rng.standard_normal((h, w)).astype(np.float32), (0, 0), 0.8)
        k = int(rng.integers(5, 13))
        kernel = np.zeros((k, k), np.float32)
        kernel[k // 2, :] = 1.0 / k
        m = cv2.getRotationMatrix2D(((k - 1) / 2.0, (k - 1) / 2.0), float(rng.uniform(0, 180)), 1.0)
        fib = cv2.filter2D(fib, -1, cv2.warpAffine(kernel, m, (k, k)))
        tex = 0.6 * fib / max(float(fib.std()), 1e-6) + 0.4 * _smooth_field((h, w), rng, float(rng.uniform(10, 40)))
    elif kind == 1:  # fabric: two crossing weaves with jitter
        p1, p2 = float(rng.uniform(3, 9)), float(rng.uniform(3, 9))
        a = float(rng.uniform(0, np.pi))
        jit = _smooth_field((h, w), rng, 15.0) * float(rng.uniform(0.5, 2.0))
        u = np.cos(a) * xx + np.sin(a) * yy + jit
        v = -np.sin(a) * xx + np.cos(a) * yy + jit
        tex = np.sin(2 * np.pi * u / p1) * np.sin(2 * np.pi * v / p2)
        tex = tex + 0.3 * rng.standard_normal((h, w)).astype(np.float32)
    else:  # wood grain: rings distorted by a smooth field
        cx, cy = float(rng.uniform(-w, 2 * w)), float(rng.uniform(-h, 2 * h))
        warp = _smooth_field((h, w), rng, float(rng.uniform(30, 90))) * float(rng.uniform(4, 15))
        r = np.sqrt((xx - cx) ** 2 * float(rng.uniform(0.05, 1.0)) + (yy - cy) ** 2) + warp
        tex = np.sin(2 * np.pi * r / float(rng.uniform(6, 20))) + 0.2 * _smooth_field((h, w), rng, 4.0)
    tex = (tex - tex.mean()) / max(float(tex.std()), 1e-6)
    tone = 1.0 - float(rng.uniform(0.0, 0.25))  # the surface's own shade
    return img * np.clip(tone + float(rng.uniform(0.04, 0.18)) * tex, 0.0, 1.0)


def ink_colour(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The print itself inked in colour on tinted paper, then converted to grey: less contrast."""
    weights = _grey_weights(rng)
    ink = np.clip(np.asarray(_INKS[int(rng.integers(0, len(_INKS)))]) + rng.normal(0, 0.08, 3), 0, 1)
    paper = np.clip(1.0 - rng.uniform(0.0, 0.25, 3), 0, 1)
    ink_g, paper_g = float(ink @ weights), float(paper @ weights)
    if paper_g - ink_g < 0.15:  # keep at least a faint print
        ink_g = max(0.0, paper_g - 0.15)
    return ink_g + (paper_g - ink_g) * img


def text(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Typed or handwritten-looking text lines in any Hershey font, size, slant and ink."""
    h, w = img.shape
    fonts = (cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_COMPLEX,
             cv2.FONT_HERSHEY_TRIPLEX, cv2.FONT_HERSHEY_SCRIPT_SIMPLEX, cv2.FONT_HERSHEY_SCRIPT_COMPLEX,
             cv2.FONT_HERSHEY_PLAIN)
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-/.:#"
    out = img
    for _ in range(int(rng.integers(1, 4))):
        n_lines = int(rng.integers(1, 4))
        scale = float(rng.uniform(0.3, 1.6)) * max(0.5, min(h, w) / 300)
        font = fonts[int(rng.integers(0, len(fonts)))]
        thick = int(rng.integers(1, 4))
        x0, y0 = int(rng.integers(-w // 4, w)), int(rng.integers(0, h))
        ang = float(rng.uniform(-45, 45))
        words = ["".join(letters[int(i)] for i in rng.integers(0, len(letters), int(rng.integers(3, 14))))
                 for _ in range(n_lines)]

        def draw(c: np.ndarray, words=words, scale=scale, font=font, thick=thick, x0=x0, y0=y0) -> None:
            for j, word in enumerate(words):
                cv2.putText(c, word, (x0, y0 + int(j * 32 * scale)), font, scale, 255, thick, cv2.LINE_AA)

        cov = _ink((h, w), draw, blur=float(rng.uniform(0.0, 0.8)))
        m = cv2.getRotationMatrix2D((float(x0), float(y0)), ang, 1.0)
        cov = cv2.warpAffine(cov, m, (w, h), flags=cv2.INTER_LINEAR, borderValue=0.0)
        out = _apply_ink(out, cov, ink_darkness(rng))
    return out


def shapes(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Stamp shapes: stars, polygons, double rings, date boxes, seals, filled or outlined, in ink."""
    h, w = img.shape
    out = img
    for _ in range(int(rng.integers(1, 3))):
        cx, cy = int(rng.integers(0, w)), int(rng.integers(0, h))
        r = int(rng.uniform(0.1, 0.45) * min(h, w)) + 5
        kind = int(rng.integers(0, 5))
        th = int(rng.integers(1, 5))
        fill = rng.random() < 0.2

        def draw(c: np.ndarray, cx=cx, cy=cy, r=r, kind=kind, th=th, fill=fill) -> None:
            if kind in (0, 1):  # star / regular polygon
                n = int(rng.integers(5, 9)) if kind == 0 else int(rng.integers(3, 9))
                t = np.linspace(0, 2 * np.pi, 2 * n if kind == 0 else n, endpoint=False) + rng.uniform(0, np.pi)
                rad = np.where(np.arange(t.size) % 2 == 0, r, r * 0.45) if kind == 0 else np.full(t.size, r)
                pts = np.stack([cx + rad * np.cos(t), cy + rad * np.sin(t)], 1).astype(np.int32)
                if fill:
                    cv2.fillPoly(c, [pts], 255, cv2.LINE_AA)
                else:
                    cv2.polylines(c, [pts], True, 255, th, cv2.LINE_AA)
            elif kind == 2:  # seal: double ring with radial ticks
                cv2.circle(c, (cx, cy), r, 255, th, cv2.LINE_AA)
                cv2.circle(c, (cx, cy), max(2, int(r * 0.7)), 255, max(1, th - 1), cv2.LINE_AA)
                for a in np.linspace(0, 2 * np.pi, int(rng.integers(12, 40)), endpoint=False):
                    p1 = (int(cx + 0.72 * r * np.cos(a)), int(cy + 0.72 * r * np.sin(a)))
                    p2 = (int(cx + 0.95 * r * np.cos(a)), int(cy + 0.95 * r * np.sin(a)))
                    cv2.line(c, p1, p2, 255, 1, cv2.LINE_AA)
            elif kind == 3:  # date box
                cv2.rectangle(c, (cx - r, cy - r // 3), (cx + r, cy + r // 3), 255, th, cv2.LINE_AA)
                date = f"{int(rng.integers(1, 29)):02d}.{int(rng.integers(1, 13)):02d}.{int(rng.integers(1990, 2030))}"
                s = max(0.3, r / 80.0)
                cv2.putText(c, date, (cx - r + 4, cy + int(8 * s)), cv2.FONT_HERSHEY_DUPLEX, s, 255,
                            max(1, int(2 * s)), cv2.LINE_AA)
            else:  # signature-like scribble of bezier-ish loops
                t = np.linspace(0, 1, 120)
                xs = cx + r * (t - 0.5) * 2 + r * 0.2 * np.sin(2 * np.pi * rng.uniform(3, 8) * t)
                ys = cy + r * 0.3 * np.sin(2 * np.pi * rng.uniform(1, 4) * t + rng.uniform(0, 6))
                cv2.polylines(c, [np.stack([xs, ys], 1).astype(np.int32).reshape(-1, 1, 2)], False, 255, th,
                              cv2.LINE_AA)

        cov = _ink((h, w), draw, blur=float(rng.uniform(0.3, 1.2)))
        if rng.random() < 0.5:  # rubber stamps print unevenly
            cov = cov * np.clip(0.75 + 0.35 * _smooth_field((h, w), rng, float(rng.uniform(4, 20))), 0, 1)
        out = _apply_ink(out, cov, ink_darkness(rng))
    return out


def contrast_wide(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Contrast and gamma over a wide range, including very faint and very dark prints."""
    lo = float(rng.uniform(0.0, 0.6))
    hi = float(rng.uniform(max(lo + 0.12, 0.55), 1.0))
    gamma = float(np.exp(rng.uniform(-1.2, 1.2)))
    return lo + (hi - lo) * np.power(np.clip(img, 0, 1), gamma)


def blur_wide(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Anisotropic Gaussian blur (sigma 0.5-3 px, any axis) or long motion blur (up to 13 px)."""
    if rng.random() < 0.5:
        sx, sy = float(rng.uniform(0.5, 3.0)), float(rng.uniform(0.5, 3.0))
        k = int(2 * np.ceil(3 * max(sx, sy)) + 1)
        g = np.outer(cv2.getGaussianKernel(k, sy), cv2.getGaussianKernel(k, sx).T).astype(np.float32)
        m = cv2.getRotationMatrix2D(((k - 1) / 2.0, (k - 1) / 2.0), float(rng.uniform(0, 180)), 1.0)
        g = cv2.warpAffine(g, m, (k, k))
    else:
        k = int(rng.integers(5, 14))
        g = np.zeros((k, k), np.float32)
        g[k // 2, :] = 1.0
        m = cv2.getRotationMatrix2D(((k - 1) / 2.0, (k - 1) / 2.0), float(rng.uniform(0, 180)), 1.0)
        g = cv2.warpAffine(g, m, (k, k))
    return cv2.filter2D(img, -1, g / max(float(g.sum()), 1e-6), borderType=cv2.BORDER_REFLECT)


def noise_wide(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Signal-dependent (shot) noise, correlated (blotchy) noise and white noise up to sigma 0.2."""
    out = img
    if rng.random() < 0.5:  # shot noise: photon counts
        peak = float(rng.uniform(8, 80))
        out = rng.poisson(np.clip(out, 0, 1) * peak).astype(np.float32) / peak
    if rng.random() < 0.5:  # correlated sensor noise
        n = cv2.GaussianBlur(rng.standard_normal(img.shape).astype(np.float32), (0, 0), float(rng.uniform(1, 4)))
        out = out + float(rng.uniform(0.03, 0.15)) * n / max(float(n.std()), 1e-6)
    return out + float(rng.uniform(0.0, 0.2)) * rng.standard_normal(img.shape).astype(np.float32)


def elastic_strong(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Strong elastic distortion (pressure, twisting): displacements of 3-8 px over 30-80 px (more
    than ``elastic``, still below the strain at which ridges would fold over)."""
    h, w = img.shape
    amp, scale = float(rng.uniform(3.0, 8.0)), float(rng.uniform(30.0, 80.0))
    dx = _smooth_field((h, w), rng, scale) * amp
    dy = _smooth_field((h, w), rng, scale) * amp
    xx, yy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(img, xx + dx, yy + dy, interpolation=cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_CONSTANT, borderValue=1.0)


def partial(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A partial print: only a random half-plane or ellipse of the print was captured (the rest is
    background). Geometric: the target loses the same part, since nothing can restore it."""
    h, w = img.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    if rng.random() < 0.5:
        a = float(rng.uniform(0, 2 * np.pi))
        d = (np.cos(a) * (xx - w / 2) + np.sin(a) * (yy - h / 2)) / max(h, w)
        keep = d < float(rng.uniform(-0.1, 0.3))
    else:
        cx, cy = rng.uniform(0.2, 0.8) * w, rng.uniform(0.2, 0.8) * h
        keep = ((xx - cx) / (rng.uniform(0.25, 0.6) * w)) ** 2 + ((yy - cy) / (rng.uniform(0.25, 0.6) * h)) ** 2 < 1
    soft = cv2.GaussianBlur(keep.astype(np.float32), (0, 0), float(rng.uniform(1.0, 4.0)))
    return img * soft + (1.0 - soft)


_FUNCS: dict[str, Effect] = {
    "rotate": rotate, "elastic": elastic, "texture": texture, "clutter": clutter, "blobs": blobs,
    "stamp": stamp, "strokes": strokes, "lines": lines, "gaussian_noise": gaussian_noise,
    "speckle": speckle, "blur": blur, "illumination": illumination, "contrast": contrast,
    "erasure": erasure, "background": background, "ink_colour": ink_colour, "text": text, "shapes": shapes,
    "contrast_wide": contrast_wide, "blur_wide": blur_wide, "noise_wide": noise_wide,
    "elastic_strong": elastic_strong, "partial": partial,
}


def apply_effect(image: np.ndarray, name: str, seed: int) -> np.ndarray:
    """Apply a single named effect (for tests and the degradation gallery); float32 in [0, 1]."""
    if name not in _FUNCS:
        raise ValueError(f"unknown degradation {name!r}; choose from {', '.join(EFFECTS)}")
    rng = np.random.default_rng(seed)
    return np.clip(_FUNCS[name](to_float(image), rng), 0.0, 1.0).astype(np.float32)


def _plan(rng: np.random.Generator, profile: str, n_effects: tuple[int, int] | None, p_geometric: float,
          ) -> tuple[list[str], list[str]]:
    """Draw the geometric and photometric effects of one pair (the first draws from ``rng``)."""
    if profile not in PROFILES:
        raise ValueError(f"unknown degradation profile {profile!r}; choose from {', '.join(PROFILES)}")
    geo_pool, photo_pool, default_n = PROFILES[profile]
    n_effects = n_effects or default_n
    geo = [g for g in geo_pool if rng.random() < p_geometric]
    k = int(rng.integers(n_effects[0], n_effects[1] + 1))
    return geo, [str(e) for e in rng.choice(photo_pool, size=min(k, len(photo_pool)), replace=False)]


def planned_effects(seed: int, *, n_effects: tuple[int, int] | None = None, p_geometric: float = 0.3,
                    profile: str = "v2") -> list[str]:
    """The effects ``degrade(clean, seed, ...)`` applies with the same arguments and ``effects=None``
    (geometric first, then photometric in application order); for tests and galleries."""
    geo, photo = _plan(np.random.default_rng(seed), profile, n_effects, p_geometric)
    return geo + sorted(photo, key=_ORDER.index)


def degrade(clean: np.ndarray, seed: int, *, effects: Sequence[str] | None = None,
            n_effects: tuple[int, int] | None = None, p_geometric: float = 0.3, profile: str = "v2",
            ) -> tuple[np.ndarray, np.ndarray]:
    """Make one (degraded, clean) training pair from a clean print.

    Parameters
    ----------
    clean : H×W uint8 or float image (0 = ridge ink, 1/255 = background).
    seed : everything drawn from ``numpy.random.default_rng(seed)``: same seed, same pair.
    effects : apply exactly these (in a fixed, sensible order); ``None`` draws at random
        ``n_effects`` photometric effects and each geometric one with probability ``p_geometric``.
    n_effects : inclusive range of the number of photometric effects drawn when ``effects`` is None
        (default: the profile's, 2-4 for "v2", 2-5 for "wide").
    p_geometric : probability of each geometric effect when ``effects`` is None.
    profile : "v2" (the recipe restore-unet v2 was trained on) or "wide" (domain randomisation);
        see :data:`PROFILES`. Only used when ``effects`` is None.

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
        geo, photo = _plan(rng, profile, n_effects, p_geometric)
    else:
        unknown = [e for e in effects if e not in _FUNCS]
        if unknown:
            raise ValueError(f"unknown degradations {unknown}; choose from {', '.join(EFFECTS)}")
        geo = [g for g in GEOMETRIC + GEOMETRIC_WIDE if g in effects]
        photo = [e for e in effects if e in PHOTOMETRIC + PHOTOMETRIC_WIDE]
    target = img
    for g in geo:
        # one sub-seed per geometric effect so the target and the degraded side move identically
        target = _FUNCS[g](target, np.random.default_rng(int(rng.integers(0, 2**31))))
    out = target.copy()
    for name in sorted(photo, key=_ORDER.index):
        out = np.clip(_FUNCS[name](out, np.random.default_rng(int(rng.integers(0, 2**31)))), 0.0, 1.0)
    return out.astype(np.float32), target.astype(np.float32)
