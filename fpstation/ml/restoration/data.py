"""Restoration data: sources, finger/subject-disjoint split, training patches and evaluation pairs.

Shared by ``training/train_restoration.py`` (shipped weights), ``training/make_restoration_eval.py``
(the paired evaluation folder), the benchmarks and :mod:`fpstation.ml.restoration.task`, so the
validation pairs a card reports on are exactly the ones the evaluation folder holds.

Sources (``../shared/data``):

- FVC B sets: ``<db>/images/<finger>_<impression>.png``; subject ``"<db>/<finger>"``.
- SOCOFing ``Real/``: subject = SOCOFing subject id (synthetic degradation, like FVC).
- SOCOFing ``Altered/**`` -> ``Real/`` pairs (same stem minus ``_CR/_Obl/_Zcut``): real damage.

Degradations come from :func:`fpstation.ml.restoration.degrade.degrade` with seeds derived from the file's
relative path, so every pair can be rebuilt bit for bit. Only numpy/OpenCV here (no TensorFlow).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fpstation.core.jobs import NEVER_CANCELLED, CancelToken, Progress, null_progress
from fpstation.ml.datasets import (
    FVC_RE,
    file_list_sha256,
    image_files,
    parse_socofing_name,
    read_gray,
    subject_split,
)

#: nominal resolution of each FVC B set (FVC2002 DB2 is 569 dpi; the others 500 dpi or SFinGe ~500)
FVC_DPI = {"fvc2002-db1b": 500, "fvc2002-db2b": 569, "fvc2002-db3b": 500, "fvc2002-db4b": 500,
           "fvc2004-db2b": 500, "fvc2004-db4b": 500}
#: training resolution of the shipped restorers
MODEL_DPI = 500


@dataclass(frozen=True)
class Source:
    """One clean print (and, for SOCOFing Altered, its real degraded counterpart)."""

    rel: str  # path relative to the data root: identifies the file and seeds its degradation
    clean: str  # absolute path of the clean print
    subject: str  # split unit: "<db>/<finger>" or "socofing/<subject id>"
    kind: str  # "fvc" | "socofing" | "altered"
    dpi: float = MODEL_DPI
    degraded: str = ""  # absolute path of a real degraded image ("altered" only)


def stable_seed(*parts: object) -> int:
    """A seed from strings: the same file always gets the same degradation."""
    return int(hashlib.sha256(":".join(map(str, parts)).encode()).hexdigest()[:8], 16)


def collect_sources(root: str | Path, *, fvc: bool = True, socofing: bool = True,
                    altered: bool = True) -> list[Source]:
    """List the clean prints (and Altered→Real pairs) found under the shared data root."""
    root = Path(root)
    out: list[Source] = []
    if fvc:
        for db in sorted(FVC_DPI):
            for p in sorted((root / db / "images").glob("*.png")):
                m = FVC_RE.match(p.stem)
                if m:
                    out.append(Source(f"{db}/{p.name}", str(p), f"{db}/{m.group('finger')}", "fvc", FVC_DPI[db]))
    soc = root / "socofing"
    real: dict[str, Path] = {}
    if (soc / "Real").is_dir():
        for p in sorted((soc / "Real").iterdir()):
            n = parse_socofing_name(p)
            if n is not None and n.alter is None:
                real[n.stem_real.lower()] = p
                if socofing:
                    out.append(Source(f"socofing/Real/{p.name}", str(p), f"socofing/{n.subject}", "socofing"))
    if altered and (soc / "Altered").is_dir():
        for p in image_files(soc / "Altered"):  # follows symlinked sub-folders
            n = parse_socofing_name(p)
            if n is None or n.alter is None or n.stem_real.lower() not in real:
                continue
            out.append(Source(str(p.relative_to(root)), str(real[n.stem_real.lower()]), f"socofing/{n.subject}",
                              "altered", degraded=str(p)))
    return out


def split_sources(sources: list[Source], val_fraction: float = 0.2, seed: int = 0,
                  ) -> tuple[list[Source], list[Source], set[str], set[str]]:
    """Subject-disjoint split (FVC finger, SOCOFing subject) via :func:`subject_split`."""
    train_s, val_s = subject_split([s.subject for s in sources], val_fraction, seed)
    return ([s for s in sources if s.subject in train_s], [s for s in sources if s.subject in val_s],
            train_s, val_s)


def resample(img: np.ndarray, factor: float) -> np.ndarray:
    """Scale an image by ``factor`` (area when shrinking, cubic when enlarging)."""
    import cv2

    if abs(factor - 1.0) < 1e-3:
        return img
    h, w = img.shape[:2]
    size = (max(1, round(w * factor)), max(1, round(h * factor)))
    return cv2.resize(img, size, interpolation=cv2.INTER_AREA if factor < 1 else cv2.INTER_CUBIC)


#: synthetic degradation recipes: the v2 training profile, the domain-randomised training profile,
#: and the independent evaluation-only recipe (ml/restoration/degrade_heldout.py)
RECIPES = ("v2", "wide", "heldout")


def make_pair(src: Source, tag: str = "eval", k: int = 0, recipe: str = "v2") -> tuple[np.ndarray, np.ndarray]:
    """The (degraded, clean) float32 pair of one source at :data:`MODEL_DPI`.

    Synthetic degradation is seeded by ``(tag, src.rel, k)`` and made by ``recipe`` (see
    :data:`RECIPES`); Altered pairs use the real altered image (resized to the clean one's size when
    they differ, which happens for a few SOCOFing files) whatever the recipe.
    """
    from fpstation.ml.restoration.degrade import degrade, to_float

    if recipe not in RECIPES:
        raise ValueError(f"unknown degradation recipe {recipe!r}; choose from {', '.join(RECIPES)}")

    clean = to_float(read_gray(src.clean))
    if src.kind == "altered":
        deg = to_float(read_gray(src.degraded))
        if deg.shape != clean.shape:
            import cv2

            deg = cv2.resize(deg, (clean.shape[1], clean.shape[0]), interpolation=cv2.INTER_AREA)
        return deg, clean
    clean = np.clip(resample(clean, MODEL_DPI / src.dpi), 0, 1).astype(np.float32)
    if recipe == "heldout":
        from fpstation.ml.restoration.degrade_heldout import degrade_heldout

        return degrade_heldout(clean, stable_seed("heldout", tag, src.rel, k))
    return degrade(clean, stable_seed(tag, src.rel, k), profile=recipe)


def eval_name(src: Source) -> str:
    """File name of a source's pair in an evaluation folder (unique, flat)."""
    return src.rel.replace("/", "__").rsplit(".", 1)[0] + ".png"


