"""Minutiae templates: the value type, ISO/IEC 19794-2:2005 and ANSI/NIST-ITL Type-9 codecs.

A :class:`Template` holds minutiae as a float array ``(N, 5)``: ``x, y`` in pixels (origin top-left,
y down, as in the image), ``angle`` in degrees measured counter-clockwise from the x axis (the
ISO/IEC 19794-2 convention, i.e. with y pointing up), ``kind`` (ISO type code: 1 ridge ending,
2 bifurcation, 0 other) and ``quality`` 0..100. Extractor name and version travel with the
template so a gallery knows when a stored template is stale.
"""

from __future__ import annotations

import datetime as _dt
import struct
from dataclasses import dataclass, replace

import numpy as np

from fpstation.core.errors import FpError

ENDING, BIFURCATION, OTHER = 1, 2, 0
KIND_NAMES = {ENDING: "ending", BIFURCATION: "bifurcation", OTHER: "other"}


class TemplateError(FpError):
    """A minutiae template could not be read or written."""

    title = "Template problem"


@dataclass(frozen=True, eq=False)
class Template:
    """One finger's minutiae (see the module docstring for the array layout)."""

    minutiae: np.ndarray
    width: int
    height: int
    dpi: float | None = 500.0
    extractor: str = ""
    extractor_version: str = ""
    finger_position: int = 0
    #: NFIQ 2 score (0..100) when the extractor computed it, else None
    nfiq2: int | None = None

    def __post_init__(self) -> None:
        m = np.asarray(self.minutiae, dtype=np.float64).reshape(-1, 5)
        object.__setattr__(self, "minutiae", m)

    @property
    def n(self) -> int:
        return int(self.minutiae.shape[0])

    @property
    def xy(self) -> np.ndarray:
        return self.minutiae[:, :2]

    @property
    def angle_rad(self) -> np.ndarray:
        return np.radians(self.minutiae[:, 2])

    def with_minutiae(self, minutiae: np.ndarray, *, edited: bool = True) -> Template:
        """The same template with other minutiae (hand-edited ones are marked in the extractor name)."""
        name = self.extractor
        if edited and not name.endswith("+edited"):
            name = f"{name}+edited"
        return replace(self, minutiae=np.asarray(minutiae, dtype=np.float64).reshape(-1, 5), extractor=name)

    def to_dict(self) -> dict:
        return {"width": self.width, "height": self.height, "dpi": self.dpi, "extractor": self.extractor,
                "extractor_version": self.extractor_version, "finger_position": self.finger_position,
                "nfiq2": self.nfiq2, "minutiae": [[round(float(v), 3) for v in row] for row in self.minutiae]}

    @classmethod
    def from_dict(cls, d: dict) -> Template:
        return cls(minutiae=np.asarray(d.get("minutiae") or np.zeros((0, 5)), dtype=np.float64).reshape(-1, 5),
                   width=int(d["width"]), height=int(d["height"]), dpi=d.get("dpi"),
                   extractor=d.get("extractor", ""), extractor_version=d.get("extractor_version", ""),
                   finger_position=int(d.get("finger_position") or 0), nfiq2=d.get("nfiq2"))


# ---- ISO/IEC 19794-2:2005 finger minutiae record ----------------------------------------------

_MAGIC = b"FMR\x00"
_VERSION = b" 20\x00"
_PX_PER_CM_500 = 197  # 500 dpi expressed in the standard's unit (pixels per centimetre)


