"""Load TensorFlow's big native libraries without freezing the GUI thread.

``import tensorflow`` first ``dlopen``s ``libtensorflow_cc.so.2`` (~750 MB; relocations and C++
static initialisers). CPython does that inside the extension-module import *while holding the
GIL*, so when the import happens on a worker thread the GUI thread cannot run for about half a
second. Calling ``dlopen`` on those libraries first as a ctypes *foreign call* releases the GIL for
its duration; the later import then finds them loaded and only bumps their reference counts.
bench/gui_stall.py (bench/results/gui_stall.json): worst GUI stall on the first print 495-638 ms
without, 248-352 ms with this preload. The rest is the import's own C-level work under the GIL
(e.g. unmarshalling the huge generated ``gen_*_ops`` modules), which cannot be moved off it.

Linux only (elsewhere it does nothing); never raises: a failure just means the import will stall.
"""

from __future__ import annotations

import ctypes
import importlib.util
import logging
import os
import sys
import threading
from pathlib import Path

log = logging.getLogger(__name__)

#: loaded in this order (the second one needs the first)
TF_LIBRARIES = ("libtensorflow_framework.so.2", "libtensorflow_cc.so.2")

_lock = threading.Lock()
_done = False
_handles: list[int] = []  # kept for the life of the process (never dlclose'd)


def preload_tensorflow_libraries() -> list[str]:
    """``dlopen`` TensorFlow's native libraries with the GIL released (once per process).

    Call it on a worker thread just before the first ``import tensorflow``. Returns the names
    of the libraries loaded by this call (empty when there was nothing to do).
    """
    global _done
    with _lock:
        if _done or "tensorflow" in sys.modules or not sys.platform.startswith("linux"):
            _done = True
            return []
        _done = True
        try:
            spec = importlib.util.find_spec("tensorflow")  # locates the package without importing it
        except (ImportError, ValueError):
            return []
        if spec is None or not spec.submodule_search_locations:
            return []
        folder = Path(next(iter(spec.submodule_search_locations)))
        try:
            libc = ctypes.CDLL(None)
            dlopen = libc.dlopen
            dlopen.restype = ctypes.c_void_p
            dlopen.argtypes = [ctypes.c_char_p, ctypes.c_int]
        except (OSError, AttributeError) as exc:
            log.debug("no dlopen via ctypes: %s", exc)
            return []
        loaded = []
        from fpstation.ml.quiet import quiet_native_stderr

        with quiet_native_stderr():  # the libraries' static initialisers print start-up chatter
            _dlopen_all(folder, dlopen, loaded)
        return loaded


def _dlopen_all(folder: Path, dlopen, loaded: list[str]) -> None:
    """dlopen each library (GIL released by ctypes); stops at the first that fails."""
    for name in TF_LIBRARIES:
        # In the PyInstaller bundle the libraries may sit next to the package, not inside it.
        path = next((p for p in (folder / name, folder.parent / name) if p.is_file()), None)
        if path is None:
            continue
        # A ctypes foreign call releases the GIL. RTLD_LOCAL like CPython's own extension
        # loading (RTLD_GLOBAL made TensorFlow's import crash in a test).
        handle = dlopen(os.fsencode(path), os.RTLD_NOW | os.RTLD_LOCAL)
        if not handle:
            log.debug("dlopen %s failed; the import will load it", path)
            break
        _handles.append(handle)
        loaded.append(name)
