"""Verification and identification error rates on an FVC-layout folder (``images/<finger>_<imp>.*``).

Protocol (the FVC "all pairs" variant): every unordered pair of prints of the same finger is a
genuine comparison (8 impressions x 10 fingers -> 280), every pair of prints of different fingers an
impostor one (2,880). ``rank1``: impression 1 of each finger is the gallery, the others are probes.
FMR100 / FMR1000 are the false non-match rates at the lowest threshold whose false match rate is at
most 1 % / 0.1 % (ISO/IEC 19795-1 naming as in FVC-onGoing).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fpstation.core.jobs import NEVER_CANCELLED, CancelToken, Progress, null_progress
from fpstation.core.matching import extractors as ex
from fpstation.core.matching.template import Template

FVC_STEM = re.compile(r"^(?P<finger>\d+)_(?P<impression>\d+)$")


@dataclass(frozen=True)
class FvcPrint:
    path: Path
    finger: str
    impression: int

    @property
    def stem(self) -> str:
        return self.path.stem


def fvc_prints(folder: str | Path) -> list[FvcPrint]:
    """Prints of an FVC-layout folder (``images/`` inside it, or the folder itself), sorted."""
    from fpstation.core.imageio import iter_image_files

    root = Path(folder)
    img = root / "images" if (root / "images").is_dir() else root
    out = []
    for p in iter_image_files(img, recursive=False):
        m = FVC_STEM.match(p.stem)
        if m:
            out.append(FvcPrint(p, m["finger"], int(m["impression"])))
    return sorted(out, key=lambda q: (q.finger, q.impression))


class TemplateCache:
    """Templates on disk, keyed by the file's SHA-256 and the extractor's name and version."""

    def __init__(self, folder: str | Path | None) -> None:
        self.folder = Path(folder) if folder else None

    def _path(self, sha: str, extractor: str, version: str) -> Path | None:
        if self.folder is None:
            return None
        v = hashlib.sha1(version.encode()).hexdigest()[:8]
        return self.folder / extractor / f"{sha[:2]}" / f"{sha}-{v}.json"

    def get(self, path: Path, extractor: str, prepare: Callable | None = None, tag: str = "") -> Template:
        """The template of the print at ``path``; extracted (and stored) only when not cached.

        ``prepare`` (image -> image) is applied before extraction, e.g. a restorer; ``tag`` names it
        in the cache key so restored and original prints never share a template.
        """
        from fpstation.core.imageio import decode_prints, read_file_bytes

        data = read_file_bytes(path)
        sha = hashlib.sha256(data).hexdigest()
        version = ex.extractor_version(extractor) + (f" [{tag}]" if tag else "")
        cp = self._path(sha, extractor, version)
        if cp is not None and cp.is_file():
            return Template.from_dict(json.loads(cp.read_text()))
        image = decode_prints(data, path)[0]  # the bytes already read: no second read of the file
        if image.dpi is None:  # FVC TIFF/PNG say nothing useful; FVC B sets are 500 dpi nominal
            image = image.with_stated_dpi(500)
        if prepare is not None:
            image = prepare(image)
        t = ex.extract(image, extractor)
        if cp is not None:
            cp.parent.mkdir(parents=True, exist_ok=True)
            tmp = cp.with_suffix(".tmp")
            tmp.write_text(json.dumps(t.to_dict()))
            tmp.replace(cp)
        return t


def error_rates(genuine: np.ndarray, impostor: np.ndarray, det_points: int = 200) -> dict:
    """EER, FMR100, FMR1000 and a DET curve (FMR, FNMR) from similarity scores (higher = same)."""
    g = np.sort(np.asarray(genuine, float))
    i = np.sort(np.asarray(impostor, float))
    t = np.unique(np.concatenate([g, i, [np.inf]]))
    fnmr = np.searchsorted(g, t, "left") / max(g.size, 1)        # genuine below the threshold
    fmr = 1.0 - np.searchsorted(i, t, "left") / max(i.size, 1)   # impostors at or above it
    k = int(np.argmin(np.abs(fnmr - fmr)))
    # EER as the midpoint where the curves cross (FVC convention)
    eer = float((fnmr[k] + fmr[k]) / 2)

    def fnmr_at(target: float) -> float:
        ok = np.nonzero(fmr <= target)[0]
        return float(fnmr[ok[0]]) if ok.size else 1.0

    sel = np.unique(np.linspace(0, t.size - 1, min(det_points, t.size)).astype(int))
    return {"eer": eer, "eer_threshold": float(t[k]), "fmr100": fnmr_at(0.01), "fmr1000": fnmr_at(0.001),
            "n_genuine": int(g.size), "n_impostor": int(i.size),
            "det": {"threshold": [float(x) for x in t[sel]], "fmr": [float(x) for x in fmr[sel]],
                    "fnmr": [float(x) for x in fnmr[sel]]}}


def threshold_at_fmr(impostor: np.ndarray, target: float) -> float:
    """Lowest threshold whose false match rate on these impostor scores is at most ``target``."""
    i = np.sort(np.asarray(impostor, float))
    if i.size == 0:
        return 0.0
    k = int(np.ceil(i.size * (1.0 - target)))  # at most floor(target*n) impostors may reach it
    if k >= i.size:
        return float(np.nextafter(i[-1], np.inf))
    return float(np.nextafter(i[k - 1], np.inf)) if k > 0 else float(i[0])


def pair_indices(prints: list[FvcPrint]) -> tuple[np.ndarray, np.ndarray]:
    """Upper-triangle index pairs (a, b) and a boolean 'same finger' per pair."""
    n = len(prints)
    a, b = np.triu_indices(n, 1)
    fingers = np.array([p.finger for p in prints])
    return np.stack([a, b], 1), fingers[a] == fingers[b]


def rank1(scores: np.ndarray, prints: list[FvcPrint]) -> dict:
    """Identification rate at rank 1: impression 1 is the gallery, every other impression a probe."""
    gal = [k for k, p in enumerate(prints) if p.impression == 1]
    probes = [k for k, p in enumerate(prints) if p.impression != 1]
    if not gal or not probes:
        return {"rank1": None, "n_probes": 0, "n_gallery": len(gal)}
    hits = 0
    for q in probes:
        best = max(gal, key=lambda gk: scores[q, gk])
        hits += prints[best].finger == prints[q].finger
    return {"rank1": hits / len(probes), "n_probes": len(probes), "n_gallery": len(gal)}


def score_matrix(templates: list[Template], score: Callable[[Template, Template], float],
                 progress: Progress = null_progress, cancel: CancelToken = NEVER_CANCELLED) -> np.ndarray:
    """Symmetric all-pairs score matrix (the diagonal is +inf: never used)."""
    n = len(templates)
    s = np.full((n, n), np.inf)
    total = n * (n - 1) // 2
    done = 0
    for a in range(n):
        cancel.raise_if_cancelled()
        for b in range(a + 1, n):
            s[a, b] = s[b, a] = score(templates[a], templates[b])
        done += n - 1 - a
        progress(done / max(total, 1), f"compared {done}/{total}")
    return s


def summarise(scores: np.ndarray, prints: list[FvcPrint], validation_fingers: set[str] | None = None) -> dict:
    """Error rates of a score matrix; with ``validation_fingers``, also the decision threshold at
    FMR 0.1 % chosen on those fingers' impostor pairs and the error rates it gives on the rest."""
    idx, same = pair_indices(prints)
    vals = scores[idx[:, 0], idx[:, 1]]
    out = error_rates(vals[same], vals[~same])
    out.update(rank1(scores, prints))
    if validation_fingers:
        fingers = np.array([p.finger for p in prints])
        in_val = np.isin(fingers[idx[:, 0]], list(validation_fingers)) & np.isin(fingers[idx[:, 1]], list(validation_fingers))
        in_test = ~np.isin(fingers[idx[:, 0]], list(validation_fingers)) & ~np.isin(fingers[idx[:, 1]], list(validation_fingers))
        thr = threshold_at_fmr(vals[in_val & ~same], 0.001)
        out["operating_point"] = {
            "target_fmr": 0.001, "threshold": thr,
            "chosen_on": sorted(validation_fingers),
            "test_fmr": float(np.mean(vals[in_test & ~same] >= thr)) if np.any(in_test & ~same) else None,
            "test_fnmr": float(np.mean(vals[in_test & same] < thr)) if np.any(in_test & same) else None,
        }
    return out


