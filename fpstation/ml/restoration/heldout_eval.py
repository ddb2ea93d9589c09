"""Held-out scoring of restorers: per FVC scanner, on two degradation recipes, with intervals (issue #17).

A restorer's validation score on prints from the scanners it was trained on, damaged by the
generator it was trained on, says little about a new scanner or new damage. This scores restorers
per FVC database (each database is one sensor), on

- ``v2``: the training generator (:mod:`fpstation.ml.restoration.degrade`, v2 profile; new seeds), and
- ``heldout``: the independent recipe of :mod:`fpstation.ml.restoration.degrade_heldout`, which no
  training recipe produces,

and gives each mean a 95 % bootstrap interval that resamples *fingers* (the prints of one finger
are not independent), plus the paired differences of each restorer from the degraded input
("identity") and from pyfing ("classical").

Whether a database is really held out for a model depends on how that model was trained: a
model's card lists its training sources; :func:`held_out_for` reads it. Only numpy here; restorers
are passed in as functions, so the bench, the CLI and the tests share this code.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fpstation.core.jobs import NEVER_CANCELLED, CancelToken, Progress, null_progress

#: a restorer: uint8 H×W print at 500 dpi -> uint8 H×W restored print
Restorer = Callable[[np.ndarray], np.ndarray]
#: degradation recipes scored
EVAL_RECIPES = ("v2", "heldout")
#: the seed tag of held-out evaluation pairs (training uses "train"/"val", cards "eval")
TAG = "loso"


def fvc_sources(root: str | Path, db: str, per_finger: int = 3) -> list[Any]:
    """The first ``per_finger`` impressions (by a stable hash order) of every finger of one FVC B set."""
    from fpstation.ml.restoration import data as rd

    srcs = [s for s in rd.collect_sources(root, socofing=False, altered=False) if s.rel.startswith(db + "/")]
    by_finger: dict[str, list[Any]] = {}
    for s in sorted(srcs, key=lambda s: rd.stable_seed("loso-pick", s.rel)):
        by_finger.setdefault(s.subject, []).append(s)
    return sorted((s for v in by_finger.values() for s in v[:per_finger]), key=lambda s: s.rel)


def bootstrap_ci(values: Sequence[float], groups: Sequence[str], n_boot: int = 2000, seed: int = 0,
                 ) -> tuple[float, float, float]:
    """Mean and 95 % percentile interval, resampling whole groups (fingers) with replacement."""
    v = np.asarray(values, np.float64)
    if v.size == 0:
        return float("nan"), float("nan"), float("nan")
    keys = sorted(set(groups))
    idx = {k: np.flatnonzero(np.asarray(groups) == k) for k in keys}
    sums = np.array([v[idx[k]].sum() for k in keys])
    counts = np.array([idx[k].size for k in keys])
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(keys), size=(n_boot, len(keys)))
    means = sums[pick].sum(1) / counts[pick].sum(1)
    return float(v.mean()), float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def _summary(rows: list[dict[str, float]], groups: list[str], key: str) -> dict[str, float]:
    m, lo, hi = bootstrap_ci([r[key] for r in rows], groups)
    return {"mean": m, "ci95": [lo, hi]}


def score_heldout(restorers: dict[str, Restorer], root: str | Path, dbs: Sequence[str], *,
                  recipes: Sequence[str] = EVAL_RECIPES, per_finger: int = 3,
                  progress: Progress = null_progress, cancel: CancelToken = NEVER_CANCELLED,
                  ) -> dict[str, Any]:
    """Score restorers per FVC database and recipe.

    Parameters
    ----------
    restorers : name -> function (see :data:`Restorer`); "identity" is added when missing, since the
        differences are taken against it.
    root : the shared data root (FVC B sets under ``<root>/<db>/images``).
    dbs : FVC database folder names (``fvc2002-db1b`` ...).
    recipes : any of :data:`EVAL_RECIPES`.
    per_finger : impressions scored per finger (10 fingers per B set).

    Returns
    -------
    dict
        ``{db: {recipe: {"n", "fingers", "models": {name: {"ssim"|"psnr"|"mae": {"mean", "ci95"},
        "seconds_per_image", "failed"}}, "diff": {name: {"vs_identity"|"vs_classical":
        {"ssim"|"psnr": {"mean", "ci95"}}}}}}}``; a restorer that raises on a print is counted in
        ``failed`` and scored as the degraded input for that print (so every model is scored on
        the same pairs; the count says how often).
    """
    import time

    from fpstation.ml.restoration import data as rd
    from fpstation.ml.restoration import image_metrics
    from fpstation.ml.restoration.degrade import to_uint8

    restorers = {"identity": lambda p: p, **restorers}
    plan = [(db, s) for db in dbs for s in fvc_sources(root, db, per_finger)]
    total = max(1, len(plan) * len(recipes))
    out: dict[str, Any] = {}
    done = 0
    for db in dbs:
        out[db] = {}
        srcs = [s for d, s in plan if d == db]
        for recipe in recipes:
            rows: dict[str, list[dict[str, float]]] = {m: [] for m in restorers}
            secs = dict.fromkeys(restorers, 0.0)
            failed = dict.fromkeys(restorers, 0)
            groups = [s.subject for s in srcs]
            for s in srcs:
                cancel.raise_if_cancelled()
                d, c = rd.make_pair(s, TAG, 0, recipe)
                du = to_uint8(d)
                for name, fn in restorers.items():
                    t0 = time.perf_counter()
                    try:
                        r = fn(du)
                    except Exception:  # noqa: BLE001 - scored as "did nothing", and counted
                        failed[name] += 1
                        r = du
                    secs[name] += time.perf_counter() - t0
                    rows[name].append(image_metrics(r, c))
                done += 1
                progress(done / total, f"{db} {recipe}: {done}/{total}")
            models = {m: {**{k: _summary(rows[m], groups, k) for k in ("ssim", "psnr", "mae")},
                          "seconds_per_image": secs[m] / max(1, len(srcs)), "failed": failed[m]} for m in restorers}
            diff: dict[str, Any] = {}
            for m in restorers:
                if m == "identity":
                    continue
                diff[m] = {}
                for ref in ("identity", "classical"):
                    if ref == m or ref not in rows:
                        continue
                    diff[m][f"vs_{ref}"] = {k: _summary([{k: a[k] - b[k]} for a, b in zip(rows[m], rows[ref], strict=True)],
                                                        groups, k) for k in ("ssim", "psnr")}
            out[db][recipe] = {"n": len(srcs), "fingers": len(set(groups)), "models": models, "diff": diff}
    return out


def score_altered(restorers: dict[str, Restorer], root: str | Path, subjects: set[str], limit: int = 200, *,
                  progress: Progress = null_progress, cancel: CancelToken = NEVER_CANCELLED) -> dict[str, Any]:
    """Score restorers on real damage: SOCOFing Altered→Real pairs of the given subjects only
    (pass the subjects no scored model trained on). A deterministic sample of ``limit`` pairs;
    intervals resample subjects; ``diff`` is each restorer minus the degraded input, per pair."""
    from fpstation.ml.restoration import data as rd
    from fpstation.ml.restoration import image_metrics
    from fpstation.ml.restoration.degrade import to_uint8

    restorers = {"identity": lambda p: p, **restorers}
    srcs = [s for s in rd.collect_sources(root, fvc=False, socofing=False) if s.subject in subjects]
    srcs = sorted(srcs, key=lambda s: rd.stable_seed("altered-pick", s.rel))[:limit]
    rows: dict[str, list[dict[str, float]]] = {m: [] for m in restorers}
    for i, s in enumerate(srcs):
        cancel.raise_if_cancelled()
        d, c = rd.make_pair(s)
        du = to_uint8(d)
        for name, fn in restorers.items():
            rows[name].append(image_metrics(fn(du), c))
        progress((i + 1) / max(1, len(srcs)), f"altered {i + 1}/{len(srcs)}")
    groups = [s.subject for s in srcs]
    return {"n": len(srcs), "subjects": len(set(groups)),
            "models": {m: {k: _summary(rows[m], groups, k) for k in ("ssim", "psnr", "mae")} for m in restorers},
            "diff": {m: {"vs_identity": {k: _summary([{k: a[k] - b[k]} for a, b in
                                                      zip(rows[m], rows["identity"], strict=True)], groups, k)
                                         for k in ("ssim", "psnr")}} for m in restorers if m != "identity"}}


def held_out_for(card: dict[str, Any] | None, db: str) -> bool | None:
    """Whether FVC database ``db`` was absent from a model's training data, from its card:
    True / False, or None when the card does not say (e.g. identity, classical)."""
    if not card:
        return None
    data = card.get("data") or {}
    if "train_dbs" in data:
        return db not in data["train_dbs"]
    sources = " ".join(data.get("sources") or [])
    if not sources:
        return None
    # the v1/v2 cards name "FVC2002 DB1-4 B" and "FVC2004 DB2/DB4 B": every B set was trained on
    return "FVC" not in sources


def table(results: dict[str, Any], metric: str = "ssim") -> str:
    """Plain-text table: one row per (db, recipe), one column per model, mean [95 % interval]."""
    lines = []
    for db, per in results.items():
        for recipe, r in per.items():
            cells = [f"{m}={v[metric]['mean']:.3f} [{v[metric]['ci95'][0]:.3f}, {v[metric]['ci95'][1]:.3f}]"
                     for m, v in r["models"].items()]
            lines.append(f"{db:<14} {recipe:<8} n={r['n']:<3} " + "  ".join(cells))
    return "\n".join(lines)
