"""A packed, memory-mapped 1:N gallery and its two-stage search (local or sharded on Ray).

A gallery folder (``*.fpg``) holds one ``.npy`` file per array, written block by block and opened
with ``mmap_mode="r"``, so a gallery of a million templates is not read into memory to be searched
and a search touches only the pages it scans:

=============  ======================  =====================================================
array          shape, type             what
=============  ======================  =====================================================
``pre_bits``   (N, PRE_M, NBYTES) uint8  the first :data:`PRE_M` cylinders again, for stage 0
``pre_counts`` (N, PRE_M) uint16       their bit counts
``bits``       (N, M, NBYTES) uint8    packed cylinder bits (:mod:`.cylinders`), best first
``counts``     (N, M) uint16           bits set per cylinder (0 = padding)
``ncyl``       (N,) uint8              cylinders in use
``xy``         (N, M, 2) int16         centre minutia, pixels at 500 dpi, y up
``theta``      (N, M) uint8            its direction, 256 steps per turn
``ids``        (N,) int64              the caller's id of each template (a case's print id)
``mnt_off``    (N + 1,) int64          where each template's minutiae start in ``mnt``
``mnt``        (T, 5) float32          all minutiae (for the final matcher and the chart)
``geom``       (N, 3) float32          width, height, dpi of each template
=============  ======================  =====================================================

plus ``meta.json`` (format, cylinder parameters, extractor and version, N).

Stage 0 reads every template, so what it reads is kept apart and contiguous (``pre_bits``,
``pre_counts``, ``ncyl``: 494 bytes a template); the full rows (1,560 bytes of bits a template)
are read only for the few candidates that reach stage 1. A million-template search then brings
about 0.5 GB of the gallery into memory instead of all of it (format 1 kept them in one array,
and stage 0's reads touched every page of it).

Search has three stages:

0. **prune**: the probe's :data:`PRE_P` best cylinders against each template's :data:`PRE_M` first
   (best-quality) ones, local similarity only, block by block (an integer GEMM in onnxruntime,
   several blocks at once on threads), with progress and cancel; the best ``pre_rate`` share (at
   least :data:`PRE_MIN`) goes on;
1. **fast matcher**: ``cylinder`` (all cylinders, with the consistency step) on those. When the
   best of them scores below :data:`SURE` (no candidate is a sure match), stage 1 goes on down
   stage 0's order to the best ``expand_rate`` share: stage 0 has no geometry, and on poor or
   little-overlapping prints it can rank the mate a few thousand places down (bench/stage0_study.py),
   where stage 1 still finds it. A search with a sure hit pays for ``pre_rate`` only;
2. **final matcher**: ``consensus`` by default on the ``rerank`` best of stage 1, which gives the
   order, the scores and the charted pairs.

``exhaustive=True`` skips stage 0 (stage 1 scores every template): the reference that the pruning
is measured against (bench/search_scale.py).

With ``engine="ray"`` the gallery is cut into shards (on block boundaries) that Ray workers score
from the same folder (a path every worker can read), in two or three rounds: each shard runs stage 0 and
returns its best; the driver keeps the same candidates a local search would (a template in the
overall best is in its shard's best; ties go to the lower position everywhere); each shard runs
stage 1 on the candidates that are its own (and, when the best is not sure, a third round on the
next ones); the driver runs stage 2. Cylinder similarities are integer bit counts, exact in
float32 however the work is cut, so the candidates are identical to a local search.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fpstation.core.errors import FpError
from fpstation.core.jobs import NEVER_CANCELLED, CancelToken, Progress, null_progress
from fpstation.core.matching import cylinders as cy
from fpstation.core.matching.template import Template

FORMAT = "fpstation packed gallery 2"
#: templates per block (the stages work block by block; shards start on block boundaries)
BLOCK = 1024
#: templates per block of stage 1 (all cylinders: more work per template)
BLOCK1 = 256
#: stage 0 compares the probe's PRE_P best cylinders with each template's PRE_M first (best) ones
PRE_P, PRE_M = 12, 12
#: share of the gallery that stage 0 passes on to stage 1 (at least PRE_MIN templates)
PRE_RATE, PRE_MIN = 0.005, 500
#: stage 1 goes on to the best EXPAND_RATE share when no candidate of the first PRE_RATE scores SURE.
#: All three were chosen on fold A of bench/search_scale.py (mated FVC2002 DB1-DB3) and then judged
#: on fold B (bench/results/search_scale.json): SURE is about the 99th percentile of the best
#: non-mate's stage-1 score among the first candidates in a 100k gallery (0.18); 10 % holds the
#: stage-0 rank of 4 of fold A's 5 mates that 2 % missed; with the expansion, fold A's rank-1 was
#: the same for any PRE_RATE from 0.1 % to 2 %, and the stage-1 work falls with it (0.5 % leaves a
#: margin). Before the expansion, PRE_RATE was 2 %.
EXPAND_RATE, SURE = 0.1, 0.2
ARRAYS = ("pre_bits", "pre_counts", "bits", "counts", "ncyl", "xy", "theta", "ids", "mnt_off", "mnt", "geom")


def stage0_candidates(n: int, k: int = 0, pre_rate: float = PRE_RATE) -> int:
    """How many of ``n`` templates stage 0 passes on to stage 1 (at least ``k``, the final shortlist)."""
    return min(n, max(k, PRE_MIN, int(np.ceil(pre_rate * n))))


class GalleryFileError(FpError):
    title = "Gallery problem"


def cylinder_params() -> dict[str, Any]:
    """What a packed gallery's cylinders depend on: a gallery made with others cannot be searched."""
    return {"radius": cy.RADIUS, "ns": cy.NS, "nd": cy.ND, "sigma_s": cy.SIGMA_S, "bit_threshold": cy.BIT_THRESHOLD,
            "min_valid": cy.MIN_VALID, "hull_margin": cy.HULL_MARGIN, "max_cyl": cy.MAX_CYL, "nbytes": cy.NBYTES}