def evaluate_folder(folder: str | Path, extractor: str = ex.DEFAULT_EXTRACTOR, matcher: str = "fusion", *,
                    cache_dir: str | Path | None = None, prepare: Callable | None = None, prepare_tag: str = "",
                    validation_fingers: set[str] | None = None,
                    progress: Progress = null_progress, cancel: CancelToken = NEVER_CANCELLED) -> dict:
    """Verification and identification figures of one extractor+matcher on an FVC-layout folder.

    ``prepare`` (image -> image, e.g. a restorer) is applied to the probes before extraction: every
    impression but the first, which stays as captured (the gallery of the rank-1 protocol). So
    genuine pairs compare a restored probe with the original gallery print, or two restored probes.
    Raises :class:`~fpstation.core.errors.DatasetError` when the folder holds no FVC-named prints.
    """
    from fpstation.core.errors import DatasetError
    from fpstation.core.jobs import wrap_progress
    from fpstation.core.matching import matchers as mt

    prints = fvc_prints(folder)
    if len(prints) < 2 or len({p.finger for p in prints}) < 2:
        raise DatasetError(f"“{folder}” holds no FVC-layout prints (images/<finger>_<impression>.png|tif|bmp "
                           "of at least two fingers).", path=str(folder))
    cache = TemplateCache(cache_dir)
    ts = []
    p1 = wrap_progress(progress, 0.0, 0.7)
    for k, p in enumerate(prints):
        cancel.raise_if_cancelled()
        p1(k / len(prints), f"minutiae {p.stem} ({k + 1}/{len(prints)})")
        probe = p.impression != 1
        ts.append(cache.get(p.path, extractor, prepare if probe else None, prepare_tag if probe else ""))
    s = score_matrix(ts, lambda a, b: mt.score_only(a, b, matcher), wrap_progress(progress, 0.7, 1.0), cancel)
    out = summarise(s, prints, validation_fingers)
    out.update({"folder": str(folder), "extractor": extractor, "extractor_version": ex.extractor_version(extractor),
                "matcher": matcher, "matcher_version": mt.matcher_version(matcher), "n_prints": len(prints),
                "n_fingers": len({p.finger for p in prints}), "prepare": prepare_tag or None,
                "mean_minutiae": float(np.mean([t.n for t in ts]))})
    return out
