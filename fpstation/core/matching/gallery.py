"""1:N: enrol prints into a case's gallery and search a probe against it.

Templates live in the case store (table ``templates``: print, extractor name + version, the
template as JSON and as ISO/IEC 19794-2). Enrolment (:mod:`.enrolment`) skips every print whose
stored template was made by the same extractor version, so a cancelled or crashed enrolment resumes
where it stopped and a re-run costs only the file hashing.

Search is two-staged so that 10k templates take about a second in Python:

1. **Pair-histogram prefilter** (vectorised): each template is summarised by a fixed-length,
   rotation- and translation-invariant histogram of its minutia pairs (distance, and each
   minutia's direction relative to the line joining them), soft-binned and L2-normalised. One
   matrix-vector product scores the whole gallery.
2. The requested matcher (``consensus`` by default) scores the ``shortlist`` best of stage 1,
   which gives the final order, the scores and the charted pairs of the ``top`` candidates.

bozorth3 is not used as an intermediate stage: on LEADER templates it separates poorly
(bench/results/matching.json), so it would drop mates the final matcher would have found.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fpstation.core.jobs import NEVER_CANCELLED, CancelToken, Progress, null_progress
from fpstation.core.matching import extractors as ex
from fpstation.core.matching import matchers as mt
from fpstation.core.matching.enrolment import EnrolReport
from fpstation.core.matching.template import Template

D_BINS, A_BINS = 10, 12
D_MIN, D_STEP = 16.0, 16.0  # pixels at 500 dpi
DIM = D_BINS * A_BINS * A_BINS
MAX_MINUTIAE = 80


def pair_histogram(t: Template) -> np.ndarray:
    """The template's minutia-pair histogram (float32, L2-normalised, length :data:`DIM`)."""
    m = t.minutiae
    if m.shape[0] > MAX_MINUTIAE:
        m = m[np.argsort(-m[:, 4], kind="stable")[:MAX_MINUTIAE]]
    h = np.zeros(DIM, np.float32)
    n = m.shape[0]
    if n < 2:
        return h
    scale = 500.0 / float(t.dpi or 500.0)
    x, y = m[:, 0] * scale, -m[:, 1] * scale  # y up, like the angles
    th = np.radians(m[:, 2])
    i, j = np.nonzero(~np.eye(n, dtype=bool))  # ordered pairs: each unordered pair counted both ways
    dx, dy = x[j] - x[i], y[j] - y[i]
    d = np.hypot(dx, dy)
    phi = np.arctan2(dy, dx)
    a1 = np.mod(th[i] - phi, 2 * np.pi) / (2 * np.pi) * A_BINS
    a2 = np.mod(th[j] - phi, 2 * np.pi) / (2 * np.pi) * A_BINS
    db = (d - D_MIN) / D_STEP
    keep = (db >= 0) & (db < D_BINS - 1)
    db, a1, a2 = db[keep], a1[keep], a2[keep]
    # soft binning: each pair shares its weight between neighbouring bins (distortion tolerance)
    d0 = np.floor(db).astype(int)
    a10 = np.floor(a1).astype(int)
    a20 = np.floor(a2).astype(int)
    fd, f1, f2 = db - d0, a1 - a10, a2 - a20
    for od, wd in ((0, 1 - fd), (1, fd)):
        for o1, w1 in ((0, 1 - f1), (1, f1)):
            for o2, w2 in ((0, 1 - f2), (1, f2)):
                k = ((d0 + od) * A_BINS + (a10 + o1) % A_BINS) * A_BINS + (a20 + o2) % A_BINS
                np.add.at(h, k, (wd * w1 * w2).astype(np.float32))
    nrm = float(np.linalg.norm(h))
    return h / nrm if nrm > 0 else h


@dataclass(frozen=True)
class Candidate:
    print_id: int
    score: float
    label: str = ""
    path: str = ""
    prefilter: float = 0.0
    bozorth3: float = 0.0
    pairs: list[tuple[int, int]] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"print_id": self.print_id, "score": self.score, "label": self.label, "path": self.path,
                "prefilter": self.prefilter, "bozorth3": self.bozorth3}


