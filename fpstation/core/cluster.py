"""The folder batch on a Ray cluster (``--engine ray``): same files, same rows, same case store.

Who does what
-------------
* **Workers** (one Ray actor per CPU, ``num_cpus=1``) build the analysers once — each worker first
  verifies the SHA-256 of every model it will use against the driver's model cards — then, per
  file, read the bytes (or receive them), hash them, skip files the case already holds, decode and
  analyse. They send back only derived values: a :class:`FileOutcome` per file (print metadata +
  the flattened step results :func:`fpstation.core.store.step_records` makes), never pixels.
* **The driver** (the process that runs :func:`run_batch_ray`) is the **only writer of the case**:
  it writes each file's prints as its outcome arrives (in completion order, one transaction per
  print as in the local engine), then emits the same :class:`~fpstation.core.batch.BatchItem` rows.

Nothing lost, nothing twice: actors are created with ``max_restarts=-1, max_task_retries=-1``, so a
worker process that dies mid-task is restarted and its task re-run; a task's result reaches the
driver once, and writes are idempotent anyway (prints are unique by ``(sha256, index)``, a stored
success is never replaced by an error). A killed driver loses at most the outcomes in flight; a
re-run skips every file the case holds with all requested steps (the set is sent to each worker).

How files reach workers (``transport``): ``"path"`` — workers open the path themselves (the
folder is on storage every node mounts at the same path); ``"bytes"`` — the driver reads each file
and ships its bytes through Ray's object store (no shared storage needed, but the driver's disk
and network carry everything); ``"auto"`` (default) — ``path`` when every worker can see the first
file with the same size, else ``bytes``.

Ray is optional (``pip install -e ".[cluster]"``) and imported only inside these functions.
"""

from __future__ import annotations

import hashlib
import os
import socket
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fpstation.core.batch import (
    BatchItem,
    BatchSummary,
    Loaded,
    Partial,
    Reader,
    _as_fp_error,
    _fmt_eta,
    default_reader,
    list_images,
    load_file,
    requested_steps,
)
from fpstation.core.errors import FpError
from fpstation.core.jobs import NEVER_CANCELLED, CancelToken, Progress, null_progress
from fpstation.core.pipeline import Analyzers, analyse
from fpstation.core.store import AnalysisInputs, CaseStore, StepRecord, step_records

ENGINES = ("local", "ray")
TRANSPORTS = ("auto", "path", "bytes")
INSTALL_HINT = ('The Ray engine needs Ray, which is not installed. Install the cluster extra: '
                'pip install -e ".[cluster]"  (or: pip install "ray>=2.40,<3"), or use --engine local.')
PROGRESS_EVERY_S = 0.1


class ClusterError(FpError):
    """The Ray engine cannot run: Ray missing, cluster unreachable, a worker refused its models."""

    title = "Cluster batch"


def import_ray() -> Any:
    """``import ray``, or a :class:`ClusterError` that says how to install it."""
    try:
        import ray
    except ImportError as exc:
        raise ClusterError(INSTALL_HINT) from exc
    return ray


def ray_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("ray") is not None


# -- what travels back from a worker ---------------------------------------------------------------
@dataclass(frozen=True)
class PrintMeta:
    """What :meth:`CaseStore.record_print` reads of a print — everything but the pixels."""

    sha256: str
    index: int
    source: str
    width: int
    height: int
    dpi: float | None
    format: str = ""
    record: str = ""
    finger_position: int | None = None
    dpi_source: str = ""
    file_dpi: float | None = None
    notes: tuple[str, ...] = ()

    @classmethod
    def of(cls, image: Any) -> PrintMeta:
        return cls(sha256=image.sha256, index=image.index, source=str(image.source), width=int(image.width),
                   height=int(image.height), dpi=image.dpi, format=image.format, record=image.record,
                   finger_position=image.finger_position, dpi_source=getattr(image, "dpi_source", ""),
                   file_dpi=getattr(image, "file_dpi", None), notes=tuple(getattr(image, "notes", ())))


