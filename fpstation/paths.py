"""Where files live. The only module that knows about ``sys.frozen`` / ``_MEIPASS``.

build.spec mirrors :func:`bundle_layout`: whatever is listed there is copied into the bundle at
the same relative location, so source tree and bundle resolve files identically.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from fpstation import __app_name__, __organization__

#: Relative locations (inside the source tree / inside the bundle) of the data folders.
RESOURCES = "resources"
MODELS = "models"


def is_frozen() -> bool:
    """True when running from a PyInstaller bundle."""
    return bool(getattr(sys, "frozen", False))


def app_root() -> Path:
    """Folder that holds ``resources/`` and ``models/``.

    In the source tree that is the repository root; in a PyInstaller one-dir bundle it is
    ``sys._MEIPASS`` (the ``_internal`` folder).
    """
    if is_frozen():
        return Path(getattr(sys, "_MEIPASS", Path(sys.executable).parent))
    return Path(__file__).resolve().parent.parent


def resources_dir() -> Path:
    return app_root() / RESOURCES


def resource(*parts: str) -> Path:
    """Path of a file under ``resources/``."""
    return resources_dir().joinpath(*parts)


def samples_dir() -> Path:
    return resources_dir() / "samples"


def models_dir() -> Path:
    """Shipped (read-only) model weights and cards."""
    override = os.environ.get("FPSTATION_MODELS_DIR")
    return Path(override) if override else app_root() / MODELS


def _platform_dir(kind: str) -> Path:
    import platformdirs

    fn = {"data": platformdirs.user_data_dir, "config": platformdirs.user_config_dir,
          "cache": platformdirs.user_cache_dir, "log": platformdirs.user_log_dir}[kind]
    return Path(fn(__app_name__, __organization__))


def user_data_dir() -> Path:
    """Per-user writable data: trained models, cases. ``FPSTATION_HOME`` overrides (tests use it)."""
    home = os.environ.get("FPSTATION_HOME")
    p = Path(home) / "data" if home else _platform_dir("data")
    p.mkdir(parents=True, exist_ok=True)
    return p


def user_config_dir() -> Path:
    home = os.environ.get("FPSTATION_HOME")
    p = Path(home) / "config" if home else _platform_dir("config")
    p.mkdir(parents=True, exist_ok=True)
    return p


def user_log_dir() -> Path:
    home = os.environ.get("FPSTATION_HOME")
    p = Path(home) / "log" if home else _platform_dir("log")
    p.mkdir(parents=True, exist_ok=True)
    return p


def user_models_dir() -> Path:
    """Models trained by the user (never written over the shipped ones)."""
    p = user_data_dir() / "models"
    p.mkdir(parents=True, exist_ok=True)
    return p


def user_cases_dir() -> Path:
    p = user_data_dir() / "cases"
    p.mkdir(parents=True, exist_ok=True)
    return p


def shared_data_dir() -> Path | None:
    """``../shared/data`` beside the checkout (research data; never in the repo, may be absent)."""
    override = os.environ.get("FPSTATION_SHARED_DATA")
    cand = Path(override) if override else app_root().parent / "shared" / "data"
    return cand if cand.is_dir() else None


def shared_dataset(name: str) -> Path | None:
    """The folder ``name`` of :func:`shared_data_dir` (e.g. "livdet2015-hiscan"), or None when absent."""
    sd = shared_data_dir()
    return sd / name if sd is not None and (sd / name).is_dir() else None


def bundle_layout() -> list[tuple[str, str]]:
    """(source folder relative to the repo root, destination inside the bundle) for build.spec."""
    return [(RESOURCES, RESOURCES), (MODELS, MODELS)]