def to_iso19794_2(t: Template) -> bytes:
    """Encode as an ISO/IEC 19794-2:2005 finger minutiae record (one finger view, no extended data).

    Angles are stored in units of 1.40625° (360/256), quality 0..100, resolution in pixels per
    centimetre (500 dpi -> 197), as the standard says.
    """
    m = t.minutiae
    if m.shape[0] > 255:  # the count is one byte: keep the best-quality ones
        m = m[np.argsort(-m[:, 4], kind="stable")[:255]]
    if t.width > 0x3FFF or t.height > 0x3FFF:
        raise TemplateError(f"An image of {t.width}×{t.height} pixels is too large for an ISO/IEC 19794-2 template.")
    res = int(round((t.dpi or 500.0) / 2.54))
    body = bytearray(struct.pack(">BBBB", int(t.finger_position) & 0xFF, 0,
                                 int(min(max(t.nfiq2 or 0, 0), 100)), m.shape[0]))
    for x, y, ang, kind, q in m:
        xi = int(min(max(round(x), 0), 0x3FFF))
        yi = int(min(max(round(y), 0), 0x3FFF))
        kind_bits = int(kind) if int(kind) in (0, 1, 2) else 0
        a = int(round((ang % 360.0) / 1.40625)) % 256
        body += struct.pack(">HHBB", (kind_bits << 14) | xi, yi, a, int(min(max(round(q), 0), 100)))
    body += b"\x00\x00"  # extended data block length: none
    total = 24 + len(body)
    head = _MAGIC + _VERSION + struct.pack(">IHHHHHBB", total, 0, t.width, t.height, res, res, 1, 0)
    return bytes(head + body)


def from_iso19794_2(data: bytes, *, extractor: str = "ISO/IEC 19794-2 import", view: int = 0) -> Template:
    """Decode an ISO/IEC 19794-2:2005 finger minutiae record (finger view ``view``; 0 = the first).

    Raises
    ------
    TemplateError
        Not an ISO/IEC 19794-2:2005 record, or truncated.
    """
    if len(data) < 24 or data[:4] != _MAGIC:
        raise TemplateError("This is not an ISO/IEC 19794-2 minutiae template (it does not start with “FMR”).")
    if data[4:8] != _VERSION:
        raise TemplateError(f"Only ISO/IEC 19794-2:2005 templates (version “ 20”) are read; this one says "
                            f"“{data[4:8].decode('latin-1').strip(chr(0))}”.")
    try:
        total, _dev, w, h, rx, _ry, nviews, _r = struct.unpack_from(">IHHHHHBB", data, 8)
        if total > len(data):
            raise TemplateError(f"The ISO/IEC 19794-2 template is truncated: {len(data)} of {total} bytes.")
        off = 24
        for v in range(max(nviews, 1)):
            fpos, _vi, fq, n = struct.unpack_from(">BBBB", data, off)
            off += 4
            rows = []
            for _ in range(n):
                w1, w2, a, q = struct.unpack_from(">HHBB", data, off)
                off += 6
                rows.append((w1 & 0x3FFF, w2 & 0x3FFF, a * 1.40625, (w1 >> 14) & 0x3, q))
            (ext_len,) = struct.unpack_from(">H", data, off)
            off += 2 + ext_len
            if v == view:
                dpi = rx * 2.54 if rx else None
                if dpi is not None and abs(dpi - 500.0) < 1.5:
                    dpi = 500.0
                return Template(minutiae=np.asarray(rows, dtype=np.float64).reshape(-1, 5), width=int(w),
                                height=int(h), dpi=dpi, extractor=extractor, finger_position=int(fpos),
                                nfiq2=None if fq == 0 else int(fq))
    except struct.error:
        raise TemplateError("The ISO/IEC 19794-2 template is truncated.") from None
    raise TemplateError(f"The template has no finger view {view + 1}.")


def to_nbis_bytes(t: Template) -> bytes:
    """The template in the layout nbis-py 0.1.3 reads back (``load_iso_19794_2_2005``).

    nbis-rs writes and reads a *non-conformant* variant: no resolution, 0 views, a 2-byte finger
    view header (position, count) and no extended-data length. Its reader returns no minutiae for a
    conformant record, so bozorth3 is fed this layout.
    """
    m = t.minutiae
    if m.shape[0] > 150:  # nbis-rs' bozorth3 cap
        m = m[np.argsort(-m[:, 4], kind="stable")[:150]]
    body = bytearray([0, m.shape[0]])
    for x, y, ang, kind, q in m:
        kind_bits = int(kind) if int(kind) in (0, 1, 2) else 0
        a = int(round((ang % 360.0) / 1.40625)) % 256
        body += struct.pack(">HHBB", (kind_bits << 14) | int(min(max(round(x), 0), 0x3FFF)),
                            int(min(max(round(y), 0), 0x3FFF)), a, int(min(max(round(q), 0), 100)))
    head = _MAGIC + _VERSION + struct.pack(">IHHHHHBB", 24 + len(body), 0, t.width, t.height, 0, 0, 0, 0)
    return bytes(head + body)