@dataclass
class FileOutcome:
    """One file as a worker (or the driver, for a file it could not read) finished it."""

    path: str
    sha256: str = ""
    size: int | None = None
    error_type: str = ""
    error_message: str = ""
    skipped: bool = False  # the case already held it when the worker looked (sent set)
    prints: list[tuple[PrintMeta, list[StepRecord]]] = field(default_factory=list)
    worker: str = ""  # host:pid, for the log


class _DoneSet:
    """The part of a case store :func:`fpstation.core.batch.load_file` asks: is this content done?
    (a snapshot sent to every worker; the driver re-checks before it writes)."""

    def __init__(self, done: frozenset[str] | set[str]) -> None:
        self.done = done

    def file_done(self, sha256: str, steps: object = (), inputs: object = None) -> bool:
        return sha256 in self.done


def _raw_reader(path: str) -> list[Any]:
    """Transport ``bytes``: the driver reads the bytes with the same checks as ``read_prints``."""
    from fpstation.core import imageio

    return [imageio.read_file_bytes(path)]


def _decode_bytes(data: bytes) -> Reader:
    from fpstation.core import imageio

    return lambda path: imageio.decode_prints(data, path)


def analyse_file(path: str, data: bytes | None, done: frozenset[str] | set[str], analyzers: Analyzers,
                 reader: Reader | None = None, stated_dpi: float | None = None) -> FileOutcome:
    """Worker side: hash, skip when done, decode, analyse one file. Never raises (bad file = outcome).

    ``data`` is the file's bytes (transport ``bytes``) or ``None`` (the worker opens ``path``, with
    exactly the local engine's :func:`~fpstation.core.batch.load_file`, so bad files give the same rows).
    """
    if data is None:
        item = load_file(path, _DoneSet(done), frozenset(), reader or default_reader)  # type: ignore[arg-type]
    else:
        item = Loaded(path=path, sha256=hashlib.sha256(data).hexdigest(), size=len(data))
        try:
            item.prints = _decode_bytes(data)(path)
        except Exception as exc:  # noqa: BLE001 - becomes an error row
            item.error = _as_fp_error(exc, path)
    del data
    if stated_dpi and item.prints:  # the resolution the user stated, as the local engine's reader does
        item.prints = [im.with_stated_dpi(stated_dpi) for im in item.prints]
    out = FileOutcome(path=path, sha256=item.sha256, size=item.size, skipped=item.skipped)
    if item.error is not None:
        out.error_type, out.error_message = type(item.error).__name__, item.error.user_message
        return out
    prints = item.prints or []
    for k in range(len(prints)):
        image = prints[k]
        result = analyse(image, analyzers)
        out.prints.append((PrintMeta.of(image), step_records(result)))
        prints[k] = None  # type: ignore[call-overload]  # pixels go as soon as the print is analysed
        del result, image
    return out


class BatchWorker:
    """The Ray actor: analysers built (and models verified) once per worker process.

    ``setup`` is a picklable zero-argument callable returning :class:`Analyzers`; it runs on the
    worker (e.g. :class:`fpstation.ml.inference.ClusterSetup`, which checks every model's SHA-256
    against the driver's cards first). A setup failure is kept and reported by :meth:`ready`, so
    the driver can say which host refused what instead of retrying forever.
    """

    def __init__(self, setup: Callable[[], Analyzers], done: frozenset[str], reader: Reader | None = None,
                 stated_dpi: float | None = None):
        self.id = f"{socket.gethostname()}:{os.getpid()}"
        self.done = done
        self.reader = reader
        self.stated_dpi = stated_dpi
        self.error = ""
        self.analyzers = Analyzers()
        try:
            self.analyzers = setup()
        except FpError as exc:
            self.error = exc.user_message
        except Exception as exc:  # noqa: BLE001 - reported to the driver by ready()
            self.error = f"{type(exc).__name__}: {exc}"
        self.models = list(getattr(setup, "verified", lambda: [])())

    def ready(self, probe: str = "", probe_size: int = -1) -> dict[str, Any]:
        """Who and where this worker is, its setup error (if any), and whether it sees ``probe``."""
        sees = False
        if probe:
            try:
                sees = os.path.getsize(probe) == probe_size
            except OSError:
                sees = False
        return {"worker": self.id, "pid": os.getpid(), "error": self.error, "sees_probe": sees,
                "models": self.models}

    def run(self, items: list[tuple[str, bytes | None]]) -> list[FileOutcome]:
        outs = []
        for path, data in items:
            o = analyse_file(path, data, self.done, self.analyzers, self.reader, self.stated_dpi)
            o.worker = self.id
            outs.append(o)
        return outs


