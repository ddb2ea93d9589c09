"""Decoding image *bytes* for :mod:`fpstation.core.imageio` (which alone opens and writes files).

Pillow formats (PNG, BMP, TIFF 8/16-bit, JPEG, PGM/PPM), WSQ (NBIS, in an isolated child process)
and ANSI/NIST-ITL records (Type-4, -13, -14), with the size limits checked on the header before
any pixel is decoded and the dpi rules (:data:`PLAUSIBLE_DPI`) described in :mod:`.imageio`.
Every failure is a typed :mod:`fpstation.core.errors` exception with a plain-language message.
"""

from __future__ import annotations

import contextlib
import faulthandler
import io
import logging
import os
import re
import select
import signal
import struct
import threading
import time
import warnings

import numpy as np

from fpstation.core.errors import (
    ImageReadError,
    ImageTooLargeError,
    TruncatedFileError,
    UnsupportedFormatError,
)
from fpstation.core.types import FingerprintImage

log = logging.getLogger(__name__)

#: largest accepted picture: per side, and in total
MAX_SIDE = 16384
MAX_PIXELS = 80_000_000  # kept below Pillow's own 89.5 MP warning level, so Pillow never warns first
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
