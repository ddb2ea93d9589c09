"""The dlib weight files shipped inside the ``face-recognition-models`` pip package.

The package's ``__init__`` imports ``pkg_resources`` (gone from recent setuptools), so its files
are located with :func:`importlib.util.find_spec` and never imported. Only the public-domain files
are used: the 5-point landmark predictor, the ResNet face embedding and (optionally) the MMOD
detector; the 68-point predictor is non-commercial and deliberately ignored.

The weights stay inside the pip package (not copied to ``models/``); the model card records the
package version and the sha256 of every file, and :func:`verified_file` refuses a file that does
not match its card. In a PyInstaller bundle the package's ``models/`` folder is carried as data at
the same relative place (build.spec), so the same lookup works frozen.
"""

from __future__ import annotations

import functools
import importlib.util
import threading
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path
from typing import Any

from fpstation.core.errors import ModelError, ModelIntegrityError, ModelNotFoundError

PACKAGE = "face_recognition_models"
DIST = "face-recognition-models"
SHAPE_5 = "shape_predictor_5_face_landmarks.dat"
RESNET = "dlib_face_recognition_resnet_model_v1.dat"
MMOD = "mmod_human_face_detector.dat"
#: every file this application may load from the package (never the 68-point predictor)
USED_FILES = (SHAPE_5, RESNET, MMOD)

_lock = threading.RLock()

# dlib's pybind11 bindings keep per-OS-thread interpreter state. A Qt pool thread gets a fresh
# Python thread state for every task (PySide creates and destroys one per run), and the second
# task that computed a face descriptor on the same thread hung inside dlib (reproduced with two
# inference-pool tasks). So every dlib call runs on this one long-lived Python thread instead.
_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fpstation-dlib")
_dlib_thread: dict[str, int] = {}


def _mark() -> None:
    _dlib_thread["id"] = threading.get_ident()


def on_dlib_thread(fn):
    """Run ``fn`` on the dedicated dlib thread (directly when already there)."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if _dlib_thread.get("id") == threading.get_ident():
            return fn(*args, **kwargs)

        def call():
            _mark()
            return fn(*args, **kwargs)
        return _executor.submit(call).result()
    return wrapper


def package_dir() -> Path:
    """The ``models/`` folder of the ``face-recognition-models`` package (not imported)."""
    try:
        spec = importlib.util.find_spec(PACKAGE)
    except (ImportError, ValueError):
        spec = None
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for loc in locations:
        d = Path(loc) / "models"
        if d.is_dir():
            return d
    # Frozen bundle without the package's __init__: build.spec puts the folder here.
    from fpstation import paths

    d = paths.app_root() / PACKAGE / "models"
    if d.is_dir():
        return d
    raise ModelNotFoundError("The face models are not installed: the package “face-recognition-models” "
                             "(0.3.0) is missing. Install it with pip install face-recognition-models==0.3.0.")


def package_version() -> str:
    """Installed version of the weights package ("" when unknown, e.g. inside a bundle)."""
    from importlib import metadata

    try:
        return metadata.version(DIST)
    except metadata.PackageNotFoundError:
        return ""


def dlib_version() -> str:
    try:
        import dlib
    except ImportError:
        return ""
    return str(getattr(dlib, "__version__", ""))


def file_path(name: str) -> Path:
    if name not in USED_FILES:
        raise ValueError(f"{name} is not one of the face model files this application uses")
    p = package_dir() / name
    if not p.is_file():
        raise ModelNotFoundError(f"The face model file {name} is missing from {p.parent}.")
    return p


@lru_cache(maxsize=8)
def _sha(path: str, size: int, mtime: int) -> str:
    from fpstation.core.hashing import sha256_file

    return sha256_file(path)


def verified_file(name: str, expected_sha256: str | None) -> Path:
    """The package file ``name`` after checking its sha256 against the card (when it gives one)."""
    p = file_path(name)
    if expected_sha256:
        st = p.stat()
        actual = _sha(str(p), st.st_size, st.st_mtime_ns)
        if actual != expected_sha256:
            raise ModelIntegrityError(
                f"The face model file {name} does not match its model card (sha256 differs); the "
                "package may be a different version or damaged.", path=str(p),
                detail=f"expected {expected_sha256}, got {actual}")
    return p


def import_dlib() -> Any:
    try:
        import dlib
    except ImportError as exc:
        raise ModelError("Face identification needs dlib, which is not installed "
                         "(pip install dlib-bin).") from exc
    return dlib


_cache: dict[str, Any] = {}


@on_dlib_thread
def hog_detector() -> Any:
    """dlib's HOG + linear SVM frontal face detector (built into dlib; no weight file)."""
    with _lock:
        if "hog" not in _cache:
            _cache["hog"] = import_dlib().get_frontal_face_detector()
        return _cache["hog"]


@on_dlib_thread
def shape_predictor(sha256: str | None = None) -> Any:
    """The 5-point landmark predictor (eye corners + nose), loaded once."""
    with _lock:
        if "sp5" not in _cache:
            _cache["sp5"] = import_dlib().shape_predictor(str(verified_file(SHAPE_5, sha256)))
        return _cache["sp5"]


@on_dlib_thread
def resnet(sha256: str | None = None) -> Any:
    """dlib's ResNet-29 face embedding (128-d), loaded once."""
    with _lock:
        if "resnet" not in _cache:
            _cache["resnet"] = import_dlib().face_recognition_model_v1(str(verified_file(RESNET, sha256)))
        return _cache["resnet"]