def select_eval(val: list[Source], max_socofing: int = 200, max_altered: int = 200) -> list[Source]:
    """The validation pairs reported in cards and written by ``make_restoration_eval.py``:
    every FVC validation impression, plus a deterministic sample (by hash) of SOCOFing
    validation prints and Altered→Real pairs."""
    fvc = [s for s in val if s.kind == "fvc"]
    soc = sorted((s for s in val if s.kind == "socofing"), key=lambda s: stable_seed("pick", s.rel))[:max_socofing]
    alt = sorted((s for s in val if s.kind == "altered"), key=lambda s: stable_seed("pick", s.rel))[:max_altered]
    return sorted(fvc + soc + alt, key=lambda s: s.rel)


def _crops(shape: tuple[int, int], patch: int, n: int, rng: np.random.Generator) -> list[tuple[int, int]]:
    h, w = shape
    return [(int(rng.integers(0, h - patch + 1)), int(rng.integers(0, w - patch + 1))) for _ in range(n)]


def _fit(img: np.ndarray, patch: int) -> np.ndarray:
    """Pad with white background so both sides are at least ``patch``."""
    h, w = img.shape
    if h >= patch and w >= patch:
        return img
    return np.pad(img, ((0, max(0, patch - h)), (0, max(0, patch - w))), constant_values=1.0)


def make_patches(sources: Iterable[Source], patch: int, *, tag: str, per_image: dict[str, tuple[int, int]],
                 progress: Progress = null_progress, cancel: CancelToken = NEVER_CANCELLED,
                 recipe: str = "v2", guidance: tuple[str, ...] = (),
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Training patches: for each source, ``per_image[kind] = (degradations, crops each)``.

    ``recipe`` is a training recipe ("v2" or "wide"; never "heldout", which is for evaluation only).
    ``guidance`` names channels of :mod:`fpstation.ml.restoration.guidance`, computed on the whole
    degraded print before cropping (as at inference) and stored after the degraded channel.

    Returns uint8 arrays: degraded ``(N, patch, patch)`` — or ``(N, patch, patch, 1 + len(guidance))``
    with guidance, every channel in [0, 1] scaled to 0..255 — and clean ``(N, patch, patch)``.
    """
    from fpstation.ml.restoration.degrade import to_uint8

    if recipe == "heldout":
        raise ValueError("the held-out recipe is for evaluation only; train with 'v2' or 'wide'")
    if guidance:
        from fpstation.ml.restoration.guidance import guidance_channels

    sources = list(sources)
    xs, ys = [], []
    for i, src in enumerate(sources):
        n_deg, n_crop = per_image.get(src.kind, (1, 1))
        if src.kind == "altered":
            n_deg = 1
        for k in range(n_deg):
            d, c = make_pair(src, tag, k, recipe)
            d, c = _fit(d, patch), _fit(c, patch)
            full = np.dstack([d, guidance_channels(d, guidance)]) if guidance else d
            rng = np.random.default_rng(stable_seed("crop", tag, src.rel, k))
            for y0, x0 in _crops(d.shape, patch, n_crop, rng):
                xs.append(to_uint8(full[y0:y0 + patch, x0:x0 + patch]))
                ys.append(to_uint8(c[y0:y0 + patch, x0:x0 + patch]))
        if i % 50 == 0:
            cancel.raise_if_cancelled()
            progress(i / max(1, len(sources)), f"degrading {i}/{len(sources)}")
    return np.stack(xs), np.stack(ys)


def with_identity_pairs(x: np.ndarray, y: np.ndarray, share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Append clean->clean pairs (the targets of a random subset) so that they make up ``share`` of
    the result: the net is taught to leave a good print alone, not only to repair a damaged one."""
    if share <= 0:
        return x, y
    if share >= 1:
        raise ValueError("the identity share is a fraction of the patches, below 1")
    n = int(round(len(x) * share / (1.0 - share)))
    idx = np.random.default_rng([seed, 7]).choice(len(y), size=min(n, len(y)), replace=False)
    return np.concatenate([x, y[idx]]), np.concatenate([y, y[idx]])


def sources_sha256(sources: Iterable[Source], root: str | Path) -> str:
    """Hash of the sorted relative file list (clean and degraded files)."""
    root = Path(root)
    files = set()
    for s in sources:
        files.add(s.clean)
        if s.degraded:
            files.add(s.degraded)
    return file_list_sha256(files, root)
