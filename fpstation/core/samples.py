"""The sample prints bundled under ``resources/samples`` (see its README for their source)."""

from __future__ import annotations

from pathlib import Path

from fpstation import paths
from fpstation.core.errors import FileAccessError
from fpstation.core.imageio import iter_image_files, read_print
from fpstation.core.types import FingerprintImage


def sample_files() -> list[Path]:
    """Paths of the bundled sample prints, sorted by name (empty if the folder is missing)."""
    d = paths.samples_dir()
    if not d.is_dir():
        return []
    return list(iter_image_files(d, recursive=False))


def sample_file(name: str | None = None) -> Path:
    """One sample: by file name (or stem), or the first one when ``name`` is None.

    Raises
    ------
    FileAccessError
        No samples are installed, or none has that name.
    """
    files = sample_files()
    if not files:
        raise FileAccessError(f"No sample prints were found in {paths.samples_dir()} (the installation "
                              "is incomplete).", path=str(paths.samples_dir()))
    if name is None:
        return files[0]
    for f in files:
        if name in (f.name, f.stem):
            return f
    raise FileAccessError(f"There is no sample print called “{name}”.", path=name)


def load_sample(name: str | None = None) -> FingerprintImage:
    """Read one bundled sample print (see :func:`sample_file`)."""
    return read_print(sample_file(name))
