"""The one module that reads and writes image files.

Formats
-------
PNG, BMP, TIFF (8- and 16-bit), JPEG, PGM/PPM (Pillow); WSQ (the ``wsq`` Pillow plugin, NBIS);
ANSI/NIST-ITL transaction files ``.eft .an2 .nist`` (``nistitl``): every Type-4, Type-13 and
Type-14 friction-ridge image record becomes one :class:`FingerprintImage`, WSQ-compressed or
uncompressed (JPEG/PNG/JPEG 2000 payloads are decoded by Pillow as well).

The format is decided from the file's *content* (its magic bytes), not from its name, so a
JPEG saved as ``.png`` still opens; a name/content mismatch is recorded in ``notes``.

Result
------
Always grayscale ``uint8`` H×W (0 = black, 255 = white, as stored). Conversions are explicit
and noted in :attr:`FingerprintImage.notes`:

* colour → grey with ITU-R 601-2 luma (Pillow ``convert("L")``);
* alpha → composited on white (transparent = paper);
* 16-bit → 8-bit by scaling the *declared* bit depth (TIFF BitsPerSample, else 16) to 0..255.

dpi comes only from the file's metadata (PNG pHYs, TIFF/BMP/JPEG resolution, the WSQ NISTCOM
``PPI``, NIST record fields). Values outside :data:`PLAUSIBLE_DPI` (e.g. the 1×1 of FVC TIFFs,
the 72/96 that editors write by default) are not real scanner resolutions: they are reported
as unknown (``None``) with a note, never replaced by a guess.

Limits
------
A picture may be at most :data:`MAX_SIDE` pixels on a side and :data:`MAX_PIXELS` pixels in
all (a 1000 ppi ten-print card is about 8000×8000 = 64 MP); the header is checked *before*
any pixel data is decoded. Files larger than :data:`MAX_FILE_BYTES` are refused unread.
Pillow's decompression-bomb warning becomes :class:`ImageTooLargeError`.

Every failure is a typed :mod:`fpstation.core.errors` exception with a plain-language message.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import faulthandler
import hashlib
import io
import logging
import os
import re
import select
import signal
import stat
import struct
import threading
import time
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from fpstation.core.errors import (
    EmptyFileError,
    FileAccessError,
    ImageReadError,
    ImageTooLargeError,
    ImageWriteError,
    TruncatedFileError,
    UnsupportedFormatError,
)
from fpstation.core.types import FingerprintImage

log = logging.getLogger(__name__)

#: file name endings that :func:`iter_image_files` collects (lower case, with the dot)
SUPPORTED_EXTENSIONS: frozenset[str] = frozenset(
    {".png", ".bmp", ".tif", ".tiff", ".jpg", ".jpeg", ".pgm", ".wsq", ".eft", ".an2", ".nist"})
NIST_EXTENSIONS: frozenset[str] = frozenset({".eft", ".an2", ".nist"})

#: largest accepted picture: per side, and in total
MAX_SIDE = 16384
MAX_PIXELS = 80_000_000  # kept below Pillow's own 89.5 MP warning level, so Pillow never warns first
#: files above this size are refused before being read into memory
MAX_FILE_BYTES = 512 * 1024 * 1024
#: a resolution outside this range is metadata noise (FVC's 1×1, editors' 72/96), not a scanner's dpi
PLAUSIBLE_DPI = (100.0, 20000.0)
#: a WSQ decode (isolated in a child process, see _wsq_decompress_isolated) taking longer is stopped
WSQ_DECODE_TIMEOUT_S = 30.0

# Pillow's open() consults the global warnings filters; catch_warnings is not thread-safe, so the
# (short, header-only) open step is serialised. Decoding the pixel data runs outside the lock.
_OPEN_LOCK = threading.Lock()
_PLUGINS_READY = False

# Type-4 / Type-14 compression codes (ANSI/NIST-ITL 1-2011, Table 15 "Compression codes")
_T4_GCA = {0: "NONE", 1: "WSQ20", 2: "JPEGB", 3: "JPEGL", 4: "JP2", 5: "JP2L", 6: "PNG"}
_FORMAT_OF_EXT = {".png": "PNG", ".bmp": "BMP", ".tif": "TIFF", ".tiff": "TIFF", ".jpg": "JPEG",
                  ".jpeg": "JPEG", ".pgm": "PGM", ".wsq": "WSQ", ".eft": "NIST", ".an2": "NIST",
                  ".nist": "NIST"}


# --------------------------------------------------------------------------------------------
# reading
# --------------------------------------------------------------------------------------------

def read_print(path: str | os.PathLike[str]) -> FingerprintImage:
    """Read the first print of a file.

    Parameters
    ----------
    path : file to read (any supported format).

    Returns
    -------
    FingerprintImage
        The first print (for NIST files the first fingerprint image record).

    Raises
    ------
    ImageReadError
        Or one of its subclasses, with a message a person understands.
    """
    return read_prints(path)[0]


def read_prints(path: str | os.PathLike[str]) -> list[FingerprintImage]:
    """Read every print in a file.

    Parameters
    ----------
    path : an image file, or an ANSI/NIST-ITL transaction file.

    Returns
    -------
    list of FingerprintImage
        One element for ordinary images; one per Type-4/13/14 fingerprint image record (in file
        order, ``index`` 0..n-1, with ``record`` and ``finger_position``) for NIST files.

    Raises
    ------
    FileAccessError
        Missing file, a folder, no permission.
    EmptyFileError, TruncatedFileError, UnsupportedFormatError, ImageTooLargeError, ImageReadError
        The bytes are not a readable fingerprint image.
    """
    p = Path(path)
    return decode_prints(_read_file_bytes(p), p)


def read_file_bytes(path: str | os.PathLike[str]) -> bytes:
    """All bytes of an image file, with the same checks and messages as :func:`read_prints`
    (missing, folder, not a regular file, empty, too large)."""
    return _read_file_bytes(Path(path))


def decode_prints(data: bytes, path: str | os.PathLike[str], sha256: str | None = None) -> list[FingerprintImage]:
    """:func:`read_prints` on bytes already read from ``path`` (a batch worker that received the
    file's bytes rather than a path it can open). ``path`` names the file in messages and results;
    ``sha256``, the bytes' hash when the caller has already computed it (not computed twice)."""
    p = Path(path)
    if not data:
        raise EmptyFileError(f"“{p.name}” is empty (0 bytes): there is no image in it. The copy or "
                             "scan that produced it probably failed.", path=str(p))
    sha = sha256 or hashlib.sha256(data).hexdigest()
    kind = _sniff(data)
    ext = p.suffix.lower()
    name = p.name
    notes: list[str] = []
    expected = _FORMAT_OF_EXT.get(ext)
    if kind is not None and expected is not None and _family(kind) != _family(expected):
        notes.append(f"named {ext} but contains {kind} data; read as {kind}")
    try:
        if kind == "NIST":
            return _read_nist(data, name, str(p), sha, notes)
        if kind == "WSQ":
            pixels, dpi, more = _decode_wsq(data, name)
        elif kind is not None:
            pixels, dpi, more = _decode_pillow(data, kind, name)
        else:
            raise _unknown_content(data, name, ext)
    except ImageReadError as exc:
        exc.path = str(p)  # decoders only know the name; callers want the full path
        raise
    except MemoryError:
        raise ImageTooLargeError(f"“{name}” needs more memory to decode than is available.", path=str(p)) from None
    except Exception as exc:  # noqa: BLE001 - a decoder's unexpected exception must still be a typed error
        log.debug("unexpected decoder failure on %s", p, exc_info=True)
        raise ImageReadError(f"“{name}” could not be read: it is damaged or uses a variant of {kind or 'its format'} "
                             f"that fpstation does not handle ({type(exc).__name__}).", path=str(p),
                             detail=repr(exc)) from exc
    return [FingerprintImage(pixels=pixels, dpi=dpi, source=str(p), sha256=sha, format=kind,
                             notes=tuple(notes + more))]


def _family(fmt: str) -> str:
    return "PNM" if fmt in ("PGM", "PPM", "PBM") else fmt


def _read_file_bytes(p: Path) -> bytes:
    """All bytes of ``p``, or a FileAccessError/EmptyFileError/ImageTooLargeError in plain words."""
    name = p.name or str(p)
    try:
        st = p.stat()
    except FileNotFoundError:
        raise FileAccessError(f"The file “{name}” does not exist (it may have been moved or deleted).",
                              path=str(p)) from None
    except PermissionError:
        raise FileAccessError(f"You do not have permission to open “{name}”.", path=str(p)) from None
    except OSError as exc:
        raise FileAccessError(f"“{name}” cannot be opened: {exc.strerror or exc}.", path=str(p)) from None
    if p.is_dir():
        raise FileAccessError(f"“{name}” is a folder, not an image file. To import the prints inside it "
                              "use File ▸ Open Folder (or `fpstation batch` on the command line).", path=str(p))
    if not stat.S_ISREG(st.st_mode):  # a FIFO or device would block or never end
        raise FileAccessError(f"“{name}” is not a regular file (it is a device, pipe or socket).", path=str(p))
    if st.st_size > MAX_FILE_BYTES:
        raise ImageTooLargeError(f"“{name}” is {st.st_size / 2**20:.0f} MB, more than the "
                                 f"{MAX_FILE_BYTES // 2**20} MB an image file may have.", path=str(p))
    try:
        with open(p, "rb") as fh:
            data = fh.read(MAX_FILE_BYTES + 1)
    except PermissionError:
        raise FileAccessError(f"You do not have permission to read “{name}”. Check the file's "
                              "permissions or copy it somewhere you can read.", path=str(p)) from None
    except IsADirectoryError:
        raise FileAccessError(f"“{name}” is a folder, not an image file.", path=str(p)) from None
    except OSError as exc:
        raise FileAccessError(f"“{name}” could not be read: {exc.strerror or exc}.", path=str(p),
                              detail=repr(exc)) from None
    if not data:
        raise EmptyFileError(f"“{name}” is empty (0 bytes): there is no image in it. The copy or "
                             "scan that produced it probably failed.", path=str(p))
    return data


def _sniff(data: bytes) -> str | None:
    """Format name from magic bytes, or None."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if data.startswith(b"BM"):
        return "BMP"
    if data[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "TIFF"
    if data.startswith(b"\xff\xd8"):
        return "JPEG"
    if data.startswith(b"\xff\xa0"):
        return "WSQ"
    if data.startswith(b"1.001:") or data.startswith(b"1.01:"):
        return "NIST"
    if len(data) >= 2 and data[0:1] == b"P" and data[1:2] in b"123456" and (len(data) < 3 or data[2:3].isspace()):
        return {b"2": "PGM", b"5": "PGM", b"3": "PPM", b"6": "PPM"}.get(data[1:2], "PBM")
    return None


def _unknown_content(data: bytes, name: str, ext: str) -> ImageReadError:
    expected = _FORMAT_OF_EXT.get(ext)
    sample = data[:512]
    printable = sum(32 <= b < 127 or b in (9, 10, 13) for b in sample)
    looks_text = printable >= 0.95 * len(sample)
    what = "it contains text, not image data" if looks_text else "its content is not an image format fpstation reads"
    if expected:
        return UnsupportedFormatError(f"“{name}” is named like a {expected} file, but {what}. The file may "
                                      "be mislabelled or damaged.", path=name)
    return UnsupportedFormatError(f"“{name}” cannot be opened: {what}. Supported formats are PNG, BMP, "
                                  "TIFF, JPEG, PGM, WSQ and ANSI/NIST-ITL (.eft/.an2/.nist).", path=name)


def _ensure_plugins() -> None:
    """Register the WSQ plugin with Pillow (``import wsq`` does that) once."""
    global _PLUGINS_READY
    if not _PLUGINS_READY:
        import wsq  # noqa: F401 - registers the WSQ codec with Pillow

        _PLUGINS_READY = True


def _check_size(w: int, h: int, name: str) -> None:
    if w <= 0 or h <= 0:
        raise ImageReadError(f"“{name}” says its picture is {w}×{h} pixels, which is not a real image "
                             "size. The file is damaged.", path=name)
    if w > MAX_SIDE or h > MAX_SIDE or w * h > MAX_PIXELS:
        raise ImageTooLargeError(
            f"“{name}” claims a picture of {w}×{h} pixels. fpstation accepts at most {MAX_SIDE} pixels "
            f"per side and {MAX_PIXELS // 1_000_000} million pixels in all, so it was not decoded "
            "(the header is damaged, or the file is not a fingerprint).", path=name)


def _pillow_open(data: bytes, fmt: str, name: str):
    """Image.open restricted to one plugin; header only. Bomb warnings become ImageTooLargeError."""
    from PIL import Image, UnidentifiedImageError

    _ensure_plugins()
    pil_fmt = {"PGM": "PPM", "PBM": "PPM", "PPM": "PPM"}.get(fmt, fmt)
    with _OPEN_LOCK, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            im = Image.open(io.BytesIO(data), formats=[pil_fmt])
        except Image.DecompressionBombError as exc:
            raise ImageTooLargeError(
                f"“{name}” claims a picture far too large to be a fingerprint; it was not decoded "
                "(the header is damaged, or the file is not a fingerprint).",
                path=name, detail=str(exc)) from None
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError, struct.error,
                IndexError, TypeError, KeyError) as exc:
            raise _header_failure(data, fmt, name, exc) from None
    for w in caught:
        if issubclass(w.category, Image.DecompressionBombWarning):
            raise ImageTooLargeError(
                f"“{name}” claims a picture of {im.size[0]}×{im.size[1]} pixels, too large to be "
                "decoded safely.", path=name, detail=str(w.message))
        log.info("%s: %s", name, w.message)
    return im


def _header_failure(data: bytes, fmt: str, name: str, exc: BaseException) -> ImageReadError:
    msg = str(exc)
    if fmt == "TIFF":
        comp = _tiff_compression(data)
        if comp is not None:
            from PIL import TiffImagePlugin

            if comp not in TiffImagePlugin.COMPRESSION_INFO:
                known = {34712: "JPEG 2000", 34713: "Nikon NEF", 33003: "Aperio JPEG 2000"}.get(comp, "unknown")
                return UnsupportedFormatError(
                    f"“{name}” is a TIFF that uses compression scheme {comp} ({known}), which fpstation "
                    "cannot decode. Save it again as uncompressed, LZW or Deflate TIFF, or as PNG.",
                    path=name, detail=msg)
    if "compression" in msg.lower() or "unsupported" in msg.lower():
        return UnsupportedFormatError(f"“{name}” is a {fmt} file in a variant fpstation cannot read ({msg}).",
                                      path=name, detail=msg)
    return TruncatedFileError(
        f"“{name}” starts like a {fmt} image but its header is damaged or incomplete: the file is "
        "probably truncated (an interrupted copy or download) or corrupted.", path=name, detail=msg)


def _tiff_compression(data: bytes) -> int | None:
    """Compression tag (259) of the first IFD of a classic TIFF, read by hand; None if unreadable."""
    try:
        bo = "<" if data[:2] == b"II" else ">"
        if struct.unpack(bo + "H", data[2:4])[0] != 42:
            return None
        off = struct.unpack(bo + "I", data[4:8])[0]
        n = struct.unpack(bo + "H", data[off:off + 2])[0]
        for i in range(n):
            e = off + 2 + 12 * i
            tag, typ = struct.unpack(bo + "HH", data[e:e + 4])
            if tag == 259:
                return struct.unpack(bo + "H", data[e + 8:e + 10])[0] if typ == 3 else \
                    struct.unpack(bo + "I", data[e + 8:e + 12])[0]
    except (struct.error, IndexError):
        return None
    return None


def _decode_pillow(data: bytes, fmt: str, name: str) -> tuple[np.ndarray, float | None, list[str]]:
    im = _pillow_open(data, fmt, name)
    w, h = im.size
    _check_size(w, h, name)
    notes: list[str] = []
    if getattr(im, "n_frames", 1) > 1:
        notes.append(f"file holds {im.n_frames} pictures; the first one was read")
    try:
        im.load()
    except OSError as exc:
        msg = str(exc)
        if "compression" in msg.lower() or "unsupported" in msg.lower():
            raise UnsupportedFormatError(f"“{name}” uses a {fmt} variant fpstation cannot decode ({msg}).",
                                         path=name, detail=msg) from None
        raise TruncatedFileError(
            f"The picture data in “{name}” is incomplete or damaged (the file is probably truncated: "
            "an interrupted copy, download or scan).", path=name, detail=msg) from None
    except (ValueError, SyntaxError, EOFError, struct.error, IndexError, MemoryError) as exc:
        raise TruncatedFileError(f"The picture data in “{name}” is damaged and cannot be decoded.",
                                 path=name, detail=repr(exc)) from None
    bits = None
    if fmt == "TIFF":
        bps = getattr(im, "tag_v2", {}).get(258)
        if bps:
            bits = int(bps[0] if isinstance(bps, tuple) else bps)
    pixels = _to_gray8(im, name, notes, bits)
    if fmt in ("JPEG", "TIFF", "PNG"):
        try:
            orientation = im.getexif().get(274)
        except Exception:  # noqa: BLE001 - a damaged EXIF block is only missing metadata
            orientation = None
        if orientation not in (None, 1):
            # evidence is shown as stored; rotating would change the pixels the hash identifies
            notes.append(f"EXIF orientation {orientation} (camera rotation) not applied: pixels shown as stored")
    dpi = _dpi_from_pillow(im, fmt, notes)
    return pixels, dpi, notes


def _to_gray8(im, name: str, notes: list[str], declared_bits: int | None = None) -> np.ndarray:
    """Explicit conversion of any Pillow mode to uint8 grey (see module docstring)."""
    mode = im.mode
    if mode == "L":
        return np.array(im, dtype=np.uint8)
    if mode == "1":
        notes.append("bilevel image expanded to 8-bit grey")
        return np.array(im.convert("L"), dtype=np.uint8)
    if mode in ("P", "PA"):
        im = im.convert("RGBA")
        mode = "RGBA"
    if mode in ("RGBA", "LA", "La", "RGBa"):
        la = np.array(im.convert("LA"), dtype=np.float32)
        gray, alpha = la[..., 0], la[..., 1] / 255.0
        if alpha.min() < 1.0:
            notes.append("transparency composited on white")
        if mode not in ("LA", "La"):
            notes.append("colour converted to grey (ITU-R 601 luma)")
        return np.clip(np.rint(gray * alpha + 255.0 * (1.0 - alpha)), 0, 255).astype(np.uint8)
    if mode.startswith("I;16") or mode == "I":
        arr = np.array(im)
        if arr.dtype.kind == "i" and arr.size and int(arr.min()) < 0:
            raise UnsupportedFormatError(f"“{name}” holds signed integer pixels, which are not a "
                                         "fingerprint scan fpstation can display.", path=name)
        bits = declared_bits if declared_bits and 8 < declared_bits <= 16 else 16
        top = (1 << bits) - 1
        if arr.size and int(arr.max()) > top:  # data contradicts the tag: fall back to full 16-bit
            bits, top = 16, 65535
        if arr.size and int(arr.max()) > 65535:
            raise UnsupportedFormatError(f"“{name}” holds 32-bit pixels, which fpstation cannot convert "
                                         "reliably.", path=name)
        notes.append(f"{bits}-bit grey scaled to 8-bit (0..{top} → 0..255)")
        # integer rounding: exact, and a quarter of the memory of float64 on a big scan
        return ((arr.astype(np.uint32) * 255 + top // 2) // top).astype(np.uint8)
    if mode == "F":
        raise UnsupportedFormatError(f"“{name}” holds floating-point pixels; fpstation reads 8- and "
                                     "16-bit grey or colour images.", path=name)
    try:
        conv = im.convert("L")
    except (ValueError, OSError) as exc:
        raise UnsupportedFormatError(f"“{name}” uses pixel mode {mode}, which fpstation cannot convert "
                                     "to grey.", path=name, detail=str(exc)) from None
    notes.append(f"colour ({mode}) converted to grey (ITU-R 601 luma)")
    return np.array(conv, dtype=np.uint8)


def _clean_dpi(value: float | None, source: str, notes: list[str], snap: float = 0.05) -> float | None:
    """Round float noise (500 dpi stored as 19685 px/m reads 499.999) and drop implausible values."""
    if value is None:
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    if not np.isfinite(v) or v <= 0:
        return None
    v = round(v, 2)
    if abs(v - round(v)) < snap:
        v = float(round(v))
    if not PLAUSIBLE_DPI[0] <= v <= PLAUSIBLE_DPI[1]:
        notes.append(f"{source} says {v:g} dpi{_IMPLAUSIBLE_DPI_NOTE}")
        return None
    return v


_IMPLAUSIBLE_DPI_NOTE = ", which is not a plausible scanner resolution; dpi treated as unknown"
_IMPLAUSIBLE_DPI_RE = re.compile(r"says ([0-9.]+) dpi" + re.escape(_IMPLAUSIBLE_DPI_NOTE))


def dpi_note(image: FingerprintImage) -> str:
    """Where a print's resolution comes from, in words: "from the file", "stated (the file says 96
    dpi, not plausible)", "96 dpi in the file, not plausible", or "the file does not say".

    Shared by the info panel, the batch table and CSV, and the report, so they all say the same.
    """
    bad = next((m.group(1) for n in image.notes if (m := _IMPLAUSIBLE_DPI_RE.search(n))), None)
    if image.dpi is not None and image.dpi_source == "stated":
        said = (f"the file says {image.file_dpi:g} dpi" if image.file_dpi is not None
                else f"the file says {bad} dpi, not plausible" if bad else "the file does not say")
        return f"stated by the operator ({said})"
    if image.dpi is not None:
        return "from the file"
    if bad is not None:
        return f"{bad} dpi in the file, not plausible"
    return "the file does not say"


def _dpi_pair(x: float, y: float, source: str, notes: list[str]) -> float | None:
    dx = _clean_dpi(x, source, notes)
    dy = _clean_dpi(y, source, []) if y is not None else dx
    if dx is not None and dy is not None and abs(dx - dy) > 0.5:
        notes.append(f"non-square pixels ({dx:g}×{dy:g} dpi); horizontal dpi used")
    return dx


def _dpi_from_pillow(im, fmt: str, notes: list[str]) -> float | None:
    dpi = im.info.get("dpi")
    if dpi:
        x, y = (dpi if isinstance(dpi, tuple) else (dpi, dpi))[:2]
        return _dpi_pair(x, y, f"the {fmt} resolution field", notes)
    if fmt == "JPEG":  # JFIF said "aspect ratio only"; an EXIF block may still carry the resolution
        try:
            exif = im.getexif()
            unit = exif.get(296, 2)
            xr = exif.get(282)
            if xr and unit in (2, 3):
                factor = 2.54 if unit == 3 else 1.0
                yr = exif.get(283, xr)
                return _dpi_pair(float(xr) * factor, float(yr) * factor, "the EXIF resolution", notes)
        except Exception:  # noqa: BLE001 - EXIF is optional metadata; a bad block means "unknown"
            return None
    return None


# ---- WSQ -----------------------------------------------------------------------------------

def _wsq_header(data: bytes, name: str) -> tuple[int, int, float | None]:
    """Width, height and NISTCOM PPI from the WSQ marker segments (no pixel decoding)."""
    pos, n = 2, len(data)
    width = height = None
    ppi: float | None = None
    while pos + 4 <= n:
        marker = data[pos:pos + 2]
        if marker[0] != 0xFF:
            break
        code = marker[1]
        if code == 0xA3 or code == 0xA1:  # start of block / end of image: header is over
            break
        seg_len = struct.unpack(">H", data[pos + 2:pos + 4])[0]
        seg = data[pos + 4:pos + 2 + seg_len]
        if len(seg) < seg_len - 2:
            break
        if code == 0xA2 and len(seg) >= 6:  # SOF: black, white, height, width
            height, width = struct.unpack(">HH", seg[2:6])
        elif code == 0xA8:  # comment; the NISTCOM one carries "PPI <n>"
            m = re.search(rb"(?m)^PPI\s+(-?\d+)", seg)
            if m and int(m.group(1)) > 0:
                ppi = float(m.group(1))
        elif code not in (0xA4, 0xA5, 0xA6, 0xA7):
            raise TruncatedFileError(f"“{name}” is not a valid WSQ file (unknown marker FF{code:02X}); "
                                     "it is damaged.", path=name)
        pos += 2 + seg_len
    if width is None or height is None:
        raise TruncatedFileError(f"“{name}” starts like a WSQ image but its header is incomplete: the "
                                 "file is probably truncated or damaged.", path=name)
    return int(width), int(height), ppi


class _DecoderCrash(Exception):  # noqa: N818 - internal signal, always turned into TruncatedFileError
    pass


def _wsq_decompress_isolated(data: bytes) -> tuple[bytes, int, int, int]:
    """NBIS WSQ decode (the C code behind the ``wsq`` Pillow plugin) in a short-lived fork.

    NBIS crashes the whole process (SIGSEGV or abort) on some damaged files — about 1 % of
    randomly corrupted WSQ files in our fuzzing. A damaged file must not take the workstation
    down, so on POSIX the decode runs in a forked child that sends the pixels back through a
    pipe; a crash or a hang (:data:`WSQ_DECODE_TIMEOUT_S`) becomes :class:`_DecoderCrash`.
    The child only runs the C decoder and ``os._exit`` (glibc keeps malloc and stdio usable after
    fork). Without ``os.fork`` (Windows) the decode runs in-process.
    """
    import _wsq  # the NBIS extension that `import wsq` registers with Pillow

    if not hasattr(os, "fork") or os.environ.get("FPSTATION_WSQ_IN_PROCESS") == "1":
        return _wsq.decompress(data)
    rfd, wfd = os.pipe()
    # The lock keeps our own Pillow opens out of the fork; the filter silences Python 3.12's
    # "fork in a multi-threaded process" DeprecationWarning, which the child's work does not merit.
    with _OPEN_LOCK, warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*fork.*", category=DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # child: decode, write, leave without running any Python cleanup
        code = 0
        try:
            # A crash here is expected and reported by the parent; don't let an inherited
            # faulthandler (pytest enables one) print a misleading "Fatal Python error" dump.
            faulthandler.disable()
            os.close(rfd)
            try:
                buf, w, h, ppi = _wsq.decompress(data)
                payload = struct.pack(">Biii", 0, w, h, ppi) + bytes(buf)
            except BaseException as exc:  # noqa: BLE001 - reported to the parent as text
                payload = struct.pack(">Biii", 1, 0, 0, 0) + str(exc).encode("utf-8", "replace")[:2000]
            view = memoryview(payload)
            while view:
                view = view[os.write(wfd, view):]
        except BaseException:  # noqa: BLE001
            code = 1
        finally:
            os._exit(code)
    os.close(wfd)
    chunks: list[bytes] = []
    deadline = time.monotonic() + WSQ_DECODE_TIMEOUT_S
    timed_out = False
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                timed_out = True
                break
            ready, _, _ = select.select([rfd], [], [], left)
            if not ready:
                continue
            chunk = os.read(rfd, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(rfd)
        if timed_out:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
    if timed_out:
        raise _DecoderCrash(f"the WSQ decoder did not finish within {WSQ_DECODE_TIMEOUT_S:g} s")
    if os.WIFSIGNALED(status):
        raise _DecoderCrash(f"the WSQ decoder crashed (signal {os.WTERMSIG(status)})")
    out = b"".join(chunks)
    if len(out) < 13:
        raise _DecoderCrash("the WSQ decoder returned nothing")
    failed, w, h, ppi = struct.unpack(">Biii", out[:13])
    if failed:
        raise Exception(out[13:].decode("utf-8", "replace"))  # same as the in-process decoder raises
    return out[13:], w, h, ppi


def _decode_wsq(data: bytes, name: str) -> tuple[np.ndarray, float | None, list[str]]:
    w, h, ppi = _wsq_header(data, name)
    _check_size(w, h, name)
    notes: list[str] = []
    _pillow_open(data, "WSQ", name)  # the wsq plugin must accept the header too
    try:
        buf, dw, dh, _ = _wsq_decompress_isolated(data)
    except _DecoderCrash as exc:
        raise TruncatedFileError(f"The WSQ data in “{name}” is damaged: the WSQ decoder failed on it "
                                 "(the file is probably truncated or corrupted).", path=name, detail=str(exc)) from None
    except Exception as exc:  # noqa: BLE001 - the NBIS wrapper raises bare Exception("WSQ Error: -n")
        raise TruncatedFileError(f"The WSQ data in “{name}” is incomplete or damaged and cannot be "
                                 "decompressed (the file is probably truncated).",
                                 path=name, detail=str(exc)) from None
    if (dw, dh) != (w, h) or len(buf) != w * h:
        raise TruncatedFileError(f"The WSQ data in “{name}” decoded to the wrong size; it is damaged.", path=name)
    pixels = np.frombuffer(buf, dtype=np.uint8).reshape(h, w).copy()
    dpi = _clean_dpi(ppi, "the WSQ header", notes) if ppi else None
    return pixels, dpi, notes


# ---- ANSI/NIST-ITL -------------------------------------------------------------------------

def _field(rec, tag: int):
    f = rec[tag]
    return None if f is None else f.value


def _first_text(v) -> str:
    """First atomic value of a field value that may be a str or (nested) list of subfields/items."""
    while isinstance(v, (list, tuple)):
        if not v:
            return ""
        v = v[0]
    return "" if v is None else str(v).strip()


def _to_float(v) -> float | None:
    try:
        return float(_first_text(v))
    except ValueError:
        return None


def _read_nist(data: bytes, name: str, source: str, sha: str, notes: list[str]) -> list[FingerprintImage]:
    import nistitl

    msg = nistitl.Message()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # nistitl warns on legacy Type-3/5/6
            msg.parse(data)
    except nistitl.NistException as exc:
        if exc.error == nistitl.NistError.NIST_TOO_SHORT:
            raise TruncatedFileError(f"The ANSI/NIST-ITL file “{name}” ends too early: it is truncated "
                                     "(an interrupted copy or transmission).", path=source, detail=str(exc)) from None
        raise ImageReadError(f"“{name}” is not a valid ANSI/NIST-ITL transaction ({exc.error.name.lower().replace('_', ' ')}); "
                             "it is damaged or not a NIST file.", path=source, detail=str(exc)) from None
    except (ValueError, struct.error, IndexError, KeyError, TypeError, AttributeError, UnicodeError) as exc:
        raise ImageReadError(f"“{name}” is not a valid ANSI/NIST-ITL transaction; it is damaged or not a "
                             "NIST file.", path=source, detail=repr(exc)) from None
    t1 = msg[0]
    nsr = _to_float(_field(t1, 11))
    ntr = _to_float(_field(t1, 12))
    out: list[FingerprintImage] = []
    for rec in list(msg)[1:]:
        if rec.type not in (4, 13, 14):
            continue
        label = f"{name} (Type-{rec.type} record {len(out) + 1})"
        pnotes = list(notes)
        if rec.type == 4:
            pixels, dpi, fgp = _decode_type4(rec, nsr, ntr, label, pnotes)
        else:
            pixels, dpi, fgp = _decode_type1314(rec, label, pnotes)
        out.append(FingerprintImage(pixels=pixels, dpi=dpi, source=source, sha256=sha, format="NIST",
                                    index=len(out), finger_position=fgp, record=f"Type-{rec.type}",
                                    notes=tuple(pnotes)))
    if not out:
        raise ImageReadError(f"The ANSI/NIST-ITL file “{name}” contains no fingerprint image "
                             "(no Type-4, Type-13 or Type-14 record).", path=source)
    return out


def _decode_payload(payload: bytes, compression: str, w: int, h: int, bits: int, label: str,
                    notes: list[str]) -> tuple[np.ndarray, float | None]:
    """Pixels (and any resolution the embedded stream itself declares) of a NIST image record."""
    _check_size(w, h, label)
    c = compression.upper()
    if c in ("NONE", "0", ""):
        if bits != 8:
            raise UnsupportedFormatError(f"{label}: uncompressed {bits}-bit pixels are not supported "
                                         "(8-bit grey only).", path=label)
        if len(payload) < w * h:
            raise TruncatedFileError(f"{label}: the image data is shorter than its declared size "
                                     f"{w}×{h}; the file is truncated or damaged.", path=label)
        if len(payload) > w * h:
            notes.append(f"{len(payload) - w * h} extra bytes after the image data ignored")
        return np.frombuffer(payload[:w * h], dtype=np.uint8).reshape(h, w).copy(), None
    if c in ("WSQ20", "WSQ", "1"):
        pixels, dpi, more = _decode_wsq(payload, label)
    elif c in ("JPEGB", "PNG", "JP2", "JP2L", "2", "4", "5", "6"):
        kind = _sniff(payload) or ("JPEG2000" if payload[4:8] == b"jP  " or payload[:4] == b"\xff\x4f\xff\x51" else None)
        if kind is None:
            raise UnsupportedFormatError(f"{label}: the {c}-compressed image data is not recognisable.", path=label)
        pixels, dpi, more = _decode_pillow(payload, kind, label)
    else:
        raise UnsupportedFormatError(f"{label} uses compression “{c}”, which fpstation cannot decode "
                                     "(supported: none, WSQ, baseline JPEG, PNG, JPEG 2000).", path=label)
    notes.extend(more)
    if pixels.shape != (h, w):
        notes.append(f"record says {w}×{h} but the image data is {pixels.shape[1]}×{pixels.shape[0]}; data size used")
    return pixels, dpi


def _finger(code: int) -> int | None:
    """ANSI/NIST finger position; 0 ("unknown finger") and 255 ("unused") mean not known."""
    return None if code in (0, 255) else int(code)


def _decode_type4(rec, nsr: float | None, ntr: float | None, label: str,
                  notes: list[str]) -> tuple[np.ndarray, float | None, int | None]:
    v = rec.value
    if len(v) < 13:
        raise TruncatedFileError(f"{label} is too short to hold an image; the file is damaged.", path=label)
    fgp_code = v[1]
    isr = v[7]
    w, h = struct.unpack(">HH", v[8:12])
    gca = v[12]
    compression = _T4_GCA.get(gca)
    if compression is None:
        raise UnsupportedFormatError(f"{label} uses compression code {gca}, which fpstation cannot decode.",
                                     path=label)
    pixels, embedded = _decode_payload(v[13:], compression, w, h, 8, label, notes)
    if isr == 0:
        dpi = 500.0  # the standard's "minimum scanning resolution", 19.69 ppmm
    else:
        native = nsr if nsr and nsr > 0 else ntr
        # ppmm with two decimals is only good to ±0.13 dpi: snap to the integer dpi it encodes
        dpi = (_clean_dpi(native * 25.4, "the Type-1 native scanning resolution", notes, snap=0.14)
               if native and native > 0 else None)
    if dpi is None and embedded is not None:
        dpi = embedded
        notes.append("dpi taken from the embedded WSQ header (the NIST record does not state it)")
    return pixels, dpi, _finger(fgp_code)


def _decode_type1314(rec, label: str, notes: list[str]) -> tuple[np.ndarray, float | None, int | None]:
    try:
        w = int(_first_text(_field(rec, 6)))
        h = int(_first_text(_field(rec, 7)))
    except ValueError:
        raise ImageReadError(f"{label} has no valid image size (fields HLL/VLL); the file is damaged.",
                             path=label) from None
    payload = _field(rec, 999)
    if not isinstance(payload, (bytes, bytearray)) or not payload:
        raise TruncatedFileError(f"{label} has no image data; the file is truncated or damaged.", path=label)
    compression = _first_text(_field(rec, 11)) or "NONE"
    bits = int(_to_float(_field(rec, 12)) or 8)
    pixels, embedded = _decode_payload(bytes(payload), compression, w, h, bits, label, notes)
    slc = _first_text(_field(rec, 8))
    thps, tvps = _to_float(_field(rec, 9)), _to_float(_field(rec, 10))
    dpi = None
    if slc in ("1", "2") and thps:
        factor = 2.54 if slc == "2" else 1.0
        dpi = _dpi_pair(thps * factor, (tvps or thps) * factor, f"the Type-{rec.type} record", notes)
    elif embedded is not None:
        dpi = embedded
        notes.append("dpi taken from the embedded image header (the NIST record gives no scale)")
    fgp_txt = _first_text(_field(rec, 13))
    return pixels, dpi, _finger(int(fgp_txt)) if fgp_txt.isdigit() else None


# --------------------------------------------------------------------------------------------
# folders
# --------------------------------------------------------------------------------------------

def walk_folders(root: str | os.PathLike[str], recursive: bool = True) -> Iterator[tuple[Path, list[str]]]:
    """``(folder, file names)`` for ``root`` and (when ``recursive``) every non-hidden sub-folder.

    Symbolic links to folders are followed (a data set is often assembled from links), and each
    real folder is visited once, so a link that points back up the tree cannot loop. Folders that
    cannot be listed are skipped. Shared by every folder scan (batch, open folder, data sets).
    """
    seen: set[tuple[int, int]] = set()
    for dirpath, dirnames, filenames in os.walk(root, onerror=None, followlinks=True):
        try:
            st = os.stat(dirpath)
            ident = (st.st_dev, st.st_ino)
        except OSError:
            dirnames[:] = []
            continue
        if ident in seen:  # reached again through a link: already listed
            dirnames[:] = []
            continue
        seen.add(ident)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".")) if recursive else []
        yield Path(dirpath), filenames


def iter_image_files(folder: str | os.PathLike[str], recursive: bool = True,
                     extensions: Iterable[str] | None = None) -> Iterator[Path]:
    """Image files in a folder, in a deterministic order.

    Parameters
    ----------
    folder : folder to scan.
    recursive : descend into sub-folders (hidden ones, starting with ".", are skipped).
    extensions : endings to collect, case-insensitive, with or without the dot
        (default :data:`SUPPORTED_EXTENSIONS`).

    Yields
    ------
    Path
        Files sorted by their path relative to ``folder`` (case-insensitively, then exactly),
        folders' contents in that same order; hidden files are skipped; symlinked folders are
        followed, each real folder once (a link back up the tree cannot loop).

    Raises
    ------
    FileAccessError
        ``folder`` is missing or not a folder.
    """
    root = Path(folder)
    if not root.exists():
        raise FileAccessError(f"The folder “{root}” does not exist.", path=str(root))
    if not root.is_dir():
        raise FileAccessError(f"“{root.name}” is a file, not a folder.", path=str(root))
    exts = SUPPORTED_EXTENSIONS if extensions is None else frozenset(
        (e if e.startswith(".") else "." + e).lower() for e in extensions)
    found: list[Path] = []
    for dirpath, filenames in walk_folders(root, recursive=recursive):
        for fn in filenames:
            if fn.startswith("."):
                continue
            if os.path.splitext(fn)[1].lower() in exts:
                found.append(Path(dirpath) / fn)

    def key(p: Path) -> tuple:
        rel = p.relative_to(root).parts
        return (tuple(s.lower() for s in rel), rel)

    yield from sorted(found, key=key)


# --------------------------------------------------------------------------------------------
# writing
# --------------------------------------------------------------------------------------------

def _atomic_write(path: Path, data: bytes) -> None:
    name = path.name
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # not tempfile.mkstemp: that creates 0600 files; O_EXCL + 0666 lets the umask decide as usual
        tmp = str(path.parent / f".{name}.{os.getpid()}-{threading.get_ident()}-{os.urandom(4).hex()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
    except PermissionError:
        raise ImageWriteError(f"You do not have permission to write “{name}” in {path.parent}.",
                              path=str(path)) from None
    except OSError as exc:
        raise ImageWriteError(f"“{name}” could not be written: {exc.strerror or exc}.", path=str(path)) from None


def _check_pixels(pixels: np.ndarray, allow16: bool, allow_rgb: bool = False) -> np.ndarray:
    a = np.asarray(pixels)
    rgb = allow_rgb and a.ndim == 3 and a.shape[2] == 3 and a.dtype == np.uint8
    if a.ndim != 2 and not rgb:
        kinds = "grey (H×W) or colour (H×W×3 uint8)" if allow_rgb else "grey (H×W)"
        raise ImageWriteError(f"Only {kinds} images can be saved in this format; got an array of shape {a.shape}.")
    ok = (np.uint8, np.uint16) if allow16 else (np.uint8,)
    if a.dtype not in ok:
        raise ImageWriteError(f"Pixels must be {' or '.join(np.dtype(t).name for t in ok)}; got {a.dtype}.")
    _check_size(a.shape[1], a.shape[0], "the image to save")
    return np.ascontiguousarray(a)


def _wsq_bytes(pixels: np.ndarray, dpi: float | None) -> bytes:
    """WSQ (NBIS, 0.75 bit/pixel) with the NISTCOM ``PPI`` set to ``dpi`` (-1 when unknown)."""
    from PIL import Image

    _ensure_plugins()
    buf = io.BytesIO()
    Image.fromarray(pixels, mode="L").save(buf, "WSQ")
    data = buf.getvalue()
    # NBIS always writes "PPI 500" (or -1); put the real value there, fixing the segment length.
    ppi = str(int(round(dpi))) if dpi else "-1"
    pos = 2
    while pos + 4 <= len(data) and data[pos] == 0xFF:
        code = data[pos + 1]
        seg_len = struct.unpack(">H", data[pos + 2:pos + 4])[0]
        if code == 0xA8 and data[pos + 4:pos + 12] == b"NIST_COM":
            seg = data[pos + 4:pos + 2 + seg_len]
            new = re.sub(rb"(?m)^PPI\s+-?\d+", b"PPI " + ppi.encode(), seg, count=1)
            if new == seg and b"\nPPI " not in seg:
                new = seg + b"\nPPI " + ppi.encode()
            return (data[:pos + 2] + struct.pack(">H", len(new) + 2) + new + data[pos + 2 + seg_len:])
        if code in (0xA3, 0xA1, 0xA2):
            break
        pos += 2 + seg_len
    return data


def encode_image(pixels: np.ndarray, fmt: str, dpi: float | None = None) -> bytes:
    """Bytes of ``pixels`` in ``fmt`` ("PNG", "BMP", "TIFF", "JPEG", "PGM", "WSQ").

    uint16 pixels are allowed for PNG, TIFF and PGM; colour (H×W×3 uint8, RGB) for PNG, BMP, TIFF
    and JPEG (figures, overlays; prints are grey). ``dpi`` is written where the format has
    a field for it (not PGM); ``None`` writes "unknown" (no pHYs / BMP 0 / TIFF unit "none" /
    WSQ PPI -1 / JPEG aspect only).
    """
    from PIL import Image

    fmt = fmt.upper()
    if fmt == "WSQ":
        return _wsq_bytes(_check_pixels(pixels, allow16=False), dpi)
    a = _check_pixels(pixels, allow16=fmt in ("PNG", "TIFF", "PGM"), allow_rgb=fmt in ("PNG", "BMP", "TIFF", "JPEG"))
    im = Image.fromarray(a)
    buf = io.BytesIO()
    d = (float(dpi), float(dpi)) if dpi else None
    if fmt == "PNG":
        im.save(buf, "PNG", **({"dpi": d} if d else {}))
    elif fmt == "BMP":
        im.save(buf, "BMP", dpi=d or (0, 0))
    elif fmt == "TIFF":
        if d:
            im.save(buf, "TIFF", dpi=d)
        else:
            im.save(buf, "TIFF", resolution_unit=1, resolution=1.0)
    elif fmt == "JPEG":
        im.save(buf, "JPEG", quality=95, **({"dpi": tuple(int(round(x)) for x in d)} if d else {}))
    elif fmt in ("PGM", "PPM"):
        im.save(buf, "PPM")
    else:
        raise ImageWriteError(f"fpstation cannot write {fmt} files (PNG, BMP, TIFF, JPEG, PGM, WSQ).")
    return buf.getvalue()


def write_image(path: str | os.PathLike[str], pixels: np.ndarray, dpi: float | None = None) -> Path:
    """Save a grey image; the format follows the file name ending.

    Parameters
    ----------
    path : ``.png .bmp .tif .tiff .jpg .jpeg .pgm .wsq``.
    pixels : uint8 H×W (uint16 allowed for PNG, TIFF and PGM; H×W×3 uint8 RGB for PNG, BMP, TIFF, JPEG).
    dpi : resolution to record, or ``None`` for unknown (PGM cannot store it).

    Returns
    -------
    Path
        The written file (written to a temporary name first, then renamed: never half-written).

    Raises
    ------
    ImageWriteError
        Unknown ending, wrong pixel type, no permission, disk full.
    """
    p = Path(path)
    fmt = _FORMAT_OF_EXT.get(p.suffix.lower())
    if fmt is None or fmt == "NIST":
        raise ImageWriteError(f"Cannot save “{p.name}”: unknown ending {p.suffix or '(none)'}; use .png, .bmp, "
                              ".tif, .jpg, .pgm or .wsq (write_nist for NIST files).", path=str(p))
    try:
        data = encode_image(pixels, fmt, dpi)
    except ImageWriteError:
        raise
    except (OSError, ValueError) as exc:
        raise ImageWriteError(f"“{p.name}” could not be encoded as {fmt}: {exc}", path=str(p)) from None
    _atomic_write(p, data)
    return p


def write_nist(path: str | os.PathLike[str], prints: list[tuple[np.ndarray, float | None, int]],
               compression: str = "wsq", record_type: int = 14, impression: int = 0) -> Path:
    """Write an ANSI/NIST-ITL transaction with one fingerprint image record per print.

    Parameters
    ----------
    path : output file (``.eft``, ``.an2`` or ``.nist`` by convention).
    prints : ``(pixels uint8 H×W, dpi or None, finger position 0..15)`` for each print.
    compression : ``"wsq"`` (WSQ20, NBIS 0.75 bpp) or ``"none"`` (raw 8-bit).
    record_type : 14 (variable-resolution friction ridge image, default) or 4 (legacy
        high-resolution grayscale; all prints must then share one dpi, which goes to the Type-1
        native scanning resolution unless it is 500).
    impression : impression type code (0 = live-scan plain).

    Returns
    -------
    Path
        The written file: Type-1, a Type-2 (IDC 0) and one image record per print (IDC 1..n).

    Raises
    ------
    ImageWriteError
        Bad arguments, encoding failure, no permission.
    """
    import nistitl

    p = Path(path)
    comp = compression.lower()
    if comp not in ("wsq", "none"):
        raise ImageWriteError(f"Unknown NIST compression “{compression}” (use “wsq” or “none”).", path=str(p))
    if record_type not in (4, 14):
        raise ImageWriteError(f"Fingerprint records can be Type-4 or Type-14, not Type-{record_type}.", path=str(p))
    if not prints:
        raise ImageWriteError("A NIST file needs at least one print.", path=str(p))
    msg = nistitl.Message()
    msg.TOT = "FPS"
    t1 = msg[0]
    t1.DAI = "FPSTATION"
    t1.ORI = "FPSTATION"
    if record_type == 4:
        dpis = {None if d is None else float(d) for _, d, _ in prints}
        if len(dpis) > 1:
            raise ImageWriteError("Type-4 records share one resolution per file; these prints have "
                                  f"different dpi ({sorted(map(str, dpis))}). Use Type-14.", path=str(p))
        dpi4 = dpis.pop()
        if dpi4 and dpi4 != 500.0:
            t1.NSR = t1.NTR = f"{dpi4 / 25.4:05.2f}"
        elif dpi4 == 500.0:
            t1.NSR = t1.NTR = "19.69"
    t2 = nistitl.AsciiRecord(2)
    t2.IDC = 0
    msg += t2
    today = _dt.date.today().strftime("%Y%m%d")
    for i, (pixels, dpi, fgp) in enumerate(prints, start=1):
        a = _check_pixels(pixels, allow16=False)
        h, w = a.shape
        if not 0 <= int(fgp) <= 15:
            raise ImageWriteError(f"Finger position {fgp} is not a valid code (0..15).", path=str(p))
        data = _wsq_bytes(a, dpi) if comp == "wsq" else a.tobytes()
        if record_type == 14:
            r = nistitl.AsciiRecord(14)
            r.IDC = i
            r.IMP = str(impression)
            r.SRC = "FPSTATION"
            r.FCD = today
            r.HLL = str(w)
            r.VLL = str(h)
            if dpi:
                r.SLC, r.THPS, r.TVPS = "1", str(int(round(dpi))), str(int(round(dpi)))
            else:  # scale 0 = "no scale, pixel aspect ratio only": dpi unknown
                r.SLC, r.THPS, r.TVPS = "0", "1", "1"
            r.CGA = "WSQ20" if comp == "wsq" else "NONE"
            r.BPX = "8"
            r.FGP = str(int(fgp))
            r.DATA = data
        else:
            if w > 65535 or h > 65535:
                raise ImageWriteError("Type-4 images are limited to 65535 pixels per side.", path=str(p))
            r = nistitl.BinaryRecord(4)
            r.IDC = i
            isr = 0 if (dpi is not None and float(dpi) == 500.0) else 1
            fgp_bytes = bytes([int(fgp)] + [255] * 5)
            r.value = struct.pack(">B6sBHHB", impression, fgp_bytes, isr, w, h, 1 if comp == "wsq" else 0) + data
        msg += r
    try:
        payload = msg.NIST
    except (nistitl.NistException, ValueError, TypeError) as exc:
        raise ImageWriteError(f"The NIST file could not be assembled: {exc}", path=str(p)) from None
    _atomic_write(p, payload)
    return p