# -- driver -----------------------------------------------------------------------------------------
@dataclass
class RayStart:
    """How the driver got its Ray: started locally or joined, and how long that took."""

    address: str
    started_here: bool
    seconds: float
    cpus: float


def start_ray(address: str | None = None, workers: int | None = None) -> RayStart:
    """Join ``address`` (``auto``, ``ray://host:10001``, ``host:6379``), or start a local Ray with
    ``workers`` CPUs (default: this machine's). Reuses a Ray this process already initialised."""
    ray = import_ray()
    t0 = time.perf_counter()
    if ray.is_initialized():
        return RayStart("(already connected)", False, 0.0, float(ray.cluster_resources().get("CPU", 0)))
    kw: dict[str, Any] = {"logging_level": "warning", "log_to_driver": False}
    try:
        if address:
            ray.init(address=address, **kw)
        else:
            ray.init(num_cpus=workers or os.cpu_count() or 1, include_dashboard=False, **kw)
    except Exception as exc:  # noqa: BLE001 - ConnectionError, RuntimeError, ValueError ... from Ray
        where = f"the Ray cluster at “{address}”" if address else "a local Ray instance"
        raise ClusterError(f"Could not connect to {where}: {exc}. Check that `ray start --head` runs "
                           "there and the address/port is reachable.", detail=repr(exc)) from exc
    return RayStart(address or "local", True, time.perf_counter() - t0,
                    float(ray.cluster_resources().get("CPU", 0)))


def _emit_rows(o: FileOutcome, store: CaseStore, steps: frozenset[str],
               inputs: AnalysisInputs | None = None) -> list[dict[str, Any]]:
    """Driver side: write one file's outcome to the case (the only writer) and return its rows —
    exactly what :func:`fpstation.core.batch.process_loaded` writes and yields for the local engine."""
    if o.error_type:
        eid = store.record_file_error(o.path, o.error_type, o.error_message, sha256=o.sha256, size=o.size)
        return [store.error_row(eid)]
    rows = []
    if o.skipped or (o.sha256 and store.file_done(o.sha256, steps, inputs)):  # a duplicate finished meanwhile
        for pid in store.print_ids_of_file(o.sha256):
            row = store.print_row(pid, store.analysis_id(pid, inputs))
            row.update(status="skipped", path=o.path)
            rows.append(row)
        return rows
    if not o.prints:
        eid = store.record_file_error(o.path, "NoPrintError", "The file holds no fingerprint image.",
                                      sha256=o.sha256, size=o.size)
        return [store.error_row(eid)]
    for meta, records in o.prints:
        done = store.done_steps(meta.sha256, meta.index, inputs)
        if done is not None and steps <= done:  # (with no step requested a new print is still recorded)
            pid = store.print_id(meta.sha256, meta.index)
            row = store.print_row(pid, store.analysis_id(pid, inputs))
            row.update(status="skipped", path=o.path)
        else:
            # as the local engine, which runs only the missing steps: stored successes stay untouched
            missing = [r for r in records if r.step not in (done or ())]
            row = store.print_row(*store.record_print_analysis(meta, missing, size=o.size,  # type: ignore[arg-type]
                                                               inputs=inputs))
        rows.append(row)
    store.mark_file_complete(o.sha256, len(o.prints), size=o.size, fmt=o.prints[0][0].format)
    return rows