class GalleryIndex:
    """Templates of one extractor in memory, with their pair histograms stacked for stage 1."""

    def __init__(self, ids: list[int], templates: list[Template], labels: list[str] | None = None,
                 paths: list[str] | None = None, extractor: str = "") -> None:
        self.ids = list(ids)
        self.templates = list(templates)
        self.labels = labels or [str(i) for i in ids]
        self.paths = paths or [""] * len(ids)
        self.extractor = extractor
        self.hist = (np.stack([pair_histogram(t) for t in templates]) if templates
                     else np.zeros((0, DIM), np.float32))

    def __len__(self) -> int:
        return len(self.ids)

    def search(self, probe: Template, top: int = 10, shortlist: int = 30,
               matcher: str = mt.DEFAULT_MATCHER) -> list[Candidate]:
        """Ranked candidates (best first), at most ``top`` of them."""
        if not self.ids:
            return []
        pre = self.hist @ pair_histogram(probe)
        k1 = min(len(pre), max(shortlist, top))
        short = np.argpartition(-pre, k1 - 1)[:k1] if k1 < len(pre) else np.arange(len(pre))
        comps = [mt.compare(probe, self.templates[g], matcher) for g in short]  # scores and charted pairs
        rank = np.argsort(-np.array([c.score for c in comps]), kind="stable")[:min(len(short), top)]
        return [Candidate(self.ids[short[k]], float(comps[k].score), self.labels[short[k]], self.paths[short[k]],
                          float(pre[short[k]]), float(comps[k].detail.get("bozorth3", 0.0)), comps[k].pairs)
                for k in rank]


def enroll(store, files: Iterable[str | Path], extractor: str = ex.DEFAULT_EXTRACTOR, *, dpi: float | None = None,
           progress: Progress = null_progress, cancel: CancelToken = NEVER_CANCELLED, **kw) -> EnrolReport:
    """Enrol every print of ``files`` into the case ``store``: :func:`.enrolment.enroll` (parallel
    extraction, one writer, batched commits; resumable — see there)."""
    from fpstation.core.matching.enrolment import enroll as run

    return run(store, files, extractor, dpi=dpi, progress=progress, cancel=cancel, **kw)


def load_gallery(store, extractor: str = ex.DEFAULT_EXTRACTOR) -> GalleryIndex:
    """The case's templates of one extractor (only those of its current version)."""
    version = ex.extractor_version(extractor)
    ids, ts, labels, paths = [], [], [], []
    for r in store.templates(extractor):
        if r["extractor_version"] != version:
            continue
        ids.append(int(r["print_id"]))
        ts.append(Template.from_dict(json.loads(r["template"])))
        labels.append(Path(r["path"]).name + (f" #{r['idx'] + 1}" if r["idx"] else ""))
        paths.append(r["path"])
    return GalleryIndex(ids, ts, labels, paths, extractor)


def search_benchmark(templates: list[Template], sizes: tuple[int, ...] = (1000, 10000), probes: int = 5,
                     top: int = 10) -> dict:
    """Time :meth:`GalleryIndex.search` on galleries of ``sizes`` templates (``templates`` replicated)."""
    out = {}
    for n in sizes:
        ts = [templates[k % len(templates)] for k in range(n)]
        t0 = time.perf_counter()
        gi = GalleryIndex(list(range(n)), ts)
        build = time.perf_counter() - t0
        times = []
        for p in range(probes):
            probe = templates[(7 * p + 3) % len(templates)]
            t1 = time.perf_counter()
            gi.search(probe, top=top)
            times.append(time.perf_counter() - t1)
        out[str(n)] = {"index_build_s": build, "search_s_median": float(np.median(times)),
                       "search_s_max": float(max(times)), "probes": probes, "top": top}
    return out
