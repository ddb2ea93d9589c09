"""Texture patches at a fixed physical resolution, and classical texture features (numpy/OpenCV).

Material-spoof PAD looks at texture (pores, ridge-edge sharpness, grey-level spread) that a
whole-print thumbnail throws away. Both PAD approaches compared in ``training/train_pad_livdet.py``
start here:

- :func:`extract_patches` resamples a print to the model's dpi (the file's or the stated one),
  finds the foreground (local grey-level variance) and cuts square patches on a grid over it; the
  patch CNN scores each patch and the print's score is the mean patch logit (:func:`fuse_logits`);
- :func:`texture_features` is the classical LivDet-2013-era baseline: multi-scale uniform LBP,
  LPQ and a Weber local descriptor histogram over the foreground, for a linear model
  (:class:`LinearModel`, L2 logistic regression).

No TensorFlow, no Qt.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from fpstation.core.resolution import foreground_mask, resample_to  # noqa: F401 - shared image steps, used here and re-exported

#: default patch geometry of the shipped material-spoof model
PATCH_DPI = 1000
PATCH_SIZE = 96


@dataclass(frozen=True)
class Patches:
    """Patches cut from one print: ``pixels`` uint8 (N, S, S); ``boxes`` (N, 4) y0, x0, y1, x1 in
    the ORIGINAL image's pixels; ``scale`` = model dpi / image dpi used; ``coverage`` = foreground
    fraction of each patch."""

    pixels: np.ndarray
    boxes: np.ndarray
    scale: float
    coverage: np.ndarray
    shape: tuple[int, int]


def extract_patches(pixels: np.ndarray, dpi: float | None, model_dpi: float | None = PATCH_DPI,
                    size: int = PATCH_SIZE, stride: int | None = None, min_cover: float = 0.6,
                    max_patches: int = 64, min_patches: int = 4) -> Patches:
    """Square ``size`` px patches at ``model_dpi`` on a grid (step ``stride``, default ``size``)
    over the foreground.

    Patches whose foreground share is below ``min_cover`` are skipped; when fewer than
    ``min_patches`` remain the best-covered ones are taken anyway (a small or faint print still gets
    a score). At most ``max_patches`` (best covered first, ties in raster order). A print smaller
    than one patch is padded with white paper.
    """
    import cv2

    img = np.asarray(pixels)
    if img.ndim == 3:
        img = img[..., 0]
    img = img.astype(np.uint8, copy=False)
    oh, ow = img.shape
    r = resample_to(img, dpi, model_dpi)
    scale = r.shape[1] / max(ow, 1)
    if r.shape[0] < size or r.shape[1] < size:
        r = cv2.copyMakeBorder(r, 0, max(0, size - r.shape[0]), 0, max(0, size - r.shape[1]),
                               cv2.BORDER_CONSTANT, value=255)
    h, w = r.shape
    stride = int(stride or size)
    mask = foreground_mask(r).astype(np.float32)
    integ = cv2.integral(mask)
    ys = list(range(0, h - size + 1, stride)) or [0]
    xs = list(range(0, w - size + 1, stride)) or [0]
    # centre the grid on the image so both margins are equal
    oy, ox = (h - size - ys[-1]) // 2, (w - size - xs[-1]) // 2
    cand = []
    for y in ys:
        for x in xs:
            y0, x0 = y + oy, x + ox
            c = (integ[y0 + size, x0 + size] - integ[y0, x0 + size] - integ[y0 + size, x0] + integ[y0, x0]) / size ** 2
            cand.append((float(c), y0, x0))
    order = sorted(range(len(cand)), key=lambda i: -cand[i][0])
    keep = [i for i in order if cand[i][0] >= min_cover]
    if len(keep) < min_patches:
        keep = order[:min_patches]
    keep = sorted(keep[:max_patches])
    out = np.stack([r[cand[i][1]:cand[i][1] + size, cand[i][2]:cand[i][2] + size] for i in keep])
    inv = 1.0 / scale
    boxes = np.array([[cand[i][1] * inv, cand[i][2] * inv, (cand[i][1] + size) * inv, (cand[i][2] + size) * inv]
                      for i in keep])
    boxes = np.clip(np.round(boxes), 0, [oh, ow, oh, ow]).astype(np.int32)
    return Patches(out, boxes, scale, np.array([cand[i][0] for i in keep], np.float32), (oh, ow))


def fuse_logits(logits: np.ndarray) -> float:
    """One print score from its patch logits: their mean (a robust, order-free fusion)."""
    z = np.asarray(logits, np.float64).ravel()
    return float(z.mean()) if z.size else 0.0


def patch_heatmap(patches: Patches, values: np.ndarray) -> np.ndarray:
    """H×W float32 map (original image size): each pixel the mean ``values`` of the patches that
    cover it (0 outside every patch)."""
    h, w = patches.shape
    acc = np.zeros((h, w), np.float64)
    cnt = np.zeros((h, w), np.float64)
    for (y0, x0, y1, x1), v in zip(patches.boxes, np.asarray(values, np.float64).ravel(), strict=True):
        acc[y0:y1, x0:x1] += v
        cnt[y0:y1, x0:x1] += 1
    return (acc / np.maximum(cnt, 1)).astype(np.float32)


# ------------------------------------------------------------------------- classical features
def _riu2_table() -> np.ndarray:
    """8-bit LBP code -> rotation-invariant uniform label (number of ones, or 9 if non-uniform)."""
    t = np.zeros(256, np.int32)
    for c in range(256):
        bits = [(c >> i) & 1 for i in range(8)]
        trans = sum(bits[i] != bits[(i + 1) % 8] for i in range(8))
        t[c] = sum(bits) if trans <= 2 else 9
    return t


_RIU2 = _riu2_table()


def lbp_codes(img: np.ndarray, radius: int) -> np.ndarray:
    """Per-pixel rotation-invariant uniform LBP codes (8 neighbours on the square ring at
    ``radius``, no interpolation: fast and deterministic), 0..9."""
    r = int(radius)
    f = np.pad(img, r, mode="reflect")
    h, w = img.shape
    c = f[r:r + h, r:r + w]
    code = np.zeros((h, w), np.uint8)
    offs = [(-r, -r), (-r, 0), (-r, r), (0, r), (r, r), (r, 0), (r, -r), (0, -r)]
    for i, (dy, dx) in enumerate(offs):
        code |= (f[r + dy:r + dy + h, r + dx:r + dx + w] >= c).view(np.uint8) << np.uint8(i)
    return _RIU2[code].astype(np.int32)


def _lbp_hist(img: np.ndarray, mask: np.ndarray, radius: int) -> np.ndarray:
    """Rotation-invariant uniform LBP (:func:`lbp_codes`), 10-bin histogram over ``mask``."""
    hist = np.bincount(lbp_codes(img, radius)[mask], minlength=10).astype(np.float64)
    return hist / max(hist.sum(), 1.0)


def lpq_codes(img: np.ndarray, win: int = 7) -> np.ndarray:
    """Per-pixel local phase quantisation codes (Ojansivu & Heikkilä 2008), no decorrelation: 0..255.
    The four complex STFT responses are built from real separable OpenCV filters (fast)."""
    import cv2

    f = img.astype(np.float32)
    r = (win - 1) // 2
    x = np.arange(-r, r + 1, dtype=np.float64)
    one = np.ones(win, np.float32)
    cr = np.cos(2 * np.pi * x / win).astype(np.float32)
    ci = (-np.sin(2 * np.pi * x / win)).astype(np.float32)

    def sep(kx: np.ndarray, ky: np.ndarray) -> np.ndarray:
        return cv2.sepFilter2D(f, cv2.CV_32F, kx, ky, borderType=cv2.BORDER_REFLECT)

    rr, ii, ri, ir = sep(cr, cr), sep(ci, ci), sep(ci, cr), sep(cr, ci)  # sep(kx, ky)
    parts = [sep(cr, one), sep(ci, one),      # [1, a] along x
             sep(one, cr), sep(one, ci),      # [a, 1] along y
             rr - ii, ri + ir,                # [a, a]
             rr + ii, ir - ri]                # [a, -a]
    code = np.zeros(f.shape, np.int32)
    for i, p in enumerate(parts):
        code |= (p > 0).astype(np.int32) << i
    return code


def _lpq_hist(img: np.ndarray, mask: np.ndarray, win: int = 7) -> np.ndarray:
    """Local phase quantisation: 256-bin histogram of :func:`lpq_codes` over ``mask``."""
    h = np.bincount(lpq_codes(img, win)[mask], minlength=256).astype(np.float64)
    return h / max(h.sum(), 1.0)


def wld_codes(img: np.ndarray, bins_xi: int = 8, bins_theta: int = 8) -> np.ndarray:
    """Per-pixel Weber local descriptor codes (Chen et al. 2010): differential excitation ×
    gradient orientation, 0..bins_xi*bins_theta-1."""
    import cv2

    f = img.astype(np.float32) + 1.0
    k = np.ones((3, 3), np.float32)
    k[1, 1] = -8
    diff = cv2.filter2D(f, -1, k, borderType=cv2.BORDER_REFLECT)
    xi = np.arctan(diff / f)  # (-pi/2, pi/2)
    gy = cv2.Sobel(f, cv2.CV_32F, 0, 1, ksize=1)
    gx = cv2.Sobel(f, cv2.CV_32F, 1, 0, ksize=1)
    theta = np.arctan2(gy, gx)  # (-pi, pi]
    bx = np.clip(((xi + np.pi / 2) / np.pi * bins_xi).astype(np.int32), 0, bins_xi - 1)
    bt = np.clip(((theta + np.pi) / (2 * np.pi) * bins_theta).astype(np.int32), 0, bins_theta - 1)
    return bx * bins_theta + bt


def bsif_codes(img: np.ndarray, filters: np.ndarray) -> np.ndarray:
    """Per-pixel binarised statistical image features (Kannala & Rahtu 2012; for liveness: Ghiani et
    al. 2013): bit i is set where the response to ICA filter i is positive (above 1e-3 grey levels,
    so that a flat region, where zero-sum filters answer 0 up to rounding, has code 0).
    ``filters`` (n, k, k), n <= 16; codes 0..2**n - 1."""
    import cv2

    f = img.astype(np.float32)
    code = np.zeros(f.shape, np.int32)
    for i, k in enumerate(np.asarray(filters, np.float32)):
        code |= (cv2.filter2D(f, cv2.CV_32F, k, borderType=cv2.BORDER_REFLECT) > 1e-3).astype(np.int32) << i
    return code


def _wld_hist(img: np.ndarray, mask: np.ndarray, bins_xi: int = 8, bins_theta: int = 8) -> np.ndarray:
    """Weber local descriptor: histogram of :func:`wld_codes` over ``mask``."""
    h = np.bincount(wld_codes(img, bins_xi, bins_theta)[mask], minlength=bins_xi * bins_theta).astype(np.float64)
    return h / max(h.sum(), 1.0)


def texture_features(pixels: np.ndarray, dpi: float | None, model_dpi: float | None = PATCH_DPI,
                     max_side: int = 1000) -> np.ndarray:
    """Classical texture descriptor of a print's foreground (at ``model_dpi``): uniform LBP at
    radii 1, 2, 3 (3×10 bins), LPQ (256) and WLD (64), each a normalised histogram, then
    square-rooted (Hellinger map, so a linear model compares histograms sensibly). 350 values."""
    img = resample_to(np.asarray(pixels, np.uint8), dpi, model_dpi)
    if max(img.shape) > max_side:
        img = resample_to(img, max(img.shape), max_side)
    mask = foreground_mask(img)
    if mask.sum() < 100:
        mask = np.ones_like(mask)
    ys, xs = np.nonzero(mask)  # only the foreground's bounding box is filtered
    sl = (slice(max(ys.min() - 8, 0), ys.max() + 9), slice(max(xs.min() - 8, 0), xs.max() + 9))
    img, mask = img[sl], mask[sl]
    feats = [_lbp_hist(img, mask, r) for r in (1, 2, 3)] + [_lpq_hist(img, mask), _wld_hist(img, mask)]
    return np.sqrt(np.concatenate(feats)).astype(np.float32)


def nuisance_directions(xs: np.ndarray, y: np.ndarray, groups: np.ndarray, k: int) -> np.ndarray:
    """Orthonormal columns (d × at most ``k``): the leading directions of between-subject variation
    within each class. For every class, each subject's mean row minus the mean of those subject
    means; the top right singular vectors of all these deviations stacked. A class with one subject
    adds nothing; fewer than ``k`` independent deviations give fewer columns."""
    xs = np.asarray(xs, np.float64)
    y = np.asarray(y).ravel()
    groups = np.asarray(groups).ravel()
    devs = []
    for c in np.unique(y):
        in_c = y == c
        subjects = np.unique(groups[in_c])
        if len(subjects) < 2:
            continue
        means = np.stack([xs[in_c & (groups == g)].mean(0) for g in subjects])
        devs.append(means - means.mean(0))
    if k <= 0 or not devs:
        return np.zeros((xs.shape[1], 0))
    _, sv, vt = np.linalg.svd(np.concatenate(devs), full_matrices=False)
    rank = int((sv > 1e-9 * max(sv[0], 1e-300)).sum())
    return vt[: min(k, rank)].T


class LinearModel:
    """L2-regularised logistic regression on standardised features (scipy L-BFGS), class-balanced.

    Small enough to live in a model card (``to_dict``/``from_dict``): mean, scale, weights, bias.
    """

    def __init__(self, c: float = 1.0) -> None:
        self.c = float(c)
        self.mean: np.ndarray | None = None
        self.scale: np.ndarray | None = None
        self.w: np.ndarray | None = None
        self.b = 0.0

    def fit(self, x: np.ndarray, y: np.ndarray, groups: np.ndarray | None = None,
            nuisance_k: int = 0) -> LinearModel:
        """Fit on rows ``x`` with labels ``y`` (0/1). With ``groups`` (each row's subject) and
        ``nuisance_k`` > 0, the ``nuisance_k`` directions along which the subjects' class means differ
        most (:func:`nuisance_directions`, in standardised units) are projected out before the fit
        (nuisance attribute projection, docs/adr/0275): the fitted weights are orthogonal to them, so
        the model's score does not move when a print differs from the others only along them. The
        projection is folded into ``w``: the fitted model is an ordinary linear model."""
        from scipy.optimize import minimize

        x = np.asarray(x, np.float64)
        y = np.asarray(y, np.float64).ravel()
        self.mean = x.mean(0)
        self.scale = x.std(0) + 1e-6
        xs = (x - self.mean) / self.scale
        v = None
        if nuisance_k > 0:
            if groups is None:
                raise ValueError("nuisance_k needs the subject of every row (groups)")
            v = nuisance_directions(xs, y, np.asarray(groups), nuisance_k)
            xs = xs - (xs @ v) @ v.T
        n1, n0 = max(y.sum(), 1), max((1 - y).sum(), 1)
        sw = np.where(y == 1, 0.5 / n1, 0.5 / n0)
        lam = 1.0 / (self.c * len(y))

        def f(p: np.ndarray) -> tuple[float, np.ndarray]:
            w, b = p[:-1], p[-1]
            t = xs @ w + b
            loss = np.sum(sw * (y * np.logaddexp(0, -t) + (1 - y) * np.logaddexp(0, t))) + 0.5 * lam * w @ w
            g = sw * (1 / (1 + np.exp(-t)) - y)
            return float(loss), np.concatenate([xs.T @ g + lam * w, [g.sum()]])

        res = minimize(f, np.zeros(xs.shape[1] + 1), jac=True, method="L-BFGS-B", options={"maxiter": 500})
        self.w, self.b = res.x[:-1], float(res.x[-1])
        if v is not None:  # the score of (I - V V^T) xs equals xs @ ((I - V V^T) w)
            self.w = self.w - v @ (v.T @ self.w)
        return self

    def decision(self, x: np.ndarray) -> np.ndarray:
        assert self.w is not None and self.mean is not None and self.scale is not None
        return ((np.asarray(x, np.float64) - self.mean) / self.scale) @ self.w + self.b

    def to_dict(self) -> dict[str, Any]:
        assert self.w is not None and self.mean is not None and self.scale is not None
        return {"c": self.c, "mean": self.mean.tolist(), "scale": self.scale.tolist(), "w": self.w.tolist(),
                "b": self.b}

    def save(self, path: Any) -> None:
        """Write the weights as ``.npz`` (the model file a card points to)."""
        assert self.w is not None and self.mean is not None and self.scale is not None
        with open(path, "wb") as fh:
            np.savez(fh, mean=self.mean, scale=self.scale, w=self.w, b=np.array([self.b]), c=np.array([self.c]))

    @classmethod
    def load(cls, path: Any) -> LinearModel:
        with np.load(path, allow_pickle=False) as z:
            m = cls(float(z["c"][0]))
            m.mean, m.scale, m.w, m.b = z["mean"], z["scale"], z["w"], float(z["b"][0])
        return m

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LinearModel:
        m = cls(d.get("c", 1.0))
        m.mean, m.scale, m.w = (np.asarray(d[k], np.float64) for k in ("mean", "scale", "w"))
        m.b = float(d["b"])
        return m
