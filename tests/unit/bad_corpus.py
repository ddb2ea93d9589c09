"""A generated corpus of good and hostile input files for batch/watch robustness tests.

``make_corpus(folder)`` writes the files and returns ``{file name: expected}`` where expected is
``"ok"`` (must be analysed) or the name of the error type its row must carry.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np


def ridge_image(h: int = 96, w: int = 103, seed: int = 0) -> np.ndarray:
    """A small synthetic ridge pattern (concentric sinusoid), distinct per seed."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    cy, cx = h / 2 + rng.uniform(-10, 10), w / 2 + rng.uniform(-10, 10)
    r = np.hypot(yy - cy, xx - cx)
    img = 128 + 100 * np.sin(r / rng.uniform(2.5, 4.0)) + rng.normal(0, 8, (h, w))
    return np.clip(img, 0, 255).astype(np.uint8)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def huge_png_header(width: int = 200_000, height: int = 200_000) -> bytes:
    """A syntactically valid PNG whose header claims an enormous picture (a decompression bomb)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1024)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")


def good_files(folder: Path, n: int = 4, fmt: str = "png", start_seed: int = 0) -> list[Path]:
    from fpstation.core.imageio import write_image

    out = []
    for i in range(n):
        p = folder / f"good_{start_seed + i:04d}.{fmt}"
        write_image(p, ridge_image(seed=start_seed + i), dpi=500)
        out.append(p)
    return out


def make_corpus(folder: Path) -> dict[str, str]:
    from PIL import Image

    from fpstation.core.imageio import encode_image

    folder.mkdir(parents=True, exist_ok=True)
    expected: dict[str, str] = {}
    for p in good_files(folder, 3, "png", 100):
        expected[p.name] = "ok"
    for fmt, seed in (("bmp", 200), ("tif", 300), ("wsq", 400)):
        for p in good_files(folder, 1, fmt, seed):
            expected[p.name] = "ok"
    img = ridge_image(seed=7)
    # 16-bit TIFF and RGBA PNG are valid inputs: converted with a note, analysed
    Image.fromarray(img.astype(np.uint16) * 257).save(folder / "sixteen_bit.tif")
    expected["sixteen_bit.tif"] = "ok"
    rgba = np.dstack([img, img, img, np.full_like(img, 255)])
    Image.fromarray(rgba, "RGBA").save(folder / "rgba.png")
    expected["rgba.png"] = "ok"
    # hostile files
    (folder / "zero_bytes.png").write_bytes(b"")
    expected["zero_bytes.png"] = "EmptyFileError"
    for fmt in ("PNG", "BMP", "TIFF", "WSQ"):
        data = encode_image(ridge_image(seed=hash(fmt) % 1000), fmt, dpi=500)
        name = f"truncated.{fmt.lower()}"
        (folder / name).write_bytes(data[: max(len(data) // 3, 40)])
        expected[name] = "ImageReadError"  # TruncatedFileError or another ImageReadError subclass
    (folder / "text_renamed.png").write_text("This is a shopping list, not a fingerprint.\n" * 5)
    expected["text_renamed.png"] = "ImageReadError"
    (folder / "huge_header.png").write_bytes(huge_png_header())
    expected["huge_header.png"] = "ImageTooLargeError"
    return expected