def _read_for_transport(path: str, done: set[str]) -> tuple[bytes | None, FileOutcome | None]:
    """Transport ``bytes``: the driver hashes and reads; a bad or finished file never travels."""
    item = load_file(path, _DoneSet(done), frozenset(), _raw_reader)  # type: ignore[arg-type]
    if item.error is not None:
        return None, FileOutcome(path=path, sha256=item.sha256, size=item.size, error_type=type(item.error).__name__,
                                 error_message=item.error.user_message)
    if item.skipped:
        return None, FileOutcome(path=path, sha256=item.sha256, size=item.size, skipped=True, worker="driver")
    return item.prints[0], None  # type: ignore[index,return-value]


def run_batch_ray(
    source: str | Path | Sequence[str | Path],
    store: CaseStore,
    setup: Callable[[], Analyzers],
    progress: Progress = null_progress,
    cancel: CancelToken = NEVER_CANCELLED,
    partial: Partial | None = None,
    *,
    steps: Iterable[str] | None = None,
    extensions: str | Iterable[str] | None = None,
    recursive: bool = True,
    reader: Reader | None = None,
    address: str | None = None,
    workers: int | None = None,
    transport: str = "auto",
    files_per_task: int = 8,
    in_flight_per_worker: int = 2,
    shutdown: bool | None = None,
    inputs: AnalysisInputs | None = None,
) -> BatchSummary:
    """:func:`fpstation.core.batch.run_batch` with the analysis spread over Ray workers.

    Parameters
    ----------
    source, store, progress, cancel, partial, extensions, recursive : as for ``run_batch``.
    setup : picklable, zero-argument, returns the :class:`Analyzers` — called once on each worker.
    steps : the steps ``setup`` builds (for resume); default: ``setup.requested`` (else
        ``setup.steps``) or build locally.
    reader : file path → prints on the worker (transport ``path`` only); default ``core.imageio``.
    address : a Ray cluster to join (``auto``, ``ray://host:10001``); ``None`` starts a local Ray.
    workers : number of worker actors (default: every CPU of the cluster).
    transport : ``"auto"``, ``"path"`` or ``"bytes"`` (see the module docstring).
    files_per_task, in_flight_per_worker : task granularity and queue depth per worker.
    shutdown : stop Ray at the end (default: only when this call started it).
    inputs : as for ``run_batch`` (its stated dpi is applied on the workers, whatever the transport).

    Returns
    -------
    BatchSummary
        ``extra`` holds the Ray start-up seconds, workers, transport and worker ids.

    Raises
    ------
    ClusterError
        Ray missing, cluster unreachable, a worker refused the models or cannot see the files.
    FileAccessError
        The folder cannot be listed.
    Cancelled
        ``cancel`` was set; every outcome received before is in the store.
    """
    if transport not in TRANSPORTS:
        raise ClusterError(f"Unknown transport “{transport}”: use one of {', '.join(TRANSPORTS)}.")
    if reader is not None and transport == "bytes":
        raise ClusterError("A custom reader needs the files' paths: use transport “path”.")
    t0 = time.perf_counter()
    files = list_images(source, extensions, recursive)
    total = len(files)
    if steps is None:  # what the setup will build, without building it here on the driver
        steps = getattr(setup, "requested", getattr(setup, "steps", None))
    want = frozenset(steps) if steps is not None else requested_steps(setup())
    emit = partial or (lambda _item: None)
    summary = BatchSummary(files=total)
    progress(0.0, f"0/{total} files · starting Ray")
    if total == 0:
        progress(1.0, "no image files found")
        summary.seconds = time.perf_counter() - t0
        return summary
    cancel.raise_if_cancelled()

    ray = import_ray()
    started = start_ray(address, workers)
    stop_ray = started.started_here if shutdown is None else shutdown
    actors: list[Any] = []
    try:
        n_workers = max(1, int(workers or started.cpus or 1))
        if started.cpus and n_workers > started.cpus:
            raise ClusterError(f"The Ray cluster has {started.cpus:g} CPUs: {n_workers} workers (one CPU each) "
                               "cannot all start. Ask for fewer workers or add nodes.")
        done = store.done_files(want, inputs)
        frozen = frozenset(done)
        Actor = ray.remote(num_cpus=1, max_restarts=-1, max_task_retries=-1)(BatchWorker)
        dpi = inputs.stated_dpi if inputs is not None else None
        actors = [Actor.remote(setup, frozen, reader, dpi) for _ in range(n_workers)]
        probe, probe_size = files[0], -1
        try:
            probe_size = os.path.getsize(probe)
        except OSError:
            probe = ""
        progress(0.0, f"0/{total} files · starting {n_workers} Ray workers (loading and verifying models)")
        pending = [a.ready.remote(probe, probe_size) for a in actors]
        order = list(pending)
        while pending:  # each worker builds its analysers first; stay cancellable meanwhile
            cancel.raise_if_cancelled()
            _, pending = ray.wait(pending, num_returns=len(pending), timeout=0.5)
        infos = ray.get(order)
        bad = [i for i in infos if i["error"]]
        if bad:
            raise ClusterError(f"Worker {bad[0]['worker']} cannot analyse: {bad[0]['error']}")
        mode = transport
        if mode == "auto":
            mode = "path" if probe and all(i["sees_probe"] for i in infos) else "bytes"
        elif mode == "path" and probe and not all(i["sees_probe"] for i in infos):
            blind = next(i["worker"] for i in infos if not i["sees_probe"])
            raise ClusterError(f"Worker {blind} cannot see “{probe}”: the folder must be on storage every "
                               "node mounts at the same path, or use transport “bytes”.")
        summary.extra.update(engine="ray", ray_address=started.address, ray_start_s=round(started.seconds, 3),
                             workers=n_workers, transport=mode, worker_ids=[i["worker"] for i in infos],
                             models=infos[0]["models"], setup_s=round(time.perf_counter() - t0, 3))
        _drive(files, store, actors, ray, mode, done, want, summary, emit, progress, cancel, t0,
               max(1, files_per_task), max(1, in_flight_per_worker), inputs)
    except BaseException:
        summary.cancelled = True
        raise
    finally:
        for a in actors:
            try:
                ray.kill(a)
            except Exception:  # noqa: BLE001, S110 - the actor may already be gone
                pass
        if stop_ray:
            ray.shutdown()
        summary.seconds = time.perf_counter() - t0
    return summary


