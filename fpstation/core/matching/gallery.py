"""1:N: enrol prints into a case's gallery and search a probe against it.

Templates live in the case store (table ``templates``: print, extractor name + version, the
template as JSON and as ISO/IEC 19794-2). Enrolment (:mod:`.enrolment`) skips every print whose
stored template was made by the same extractor version, so a cancelled or crashed enrolment resumes
where it stopped and a re-run costs only the file hashing.

Search scores *every* template with the fast ``cylinder`` matcher (:mod:`.cylinders`, BLAS over
packed bits) and re-scores the best with the requested matcher (``consensus`` by default), which
gives the final order, the scores and the charted pairs:

- :class:`GalleryIndex`: templates in memory (small galleries, tests, benchmarks);
- :func:`packed_for_case`: the case's templates packed into a memory-mapped folder beside the case
  file (:mod:`.packed`), rebuilt when the case's templates change; it adds a pruning stage for
  large galleries and a Ray engine. The GUI and ``fpstation search`` use it.

(The earlier minutia-pair-histogram prefilter is gone: it ranked a mate outside a 10-candidate
shortlist for 13 % of probes of a 60-finger gallery, bench/results/matching.json of 2026-11.)
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fpstation.core.jobs import NEVER_CANCELLED, CancelToken, Progress, null_progress
from fpstation.core.matching import cylinders as cy
from fpstation.core.matching import extractors as ex
from fpstation.core.matching import matchers as mt
from fpstation.core.matching.enrolment import EnrolReport
from fpstation.core.matching.template import Template


@dataclass(frozen=True)
class Candidate:
    print_id: int
    score: float
    label: str = ""
    path: str = ""
    #: the fast stage's (``cylinder``) score
    prefilter: float = 0.0
    bozorth3: float = 0.0
    pairs: list[tuple[int, int]] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"print_id": self.print_id, "score": self.score, "label": self.label, "path": self.path,
                "prefilter": self.prefilter, "bozorth3": self.bozorth3}


class GalleryIndex:
    """Templates of one extractor in memory, with their cylinders stacked for the fast stage."""

    def __init__(self, ids: list[int], templates: list[Template], labels: list[str] | None = None,
                 paths: list[str] | None = None, extractor: str = "") -> None:
        self.ids = list(ids)
        self.templates = list(templates)
        self.labels = labels or [str(i) for i in ids]
        self.paths = paths or [""] * len(ids)
        self.extractor = extractor
        self.stack = cy.Stack.of([cy.encode(t) for t in templates])

    def __len__(self) -> int:
        return len(self.ids)

    def fast_scores(self, probe: Template) -> np.ndarray:
        """``cylinder`` scores of the probe against every template."""
        return self.stack.scores(cy.encode(probe))

    def search(self, probe: Template, top: int = 10, shortlist: int = 30,
               matcher: str = mt.DEFAULT_MATCHER) -> list[Candidate]:
        """Ranked candidates (best first), at most ``top`` of them: the ``shortlist`` best by the
        ``cylinder`` matcher, re-scored by ``matcher``."""
        if not self.ids:
            return []
        pre = self.fast_scores(probe)
        k1 = min(len(pre), max(shortlist, top))
        short = np.lexsort((np.arange(len(pre)), -pre))[:k1]
        comps = [mt.compare(probe, self.templates[g], matcher) for g in short]  # scores and charted pairs
        rank = sorted(range(len(short)), key=lambda j: (-comps[j].score, -float(pre[short[j]]), int(short[j])))[:top]
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


def _case_items(store, extractor: str, version: str) -> Iterator[tuple[int, Template]]:
    for r in store.iter_templates(extractor, version):
        yield int(r["print_id"]), Template.from_dict(json.loads(r["template"]))


def packed_path(store, extractor: str) -> Path | None:
    """Where the case's packed gallery of ``extractor`` lives: a folder beside the case file."""
    if not getattr(store, "path", None) or store.path == ":memory:":
        return None
    p = Path(store.path)
    return p.with_name(f"{p.stem}.{extractor}.fpg")


def packed_for_case(store, extractor: str = ex.DEFAULT_EXTRACTOR, *, folder: str | Path | None = None,
                    progress: Progress = null_progress, cancel: CancelToken = NEVER_CANCELLED):
    """The case's templates of ``extractor`` (current version) as a :class:`~.packed.PackedGallery`,
    packed beside the case file (or into ``folder``) and packed again only when they changed since
    (their count, newest row or newest write). A cancelled packing leaves the previous one."""
    import tempfile

    from fpstation.core.matching.packed import GalleryFileError, PackedGallery

    version = ex.extractor_version(extractor)
    sig = store.template_signature(extractor, version)
    target = Path(folder) if folder else packed_path(store, extractor)
    if target is None:
        target = Path(tempfile.mkdtemp(prefix="fpstation-gallery-")) / f"{extractor}.fpg"
    if (target / "meta.json").is_file():
        try:
            g = PackedGallery(target)
            if g.meta.get("source") == sig:
                return g
        except GalleryFileError:
            pass  # another format or damaged: pack again
    return PackedGallery.build(target, _case_items(store, extractor, version), extractor=extractor,
                               extractor_version=version, total=int(sig["count"]), progress=progress, cancel=cancel,
                               meta={"source": sig})


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