@dataclass(frozen=True)
class Hit:
    """One candidate: its position in the gallery, the caller's id, the stage-1 score and the final one."""

    index: int
    id: int
    fast_score: float
    score: float
    pairs: list[tuple[int, int]] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"index": self.index, "id": self.id, "fast_score": self.fast_score, "score": self.score}


@dataclass(frozen=True)
class SearchResult:
    hits: list[Hit]
    gallery_size: int
    seconds: dict[str, float]
    engine: str = "local"
    workers: int = 1
    #: stage 1's best (gallery positions, scores), best first: what the final matcher re-scored
    shortlist: tuple[np.ndarray, np.ndarray] = (np.zeros(0, np.int64), np.zeros(0, np.float32))
    #: templates stage 1 scored, and whether it went past ``pre_rate`` (no sure hit among the first)
    stage1_candidates: int = 0
    expanded: bool = False


def _theta_q(theta: np.ndarray) -> np.ndarray:
    return np.rint(np.mod(theta, 2 * np.pi) * (256 / (2 * np.pi))).astype(np.int64) % 256


class _Writer:
    """Appends encoded templates to the arrays of a gallery being built (growing files, one block at a time)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.parts: dict[str, list[np.ndarray]] = {k: [] for k in ARRAYS if k != "mnt_off"}
        self.counts: list[int] = []
        self.n = 0
        self.files = {k: open(folder / f"{k}.raw", "wb") for k in self.parts}  # noqa: SIM115

    def add(self, tid: int, t: Template, e: cy.Encoded | None = None) -> None:
        """Append template ``t`` (``e``: its cylinders, when they were encoded elsewhere)."""
        e = cy.encode(t) if e is None else e
        M = cy.MAX_CYL
        bits = np.zeros((1, M, cy.NBYTES), np.uint8)
        counts = np.zeros((1, M), np.uint16)
        xy = np.zeros((1, M, 2), np.int16)
        th = np.zeros((1, M), np.uint8)
        bits[0, :e.n] = e.bits
        counts[0, :e.n] = e.counts
        xy[0, :e.n] = np.clip(np.rint(e.xy), -32768, 32767)
        th[0, :e.n] = _theta_q(e.theta)
        rows = {"pre_bits": bits[:, :PRE_M], "pre_counts": counts[:, :PRE_M], "bits": bits, "counts": counts,
                "ncyl": np.array([e.n], np.uint8), "xy": xy, "theta": th,
                "ids": np.array([tid], np.int64), "mnt": t.minutiae.astype(np.float32),
                "geom": np.array([[t.width, t.height, float(t.dpi or 0.0)]], np.float32)}
        for k, v in rows.items():
            self.files[k].write(np.ascontiguousarray(v).tobytes())
        self.counts.append(t.n)
        self.n += 1

    def close(self, meta: dict) -> None:
        for f in self.files.values():
            f.close()
        M, N = cy.MAX_CYL, self.n
        shapes = {"pre_bits": ((N, PRE_M, cy.NBYTES), np.uint8), "pre_counts": ((N, PRE_M), np.uint16),
                  "bits": ((N, M, cy.NBYTES), np.uint8), "counts": ((N, M), np.uint16), "ncyl": ((N,), np.uint8),
                  "xy": ((N, M, 2), np.int16), "theta": ((N, M), np.uint8), "ids": ((N,), np.int64),
                  "mnt": ((int(sum(self.counts)), 5), np.float32), "geom": ((N, 3), np.float32)}
        for k, (shape, dt) in shapes.items():
            raw = self.folder / f"{k}.raw"
            out = np.lib.format.open_memmap(self.folder / f"{k}.npy", mode="w+", dtype=dt, shape=shape)
            flat = out.reshape(-1)
            step = (64 << 20) // np.dtype(dt).itemsize  # 64 MB at a time: a big gallery is never all in memory
            with open(raw, "rb") as f:
                for lo in range(0, flat.size, step):
                    part = np.fromfile(f, dtype=dt, count=min(step, flat.size - lo))
                    flat[lo:lo + len(part)] = part
            out.flush()
            del flat
            del out
            raw.unlink()
        np.save(self.folder / "mnt_off.npy", np.concatenate([[0], np.cumsum(self.counts, dtype=np.int64)]))
        (self.folder / "meta.json").write_text(json.dumps({**meta, "n": N}, indent=1), encoding="utf-8")


class PackedGallery:
    """A packed gallery folder, opened memory-mapped (see the module docstring)."""

    def __init__(self, folder: str | Path, *, mmap: bool = True) -> None:
        self.folder = Path(folder)
        mp = self.folder / "meta.json"
        if not mp.is_file():
            raise GalleryFileError(f"“{self.folder}” is not a packed gallery (no meta.json). Build one with "
                                   "`fpstation search --pack` or PackedGallery.build.", path=str(self.folder))
        self.meta = json.loads(mp.read_text(encoding="utf-8"))
        if self.meta.get("format") != FORMAT:
            raise GalleryFileError(f"“{self.folder}” is a gallery of another format ({self.meta.get('format')!r}); "
                                   "build it again.", path=str(self.folder))
        if self.meta.get("cylinders") != cylinder_params():
            raise GalleryFileError(f"“{self.folder}” was packed with other cylinder parameters; build it again.",
                                   path=str(self.folder))
        mode = "r" if mmap else None
        try:
            self.a = {k: np.load(self.folder / f"{k}.npy", mmap_mode=mode) for k in ARRAYS}
        except (OSError, ValueError) as exc:
            raise GalleryFileError(f"The packed gallery “{self.folder}” is incomplete or damaged ({exc}); build it "
                                   "again.", path=str(self.folder)) from exc
        self.n = int(self.meta["n"])
        self._fds: dict[str, int] = {}

    def __len__(self) -> int:
        return self.n

    @property
    def extractor(self) -> str:
        return str(self.meta.get("extractor", ""))

    def nbytes(self, scanned_only: bool = True) -> int:
        """Bytes of the arrays that stage 0 reads in full (``scanned_only``), or of every array."""
        keys = ("pre_bits", "pre_counts", "ncyl") if scanned_only else ARRAYS
        return int(sum(self.a[k].nbytes for k in keys))

    def row_nbytes(self) -> int:
        """Bytes stage 1 reads for one candidate (its full cylinder row and geometry)."""
        return int(sum(self.a[k][0].nbytes for k in ("bits", "counts", "xy", "theta")) + 1) if self.n else 0

    @classmethod
    def build(cls, folder: str | Path, items: Iterable[tuple[int, Template] | tuple[int, Template, cy.Encoded]], *,
              extractor: str = "",
              extractor_version: str = "", total: int | None = None, progress: Progress = null_progress,
              cancel: CancelToken = NEVER_CANCELLED, meta: dict | None = None) -> PackedGallery:
        """Pack ``(id, template)`` items into ``folder`` (replaced only once the new one is complete:
        a cancelled or failed build leaves the previous gallery as it was). An item may carry its
        cylinders as a third element (``cylinders.encode(template)``, e.g. made in other processes)."""
        folder = Path(folder)
        tmp = folder.with_name(folder.name + ".building")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        w = _Writer(tmp)
        t0 = time.perf_counter()
        try:
            for k, item in enumerate(items):
                if k % 64 == 0:
                    cancel.raise_if_cancelled()
                    if total:
                        progress(min(k / total, 0.99), f"packing templates {k}/{total}")
                w.add(int(item[0]), item[1], item[2] if len(item) > 2 else None)
            cancel.raise_if_cancelled()
            w.close({**(meta or {}), "format": FORMAT, "cylinders": cylinder_params(), "extractor": extractor,
                     "extractor_version": extractor_version, "built_seconds": round(time.perf_counter() - t0, 1)})
        except BaseException:
            for f in w.files.values():
                f.close()
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        old = folder.with_name(folder.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        if folder.exists():
            folder.rename(old)
        tmp.rename(folder)
        shutil.rmtree(old, ignore_errors=True)
        progress(1.0, f"packed {w.n} templates")
        return cls(folder)

    def template(self, k: int) -> Template:
        """Template ``k`` as packed (its minutiae, size and dpi)."""
        a, b = int(self.a["mnt_off"][k]), int(self.a["mnt_off"][k + 1])
        w, h, dpi = (float(v) for v in self.a["geom"][k])
        return Template(np.asarray(self.a["mnt"][a:b], np.float64), int(w), int(h), dpi or None,
                        extractor=self.extractor, extractor_version=str(self.meta.get("extractor_version", "")))

    def pre_scores(self, probe: cy.Encoded, lo: int = 0, hi: int | None = None, *, threads: int = 1,
                   progress: Progress = null_progress, cancel: CancelToken = NEVER_CANCELLED) -> np.ndarray:
        """Stage-0 scores of templates ``lo:hi``: the local similarity of the probe's
        :data:`PRE_P` best cylinders with each template's :data:`PRE_M` first, block by block
        (``threads`` blocks at a time: BLAS and numpy release the GIL)."""
        pe = cy.Encoded(probe.bits[:PRE_P], probe.counts[:PRE_P], probe.xy[:PRE_P], probe.theta[:PRE_P])
        a = self.a

        def block(s: int, e: int) -> np.ndarray:
            return cy.scores(pe, np.asarray(a["pre_bits"][s:e]), np.asarray(a["pre_counts"][s:e]),
                             np.minimum(np.asarray(a["ncyl"][s:e]), PRE_M))

        return self._blocks(block, lo, hi, threads, progress, cancel)

    def full_scores(self, probe: cy.Encoded, lo: int = 0, hi: int | None = None, *, threads: int = 1,
                    progress: Progress = null_progress, cancel: CancelToken = NEVER_CANCELLED) -> np.ndarray:
        """Stage-1 (``cylinder`` matcher, with the consistency step) scores of templates ``lo:hi``."""
        return self._blocks(lambda s, e: self._full(probe, slice(s, e)), lo, hi, threads, progress, cancel)

    def full_scores_at(self, probe: cy.Encoded, idx: np.ndarray, threads: int = 1,
                       cancel: CancelToken = NEVER_CANCELLED) -> np.ndarray:
        """Stage-1 scores of the templates at positions ``idx`` (any order), ``threads`` blocks at once."""
        idx = np.asarray(idx, np.int64)
        out = np.zeros(len(idx), np.float32)
        order = np.argsort(idx, kind="stable")  # read the memory map in order

        def run(s: int) -> None:
            cancel.raise_if_cancelled()
            out[order[s:s + BLOCK1]] = self._full(probe, idx[order[s:s + BLOCK1]])

        starts = range(0, len(idx), BLOCK1)
        if threads > 1 and len(starts) > 1:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(threads) as pool:
                list(pool.map(run, starts))
        else:
            for s in starts:
                run(s)
        return out

    def _rows(self, name: str, idx: np.ndarray) -> np.ndarray:
        """Rows ``idx`` of a memory-mapped array, read with ``pread`` rather than through the map.

        Candidates lie all over the gallery, and each read through the map makes the kernel map
        the 64 kB around it as well (fault-around): a million-template search would end up with most
        of ``bits`` (1.5 GB) resident. Reading its rows keeps the process near the stage-0 arrays."""
        arr = self.a[name]
        if not isinstance(arr, np.memmap) or len(idx) == 0:
            return np.asarray(arr[idx])
        fd = self._fds.get(name)
        if fd is None:
            fd = self._fds[name] = os.open(self.folder / f"{name}.npy", os.O_RDONLY)
        rb = int(arr.strides[0])
        out = np.empty((len(idx),) + arr.shape[1:], arr.dtype)
        buf = out.reshape(len(idx), -1).view(np.uint8)
        base = int(arr.offset)
        for i, k in enumerate(np.asarray(idx, np.int64).tolist()):
            buf[i] = np.frombuffer(os.pread(fd, rb, base + k * rb), np.uint8)
        return out

    def close(self) -> None:
        """Close the files opened for row reads (the maps close with the object)."""
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass

    def _full(self, probe: cy.Encoded, sel) -> np.ndarray:
        a = self.a
        # candidates (stage 1): their bits rows are read, not mapped; the small per-row arrays
        # (280 bytes a template in all) and a contiguous range (no pruning) go through the map
        bits = np.asarray(a["bits"][sel]) if isinstance(sel, slice) else self._rows("bits", sel)
        return cy.scores(probe, bits, np.asarray(a["counts"][sel]), np.asarray(a["ncyl"][sel]),
                         np.asarray(a["xy"][sel], np.float32),
                         np.asarray(a["theta"][sel], np.float32) * np.float32(2 * np.pi / 256))

    def _blocks(self, fn, lo: int, hi: int | None, threads: int, progress: Progress,
                cancel: CancelToken) -> np.ndarray:
        hi = self.n if hi is None else min(hi, self.n)
        if lo % BLOCK:
            raise ValueError(f"a shard must start on a multiple of {BLOCK}")
        out = np.zeros(max(hi - lo, 0), np.float32)
        starts = list(range(lo, hi, BLOCK))
        done = 0
        last = time.perf_counter()

        def run(s: int) -> None:
            cancel.raise_if_cancelled()
            e = min(s + BLOCK, hi)
            out[s - lo:e - lo] = fn(s, e)

        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max(1, threads)) as pool:
            for _ in pool.map(run, starts):
                done += 1
                now = time.perf_counter()
                if now - last > 0.1:
                    progress(done / len(starts), f"scored {min(done * BLOCK, hi - lo):,}/{hi - lo:,} templates")
                    last = now
        return out

    def search(self, probe: Template, top: int = 10, *, rerank: int = 30, matcher: str = "consensus",
               engine: str = "local", workers: int | None = None, address: str | None = None,
               limit: int | None = None, pre_rate: float = PRE_RATE, expand_rate: float = EXPAND_RATE,
               sure: float = SURE, exhaustive: bool = False,
               threads: int | None = None, progress: Progress = null_progress,
               cancel: CancelToken = NEVER_CANCELLED) -> SearchResult:
        """The ``top`` candidates for ``probe``, best first (see the module docstring).

        ``limit``: search only the first ``limit`` templates (a smaller gallery inside a larger
        one); ``pre_rate``: the share stage 0 keeps; ``expand_rate``, ``sure``: how far stage 1
        goes on when the best of those scores below ``sure`` (``expand_rate <= pre_rate``: never);
        ``exhaustive``: no stage 0 (stage 1 scores every template); ``threads``: blocks scored at
        once by the local engine (default: cores)."""
        from fpstation.core.jobs import wrap_progress
        from fpstation.core.matching import matchers as mt

        t0 = time.perf_counter()
        enc = cy.encode(probe)
        n = self.n if limit is None else max(0, min(limit, self.n))
        k = min(n, max(rerank, top))
        k0 = n if exhaustive else stage0_candidates(n, k, pre_rate)
        k1 = max(k0, stage0_candidates(n, k, expand_rate)) if expand_rate > pre_rate else k0
        threads = max(1, threads or (os.cpu_count() or 1))
        nworkers = 1
        if engine == "ray":
            idx, vals, nworkers, scored = _ray_top(self.folder, enc, k0, k1, sure, k, n, workers, address, cancel)
        elif engine == "local":
            if k0 < n:
                s0 = self.pre_scores(enc, 0, n, threads=threads, progress=wrap_progress(progress, 0.0, 0.7),
                                     cancel=cancel)
                cand, _ = top_k(s0, k1)
                progress(0.7, f"cylinder matcher on the {k0:,} best")
                s1 = self.full_scores_at(enc, cand[:k0], threads, cancel)
                if _goes_further(s1, k0, k1, sure):
                    progress(0.8, f"no sure candidate: cylinder matcher on the next {k1 - k0:,}")
                    s1 = np.concatenate([s1, self.full_scores_at(enc, cand[k0:k1], threads, cancel)])
                idx, vals = merge_top([(cand[:len(s1)], s1)], k)
                scored = len(s1)
            else:
                idx, vals = top_k(self.full_scores(enc, 0, n, threads=threads,
                                                   progress=wrap_progress(progress, 0.0, 0.9), cancel=cancel), k)
                scored = n
        else:
            raise ValueError(f"unknown search engine {engine!r} (local or ray)")
        t1 = time.perf_counter()
        progress(0.9, f"{matcher} on the {len(idx)} best")
        finals = []
        for i in idx:
            cancel.raise_if_cancelled()
            c = mt.compare(probe, self.template(int(i)), matcher)
            finals.append((c.score, c.pairs))
        order = sorted(range(len(idx)), key=lambda j: (-finals[j][0], -float(vals[j]), int(idx[j])))[:top]
        hits = [Hit(int(idx[j]), int(self.a["ids"][int(idx[j])]), float(vals[j]), float(finals[j][0]), finals[j][1])
                for j in order]
        t2 = time.perf_counter()
        progress(1.0, f"searched {n:,} templates")
        return SearchResult(hits, n, {"stage1": t1 - t0, "stage2": t2 - t1, "total": t2 - t0}, engine,
                            nworkers, (idx, vals), scored, scored > k0)


def top_k(scores: np.ndarray, k: int, offset: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best (position + ``offset``, score), best first; ties go to the lower position."""
    k = min(k, len(scores))
    if k <= 0:
        return np.zeros(0, np.int64), np.zeros(0, np.float32)
    # a stable sort on (-score, position) decides ties the same way however the scores were split
    if k < len(scores):
        thr = np.partition(scores, len(scores) - k)[len(scores) - k]
        cand = np.nonzero(scores >= thr)[0]
    else:
        cand = np.arange(len(scores))
    order = cand[np.lexsort((cand, -scores[cand]))][:k]
    return order.astype(np.int64) + offset, scores[order]