def _drive(files: list[str], store: CaseStore, actors: list[Any], ray: Any, mode: str, done: set[str],
           steps: frozenset[str], summary: BatchSummary, emit: Partial, progress: Progress,
           cancel: CancelToken, t0: float, per_task: int, depth: int,
           inputs: AnalysisInputs | None = None) -> None:
    """Keep every worker ``depth`` tasks busy and write results as they arrive, in file order.

    Writing in the folder's order (a few chunks of outcomes may wait for an earlier one) gives the
    case exactly the local engine's content — the same print ids, and the same "first seen" path
    for a content found under two names. The window of chunks not yet written is bounded, so a
    restarting worker pauses the queue instead of growing the driver's memory.
    """
    total = len(files)
    finished = 0
    last_report = -1e9
    t_first: float | None = None

    def handle(outcomes: list[FileOutcome]) -> None:
        nonlocal finished, last_report, t_first
        for o in outcomes:
            tw = time.perf_counter()
            rows = _emit_rows(o, store, steps, inputs)
            summary.extra["driver_write_s"] = summary.extra.get("driver_write_s", 0.0) + time.perf_counter() - tw
            finished += 1
            if t_first is None and not o.skipped:
                t_first = time.perf_counter()
            now = time.perf_counter()
            rate_files = (finished / (now - t_first)) if t_first and now > t_first else 0.0
            eta = (total - finished) / rate_files if rate_files > 0 else None
            for row in rows:
                summary.count(row)
                emit(BatchItem(row, done=finished, total=total, eta_s=eta))
            if now - last_report >= PROGRESS_EVERY_S or finished == total:
                last_report = now
                rate = summary.prints_analysed / (now - t0) if now > t0 else 0.0
                progress(finished / total, f"{finished}/{total} files · {rate:.1f} prints/s · ETA {_fmt_eta(eta)}"
                                           f" · {len(actors)} Ray workers")

    def prepare(path: str) -> tuple[tuple[str, bytes | None] | None, FileOutcome | None]:
        if mode != "bytes":
            return (path, None), None
        data, out = _read_for_transport(path, done)
        return ((path, data), None) if out is None else (None, out)

    drive_in_order(files, actors, ray, cancel, per_task=per_task, depth=depth, prepare=prepare,
                   handle=lambda o: handle([o]))


