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
Decoding bytes (Pillow, WSQ, ANSI/NIST-ITL records) lives in :mod:`fpstation.core.imagecodecs`;
this module opens, lists and writes the files.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import io
import logging
import os
import re
import stat
import struct
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from fpstation.core.errors import (
    EmptyFileError,
    FileAccessError,
    ImageReadError,
    ImageTooLargeError,
    ImageWriteError,
    UnsupportedFormatError,
)
from fpstation.core.imagecodecs import (  # noqa: F401 - the limits are part of this module's API
    _IMPLAUSIBLE_DPI_RE,
    MAX_PIXELS,
    MAX_SIDE,
    PLAUSIBLE_DPI,
    WSQ_DECODE_TIMEOUT_S,
    _check_size,
    _decode_pillow,
    _decode_wsq,
    _ensure_plugins,
    _read_nist,
    _sniff,
)
from fpstation.core.types import FingerprintImage

log = logging.getLogger(__name__)

#: files above this size are refused before being read into memory
MAX_FILE_BYTES = 512 * 1024 * 1024

#: file name endings that :func:`iter_image_files` collects (lower case, with the dot)
SUPPORTED_EXTENSIONS: frozenset[str] = frozenset(
    {".png", ".bmp", ".tif", ".tiff", ".jpg", ".jpeg", ".pgm", ".wsq", ".eft", ".an2", ".nist"})
NIST_EXTENSIONS: frozenset[str] = frozenset({".eft", ".an2", ".nist"})

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