# ---- ANSI/NIST-ITL Type-9 (legacy "standard format" minutiae, fields 9.001-9.012) ---------------

_FS, _GS, _RS, _US = b"\x1c", b"\x1d", b"\x1e", b"\x1f"
_TYPE9_KIND = {ENDING: "A", BIFURCATION: "B", OTHER: "D"}
_KIND_FROM_TYPE9 = {"A": ENDING, "B": BIFURCATION, "C": OTHER, "D": OTHER}


def _tagged_record(rtype: int, fields: list[tuple[int, bytes]]) -> bytes:
    """Assemble a tagged-field record; the LEN field (x.001) counts the whole record."""
    rest = b"".join(_GS + f"{rtype}.{tag:03d}:".encode() + val for tag, val in fields) + _FS
    n = 0
    for digits in range(1, 9):
        n = len(f"{rtype}.001:".encode()) + digits + len(rest)
        if len(str(n)) == digits:
            break
    return f"{rtype}.001:{n}".encode() + rest


def to_ansi_nist_type9(templates: list[Template]) -> bytes:
    """An ANSI/NIST-ITL transaction: a Type-1 record and one Type-9 minutiae record per template.

    Type-9 uses the standard-format fields 9.001-9.012: coordinates in units of 0.01 mm from the
    bottom-left corner (so the dpi matters: 500 is assumed when unknown), angle in whole degrees
    counter-clockwise, minutia type A (ending), B (bifurcation) or D (other), quality 0..63.
    """
    if not templates:
        raise TemplateError("A Type-9 file needs at least one template.")
    cnt = [b"1" + _US + str(len(templates)).encode()] + [b"9" + _US + f"{i:02d}".encode()
                                                          for i in range(1, len(templates) + 1)]
    t1 = _tagged_record(1, [(2, b"0502"), (3, _RS.join(cnt)), (4, b"FPS"),
                            (5, _dt.date.today().strftime("%Y%m%d").encode()), (7, b"FPSTATION"),
                            (8, b"FPSTATION"), (9, b"FPS" + _dt.datetime.now().strftime("%H%M%S").encode()),
                            (11, b"00.00"), (12, b"00.00")])
    out = [t1]
    for i, t in enumerate(templates, start=1):
        mm_per_px = 25.4 / (t.dpi or 500.0)
        recs = []
        for k, (x, y, ang, kind, q) in enumerate(t.minutiae, start=1):
            xs = int(round(x * mm_per_px * 100))
            ys = int(round((t.height - 1 - y) * mm_per_px * 100))
            if not (0 <= xs <= 9999 and 0 <= ys <= 9999):
                raise TemplateError("The print is larger than Type-9 coordinates allow (99.99 mm).")
            xyt = f"{xs:04d}{ys:04d}{int(round(ang)) % 360:03d}".encode()
            qual = str(int(round(min(max(q, 0), 100) * 63 / 100))).encode()
            recs.append(_US.join([f"{k:03d}".encode(), xyt, qual, _TYPE9_KIND.get(int(kind), "D").encode()]))
        fields = [(2, f"{i:02d}".encode()), (3, b"0"), (4, b"S"),
                  (5, _US.join([b"FPSTATION", (t.extractor or "unknown").encode("ascii", "replace"),
                                 b"A"])),
                  (6, str(int(t.finger_position) if 0 <= int(t.finger_position) <= 15 else 0).encode()),
                  (7, b"T" + _US + b"UN"), (8, b"0"), (9, b"0"), (10, str(t.n).encode()), (11, b"0")]
        if recs:
            fields.append((12, _RS.join(recs)))
        out.append(_tagged_record(9, fields))
    return b"".join(out)


