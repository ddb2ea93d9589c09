"""Batch analysis of a folder (or a list of files) into a case store. Shared by the CLI and the GUI.

``run_batch`` is a plain job (``progress`` / ``cancel`` / ``partial``): for every file it

1. hashes the bytes and skips the file when the case already holds all its prints with every
   requested step (prints are identified by SHA-256 + index inside the file, not by path);
2. decodes it through :mod:`fpstation.core.imageio` — on a prefetch thread, so decoding the next
   file overlaps with inference on the current one; a file that cannot be read (or that disappeared
   since the folder was listed) becomes an *error row*, and the batch goes on;
3. runs :func:`fpstation.core.pipeline.analyse` with only the steps still missing for that print;
4. writes the print and its results to the store in one transaction **before** moving on, so a
   killed process loses at most the print in flight, and a re-run resumes where it stopped;
5. emits a :class:`BatchItem` (a flat row, the same one the CSV export writes) through ``partial``.

Nothing of a print's pixels outlives its iteration: memory stays flat however long the batch is.
"""

from __future__ import annotations

import hashlib
import os
import stat
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fpstation.core.errors import FileAccessError, FpError, ImageReadError
from fpstation.core.jobs import NEVER_CANCELLED, CancelToken, Progress, null_progress
from fpstation.core.pipeline import Analyzers, analyse, analysis_steps
from fpstation.core.store import AnalysisInputs, CaseStore, step_records
from fpstation.core.types import AnalysisResult, FingerprintImage, GenderResult, ModelRef, PadResult

Reader = Callable[[str], list[FingerprintImage]]
PROGRESS_EVERY_S = 0.1
Partial = Callable[[Any], None]


# -- files ------------------------------------------------------------------------------------------
def normalise_extensions(extensions: str | Iterable[str] | None) -> frozenset[str] | None:
    """``".bmp,png"`` or ``["BMP", ".png"]`` → ``{".bmp", ".png"}``; ``None``/empty → ``None`` (all)."""
    if extensions is None:
        return None
    items = extensions.split(",") if isinstance(extensions, str) else list(extensions)
    out = {("." + e.strip().lower().lstrip(".")) for e in items if e and e.strip().strip(".")}
    return frozenset(out) or None


def default_extensions() -> frozenset[str]:
    """The image extensions fpstation can read (from core/imageio)."""
    from fpstation.core.imageio import SUPPORTED_EXTENSIONS

    return frozenset(e.lower() for e in SUPPORTED_EXTENSIONS)


def list_images(source: str | Path | Sequence[str | Path], extensions: str | Iterable[str] | None = None,
                recursive: bool = True) -> list[str]:
    """The files a batch will process, in a stable order (sorted path by path, folders depth-first).

    Parameters
    ----------
    source : a folder, or an explicit list of files (kept as given, in that order).
    extensions : case-insensitive extension filter; ``None`` = every format fpstation reads.
    recursive : descend into sub-folders.

    Raises
    ------
    FileAccessError
        ``source`` is a folder that does not exist or cannot be listed.
    """
    if not isinstance(source, str | Path):
        return [str(p) for p in source]
    from fpstation.core.imageio import iter_image_files

    exts = normalise_extensions(extensions) or default_extensions()
    return [str(p) for p in iter_image_files(source, recursive=recursive, extensions=exts)]


