"""Hand-made gender cues of one print (numpy + OpenCV, no TensorFlow) and the small feature model.

Forensic studies find women's ridges finer (more ridges per mm) and ridges narrower relative to the
valleys. On the SOCOFing images (a whole finger downscaled to about 96×103 px, ridge period about
3–4 px) the cues that survive are measured here, in groups that the cross-validation compares:

- ``spectrum``: radially averaged log power spectrum of the Hann-windowed print (39 bins of
  normalised frequency 0.02–0.5 cycles/px);
- ``frequency``: ridge frequency of the whole print (spectral centroid and peak in the ridge band)
  and its spread over 32×32 blocks (weighted mean, median, std, 10th/90th percentile), plus the
  spatial-domain ridge period (from the mean ridge + valley runs along rows and along columns);
- ``ridge_valley``: ridge-to-valley width ratio (mean dark run / mean light run after a local-mean
  threshold), the ridge and valley widths in px, and the ridge (dark) fraction of the finger area;
- ``shape``: the finger area and bounding box as fractions of the image (the images are fixed-size
  crops of a whole finger, so this is finger size at the sensor's scale);
- ``orientation``: share of the ridge-band spectral energy in 8 ridge directions (22.5° each): the
  pattern's overall flow (loops, whorls, arches; finger type and placement);
- ``finger``: which finger it is (one-hot ANSI/NIST position 1–10) when known — from the file's
  finger position or a SOCOFing name. Thumbs are larger and coarser than little fingers in both
  sexes; knowing the finger removes that offset. Unknown = NaN, which the model fills with the
  training mean: the estimate averaged over fingers.
- ``literature``: the forensic literature's own measurements at the print's physical scale
  (:data:`SOCOFING_PX_PER_MM`): ridge density in ridges per mm counted across the ridges in 5 mm
  windows (distal, left and right of the centre; their spread over a grid of windows) and the
  ridge-to-valley thickness ratio with the ridge and valley widths in mm. Placed after ``finger`` so
  that older models' column indices stay valid.

:class:`FeatureModel` is a standardiser + an ensemble of logistic regressions (one per
cross-validation fold) + Platt calibration fitted out-of-fold; it is stored as a ``.npz`` beside its
model card (models/gender-socofing.npz).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

SPECTRUM_BINS = np.linspace(0.02, 0.5, 40)
BAND = (0.15, 0.48)  # ridge band in cycles/px for SOCOFing-scale prints (period 2.1–6.7 px)
TRIM = 3  # SOCOFing images carry a 1–2 px grey frame; features ignore the outer pixels

GROUPS: dict[str, list[str]] = {
    "spectrum": [f"spec_{k:02d}" for k in range(len(SPECTRUM_BINS) - 1)],
    "frequency": ["freq_centroid", "freq_peak", "freq_band_std", "freq_block_mean", "freq_block_median",
                  "freq_block_std", "freq_block_p10", "freq_block_p90", "period_spatial"],
    "ridge_valley": ["ridge_valley_ratio", "ridge_fraction", "ridge_run", "valley_run"],
    "shape": ["fg_area", "fg_width", "fg_height"],
    "orientation": [f"orient_{k}" for k in range(8)],
}
#: measured on the image; the ``finger`` group below is metadata (which finger it is), not pixels
IMAGE_NAMES: list[str] = [n for g in GROUPS.values() for n in g]
GROUPS["finger"] = [f"finger_{k}" for k in range(1, 11)]
NAMES: list[str] = IMAGE_NAMES + GROUPS["finger"]
_SOCOFING_FINGERS = ("thumb", "index", "middle", "ring", "little")


def _gauss(x: np.ndarray, sigma: float) -> np.ndarray:
    import cv2

    return cv2.GaussianBlur(x, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)


def _radial(h: int, w: int) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    return np.sqrt(((yy - h // 2) / h) ** 2 + ((xx - w // 2) / w) ** 2)


def foreground(x: np.ndarray) -> np.ndarray:
    """Finger area of a [0, 1] print: where the local contrast (std over ~9 px) is ridge-like."""
    m = _gauss(x, 3.0)
    sd = np.sqrt(np.maximum(_gauss(x * x, 3.0) - m * m, 0))
    return (sd > 0.12) & (m < 0.9)


def _runs(b: np.ndarray, fg: np.ndarray) -> list[tuple[float, float]]:
    """Mean run length of True and of False pixels of ``b`` inside ``fg``: along rows, then columns."""
    out = []
    for arr, mask in ((b, fg), (b.T, fg.T)):
        v = np.where(mask, arr.astype(np.int8), -1)
        pad = np.pad(v, ((0, 0), (1, 0)), constant_values=-1)
        n_on = int(((pad[:, 1:] == 1) & (pad[:, :-1] != 1)).sum())
        n_off = int(((pad[:, 1:] == 0) & (pad[:, :-1] != 0)).sum())
        out.append((float((v == 1).sum()) / max(n_on, 1), float((v == 0).sum()) / max(n_off, 1)))
    return out


# ------------------------------------------------------------ the literature's cues, in millimetres
#: physical scale of a standard SOCOFing print (px per mm along x, y). SOCOFing was captured on a
#: SecuGen Hamster Plus (500 dpi, native image 260×300 px; Shehu et al. 2018) and released at 96×103
#: px: 96/260 × 500/25.4 = 7.27 px/mm across, 103/300 × 500/25.4 = 6.76 px/mm down (≈ 178 dpi).
#: bench/gender_nested_cv.py checks it against the ridge period of the 27 prints kept near native size.
SOCOFING_PX_PER_MM = (96 / 260 * 500 / 25.4, 103 / 300 * 500 / 25.4)
LIT_WINDOW_MM = 5.0  # Acree (1999) counts ridges in a 5 mm × 5 mm square
GROUPS["literature"] = ["lit_density_distal", "lit_density_left", "lit_density_right", "lit_density_mean",
                        "lit_density_grid_median", "lit_density_grid_iqr", "lit_rtvtr_distal", "lit_rtvtr_mean",
                        "lit_ridge_width_mm", "lit_valley_width_mm"]
NAMES += GROUPS["literature"]


def _orientation(x: np.ndarray, sigma: float = 3.0) -> tuple[np.ndarray, np.ndarray]:
    """Ridge-normal angle (radians, the direction across the ridges) and coherence, per pixel."""
    import cv2

    gx = cv2.Sobel(x, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(x, cv2.CV_32F, 0, 1, ksize=3)
    gxx, gyy, gxy = _gauss(gx * gx, sigma), _gauss(gy * gy, sigma), _gauss(gx * gy, sigma)
    theta = 0.5 * np.arctan2(2 * gxy, gxx - gyy)  # dominant gradient direction = across the ridges
    coh = np.sqrt((gxx - gyy) ** 2 + 4 * gxy ** 2) / np.maximum(gxx + gyy, 1e-9)
    return theta, coh


def _profile_cues(xs: np.ndarray, cy: float, cx: float, normal: float, length_px: float,
                  px_per_mm: tuple[float, float]) -> tuple[float, float, float, float]:
    """Ridge density (ridges/mm) and ridge / valley widths (mm) along a line across the ridges.

    The line through (cy, cx) follows ``normal`` (the direction across the ridges); 7 parallel lines
    1 px apart along the ridges are averaged. Ridges are the dark half-periods of the detrended
    profile; crossings are interpolated to sub-pixel. NaN when fewer than 3 ridges are crossed."""
    from scipy.ndimage import map_coordinates

    ny, nx = np.sin(normal), np.cos(normal)
    t = np.arange(-length_px / 2, length_px / 2 + 0.5, 0.5)
    offs = np.arange(-3, 4)
    yy = cy + t[None, :] * ny + offs[:, None] * nx
    xx = cx + t[None, :] * nx - offs[:, None] * ny
    prof = map_coordinates(xs, [yy, xx], order=1, mode="reflect").mean(axis=0)
    k = max(3, int(round(4.0 / 0.5)) | 1)  # detrend over ~4 px (about one ridge period) of samples
    trend = np.convolve(np.pad(prof, k // 2, mode="edge"), np.ones(k) / k, mode="valid")
    d = prof - trend
    s = np.sign(d)
    idx = np.nonzero(s[:-1] * s[1:] < 0)[0]
    nan4 = (np.nan, np.nan, np.nan, np.nan)
    if len(idx) < 5:
        return nan4
    pos = idx + d[idx] / (d[idx] - d[idx + 1])  # sub-sample crossing positions
    down = s[idx] > 0  # light -> dark: a ridge starts
    step_mm = float(np.hypot(0.5 * nx / px_per_mm[0], 0.5 * ny / px_per_mm[1]))  # one sample in mm
    starts = pos[down]
    if len(starts) < 3:
        return nan4
    density = (len(starts) - 1) / max((starts[-1] - starts[0]) * step_mm, 1e-9)
    runs = np.diff(pos) * step_mm
    ridge = runs[down[:-1]]  # from a light->dark crossing to the next crossing: a dark run
    valley = runs[~down[:-1]]
    if len(ridge) < 2 or len(valley) < 2:
        return (density, np.nan, np.nan, np.nan)
    rw, vw = float(np.median(ridge)), float(np.median(valley))
    return (float(density), rw / max(vw, 1e-9), rw, vw)


def literature_features(x: np.ndarray, fg: np.ndarray,
                        px_per_mm: tuple[float, float] = SOCOFING_PX_PER_MM) -> dict[str, float]:
    """Ridge density (ridges per mm) and ridge-to-valley thickness ratio as the forensic literature
    measures them (Acree 1999; Gungadin 2007; Nayak 2010; Omidiora 2012): in 5 mm windows of the
    fingertip — distal (above the centre of the finger area), left and right of the centre — counted
    across the ridges (perpendicular to their local orientation), plus their spread over a grid of
    windows. ``x``: [0, 1] print; ``fg``: its finger area (:func:`foreground`)."""
    out = {n: np.nan for n in GROUPS["literature"]}
    if fg.sum() < 200:
        return out
    xs = _gauss(x, 0.7)
    theta, coh = _orientation(x)
    ys, xs_ = np.nonzero(fg)
    top, bottom = np.percentile(ys, 2), np.percentile(ys, 98)
    left, right = np.percentile(xs_, 2), np.percentile(xs_, 98)
    cy, cx = (top + bottom) / 2, (left + right) / 2
    ppm = float(np.mean(px_per_mm))
    half = LIT_WINDOW_MM * ppm / 2
    h, w = x.shape

    def window(wy: float, wx: float) -> tuple[float, float, float, float]:
        y0, y1 = int(max(wy - half, 0)), int(min(wy + half, h))
        x0, x1 = int(max(wx - half, 0)), int(min(wx + half, w))
        if y1 - y0 < 8 or x1 - x0 < 8 or fg[y0:y1, x0:x1].mean() < 0.7:
            return (np.nan, np.nan, np.nan, np.nan)
        th = theta[y0:y1, x0:x1]
        c = coh[y0:y1, x0:x1] + 1e-6
        normal = 0.5 * np.arctan2((c * np.sin(2 * th)).sum(), (c * np.cos(2 * th)).sum())
        return _profile_cues(xs, (y0 + y1) / 2, (x0 + x1) / 2, normal, 2 * half, px_per_mm)

    distal = window(top + 0.3 * (bottom - top), cx)
    lw = window(cy, cx - 0.25 * (right - left))
    rw = window(cy, cx + 0.25 * (right - left))
    named = [distal, lw, rw]
    out["lit_density_distal"], out["lit_density_left"], out["lit_density_right"] = (v[0] for v in named)
    dens = [v[0] for v in named if np.isfinite(v[0])]
    out["lit_density_mean"] = float(np.mean(dens)) if dens else np.nan
    out["lit_rtvtr_distal"] = distal[1]
    grid = []
    step = max(int(half), 4)
    for wy in np.arange(top + half, bottom - half + 1, step):
        for wx in np.arange(left + half, right - half + 1, step):
            grid.append(window(float(wy), float(wx)))
    g = np.array(grid, np.float64).reshape(-1, 4)
    ok = np.isfinite(g[:, 0])
    if ok.any():
        out["lit_density_grid_median"] = float(np.median(g[ok, 0]))
        q75, q25 = np.percentile(g[ok, 0], [75, 25])
        out["lit_density_grid_iqr"] = float(q75 - q25)
    all_w = np.array([v for v in named] + grid, np.float64).reshape(-1, 4)
    okw = np.isfinite(all_w[:, 1])
    if okw.any():
        out["lit_rtvtr_mean"] = float(np.median(all_w[okw, 1]))
        out["lit_ridge_width_mm"] = float(np.median(all_w[okw, 2]))
        out["lit_valley_width_mm"] = float(np.median(all_w[okw, 3]))
    return out


def finger_code(image: Any) -> int:
    """ANSI/NIST finger position 1–10 of a :class:`FingerprintImage` (its own field, else a SOCOFing
    file name such as ``12__F_Left_index_finger.BMP``); 0 = unknown."""
    pos = getattr(image, "finger_position", None)
    if isinstance(pos, int) and 1 <= pos <= 10:
        return pos
    from fpstation.ml.datasets import parse_socofing_name

    n = parse_socofing_name(str(getattr(image, "source", "") or ""))
    if n is None or n.finger not in _SOCOFING_FINGERS:
        return 0
    return _SOCOFING_FINGERS.index(n.finger) + (1 if n.hand.lower() == "right" else 6)


def features(pixels: np.ndarray, finger: int = 0,
             px_per_mm: tuple[float, float] = SOCOFING_PX_PER_MM) -> np.ndarray:
    """The feature vector (``len(NAMES)``, float64) of one uint8 H×W print; NaN where undefined.

    ``finger``: ANSI/NIST position 1–10 (:func:`finger_code`), 0 = unknown (NaN one-hot).
    ``px_per_mm``: the print's physical scale (x, y) for the ``literature`` group (ridges per mm)."""
    img = np.asarray(pixels)
    if img.ndim == 3:
        img = img[..., 0]
    x = img.astype(np.float32) / 255.0
    if min(x.shape) > 4 * TRIM + 16:
        x = x[TRIM:-TRIM, TRIM:-TRIM]
    h, w = x.shape
    out: dict[str, float] = {}

    # -- whole-print spectrum
    xc = x - x.mean()
    f = np.abs(np.fft.fftshift(np.fft.fft2(xc * np.outer(np.hanning(h), np.hanning(w))))) ** 2
    r = _radial(h, w)
    idx = np.digitize(r, SPECTRUM_BINS)
    spec = [float(np.log(f[idx == k].mean() + 1e-8)) if (idx == k).any() else np.nan
            for k in range(1, len(SPECTRUM_BINS))]
    out.update(zip(GROUPS["spectrum"], spec, strict=True))
    band = (r >= BAND[0]) & (r <= BAND[1])
    pb, rb = f[band], r[band]
    out["freq_centroid"] = float((pb * rb).sum() / max(pb.sum(), 1e-12))
    out["freq_band_std"] = float(np.sqrt((pb * (rb - out["freq_centroid"]) ** 2).sum() / max(pb.sum(), 1e-12)))
    edges = np.arange(BAND[0], BAND[1] + 1e-9, 0.01)
    prof = np.array([pb[(rb >= a) & (rb < a + 0.01)].mean() if ((rb >= a) & (rb < a + 0.01)).any() else 0.0
                     for a in edges[:-1]])
    prof = np.convolve(prof, [0.25, 0.5, 0.25], mode="same")
    k = int(np.argmax(prof))
    off = 0.0
    if 0 < k < len(prof) - 1:
        den = prof[k - 1] - 2 * prof[k] + prof[k + 1]
        off = 0.5 * (prof[k - 1] - prof[k + 1]) / den if den < 0 else 0.0
    out["freq_peak"] = float(edges[k] + 0.005 + 0.01 * off)
    yy, xx = np.mgrid[0:h, 0:w]
    ang = np.mod(np.arctan2((yy - h // 2) / h, (xx - w // 2) / w), np.pi)[band]
    tot = max(float(pb.sum()), 1e-12)
    for j in range(8):
        sel = (ang >= j * np.pi / 8) & (ang < (j + 1) * np.pi / 8)
        out[f"orient_{j}"] = float(pb[sel].sum() / tot)

    # -- local ridge frequency over 32×32 blocks (zero-padded to 64 for a finer frequency grid)
    fg = foreground(x)
    bs, step, pad = 32, 12, 64
    win = np.outer(np.hanning(bs), np.hanning(bs))
    rr = _radial(pad, pad)
    bmask = (rr >= BAND[0]) & (rr <= BAND[1])
    freqs, weights = [], []
    for y0 in range(0, h - bs + 1, step):
        for x0 in range(0, w - bs + 1, step):
            if fg[y0:y0 + bs, x0:x0 + bs].mean() < 0.75:
                continue
            blk = x[y0:y0 + bs, x0:x0 + bs]
            blk = (blk - blk.mean()) * win
            p = np.abs(np.fft.fftshift(np.fft.fft2(blk, (pad, pad)))) ** 2
            pbk = p[bmask]
            tot = p[rr > 0.03].sum()
            if tot <= 0:
                continue
            q = pbk ** 2  # squared power: the centroid follows the dominant peak
            freqs.append(float((q * rr[bmask]).sum() / max(q.sum(), 1e-20)))
            weights.append(float(pbk.sum() / tot))
    if freqs:
        fr, wt = np.asarray(freqs), np.asarray(weights)
        mean = float((fr * wt).sum() / wt.sum())
        out.update(freq_block_mean=mean, freq_block_median=float(np.median(fr)),
                   freq_block_std=float(np.sqrt((wt * (fr - mean) ** 2).sum() / wt.sum())),
                   freq_block_p10=float(np.percentile(fr, 10)), freq_block_p90=float(np.percentile(fr, 90)))
    else:
        out.update({n: np.nan for n in GROUPS["frequency"] if n.startswith("freq_block")})

    # -- ridges vs valleys: local-mean threshold, run lengths inside the finger
    dark = x < _gauss(x, 2.0)
    if fg.sum() > 50:
        (r_row, v_row), (r_col, v_col) = _runs(dark, fg)
        # a row crosses ridges of orientation θ with an apparent frequency f·|cos θ|, a column with
        # f·|sin θ|: the true ridge frequency is the root of the sum of their squares
        f_sp = np.hypot(1 / max(r_row + v_row, 1e-6), 1 / max(r_col + v_col, 1e-6))
        period = 1 / max(f_sp, 1e-6)
        ratio = (r_row + r_col) / max(v_row + v_col, 1e-6)  # the apparent stretch cancels in the ratio
        out.update(ridge_run=period * ratio / (1 + ratio), valley_run=period / (1 + ratio),
                   ridge_valley_ratio=ratio, ridge_fraction=float(dark[fg].mean()), period_spatial=period)
        ys, xs = np.nonzero(fg)
        out.update(fg_area=float(fg.mean()), fg_width=float((np.percentile(xs, 98) - np.percentile(xs, 2)) / w),
                   fg_height=float((np.percentile(ys, 98) - np.percentile(ys, 2)) / h))
    else:
        out.update({n: np.nan for n in ("ridge_run", "valley_run", "ridge_valley_ratio", "ridge_fraction",
                                        "period_spatial")})
        out.update(fg_area=float(fg.mean()), fg_width=0.0, fg_height=0.0)
    for k in range(1, 11):
        out[f"finger_{k}"] = float(k == finger) if 1 <= finger <= 10 else np.nan
    out.update(literature_features(x, fg, px_per_mm))
    return np.array([out[n] for n in NAMES], np.float64)


def columns(groups: Sequence[str]) -> np.ndarray:
    """Indices into :data:`NAMES` of the features of ``groups``."""
    want = {n for g in groups for n in GROUPS[g]}
    return np.array([i for i, n in enumerate(NAMES) if n in want], int)


# ---------------------------------------------------------------------------------- the model
def fit_logreg(x: np.ndarray, y: np.ndarray, l2: float = 1.0) -> np.ndarray:
    """Class-balanced L2 logistic regression on standardised ``x``; returns weights (D+1, bias last)."""
    from scipy.optimize import minimize

    xb = np.c_[x, np.ones(len(x))]
    pos = max(float(y.mean()), 1e-6)
    w = np.where(y == 1, 0.5 / pos, 0.5 / max(1 - pos, 1e-6))
    wsum = w.sum()

    def loss(b: np.ndarray) -> tuple[float, np.ndarray]:
        z = xb @ b
        nll = (w * (y * np.logaddexp(0, -z) + (1 - y) * np.logaddexp(0, z))).sum() / wsum
        p = 1 / (1 + np.exp(-z))
        g = xb.T @ (w * (p - y)) / wsum
        reg = np.r_[b[:-1], 0.0]
        return float(nll + l2 * (reg ** 2).sum() / len(x)), g + 2 * l2 * reg / len(x)

    return minimize(loss, np.zeros(xb.shape[1]), jac=True, method="L-BFGS-B").x


class FeatureModel:
    """Standardise → mean logit of several logistic regressions → Platt calibration.

    Arrays (``.npz``): ``cols`` (feature indices into NAMES), ``mean``/``scale`` (standardiser, also
    the NaN fill), ``coef`` (M×(D+1), one row per fold model), ``calib`` ([a, b]).
    """

    def __init__(self, cols: np.ndarray, mean: np.ndarray, scale: np.ndarray, coef: np.ndarray,
                 calib: np.ndarray | Sequence[float] = (1.0, 0.0)) -> None:
        self.cols = np.asarray(cols, int)
        self.mean = np.asarray(mean, np.float64)
        self.scale = np.asarray(scale, np.float64)
        self.coef = np.atleast_2d(np.asarray(coef, np.float64))
        self.calib = np.asarray(calib, np.float64)

    def standardise(self, feats: np.ndarray) -> np.ndarray:
        """(N, len(NAMES)) raw features -> (N, D) standardised model inputs (NaN -> 0 = the mean)."""
        f = np.atleast_2d(np.asarray(feats, np.float64))[:, self.cols]
        z = (f - self.mean) / self.scale
        return np.where(np.isfinite(z), z, 0.0)

    def member_logits(self, feats: np.ndarray) -> np.ndarray:
        """(N, M) calibrated logits of every fold model."""
        s = self.standardise(feats)
        raw = np.c_[s, np.ones(len(s))] @ self.coef.T
        return self.calib[0] * raw + self.calib[1]

    def image_inputs(self, feats: np.ndarray) -> np.ndarray:
        """Standardised inputs measured on the image (no finger metadata): the domain statistic's input."""
        return self.standardise(feats)[:, ~np.isin(self.cols, columns(["finger"]))]

    def logits(self, feats: np.ndarray) -> np.ndarray:
        """(N,) calibrated logit of "female" (mean over the fold models)."""
        return self.member_logits(feats).mean(axis=1)

    def save(self, path: str | Path) -> None:
        with open(path, "wb") as fh:  # a file handle: np.savez would append ".npz" to other names
            np.savez(fh, cols=self.cols, mean=self.mean, scale=self.scale, coef=self.coef, calib=self.calib)

    @classmethod
    def load(cls, path: str | Path) -> FeatureModel:
        with np.load(path, allow_pickle=False) as d:
            return cls(d["cols"], d["mean"], d["scale"], d["coef"], d["calib"])

    @classmethod
    def fit(cls, feats: np.ndarray, y: np.ndarray, cols: np.ndarray, l2: float = 1.0) -> FeatureModel:
        """One logistic regression on ``feats[:, cols]`` (standardiser fitted on the same rows)."""
        f = np.asarray(feats, np.float64)[:, cols]
        seen = np.isfinite(f).any(axis=0)  # a column never measured (e.g. finger unknown) -> 0, 1
        mean, scale = np.zeros(f.shape[1]), np.ones(f.shape[1])
        mean[seen] = np.nanmean(f[:, seen], axis=0)
        sd = np.nanstd(f[:, seen], axis=0)
        scale[seen] = np.where(sd > 1e-12, sd, 1.0)
        m = cls(cols, mean, scale, np.zeros((1, len(cols) + 1)))
        m.coef = fit_logreg(m.standardise(feats), np.asarray(y, np.float64), l2)[None, :]
        return m


def describe() -> dict[str, Any]:
    """Feature groups and names for a model card."""
    return {"groups": GROUPS, "band_cycles_per_px": list(BAND), "trim_px": TRIM,
            "finger": "one-hot ANSI/NIST position 1-10 when known (file field or SOCOFing name), else NaN = "
                      "the training mean (estimate averaged over fingers)"}