def _parse_tagged(rec: bytes) -> dict[int, bytes]:
    fields: dict[int, bytes] = {}
    for part in rec.rstrip(_FS).split(_GS):
        head, _, val = part.partition(b":")
        try:
            fields[int(head.split(b".")[1])] = val
        except (IndexError, ValueError):
            raise TemplateError("The ANSI/NIST-ITL file has a malformed field; it is damaged.") from None
    return fields


def from_ansi_nist_type9(data: bytes, *, width: int = 0, height: int = 0, dpi: float | None = None) -> list[Template]:
    """Read every Type-9 standard-format minutiae record of an ANSI/NIST-ITL transaction.

    Type-9 stores millimetres from the bottom-left, not pixels: ``height`` (pixels) and ``dpi``
    turn them back into image coordinates. Without a height, y is counted from the bottom of the
    bounding box of the minutiae plus a margin, and this is said in the template's extractor name.
    """
    if not data[:6].startswith(b"1.001:"):
        raise TemplateError("This is not an ANSI/NIST-ITL file (it does not start with field 1.001).")
    out: list[Template] = []
    off = 0
    types: list[int] = []
    while off < len(data):
        if not types:  # Type-1
            rtype = 1
        else:
            rtype = types.pop(0)
        if rtype in (3, 4, 5, 6, 7, 8):  # binary: 4-byte big-endian length first
            if off + 4 > len(data):
                break
            (n,) = struct.unpack_from(">I", data, off)
            off += max(n, 1)
            continue
        colon = data.find(b":", off)
        gs = min([p for p in (data.find(_GS, off), data.find(_FS, off)) if p >= 0] or [-1])
        if colon < 0 or gs < 0:
            raise TemplateError("The ANSI/NIST-ITL file is truncated or damaged.")
        try:
            n = int(data[colon + 1:gs])
        except ValueError:
            raise TemplateError("The ANSI/NIST-ITL file has a malformed record length.") from None
        rec = data[off:off + n]
        if len(rec) < n:
            raise TemplateError("The ANSI/NIST-ITL file is truncated.")
        off += n
        f = _parse_tagged(rec)
        if rtype == 1:
            subs = f.get(3, b"").split(_RS)[1:]
            types = [int(s.split(_US)[0]) for s in subs if s]
            continue
        if rtype != 9 or f.get(4, b"S") != b"S":
            continue
        px_per_mm = (dpi or 500.0) / 25.4
        rows = []
        for sub in (f.get(12, b"").split(_RS) if f.get(12) else []):
            items = sub.split(_US)
            xyt = items[1].decode()
            xs, ys, th = int(xyt[0:4]), int(xyt[4:8]), int(xyt[8:11])
            q = int(items[2]) * 100 / 63 if len(items) > 2 and items[2].strip() else 0
            kind = _KIND_FROM_TYPE9.get(items[3].decode().strip()[:1], OTHER) if len(items) > 3 else OTHER
            rows.append([xs / 100 * px_per_mm, ys / 100 * px_per_mm, float(th), kind, q])
        m = np.asarray(rows, dtype=np.float64).reshape(-1, 5)
        name = "ANSI/NIST Type-9 import"
        h = height
        if not h:
            h = int(m[:, 1].max() + 20) if m.size else 0
            name += " (image height unknown)"
        m[:, 1] = (h - 1) - m[:, 1]
        w = width or (int(m[:, 0].max() + 20) if m.size else 0)
        fgp = f.get(6, b"0").split(_RS)[0]
        out.append(Template(minutiae=m, width=w, height=h, dpi=dpi or 500.0, extractor=name,
                            finger_position=int(fgp) if fgp.isdigit() else 0))
    if not out:
        raise TemplateError("The ANSI/NIST-ITL file holds no Type-9 standard-format minutiae record.")
    return out
