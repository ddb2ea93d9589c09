"""Score restorers on a paired folder (``degraded/`` + ``clean/``, identical file names).

Used by ``fpstation evaluate restoration`` and bench/restoration_bench.py. :func:`evaluate_sources`
scores one model on full-size validation pairs made on the fly (training/train_restoration.py for
the shipped cards, the training dialog's restoration task for user models). Metrics per image come
from :func:`fpstation.ml.restoration.image_metrics` (SSIM, PSNR, MAE on [0, 1] images) and are
averaged per model. Model names:

- ``identity``: the degraded input itself (what doing nothing scores),
- ``classical``: pyfing enhancement (ml/classical.py),
- ``unet`` / ``autoencoder``: the shipped default restorer of that architecture,
- any registry key (``restore-unet``, ``restore-unet@v2``...).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from fpstation.core.errors import DatasetError
from fpstation.core.jobs import NEVER_CANCELLED, CancelToken, Progress, null_progress


def pair_files(degraded: str | Path, clean: str | Path) -> tuple[list[tuple[Path, Path]], list[str]]:
    """(degraded, clean) paths paired by identical relative file name, plus unmatched names."""
    from fpstation.core.imageio import iter_image_files

    degraded, clean = Path(degraded), Path(clean)
    for d in (degraded, clean):
        if not d.is_dir():
            raise DatasetError(f"The folder “{d}” does not exist.", path=str(d))
    c = {Path(p).relative_to(clean).as_posix(): Path(p) for p in iter_image_files(clean)}
    pairs, missing = [], []
    for p in iter_image_files(degraded):
        rel = Path(p).relative_to(degraded).as_posix()
        if rel in c:
            pairs.append((Path(p), c[rel]))
        else:
            missing.append(rel)
    if not pairs:
        raise DatasetError(f"No file in “{degraded}” has a file of the same name in “{clean}”.", path=str(degraded))
    return sorted(pairs), missing


def all_models(registry: Any = None) -> list[str]:
    """``--model all``: identity, classical and every shipped restorer (U-Net, encoder-decoder)."""
    from fpstation.ml.registry import get_registry

    reg = registry or get_registry()
    shipped = [c.key for c in reg.cards("restoration") if c.shipped]
    return ["identity", "classical", *shipped]


def restorer(name: str, registry: Any = None):
    """``f(FingerprintImage) -> uint8 pixels`` for a model name (see module docstring)."""
    if name == "identity":
        return lambda im: im.pixels
    if name == "classical":
        from fpstation.ml.classical import enhance

        return lambda im: enhance(im).pixels
    from fpstation.ml.restoration import find_card, restore_with_model

    find_card(name, registry)  # fail early, with the registry's message, when it is not installed
    return lambda im: restore_with_model(im, name, registry=registry).pixels


def evaluate_pairs(pairs: list[tuple[Path, Path]], models: list[str], *, registry: Any = None,
                   progress: Progress = null_progress, cancel: CancelToken = NEVER_CANCELLED,
                   per_pair: dict[str, dict[str, dict[str, float]]] | None = None,
                   ) -> dict[str, dict[str, Any]]:
    """Mean SSIM / PSNR / MAE and timing per model over the pairs.

    per_pair : when given, receives ``{model: {degraded file name: metrics}}``.

    Returns
    -------
    dict
        ``{model: {"ssim", "psnr", "mae", "n", "seconds_per_image", "failed"}}``.
    """
    from fpstation.core.errors import FpError
    from fpstation.core.imageio import read_print
    from fpstation.ml.restoration import image_metrics

    fns = {m: restorer(m, registry) for m in models}
    rows: dict[str, list[dict[str, float]]] = {m: [] for m in models}
    secs: dict[str, float] = dict.fromkeys(models, 0.0)
    failed: dict[str, int] = dict.fromkeys(models, 0)
    total = len(pairs) * len(models)
    done = 0
    for dp, cp in pairs:
        deg, clean = read_print(dp), read_print(cp)
        if deg.pixels.shape != clean.pixels.shape:
            raise DatasetError(f"“{dp.name}” and its clean file differ in size "
                               f"({deg.width}×{deg.height} vs {clean.width}×{clean.height}).", path=str(dp))
        for m in models:
            cancel.raise_if_cancelled()
            t0 = time.perf_counter()
            try:
                out = fns[m](deg)
            except FpError:  # e.g. pyfing failing on one print: counted, not fatal
                failed[m] += 1
                continue
            secs[m] += time.perf_counter() - t0
            rows[m].append(image_metrics(out, clean.pixels))
            if per_pair is not None:
                per_pair.setdefault(m, {})[dp.name] = rows[m][-1]
            done += 1
            progress(done / total, f"{m}: {dp.name}")
    out: dict[str, dict[str, Any]] = {}
    for m in models:
        r = rows[m]
        out[m] = {k: float(np.mean([x[k] for x in r])) if r else None for k in ("ssim", "psnr", "mae")}
        out[m].update(n=len(r), failed=failed[m], seconds_per_image=secs[m] / len(r) if r else None)
    return out


def evaluate_sources(fn: Any, levels: int, sources: list[Any], *, tag: str = "eval", min_size: int = 0,
                     progress: Progress = null_progress, cancel: CancelToken = NEVER_CANCELLED) -> dict[str, Any]:
    """Mean SSIM/PSNR/MAE of a wrapped restorer and of the degraded input itself, on full prints.

    Parameters
    ----------
    fn, levels, min_size : the wrapped model (:func:`fpstation.ml.restoration.model_fn`), its
        downsamplings and minimum input size, as :func:`~fpstation.ml.restoration.restore_pixels` takes.
    sources : :class:`fpstation.ml.restoration.data.Source` items; each becomes a (degraded, clean)
        pair by ``data.make_pair(src, tag)``.

    Returns
    -------
    dict
        ``n``, ``ssim``, ``psnr``, ``mae``, ``identity`` (the degraded input's scores), ``per_kind``
        (the same per source kind) and ``seconds``; NaN means where there are no pairs.
    """
    from fpstation.ml.restoration import data as rd
    from fpstation.ml.restoration import image_metrics, restore_pixels
    from fpstation.ml.restoration.degrade import to_uint8

    rows: dict[str, list[tuple[dict, dict]]] = {}
    t0 = time.perf_counter()
    for i, s in enumerate(sources):
        cancel.raise_if_cancelled()
        d, c = rd.make_pair(s, tag)
        out = restore_pixels(fn, to_uint8(d), levels, dpi=None, min_size=min_size)
        rows.setdefault(s.kind, []).append((image_metrics(out, c), image_metrics(d, c)))
        progress((i + 1) / max(1, len(sources)), f"evaluating {i + 1}/{len(sources)}")

    def mean(rs: list[tuple[dict, dict]], j: int) -> dict[str, float]:
        return {k: float(np.mean([r[j][k] for r in rs])) if rs else float("nan") for k in ("ssim", "psnr", "mae")}

    allr = [r for rs in rows.values() for r in rs]
    return {"n": len(allr), **mean(allr, 0), "identity": mean(allr, 1),
            "per_kind": {k: {"n": len(rs), **mean(rs, 0), "identity": mean(rs, 1)} for k, rs in rows.items()},
            "seconds": round(time.perf_counter() - t0, 1)}


def table(results: dict[str, dict[str, Any]]) -> str:
    """A plain-text table of :func:`evaluate_pairs` results."""
    lines = [f"{'model':<28} {'n':>5} {'SSIM':>7} {'PSNR':>7} {'MAE':>7} {'s/img':>7}"]
    for m, r in results.items():
        def f(v: Any, fmt: str) -> str:
            return format(v, fmt) if v is not None else "-"
        lines.append(f"{m:<28} {r['n']:>5} {f(r['ssim'], '7.4f')} {f(r['psnr'], '7.2f')} {f(r['mae'], '7.4f')} "
                     f"{f(r['seconds_per_image'], '7.3f')}")
    return "\n".join(lines)