def sha256_file(path: str | Path) -> tuple[str, int]:
    """(hex SHA-256, size in bytes) of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


def default_reader(path: str) -> list[FingerprintImage]:
    from fpstation.core.imageio import read_prints

    return read_prints(path)


def stated_dpi_reader(dpi: float | None, reader: Reader | None = None) -> Reader:
    """A reader whose prints carry the user's stated ``dpi`` (``None`` = the files' own dpi)."""
    base = reader or default_reader
    if dpi is None:
        return base

    def read(path: str) -> list[FingerprintImage]:
        return [im.with_stated_dpi(dpi) for im in base(path)]

    return read


# -- rows -------------------------------------------------------------------------------------------
@dataclass
class BatchItem:
    """One row of a running batch, sent through ``partial``.

    ``row`` is the flat row (see :data:`fpstation.core.store.ROW_COLUMNS`); ``image``/``result`` are
    filled only by jobs that ask for them (the scanner desk shows the newest print), never by a batch,
    so the GUI's signal queue cannot pile up pixels.
    """

    row: dict[str, Any]
    done: int = 0  # files finished so far
    total: int = 0  # files in the batch (0 = open-ended, e.g. a watch)
    eta_s: float | None = None
    image: FingerprintImage | None = None
    result: AnalysisResult | None = None


@dataclass
class BatchSummary:
    files: int = 0
    prints_analysed: int = 0
    prints_skipped: int = 0
    bad_files: int = 0
    step_errors: int = 0
    seconds: float = 0.0
    cancelled: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def prints_per_s(self) -> float:
        return self.prints_analysed / self.seconds if self.seconds > 0 else 0.0

    def count(self, row: dict[str, Any]) -> None:
        """Tally one emitted row by its status (shared by the folder batch and the scanner watch)."""
        st = row.get("status")
        if st == "skipped":
            self.prints_skipped += 1
        elif st == "bad file":
            self.bad_files += 1
        else:
            self.prints_analysed += 1
            if row.get("error"):
                self.step_errors += 1


def requested_steps(analyzers: Analyzers) -> frozenset[str]:
    return frozenset(n for n, _ in analysis_steps(analyzers))


def _missing(analyzers: Analyzers, done: set[str]) -> Analyzers:
    """The steps of ``analyzers`` a print does not hold yet (``done``: the steps it holds)."""
    return analyzers.without(done)


@dataclass
class Loaded:
    """A file after the prefetch step: hashed, and decoded unless already done or unreadable."""

    path: str
    sha256: str = ""
    size: int | None = None
    prints: list[FingerprintImage] | None = None
    error: FpError | None = None
    skipped: bool = False
    #: what its analysis is asked to use (set by load_file; process_loaded stores under it)
    inputs: AnalysisInputs | None = None


def _as_fp_error(exc: BaseException, path: str) -> FpError:
    if isinstance(exc, FpError):
        return exc
    if isinstance(exc, FileNotFoundError):
        return FileAccessError("The file disappeared before it could be read.", path=path)
    if isinstance(exc, PermissionError):
        return FileAccessError("Permission denied: the file cannot be read.", path=path)
    if isinstance(exc, IsADirectoryError):
        return FileAccessError("This is a folder, not a file.", path=path)
    if isinstance(exc, OSError):
        return FileAccessError(f"The file cannot be read: {exc.strerror or exc}.", path=path)
    if isinstance(exc, MemoryError):
        return ImageReadError("The image is too large to decode in memory.", path=path)
    # a decoder bug on a hostile file must not stop the batch; keep the type for the report
    return ImageReadError(f"The file could not be decoded ({type(exc).__name__}: {exc}).", path=path)


def load_file(path: str, store: CaseStore | None, steps: frozenset[str], reader: Reader,
              inputs: AnalysisInputs | None = None, *, decode_skipped: bool = False) -> Loaded:
    """Hash ``path``, skip it when the store already has an analysis of it with these ``inputs``
    (stated dpi, restorer, settings), else decode it. ``decode_skipped``: decode a skipped file too
    (the scanner desk shows every print it asks about). Never raises (but Cancelled)."""
    item = Loaded(path=path, inputs=inputs)
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):  # a FIFO or device would block or never end
            raise FileAccessError("This is not a regular file (a pipe, device or folder).", path=path)
        item.sha256, item.size = sha256_file(path)
    except Exception as exc:  # noqa: BLE001 - becomes an error row
        item.error = _as_fp_error(exc, path)
        return item
    if store is not None and store.file_done(item.sha256, steps, inputs):
        item.skipped = True
        if not decode_skipped:
            return item
    try:
        item.prints = reader(path)
    except Exception as exc:  # noqa: BLE001 - becomes an error row
        item.error = _as_fp_error(exc, path)
    return item


def _error_type(exc: FpError) -> str:
    return type(exc).__name__


def process_loaded(item: Loaded, store: CaseStore, analyzers: Analyzers, *, cancel: CancelToken = NEVER_CANCELLED,
                   keep: bool = False, inputs: AnalysisInputs | None = None) -> Iterator[BatchItem]:
    """Analyse and store every print of one loaded file, yielding one :class:`BatchItem` per row.

    Each print is committed to the store before its item is yielded, in the analysis of these
    ``inputs`` (a new dated one when the case has none). Raises ``Cancelled`` between prints.
    """
    steps = requested_steps(analyzers)
    if inputs is None:
        inputs = item.inputs
    if item.error is not None:
        eid = store.record_file_error(item.path, _error_type(item.error), item.error.user_message,
                                      sha256=item.sha256, size=item.size)
        yield BatchItem(store.error_row(eid))
        return
    if item.skipped:
        shown = {im.index: im for im in (item.prints or [])} if keep else {}
        for pid in store.print_ids_of_file(item.sha256):
            row = store.print_row(pid, store.analysis_id(pid, inputs))
            row.update(status="skipped", path=item.path)
            yield BatchItem(row, image=shown.get(row["index"]))
        return
    prints = item.prints or []
    if not prints:  # a container with no print records: say so instead of silently dropping it
        eid = store.record_file_error(item.path, "NoPrintError", "The file holds no fingerprint image.",
                                      sha256=item.sha256, size=item.size)
        yield BatchItem(store.error_row(eid))
        return
    for k in range(len(prints)):
        cancel.raise_if_cancelled()
        image = prints[k]
        done = store.done_steps(image.sha256, image.index, inputs)
        # a print already stored with every requested step is skipped; with no step requested at all
        # (list, hash and measure a folder) a print not yet stored is still recorded below
        if done is not None and steps <= done:
            pid = store.print_id(image.sha256, image.index)
            row = store.print_row(pid, store.analysis_id(pid, inputs))
            row.update(status="skipped", path=item.path)
            yield BatchItem(row, image=image if keep else None)
            continue
        result = analyse(image, _missing(analyzers, done or set()), cancel=cancel)
        pid, aid = store.record_print_analysis(image, step_records(result), size=item.size, inputs=inputs)
        row = store.print_row(pid, aid)
        yield BatchItem(row, image=image if keep else None, result=result if keep else None)
        prints[k] = None  # type: ignore[call-overload]  # drop pixels as soon as they are stored
        del result, image
    store.mark_file_complete(item.sha256, len(prints), size=item.size, fmt=prints[0].format if prints[0] else "")


def _fmt_eta(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    s = int(round(seconds))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def run_batch(
    source: str | Path | Sequence[str | Path],
    store: CaseStore,
    analyzers: Analyzers,
    progress: Progress = null_progress,
    cancel: CancelToken = NEVER_CANCELLED,
    partial: Partial | None = None,
    *,
    extensions: str | Iterable[str] | None = None,
    recursive: bool = True,
    prefetch: int = 4,
    reader: Reader | None = None,
    inputs: AnalysisInputs | None = None,
) -> BatchSummary:
    """Analyse every image under ``source`` into ``store``; see the module docstring.

    Parameters
    ----------
    source : folder, or explicit list of files.
    store : the case; prints it already holds with every requested step are skipped (by hash).
    analyzers : the steps to run (``fpstation.ml.inference.default_analyzers(settings)``).
    progress, cancel : job protocol; progress messages carry "i/N · prints/s · ETA".
    partial : receives one :class:`BatchItem` per row (print, skipped print or bad file).
    extensions, recursive : folder filter, see :func:`list_images`.
    prefetch : how many files are decoded ahead on a separate thread (0 = decode inline).
    reader : file → prints (default ``core.imageio.read_prints``); injectable for tests.
    inputs : what the analysis is asked to use (stated dpi, restorer, settings; ``store.analysis_inputs``):
        prints are skipped only when the case holds an analysis of them with the same inputs.

    Returns
    -------
    BatchSummary

    Raises
    ------
    FileAccessError
        The folder cannot be listed (the run cannot proceed). Bad *files* never raise.
    Cancelled
        ``cancel`` was set; everything finished before that point is in the store.
    """
    t0 = time.perf_counter()
    files = list_images(source, extensions, recursive)
    read = reader or stated_dpi_reader(inputs.stated_dpi if inputs is not None else None)
    steps = requested_steps(analyzers)
    emit = partial or (lambda _item: None)
    summary = BatchSummary(files=len(files))
    total = len(files)
    progress(0.0, f"0/{total} files")

    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fp-prefetch") if prefetch > 0 else None
    pending: deque[Future[Loaded]] = deque()
    queue = iter(files)

    def top_up() -> None:
        while pool is not None and len(pending) < prefetch:
            nxt = next(queue, None)
            if nxt is None:
                return
            pending.append(pool.submit(load_file, nxt, store, steps, read, inputs))

    last_report = -1e9
    analysed_t = 0.0  # time spent on files that were actually analysed (for the ETA)
    analysed_n = 0
    try:
        for i in range(total):
            cancel.raise_if_cancelled()
            t_file = time.perf_counter()
            if pool is not None:
                top_up()
                item = pending.popleft().result()
            else:
                item = load_file(files[i], store, steps, read, inputs)
            for out in process_loaded(item, store, analyzers, cancel=cancel, inputs=inputs):
                summary.count(out.row)
                out.done, out.total = i + 1, total
                out.eta_s = (analysed_t / analysed_n) * (total - i - 1) if analysed_n else None
                emit(out)
            if not item.skipped:
                analysed_t += time.perf_counter() - t_file
                analysed_n += 1
            del item
            now = time.perf_counter()
            # at most ~10 progress reports a second: a GUI repaints its bar on each one
            if now - last_report >= PROGRESS_EVERY_S or i + 1 == total:
                last_report = now
                rate = summary.prints_analysed / (now - t0) if now > t0 else 0.0
                eta = (analysed_t / analysed_n) * (total - i - 1) if analysed_n else None
                progress((i + 1) / total, f"{i + 1}/{total} files · {rate:.1f} prints/s · ETA {_fmt_eta(eta)}")
    except BaseException:
        summary.cancelled = True
        raise
    finally:
        if pool is not None:
            for f in pending:
                f.cancel()
            pool.shutdown(wait=True, cancel_futures=True)
        summary.seconds = time.perf_counter() - t0
    if total == 0:
        progress(1.0, "no image files found")
    return summary


# -- deterministic analysers for tests and machinery benchmarks --------------------------------------
TEST_ANALYZERS_ENV = "FPSTATION_TEST_ANALYZERS"


def fake_analyzers(delay: float = 0.0) -> Analyzers:
    """Model-free analysers for *testing the batch machinery* (store, resume, GUI table), not prints.

    The "PAD score" is the mean ink darkness and the "gender" score its complement: deterministic
    functions of the pixels, clearly named ``test-fake``, never used unless a caller asks for them
    (the CLI only when ``FPSTATION_TEST_ANALYZERS=fake[:delay_seconds]`` is set).
    """
    ref = ModelRef("test-fake", "0", "")

    def pad(im: FingerprintImage) -> PadResult:
        if delay:
            time.sleep(delay)
        score = float(1.0 - im.pixels.mean() / 255.0)
        return PadResult(score, 0.5, "ATTACK" if score >= 0.5 else "LIVE", ref)

    def gender(im: FingerprintImage) -> GenderResult:
        p = float(im.pixels.mean() / 255.0)
        return GenderResult(p, "female" if p >= 0.5 else "male", ref)

    return Analyzers(pad=pad, gender=gender)


def analyzers_from_env() -> Analyzers | None:
    """``fake_analyzers`` when ``FPSTATION_TEST_ANALYZERS=fake[:delay]`` is set, else ``None``."""
    spec = os.environ.get(TEST_ANALYZERS_ENV, "")
    if not spec.startswith("fake"):
        return None
    _, _, delay = spec.partition(":")
    return fake_analyzers(float(delay) if delay else 0.0)