def drive_in_order(files: list[str], actors: list[Any], ray: Any, cancel: CancelToken, *, per_task: int,
                   depth: int, prepare: Callable[[str], tuple[Any, Any]], handle: Callable[[Any], None]) -> None:
    """Keep every Ray actor ``depth`` tasks of ``per_task`` files busy and hand the outcomes to
    ``handle`` one by one, in file order (the batch engine and the enrolment both write the case from
    the driver alone, in the folder's order). ``prepare(path)`` gives ``(item for the worker, None)``
    or ``(None, an outcome made on the driver)``, e.g. a file that could not be read for the bytes
    transport. The window of chunks not yet handled is bounded, so a restarting worker pauses the
    queue instead of growing the driver's memory. Each actor has ``run(items) -> outcomes``."""
    queue = deque(range(len(files)))
    inflight: dict[Any, tuple[int, int]] = {}  # ObjectRef -> (actor index, chunk number)
    chunks: dict[int, list[Any]] = {}  # chunk number -> outcomes (None = still at a worker)
    load = [0] * len(actors)
    window = 4 * depth * len(actors)
    created = written = 0

    def flush() -> None:
        nonlocal written
        while written in chunks and all(o is not None for o in chunks[written]):
            for o in chunks.pop(written):
                handle(o)
            written += 1

    def submit(k: int) -> None:
        nonlocal created
        items: list[Any] = []
        entries: list[Any] = []
        while queue and len(items) < per_task:
            item, out = prepare(files[queue.popleft()])
            if out is not None:
                entries.append(out)
                continue
            items.append(item)
            entries.append(None)
        chunks[created] = entries
        if items:
            inflight[actors[k].run.remote(items)] = (k, created)
            load[k] += 1
        created += 1

    while queue or inflight:
        cancel.raise_if_cancelled()
        for k in range(len(actors)):
            while queue and load[k] < depth and created - written < window:
                submit(k)
        flush()
        if not inflight:
            continue
        ready, _ = ray.wait(list(inflight), num_returns=1, timeout=0.5)
        for ref in ready:
            k, seq = inflight.pop(ref)
            load[k] -= 1
            try:
                outcomes = iter(ray.get(ref))
            except Exception as exc:  # noqa: BLE001 - a task that failed after every retry
                raise ClusterError(f"A Ray task failed after its retries: {exc}", detail=repr(exc)) from exc
            chunks[seq] = [o if o is not None else next(outcomes) for o in chunks[seq]]
        flush()
    flush()


class FakeSetup:
    """Worker set-up with :func:`fpstation.core.batch.fake_analyzers` (tests and machinery benchmarks;
    the CLI uses it only when ``FPSTATION_TEST_ANALYZERS=fake[:delay]`` is set)."""

    steps = frozenset({"pad", "gender"})

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay

    def __call__(self) -> Analyzers:
        from fpstation.core.batch import fake_analyzers

        return fake_analyzers(self.delay)


def setup_from_env() -> FakeSetup | None:
    """:class:`FakeSetup` when ``FPSTATION_TEST_ANALYZERS=fake[:delay]`` is set, else ``None``."""
    from fpstation.core.batch import TEST_ANALYZERS_ENV

    spec = os.environ.get(TEST_ANALYZERS_ENV, "")
    if not spec.startswith("fake"):
        return None
    _, _, delay = spec.partition(":")
    return FakeSetup(float(delay) if delay else 0.0)
