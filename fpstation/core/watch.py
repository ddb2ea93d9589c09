"""Scanner-folder watch: process each new file once it is completely written (no Qt; a polling job).

A scanner (or a copy over the network) writes a file in several steps, so a file is taken only when

1. its size and modification time did not change between two polls (``stable_polls``), and
2. it decodes.

A stable file that does not decode is retried at every poll; only when it has stayed unchanged *and*
undecodable for ``undecodable_after`` seconds does it become an error row — so a slow writer that
pauses never produces a spurious error, while a truly broken file is still reported. Ready files are
processed in arrival order (modification time, then name). A file replaced later by new content
(new size/mtime) is taken again; identical content is still recognised by hash in the case store.

Polling (rather than inotify & co.) is deliberate: it works the same on network shares, on every OS
and in a frozen bundle, and a scanner drops at most a few files a second.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from fpstation.core.batch import (
    BatchSummary,
    Loaded,
    Partial,
    Reader,
    default_reader,
    list_images,
    load_file,
    process_loaded,
    requested_steps,
    stated_dpi_reader,
)
from fpstation.core.errors import FileAccessError
from fpstation.core.jobs import NEVER_CANCELLED, CancelToken, Progress, null_progress
from fpstation.core.pipeline import Analyzers
from fpstation.core.store import AnalysisInputs, CaseStore

log = logging.getLogger(__name__)


@dataclass
class _Seen:
    size: int
    mtime_ns: int
    changed_at: float  # clock() when size/mtime last changed (or first seen)
    stable: int = 0  # consecutive polls with the same size/mtime


class FolderWatcher:
    """Polls a folder and returns the files that became complete since the last poll.

    Parameters
    ----------
    folder : the scanner's output folder.
    extensions, recursive : as for :func:`fpstation.core.batch.list_images`.
    stable_polls : polls a file's size/mtime must stay unchanged before it is decoded.
    undecodable_after : seconds a stable file may stay undecodable before it becomes an error.
    store, steps : when given, files whose prints are all in the store are returned as skipped.
    reader : file → prints (default ``core.imageio.read_prints``).
    inputs : what each file's analysis is asked to use, or a function returning it that is asked at
        every file (the desk's stated dpi then takes effect from the next print); its stated dpi is
        applied to the prints read.
    decode_skipped : decode files the store already has too (the desk shows every print).
    clock : monotonic clock (injectable for tests).
    """

    def __init__(self, folder: str | Path, *, extensions: str | Iterable[str] | None = None,
                 recursive: bool = False, stable_polls: int = 1, undecodable_after: float = 10.0,
                 store: CaseStore | None = None, steps: frozenset[str] = frozenset(),
                 reader: Reader | None = None, clock: Callable[[], float] = time.monotonic,
                 inputs: AnalysisInputs | Callable[[], AnalysisInputs] | None = None,
                 decode_skipped: bool = False) -> None:
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise FileAccessError(f"The folder “{self.folder}” does not exist or is not a folder.",
                                  path=str(self.folder))
        self.extensions, self.recursive = extensions, recursive
        self.stable_polls, self.undecodable_after = max(1, stable_polls), undecodable_after
        self.store, self.steps = store, steps
        self.reader = reader or default_reader
        self.inputs = inputs
        self.decode_skipped = decode_skipped
        self.clock = clock
        self._seen: dict[str, _Seen] = {}
        self._done: dict[str, tuple[int, int]] = {}  # path -> (size, mtime_ns) already handed out

    def poll(self) -> list[Loaded]:
        """One scan of the folder; returns newly complete files (decoded, or errors) in arrival order."""
        now = self.clock()
        try:
            paths = list_images(self.folder, self.extensions, self.recursive)
        except FileAccessError:
            log.warning("watched folder %s is not reachable right now", self.folder)
            return []
        ready: list[tuple[int, str, Loaded]] = []
        present = set(paths)
        for gone in [p for p in self._seen if p not in present]:
            del self._seen[gone]  # moved away before it was complete: nothing to report
        for path in paths:
            try:
                st = os.stat(path)
            except OSError:
                continue  # vanished between listing and stat
            sig = (st.st_size, st.st_mtime_ns)
            if self._done.get(path) == sig:
                continue
            seen = self._seen.get(path)
            if seen is None or (seen.size, seen.mtime_ns) != sig:
                self._seen[path] = _Seen(sig[0], sig[1], now)
                continue
            seen.stable += 1
            if seen.stable < self.stable_polls:
                continue
            inp = self.inputs() if callable(self.inputs) else self.inputs
            read = stated_dpi_reader(inp.stated_dpi, self.reader) if inp is not None else self.reader
            item = load_file(path, self.store, self.steps, read, inp, decode_skipped=self.decode_skipped)
            if item.error is not None:
                if isinstance(item.error, FileAccessError) and not os.path.exists(path):
                    self._seen.pop(path, None)
                    continue
                if now - seen.changed_at < self.undecodable_after:
                    continue  # may still be being written (writer paused): try again next poll
            ready.append((sig[1], os.path.basename(path), item))
            self._done[path] = sig
            self._seen.pop(path, None)
        ready.sort(key=lambda t: (t[0], t[1]))
        return [t[2] for t in ready]

    @property
    def waiting(self) -> int:
        """Files seen but not complete yet."""
        return len(self._seen)


def _sleep(seconds: float, cancel: CancelToken) -> None:
    end = time.monotonic() + seconds
    while True:
        cancel.raise_if_cancelled()
        left = end - time.monotonic()
        if left <= 0:
            return
        time.sleep(min(left, 0.05))


def watch_folder(
    folder: str | Path,
    store: CaseStore,
    analyzers: Analyzers,
    progress: Progress = null_progress,
    cancel: CancelToken = NEVER_CANCELLED,
    partial: Partial | None = None,
    *,
    poll_interval: float = 1.0,
    stable_polls: int = 1,
    undecodable_after: float = 10.0,
    extensions: str | Iterable[str] | None = None,
    recursive: bool = False,
    reader: Reader | None = None,
    keep_images: bool = True,
    max_polls: int | None = None,
    inputs: AnalysisInputs | Callable[[], AnalysisInputs] | None = None,
) -> BatchSummary:
    """Watch ``folder`` until cancelled: analyse each complete new file into ``store``.

    ``partial`` receives a :class:`~fpstation.core.batch.BatchItem` per print (with its image and
    analysis when ``keep_images``, so the desk view can show the newest one) or bad file.
    Stops only by raising ``Cancelled`` (or after ``max_polls`` polls, for tests and scripts).
    """
    watcher = FolderWatcher(folder, extensions=extensions, recursive=recursive, stable_polls=stable_polls,
                            undecodable_after=undecodable_after, store=store,
                            steps=requested_steps(analyzers), reader=reader, inputs=inputs,
                            decode_skipped=keep_images)
    emit = partial or (lambda _item: None)
    summary = BatchSummary()
    t0 = time.perf_counter()
    polls = 0
    progress(0.0, f"watching {watcher.folder}")
    while max_polls is None or polls < max_polls:
        cancel.raise_if_cancelled()
        for item in watcher.poll():
            summary.files += 1
            for out in process_loaded(item, store, analyzers, cancel=cancel, keep=keep_images):
                summary.count(out.row)
                out.done = summary.files
                emit(out)
        polls += 1
        waiting = f", {watcher.waiting} being written" if watcher.waiting else ""
        progress(0.0, f"watching {watcher.folder.name}: {summary.prints_analysed} analysed{waiting}")
        if max_polls is None or polls < max_polls:
            _sleep(poll_interval, cancel)
    summary.seconds = time.perf_counter() - t0
    return summary


def watch_files(
    folder: str | Path,
    progress: Progress = null_progress,
    cancel: CancelToken = NEVER_CANCELLED,
    partial: Partial | None = None,
    *,
    store: CaseStore | None = None,
    steps: frozenset[str] = frozenset({"restoration", "pad", "gender"}),
    poll_interval: float = 1.0,
    stable_polls: int = 1,
    undecodable_after: float = 10.0,
    extensions: str | Iterable[str] | None = None,
    recursive: bool = False,
    reader: Reader | None = None,
    max_polls: int | None = None,
    inputs: AnalysisInputs | Callable[[], AnalysisInputs] | None = None,
    decode_skipped: bool = False,
) -> int:
    """Poll ``folder`` until cancelled and hand each newly complete file to ``partial`` as a
    :class:`~fpstation.core.batch.Loaded` (decoded prints, an error, or ``skipped`` when the store
    already has it). Analysis is left to the caller — the GUI runs it on its inference pool with
    :func:`analyse_loaded`, so a watch never blocks the single-print view. Returns the files handed out
    (only when ``max_polls`` ends it; otherwise it stops by raising ``Cancelled``).
    """
    watcher = FolderWatcher(folder, extensions=extensions, recursive=recursive, stable_polls=stable_polls,
                            undecodable_after=undecodable_after, store=store, steps=steps, reader=reader,
                            inputs=inputs, decode_skipped=decode_skipped)
    emit = partial or (lambda _item: None)
    n = polls = 0
    progress(0.0, f"watching {watcher.folder}")
    while max_polls is None or polls < max_polls:
        cancel.raise_if_cancelled()
        for item in watcher.poll():
            n += 1
            emit(item)
        polls += 1
        waiting = f" · {watcher.waiting} being written" if watcher.waiting else ""
        progress(0.0, f"{n} new file{'s' if n != 1 else ''}{waiting}")
        if max_polls is None or polls < max_polls:
            _sleep(poll_interval, cancel)
    return n


def analyse_loaded(item: Loaded, store: CaseStore, analyzers: Analyzers | Callable[[], Analyzers],
                   progress: Progress = null_progress, cancel: CancelToken = NEVER_CANCELLED,
                   keep_images: bool = True) -> list:
    """Analyse and store one file handed out by :func:`watch_files`; returns its BatchItems.

    ``analyzers`` may be a factory, so callers on the GUI thread never import the ML stack.
    """
    a = analyzers() if callable(analyzers) and not isinstance(analyzers, Analyzers) else analyzers
    progress(0.0, os.path.basename(item.path))
    out = list(process_loaded(item, store, a, cancel=cancel, keep=keep_images))
    progress(1.0, os.path.basename(item.path))
    return out
