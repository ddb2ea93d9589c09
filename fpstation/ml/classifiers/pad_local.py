"""Local texture PAD (pad-livdet v2): texture histograms of patches centred on minutiae or on a grid.

Spoof Buster's idea (Chugh, Cao & Jain 2018) without its CNN: material artefacts (bubbles,
flattened ridges, smeared valleys) sit in small places, so score many small patches at native
resolution and fuse the patch scores. Everything here is numpy/OpenCV (+ NIST mindtct for the
minutiae), no TensorFlow:

- :func:`code_maps` computes, once per print at 1000 dpi, the per-pixel codes of the classical
  LivDet descriptors (rotation-invariant uniform LBP at radii 1, 2, 3, LPQ, WLD) and a grey-level
  bin; a region's descriptor is then just the histograms of those codes inside it
  (:func:`region_features`, 366 values, square-rooted);
- :func:`minutiae_centres` (mindtct on the print downsampled to 500 dpi: 50 ms instead of LEADER's
  1.6–2.8 s, see bench/results/pad_livdet_v2_bench.json) and :func:`grid_centres` pick the patch
  centres inside the foreground;
- :class:`LocalPadModel` holds the linear patch models, the per-print fusion rule, the score
  fusion and the calibration; :func:`print_evidence` gives every number one print needs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fpstation.ml.classifiers.patches import (
    LinearModel,
    foreground_mask,
    lbp_codes,
    lpq_codes,
    resample_to,
    wld_codes,
)

MODEL_DPI = 1000
PATCH = 96            #: patch side at 1000 dpi (2.4 mm)
MAX_PATCHES = 48
GREY_BINS = 16
LABELS = (10, 10, 10, 256, 64, GREY_BINS)   #: LBP r1, r2, r3, LPQ, WLD, grey level
N_FEATURES = int(sum(LABELS))
#: with BSIF codes (docs/adr/0274): 256 more values after the 366, from resources/bsif_ica_13x13_8.npz
BSIF_BINS = 256
N_FEATURES_BSIF = N_FEATURES + BSIF_BINS
_BSIF: dict[str, np.ndarray] = {}


def bsif_filters() -> np.ndarray:
    """The shipped BSIF filters (training/learn_bsif_filters.py), loaded once."""
    if "f" not in _BSIF:
        from fpstation.paths import resource

        with np.load(resource("bsif_ica_13x13_8.npz"), allow_pickle=False) as z:
            _BSIF["f"] = np.asarray(z["filters"], np.float32)
    return _BSIF["f"]


def _labels(cm: CodeMaps) -> tuple[int, ...]:
    return LABELS + ((BSIF_BINS,) if len(cm.maps) > len(LABELS) else ())


@dataclass
class CodeMaps:
    """Per-pixel descriptor codes of one print at 1000 dpi (cropped to the foreground's box)."""

    maps: list[np.ndarray]
    mask: np.ndarray
    offset: tuple[int, int]          #: (y, x) of the crop in the resampled print
    scale: float                     #: resampled px per original px
    full_shape: tuple[int, int]      #: resampled print's shape
    img: np.ndarray = field(repr=False, default_factory=lambda: np.zeros((0, 0), np.uint8))


def code_maps(pixels: np.ndarray, dpi: float, bsif: bool = False) -> CodeMaps:
    """The descriptor codes of a print given at ``dpi`` (resampled to 1000 dpi first); with
    ``bsif``, the BSIF codes too (after the grey level)."""
    cm = foreground_crop(pixels, dpi)
    crop = cm.img
    cm.maps = [lbp_codes(crop, r) for r in (1, 2, 3)] + [lpq_codes(crop), wld_codes(crop),
                                                          (crop.astype(np.int32) * GREY_BINS) // 256]
    if bsif:
        from fpstation.ml.classifiers.patches import bsif_codes

        cm.maps.append(bsif_codes(crop, bsif_filters()))
    return cm


def foreground_crop(pixels: np.ndarray, dpi: float) -> CodeMaps:
    """The print resampled to 1000 dpi and cropped to its foreground's box (plus a patch-wide
    margin), with its foreground mask; no codes yet (``maps`` empty)."""
    src = np.asarray(pixels, np.uint8)
    img = resample_to(src, dpi, MODEL_DPI)
    mask = foreground_mask(img)
    if mask.sum() < 100:
        mask = np.ones_like(mask)
    ys, xs = np.nonzero(mask)
    m = PATCH // 2 + 8
    y0, x0 = max(ys.min() - m, 0), max(xs.min() - m, 0)
    sl = (slice(y0, ys.max() + m + 1), slice(x0, xs.max() + m + 1))
    return CodeMaps([], mask[sl], (int(y0), int(x0)), img.shape[1] / max(src.shape[1], 1), img.shape,
                    np.ascontiguousarray(img[sl]))


def region_features(cm: CodeMaps, sel: np.ndarray | None = None) -> np.ndarray:
    """Square-rooted normalised histograms of every code inside ``sel`` (a boolean map of the crop;
    None = the whole foreground). 366 values (622 with BSIF codes)."""
    sel = cm.mask if sel is None else sel
    out = []
    for mp, n in zip(cm.maps, _labels(cm), strict=True):
        h = np.bincount(mp[sel], minlength=n).astype(np.float64)
        out.append(h / max(h.sum(), 1.0))
    return np.sqrt(np.concatenate(out)).astype(np.float32)


def patch_features(cm: CodeMaps, centres: np.ndarray) -> np.ndarray:
    """(N, 366) descriptors of the ``PATCH``-px squares centred on ``centres`` ((N, 2) y, x in the
    crop's pixels), over their foreground pixels."""
    rows = []
    h, w = cm.mask.shape
    r = PATCH // 2
    for cy, cx in np.asarray(centres, np.int64).reshape(-1, 2):
        y0, x0 = max(int(cy) - r, 0), max(int(cx) - r, 0)
        y1, x1 = min(y0 + PATCH, h), min(x0 + PATCH, w)
        m = cm.mask[y0:y1, x0:x1]
        if m.sum() < 50:
            m = np.ones_like(m)
        rows.append(_sub_features(cm, (slice(y0, y1), slice(x0, x1)), m))
    return np.stack(rows) if rows else np.zeros((0, sum(_labels(cm))), np.float32)


def _sub_features(cm: CodeMaps, sl: tuple[slice, slice], m: np.ndarray) -> np.ndarray:
    out = []
    for mp, n in zip(cm.maps, _labels(cm), strict=True):
        h = np.bincount(mp[sl][m], minlength=n).astype(np.float64)
        out.append(h / max(h.sum(), 1.0))
    return np.sqrt(np.concatenate(out)).astype(np.float32)


def _coverage(cm: CodeMaps, centres: np.ndarray) -> np.ndarray:
    import cv2

    integ = cv2.integral(cm.mask.astype(np.uint8))
    h, w = cm.mask.shape
    r = PATCH // 2
    cov = []
    for cy, cx in np.asarray(centres, np.int64).reshape(-1, 2):
        y0, x0 = max(int(cy) - r, 0), max(int(cx) - r, 0)
        y1, x1 = min(y0 + PATCH, h), min(x0 + PATCH, w)
        cov.append((integ[y1, x1] - integ[y0, x1] - integ[y1, x0] + integ[y0, x0]) / PATCH ** 2)
    return np.asarray(cov, np.float64)


def grid_centres(cm: CodeMaps, min_cover: float = 0.6, max_patches: int = MAX_PATCHES) -> np.ndarray:
    """Centres of a ``PATCH``-step grid over the crop whose squares are mostly foreground
    (the best covered first, at least 4)."""
    h, w = cm.mask.shape
    ys = np.arange(PATCH // 2, max(h - PATCH // 2, PATCH // 2 + 1), PATCH)
    xs = np.arange(PATCH // 2, max(w - PATCH // 2, PATCH // 2 + 1), PATCH)
    c = np.array([(y, x) for y in ys for x in xs], np.int64).reshape(-1, 2)
    cov = _coverage(cm, c)
    order = np.argsort(-cov, kind="stable")
    keep = [i for i in order if cov[i] >= min_cover] or list(order[:4])
    return c[sorted(keep[:max_patches])]


def minutiae_centres(cm: CodeMaps, original_dpi: float, pixels: np.ndarray, min_cover: float = 0.6,
                     min_dist: int = PATCH // 2, max_patches: int = MAX_PATCHES) -> tuple[np.ndarray, int]:
    """Patch centres on the print's minutiae (NIST mindtct at 500 dpi), in the crop's pixels.

    The most reliable minutiae first; a minutia closer than ``min_dist`` to a kept one, or whose
    square is less than ``min_cover`` foreground, is skipped. Returns (centres, minutiae found);
    when fewer than 4 minutiae qualify, the grid centres are used instead."""
    import cv2

    from fpstation.core.matching.extractors import extract

    src = np.asarray(pixels, np.uint8)
    f = 500.0 / float(original_dpi)
    small = src if abs(f - 1) < 0.02 else cv2.resize(
        src, (max(1, round(src.shape[1] * f)), max(1, round(src.shape[0] * f))),
        interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_LINEAR)
    t = extract(np.ascontiguousarray(small), "mindtct")  # a bare array: taken as 500 dpi
    m = np.asarray(t.minutiae, np.float64).reshape(-1, 5)
    n_found = len(m)
    if n_found:
        m = m[np.argsort(-m[:, 4], kind="stable")]
        k = MODEL_DPI / 500.0   # 500-dpi px -> 1000-dpi px
        c = np.column_stack([m[:, 1] * k - cm.offset[0], m[:, 0] * k - cm.offset[1]]).round().astype(np.int64)
        h, w = cm.mask.shape
        c = c[(c[:, 0] >= 0) & (c[:, 0] < h) & (c[:, 1] >= 0) & (c[:, 1] < w)]
        cov = _coverage(cm, c) if len(c) else np.zeros(0)
        kept: list[np.ndarray] = []
        for p, cv in zip(c, cov, strict=True):
            if cv < min_cover:
                continue
            if kept and np.min(np.abs(np.asarray(kept) - p).max(axis=1)) < min_dist:
                continue
            kept.append(p)
            if len(kept) >= max_patches:
                break
        if len(kept) >= 4:
            return np.asarray(kept, np.int64), n_found
    return grid_centres(cm), n_found


# ----------------------------------------------------------------------------- sweat pores
#: white top-hat thresholds (in local grey-level standard deviations) of the pore densities
PORE_THRESHOLDS = (0.3, 0.6, 0.9, 1.2)
PX_PER_MM2 = (MODEL_DPI / 25.4) ** 2


def pore_features(pixels: np.ndarray, dpi: float) -> np.ndarray:
    """Sweat-pore evidence of a print (docs/adr/0270): at 1000 dpi a live finger's ridges carry rows of
    pores, small bright dots that a gelatine cast smooths away or turns into larger bubbles. See
    :func:`crop_pore_features` (4 values)."""
    return crop_pore_features(foreground_crop(pixels, dpi))


def crop_pore_features(cm: CodeMaps) -> np.ndarray:
    """:func:`pore_features` of a print's 1000-dpi foreground crop (:func:`foreground_crop`: its
    margin is wider than every filter below, so the crop gives the whole print's values).

    Gaussian sigma 1 against sensor noise; the white top-hat with a 9-px disc (bright spots narrower
    than a valley), divided by the local grey-level standard deviation (sigma 12 px, + 4); its 5×5
    local maxima inside the ridges (the sigma-4 blurred print darker than its local mean, within the
    foreground); returns log(1 + maxima per mm² of ridge) above each of ``PORE_THRESHOLDS``."""
    import cv2

    mask = cm.mask.astype(bool)
    f = cm.img.astype(np.float32)
    g = cv2.GaussianBlur(f, (0, 0), 1.0)
    mu = cv2.GaussianBlur(f, (0, 0), 12)
    sd = np.sqrt(cv2.GaussianBlur((f - mu) ** 2, (0, 0), 12)) + 4.0
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (9, 9))
    wth = (g - cv2.morphologyEx(g, cv2.MORPH_OPEN, disc)) / sd
    ridge = (cv2.GaussianBlur(f, (0, 0), 4) < mu) & mask
    peaks = wth[(wth >= cv2.dilate(wth, np.ones((5, 5), np.uint8))) & ridge]
    area = max(float(ridge.sum()) / PX_PER_MM2, 1e-3)
    return np.log1p(np.array([(peaks > t).sum() / area for t in PORE_THRESHOLDS], np.float64)).astype(np.float32)


# ----------------------------------------------------------------------------- fusion of patches
FUSIONS = ("mean", "trimmed", "top25")


def fuse(z: np.ndarray, rule: str) -> float:
    """One print logit from its patch logits: ``mean``; ``trimmed`` = mean of the middle 60 %;
    ``top25`` = mean of the 25 % most attack-like patches (a spoof shows in places)."""
    z = np.sort(np.asarray(z, np.float64).ravel())
    if z.size == 0:
        return 0.0
    if rule == "mean":
        return float(z.mean())
    if rule == "trimmed":
        k = int(0.2 * z.size)
        return float(z[k:z.size - k].mean()) if z.size - 2 * k > 0 else float(z.mean())
    if rule == "top25":
        return float(z[-max(1, int(np.ceil(0.25 * z.size))):].mean())
    raise ValueError(f"unknown patch fusion rule {rule!r}")


# ----------------------------------------------------------------------------- the shipped model
class NoveltyModel:
    """Live-only model: standardise, PCA (``k`` components) of the LIVE training prints, squared
    Mahalanobis distance in that space; decision = log(1 + d² / k) (larger = less like a live
    finger). It needs no spoof of the material it meets."""

    def __init__(self, k: int = 16) -> None:
        self.k = int(k)
        self.mean = self.scale = self.comp = self.var = np.zeros(0)

    def fit(self, x: np.ndarray, y: np.ndarray) -> NoveltyModel:
        live = np.asarray(x, np.float64)[np.asarray(y) == 0]
        self.mean = live.mean(0)
        self.scale = live.std(0) + 1e-6
        z = (live - self.mean) / self.scale
        _, s, vt = np.linalg.svd(z, full_matrices=False)
        k = min(self.k, len(s))
        self.comp = vt[:k]
        self.var = (s[:k] ** 2) / max(len(z) - 1, 1) + 1e-6
        return self

    def decision(self, x: np.ndarray) -> np.ndarray:
        z = (np.asarray(x, np.float64) - self.mean) / self.scale
        p = z @ self.comp.T
        return np.log1p((p ** 2 / self.var).sum(1) / len(self.var))


#: the approaches a LocalPadModel can hold (``both`` = minutiae and grid patches in one model);
#: a "fusion" combines several of them
APPROACHES = ("minutiae", "grid", "both", "whole", "novelty", "pores")


def part_rows(ev: dict[str, Any], part: str) -> np.ndarray:
    """The descriptor rows one part scores: its patches, or (``both``) minutiae + grid patches."""
    if part == "both":
        return np.concatenate([np.asarray(ev["minutiae"]), np.asarray(ev["grid"])])
    return np.asarray(ev[ROWS_OF.get(part, part)])


#: parts that score another part's rows with a differently fitted model: ``grid_nap`` = the grid
#: patches, fitted with the subjects' nuisance directions projected out (docs/adr/0275)
ROWS_OF = {"grid_nap": "grid"}


#: score fusions: the parts each combines (``fusion_q`` adds NFIQ 2 as one more input)
FUSION_SETS = {"fusion": ("minutiae", "grid", "whole", "novelty"), "fusion_q": ("minutiae", "grid", "whole", "novelty"),
               "fusion_p": ("minutiae", "grid", "whole"), "fusion_pores": ("grid", "pores")}


def PARTS_OF(approach: str) -> list[str]:  # noqa: N802 - reads as a table
    """The parts an approach needs: itself, or those a fusion combines."""
    return list(FUSION_SETS.get(approach, (approach,)))


@dataclass
class LocalPadModel:
    """The shipped local-texture PAD model: one model per part it uses (linear patch/whole models,
    the live-only novelty model), each part's patch fusion rule and Platt calibration, and, when
    ``approach`` is "fusion", a linear score fusion over the parts' calibrated logits (plus NFIQ 2
    when ``use_nfiq2``)."""

    approach: str
    models: dict[str, Any]
    rules: dict[str, str]
    calib: dict[str, dict]
    fusion: LinearModel | None = None
    use_nfiq2: bool = False
    nfeat: dict[str, int] = field(default_factory=dict)   #: leading features each part uses

    def parts(self) -> list[str]:
        return list(self.models)

    def part_logits(self, ev: dict[str, Any]) -> dict[str, float]:
        """Each part's calibrated logit for one print's evidence (:func:`print_evidence`)."""
        z = {}
        for a, m in self.models.items():
            nf = self.nfeat.get(a, N_FEATURES)
            if a in ("whole", "novelty"):
                raw = float(m.decision(np.asarray(ev["whole"])[None, :nf])[0])
            elif a == "pores":
                raw = float(m.decision(np.asarray(ev["pores"], np.float64)[None])[0])
            else:
                raw = fuse(m.decision(part_rows(ev, a)[:, :nf]), self.rules[a])
            z[a] = self.calib[a]["a"] * raw + self.calib[a]["b"]
        return z

    def logit(self, ev: dict[str, Any]) -> float:
        """The print's logit (the card's ``calibration`` turns it into the attack score)."""
        z = self.part_logits(ev)
        if self.approach != "fusion":
            return z[self.approach]
        assert self.fusion is not None
        row = [z[a] for a in self.parts()] + ([float(ev["nfiq2"])] if self.use_nfiq2 else [])
        return float(self.fusion.decision(np.asarray(row)[None])[0])

    def save(self, path: Any) -> None:
        arrays: dict[str, np.ndarray] = {"approach": np.array(self.approach), "parts": np.array(self.parts()),
                                         "use_nfiq2": np.array([int(self.use_nfiq2)])}
        for a, m in self.models.items():
            arrays[f"{a}_rule"] = np.array(self.rules.get(a, ""))
            arrays[f"{a}_cal"] = np.array([self.calib[a]["a"], self.calib[a]["b"]])
            arrays[f"{a}_nf"] = np.array([self.nfeat.get(a, N_FEATURES)])
            if isinstance(m, NoveltyModel):
                arrays.update({f"{a}_mean": m.mean, f"{a}_scale": m.scale, f"{a}_comp": m.comp, f"{a}_var": m.var})
            else:
                arrays.update(_linear_arrays(a, m))
        if self.fusion is not None:
            arrays.update(_linear_arrays("fusion", self.fusion))
        with open(path, "wb") as fh:
            np.savez(fh, **arrays)

    @classmethod
    def load(cls, path: Any) -> LocalPadModel:
        with np.load(path, allow_pickle=False) as z:
            parts = [str(p) for p in z["parts"]]
            models: dict[str, Any] = {}
            rules, cal, nfeat = {}, {}, {}
            for a in parts:
                nfeat[a] = int(z[f"{a}_nf"][0])
                if f"{a}_comp" in z:
                    nm = NoveltyModel(len(z[f"{a}_var"]))
                    nm.mean, nm.scale, nm.comp, nm.var = (z[f"{a}_{k}"] for k in ("mean", "scale", "comp", "var"))
                    models[a] = nm
                else:
                    models[a] = _linear_from(z, a)
                rules[a] = str(z[f"{a}_rule"])
                cal[a] = {"a": float(z[f"{a}_cal"][0]), "b": float(z[f"{a}_cal"][1])}
            fusion = _linear_from(z, "fusion") if "fusion_w" in z else None
            return cls(str(z["approach"]), models, rules, cal, fusion, bool(int(z["use_nfiq2"][0])), nfeat)


def _linear_arrays(a: str, m: LinearModel) -> dict[str, np.ndarray]:
    assert m.w is not None and m.mean is not None and m.scale is not None
    return {f"{a}_mean": m.mean, f"{a}_scale": m.scale, f"{a}_w": m.w, f"{a}_b": np.array([m.b]),
            f"{a}_c": np.array([m.c])}


def _linear_from(z: Any, a: str) -> LinearModel:
    m = LinearModel(float(z[f"{a}_c"][0]))
    m.mean, m.scale, m.w, m.b = z[f"{a}_mean"], z[f"{a}_scale"], z[f"{a}_w"], float(z[f"{a}_b"][0])
    return m


def print_evidence(pixels: np.ndarray, dpi: float, parts: tuple[str, ...] = ("minutiae", "grid"),
                   nfiq2: bool = False, bsif: bool = False) -> dict[str, Any]:
    """Every descriptor one print needs: ``whole`` (366,), ``grid`` / ``minutiae`` (N, 366) when
    in ``parts``, their centres in the ORIGINAL print's pixels (``*_centres``, y, x),
    ``n_minutiae``, the sweat-pore densities (``pores``, 4 values, :func:`pore_features`) when
    "pores" is in ``parts``, and NFIQ 2 (``nfiq2``, at 500 dpi) when asked; with ``bsif``, every
    descriptor has the 256 BSIF values after its 366 (docs/adr/0274)."""
    cm = code_maps(pixels, dpi, bsif=bsif)
    ev: dict[str, Any] = {"whole": region_features(cm)}

    def to_orig(c: np.ndarray) -> np.ndarray:
        return ((np.asarray(c, np.float64) + cm.offset) / cm.scale).round().astype(np.int32)

    if "grid" in parts:
        c = grid_centres(cm)
        ev["grid"], ev["grid_centres"] = patch_features(cm, c), to_orig(c)
    if "minutiae" in parts:
        c, n = minutiae_centres(cm, dpi, pixels)
        ev["minutiae"], ev["minutiae_centres"], ev["n_minutiae"] = patch_features(cm, c), to_orig(c), n
    ev["patch_side"] = int(round(PATCH / cm.scale))
    if "pores" in parts:
        ev["pores"] = crop_pore_features(cm)   # the crop and mask the texture codes came from
    if nfiq2:
        import cv2

        from fpstation.core.matching.quality import nfiq2 as nfiq2_score

        src = np.asarray(pixels, np.uint8)
        f = 500.0 / float(dpi)
        half = src if abs(f - 1) < 0.02 else cv2.resize(
            src, (max(1, round(src.shape[1] * f)), max(1, round(src.shape[0] * f))), interpolation=cv2.INTER_AREA)
        try:
            ev["nfiq2"] = float(nfiq2_score(np.ascontiguousarray(half)).score)
        except Exception:  # noqa: BLE001 - NFIQ 2 failing on a print is itself a (lowest) quality
            ev["nfiq2"] = 0.0
    return ev


def local_logits(model: LocalPadModel, card_data: dict, pixels: np.ndarray, dpi: float) -> tuple[float, dict]:
    """The print logit of a ``pad_local_texture`` card's model (before the card's calibration), and
    the evidence it was computed from."""
    used = {ROWS_OF.get(p, p) for p in model.parts()}
    parts = tuple(p for p in ("minutiae", "grid") if p in used or "both" in used) + \
        (("pores",) if "pores" in used else ())
    ev = print_evidence(pixels, dpi, parts, nfiq2=model.use_nfiq2,
                        bsif=any(n > N_FEATURES for n in model.nfeat.values()))
    return model.logit(ev), ev


def local_heatmap(model: LocalPadModel, card_data: dict, pixels: np.ndarray, dpi: float) -> np.ndarray:
    """H×W map in [0, 1]: each scored patch's calibrated attack probability (its part's own
    calibration) painted over the area it covers; a whole-print model paints its score over the
    foreground."""
    from fpstation.ml.classifiers.metrics import sigmoid
    from fpstation.ml.classifiers.patches import Patches, patch_heatmap

    _, ev = local_logits(model, card_data, pixels, dpi)
    h, w = np.asarray(pixels).shape[:2]
    part = next((p for p in ("minutiae", "grid", *ROWS_OF) if p in model.models), None)
    if part is None:
        p = float(sigmoid(model.logit(ev)))
        return np.full((h, w), p, np.float32)
    nf = model.nfeat.get(part, N_FEATURES)
    z = model.models[part].decision(part_rows(ev, part)[:, :nf])
    prob = sigmoid(model.calib[part]["a"] * z + model.calib[part]["b"])
    r = ev["patch_side"] // 2
    c = np.asarray(ev[f"{ROWS_OF.get(part, part)}_centres"], np.int64).reshape(-1, 2)
    boxes = np.clip(np.column_stack([c[:, 0] - r, c[:, 1] - r, c[:, 0] + r, c[:, 1] + r]), 0, [h, w, h, w])
    pt = Patches(np.zeros((len(c), 1, 1), np.uint8), boxes.astype(np.int32), 1.0,
                 np.ones(len(c), np.float32), (h, w))
    return patch_heatmap(pt, prob)
