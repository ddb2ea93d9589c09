"""The main window's pool jobs: opening files and folders (``io`` pool) and analysing one print
(``inference`` pool).

They run on :class:`fpstation.workers.Pools` threads, never on the GUI thread: everything slow
(listing folders, hashing, decoding, thumbnails, the models) happens here, and the window only adds
the rows and pictures they send back. No Qt widget is touched here (a ``QImage`` thumbnail is safe
off the GUI thread).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from fpstation.core.types import AnalysisResult, FingerprintImage
from fpstation.gui.qimage import thumbnail
from fpstation.settings import Settings

#: a decoding job sends its rows in chunks of at most this many files, or after this long
LOAD_CHUNK_FILES, LOAD_CHUNK_S = 64, 0.05
#: paths per "files" message (rows shown as "loading…" before they are decoded)
LIST_CHUNK_FILES = 512


def load_files_job(paths: Sequence[str], *, progress: Callable[[float, str], None], cancel,
                   partial: Callable[[object], None], dpi: float | None = None) -> int:
    """Expand folders (recursively, following symlinked folders) and decode every file, in chunks.

    Partials: ``("files", [path, ...])`` per :data:`LIST_CHUNK_FILES` listed paths (resolved here,
    off the GUI thread), then ``("rows", [row, ...])`` every :data:`LOAD_CHUNK_FILES` files or
    :data:`LOAD_CHUNK_S` seconds, a row being ``("ok", path, prints, thumbnails)`` or
    ``("error", path, exception)``. Hashing, decoding and thumbnails all happen here; the GUI only
    adds rows. A bad file never stops the others. Returns the file count. ``dpi``: a resolution
    stated by the user for every print opened (``None`` = the files' own).
    """
    from fpstation.core import imageio
    from fpstation.core.jobs import throttled

    progress = throttled(progress, 0.1)
    _background_priority()
    files: list[str] = []
    names: dict[str, str] = {}  # resolved path -> path relative to the folder opened (symlinks too)
    for p in paths:
        cancel.raise_if_cancelled()
        if Path(p).is_dir():
            progress(0.0, f"scanning {Path(p).name}")
            for f in imageio.iter_image_files(p, recursive=True):
                cancel.raise_if_cancelled()
                files.append(str(f))
                try:
                    names[_resolved(str(f))] = Path(f).relative_to(p).as_posix()
                except ValueError:
                    pass
        else:
            files.append(str(p))
    files = [_resolved(f) for f in files]
    if names:
        partial(("names", names))
    for i in range(0, len(files), LIST_CHUNK_FILES):
        partial(("files", files[i:i + LIST_CHUNK_FILES]))
    if not files:
        partial(("files", []))
    rows: list[tuple] = []
    last = time.monotonic()
    for i, f in enumerate(files):
        cancel.raise_if_cancelled()
        try:
            prints = [im.with_stated_dpi(dpi) for im in imageio.read_prints(f)]
            thumbs = [thumbnail(im.pixels) for im in prints]  # QImage is safe off the GUI thread
            rows.append(("ok", f, prints, thumbs))
        except Exception as exc:  # noqa: BLE001 - reported per file in the GUI (logged there)
            rows.append(("error", f, exc))
        time.sleep(0)  # let the GUI thread take the GIL now rather than at the next 5 ms switch
        now = time.monotonic()
        if len(rows) >= LOAD_CHUNK_FILES or now - last >= LOAD_CHUNK_S:
            partial(("rows", rows))
            rows, last = [], now
        progress((i + 1) / max(len(files), 1), f"{i + 1}/{len(files)} · {Path(f).name}")
    if rows:
        partial(("rows", rows))
    return len(files)


def _background_priority(niceness: int = 5) -> None:
    """Lower this pool thread's CPU priority (Linux: per-thread nice) so that on a busy machine the
    GUI thread is scheduled first; the io pool only runs background work. Best effort, once."""
    import threading

    if not hasattr(os, "setpriority") or getattr(_background_priority, "done", set()) & {threading.get_native_id()}:
        return
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + niceness))
        _background_priority.done = getattr(_background_priority, "done", set()) | {tid}  # type: ignore[attr-defined]
    except OSError:
        pass


def _resolved(path: str) -> str:
    try:
        return str(Path(path).resolve())
    except OSError:
        return path


def analysis_job(image: FingerprintImage, settings: Settings, *, progress, cancel) -> AnalysisResult:
    """Restoration + PAD + gender for one print (ml is imported here, on the inference thread)."""
    from fpstation.core.pipeline import analyse
    from fpstation.ml import inference

    return analyse(image, inference.default_analyzers(settings), progress, cancel)


__all__ = ["LIST_CHUNK_FILES", "LOAD_CHUNK_FILES", "LOAD_CHUNK_S", "analysis_job", "load_files_job"]