def merge_top(parts: list[tuple[np.ndarray, np.ndarray]], k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best of several shards' (positions, scores), with the same tie rule as :func:`top_k`."""
    idx = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0, np.int64)
    val = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0, np.float32)
    order = np.lexsort((idx, -val))[:k]
    return idx[order], val[order]


def shards(n: int, workers: int) -> list[tuple[int, int]]:
    """``workers`` ranges of about equal size covering ``0:n``, each starting on a block boundary."""
    blocks = -(-n // BLOCK)
    per = -(-blocks // max(1, workers))
    return [(b * BLOCK, min(n, (b + per) * BLOCK)) for b in range(0, blocks, per)]


def shard_stage0(folder: str, probe: cy.Encoded, lo: int, hi: int, k0: int) -> tuple[np.ndarray, np.ndarray]:
    """Ray round 1 on one shard: stage 0 over ``lo:hi`` and its ``k0`` best (positions, scores).
    A template in the overall ``k0`` best is in its shard's ``k0`` best, so the driver can pick
    the same candidates as a local search."""
    return top_k(PackedGallery(folder).pre_scores(probe, lo, hi), k0, offset=lo)


def shard_stage1(folder: str, probe: cy.Encoded, idx: np.ndarray) -> np.ndarray:
    """Ray round 2: stage-1 scores of the overall candidates that lie in one shard."""
    return PackedGallery(folder).full_scores_at(probe, idx)


def shard_full(folder: str, probe: cy.Encoded, lo: int, hi: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Ray, no pruning: stage 1 over the whole shard and its ``k`` best."""
    return top_k(PackedGallery(folder).full_scores(probe, lo, hi), k, offset=lo)


def _goes_further(s1: np.ndarray, k0: int, k1: int, sure: float) -> bool:
    """Whether stage 1 goes on past the first ``k0`` (scored ``s1``) to ``k1``: none of them is sure.
    One rule for the local and the sharded search, so both score the same templates."""
    return k1 > k0 and not (len(s1) and float(s1.max()) >= sure)


def _sharded_top(run, where: str, probe: cy.Encoded, parts_of: list[tuple[int, int]], k0: int, k1: int,
                 sure: float, k: int, n: int) -> tuple[np.ndarray, np.ndarray, int]:
    """The driver's side of a sharded search: ``run(fn, argument tuples)`` runs ``fn`` on each
    (on Ray workers, or here in tests) and returns the results in order. Returns stage 1's ``k``
    best (positions, scores) and how many templates stage 1 scored - the same as a local search."""
    if k0 >= n:  # no pruning: stage 1 everywhere, the shards' best
        idx, val = merge_top(run(shard_full, [(where, probe, lo, hi, k) for lo, hi in parts_of]), k)
        return idx, val, n
    # round 1: stage 0 on every shard -> the same k1 candidates, in the same order, as a local search
    cand, _ = merge_top(run(shard_stage0, [(where, probe, lo, hi, k1) for lo, hi in parts_of]), k1)

    def stage1(c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Stage 1 on candidates ``c``, each shard scoring its own."""
        groups = [g_ for g_ in (c[(c >= lo) & (c < hi)] for lo, hi in parts_of) if len(g_)]
        s = run(shard_stage1, [(where, probe, g_) for g_ in groups])
        return (np.concatenate(groups), np.concatenate(s)) if groups else (c[:0], np.zeros(0, np.float32))

    # round 2: stage 1 on the first k0; round 3 on the rest up to k1 when none of them is sure
    i1, s1 = stage1(cand[:k0])
    if _goes_further(s1, k0, k1, sure):
        i2, s2 = stage1(cand[k0:k1])
        i1, s1 = np.concatenate([i1, i2]), np.concatenate([s1, s2])
    idx, val = merge_top([(i1, s1)], k)
    return idx, val, len(s1)


#: the shard functions as Ray remote functions (made once: Ray exports a function when it is made)
_REMOTE: dict[Any, Any] = {}


def _ray_top(folder: Path, probe: cy.Encoded, k0: int, k1: int, sure: float, k: int, n: int, workers: int | None,
             address: str | None, cancel: CancelToken) -> tuple[np.ndarray, np.ndarray, int, int]:
    from fpstation.core import cluster

    start = cluster.start_ray(address, workers)
    ray = cluster.import_ray()
    w = workers or max(1, int(start.cpus))
    parts_of = shards(n, w)

    def run(fn, args: list[tuple]) -> list:
        f = _REMOTE.get(fn)
        if f is None:
            f = _REMOTE[fn] = ray.remote(num_cpus=1)(fn)
        refs = [f.remote(*a) for a in args]
        out: dict[Any, Any] = {}
        pending = list(refs)
        while pending:
            if cancel.cancelled:
                for r in pending:
                    ray.cancel(r, force=True)
                cancel.raise_if_cancelled()
            done, pending = ray.wait(pending, num_returns=1, timeout=0.2)
            for r in done:
                out[r] = ray.get(r)
        return [out[r] for r in refs]

    idx, val, scored = _sharded_top(run, str(folder.resolve()), probe, parts_of, k0, k1, sure, k, n)
    return idx, val, len(parts_of), scored
