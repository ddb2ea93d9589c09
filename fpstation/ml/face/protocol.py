"""Subject-disjoint evaluation protocol on a folder of people (one sub-folder each, e.g. ORL).

Used by training/face_threshold.py (choose the open-set threshold on *validation people*) and
bench/face_bench.py (report rank-k and FNIR/FPIR on *other people*, over several random splits).
Every image is embedded once; splits only re-index the vectors.

One split of a set of people P: ``n_left_out`` of P are left out of the gallery (their probes are
non-mated searches); the others are enrolled with their first ``gallery_images`` images (in file
order) and probed with the rest.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fpstation.core.jobs import NEVER_CANCELLED, CancelToken, Progress, null_progress
from fpstation.ml.face import metrics as fm
from fpstation.ml.face.gallery import Gallery, embed_folder


@dataclass
class Embedded:
    vectors: np.ndarray  # (N, d)
    people: list[str]  # identity per row
    order: np.ndarray  # position of the image within its person's folder (0-based, file order)
    paths: list[str]
    whole_image: int
    skipped: list[tuple[str, str]]
    seconds_per_face: list[float]


def embed_people(root: str | Path, embedder: Any, progress: Progress = null_progress,
                 cancel: CancelToken = NEVER_CANCELLED) -> Embedded:
    import time

    t = []

    class _Timed:
        def __init__(self, e):
            self._e = e
            self.key, self.sha256 = e.key, e.sha256

        def embed(self, pixels):
            t0 = time.perf_counter()
            r = self._e.embed(pixels)
            t.append(time.perf_counter() - t0)
            return r

    rows, skipped = embed_folder(root, _Timed(embedder), progress, cancel)
    people = [r["identity"] for r in rows]
    order = np.zeros(len(rows), np.int64)
    seen: dict[str, int] = {}
    for i, p in enumerate(people):
        order[i] = seen.get(p, 0)
        seen[p] = order[i] + 1
    vecs = np.stack([np.frombuffer(r["vector"], "<f4") for r in rows]).astype(np.float32)
    return Embedded(vecs, people, order, [r["path"] for r in rows],
                    sum(r["box"]["method"] == "whole image" for r in rows), skipped, t)


def split_scores(e: Embedded, people: list[str], left_out: set[str], gallery_images: int) -> dict[str, Any]:
    """Scores of one split: enrolled = people − left_out (first ``gallery_images`` images each)."""
    people_set = set(people)
    enrolled = people_set - left_out
    g = [i for i, p in enumerate(e.people) if p in enrolled and e.order[i] < gallery_images]
    pr = [i for i, p in enumerate(e.people) if p in people_set and (p in left_out or e.order[i] >= gallery_images)]
    gal = Gallery("eval", e.vectors[g], [e.people[i] for i in g])
    return fm.search_scores(gal, e.vectors[pr], [e.people[i] for i in pr]) | {"identities": len(gal)}


def pooled(e: Embedded, people: list[str], n_left_out: int, gallery_images: int, splits: int,
           seed: int) -> dict[str, np.ndarray]:
    """Mated/non-mated scores pooled over ``splits`` random choices of who is left out."""
    rng = np.random.default_rng(seed)
    ms, mr, nb = [], [], []
    for _ in range(splits):
        out = set(rng.choice(sorted(people), size=n_left_out, replace=False).tolist())
        s = split_scores(e, people, out, gallery_images)
        ms.append(s["mate_scores"])
        mr.append(s["ranks"])
        nb.append(s["nonmated_best"])
    return {"mate_scores": np.concatenate(ms), "ranks": np.concatenate(mr), "nonmated_best": np.concatenate(nb)}


def people_partition(people: list[str], seed: int = 0) -> dict[str, list[str]]:
    """The fixed subject-disjoint partition used by the shipped cards (hash-based, stable):
    ``train`` (the small CNN learns from these, ~50 %), ``threshold`` (the open-set threshold is
    chosen on these, ~25 %) and ``report`` (figures in cards, ~25 %)."""
    from fpstation.ml.datasets import subject_split

    train, held = subject_split(people, val_fraction=0.5, seed=seed)
    thr, rep = subject_split(held, val_fraction=0.5, seed=seed + 1)

    def key(s: str) -> tuple[int, str]:
        digits = "".join(c for c in s if c.isdigit())
        return (int(digits) if digits else 0, s)

    return {"train": sorted(train, key=key), "threshold": sorted(thr, key=key), "report": sorted(rep, key=key)}
