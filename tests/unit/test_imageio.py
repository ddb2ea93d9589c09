"""core/imageio: every loader, the writers, dpi rules and every bad-input case (no shared data)."""

from __future__ import annotations

import hashlib
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fpstation.core import imageio
from fpstation.core.errors import (
    EmptyFileError,
    FileAccessError,
    ImageReadError,
    ImageTooLargeError,
    ImageWriteError,
    TruncatedFileError,
    UnsupportedFormatError,
)
from fpstation.core.imageio import (
    SUPPORTED_EXTENSIONS,
    encode_image,
    iter_image_files,
    read_print,
    read_prints,
    write_image,
    write_nist,
)


def ridges(h: int = 120, w: int = 150, seed: int = 0) -> np.ndarray:
    """Synthetic print-like pattern (concentric sinusoid plus noise), deterministic per seed."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    r = np.hypot(yy - h / 2 - rng.uniform(-9, 9), xx - w / 2 - rng.uniform(-9, 9))
    img = 128 + 100 * np.sin(r / rng.uniform(2.5, 4.0)) + rng.normal(0, 6, (h, w))
    return np.clip(img, 0, 255).astype(np.uint8)


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_with_header(w: int, h: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(b"\0" * 64))
            + png_chunk(b"IEND", b""))


def mae(a: np.ndarray, b: np.ndarray) -> float:
    assert a.shape == b.shape
    return float(np.abs(a.astype(int) - b.astype(int)).mean())


@pytest.fixture
def img():
    return ridges()


# ---------------------------------------------------------------------------- round trips

@pytest.mark.parametrize("ext", [".png", ".bmp", ".tif", ".tiff", ".pgm"])
def test_lossless_round_trip(tmp_path, img, ext):
    p = write_image(tmp_path / f"a{ext}", img, dpi=500)
    im = read_print(p)
    assert im.pixels.dtype == np.uint8
    assert im.pixels.shape == img.shape
    assert np.array_equal(im.pixels, img)
    assert im.dpi == (None if ext == ".pgm" else 500.0)  # PGM has no resolution field
    assert im.format == {".png": "PNG", ".bmp": "BMP", ".tif": "TIFF", ".tiff": "TIFF", ".pgm": "PGM"}[ext]
    assert im.sha256 == hashlib.sha256(p.read_bytes()).hexdigest()
    assert im.source == str(p)
    assert im.index == 0
    assert im.record == ""
    assert im.finger_position is None


@pytest.mark.parametrize("ext", [".png", ".bmp", ".tif", ".jpg", ".wsq"])
@pytest.mark.parametrize("dpi", [None, 569.0, 1000.0])
def test_dpi_written_and_read_back(tmp_path, img, ext, dpi):
    im = read_print(write_image(tmp_path / f"a{ext}", img, dpi=dpi))
    assert im.dpi == dpi


def test_jpeg_round_trip_is_close(tmp_path, img):
    im = read_print(write_image(tmp_path / "a.jpeg", img, dpi=500))
    assert im.format == "JPEG"
    assert im.dpi == 500.0
    assert mae(im.pixels, img) < 3.0


def test_wsq_round_trip(tmp_path, img):
    p = write_image(tmp_path / "a.wsq", img, dpi=500)
    assert p.read_bytes()[:2] == b"\xff\xa0"
    im = read_print(p)
    assert im.format == "WSQ"
    assert im.dpi == 500.0
    assert im.pixels.shape == img.shape
    assert 0 < mae(im.pixels, img) < 10.0  # lossy, but close


def test_wsq_written_by_nbis_elsewhere_reads():
    """The sample WSQ shipped with the wsq package (made by NBIS, not by us)."""
    import wsq

    p = Path(wsq.__file__).parent / "tests" / "test.wsq"
    if not p.is_file():
        pytest.skip("wsq package ships no test.wsq here")
    im = read_print(p)
    assert im.format == "WSQ"
    assert im.pixels.dtype == np.uint8
    assert im.pixels.ndim == 2
    assert im.width > 100
    assert im.height > 100
    assert im.dpi is None or 100 <= im.dpi <= 2000


def test_16bit_tiff_scaled_by_bit_depth(tmp_path, img):
    p = write_image(tmp_path / "a16.tif", img.astype(np.uint16) * 257, dpi=500)
    with Image.open(p) as pil:
        assert pil.mode.startswith("I;16")
    im = read_print(p)
    assert np.array_equal(im.pixels, img)  # 0..65535 → 0..255 exactly
    assert any("16-bit" in n for n in im.notes)


def test_16bit_png_and_pgm(tmp_path, img):
    wide = img.astype(np.uint16) * 257
    for ext in (".png", ".pgm"):
        im = read_print(write_image(tmp_path / f"a16{ext}", wide))
        assert np.array_equal(im.pixels, img), ext


def tiff_12bit(rows: list[list[int]]) -> bytes:
    """A minimal little-endian TIFF with BitsPerSample=12 (packed, MSB first), built by hand."""
    h, w = len(rows), len(rows[0])
    assert w % 2 == 0
    strip = b""
    for row in rows:
        for a, b in zip(row[0::2], row[1::2], strict=True):
            strip += bytes([a >> 4, ((a & 0xF) << 4) | (b >> 8), b & 0xFF])
    tags = [(256, 3, w), (257, 3, h), (258, 3, 12), (259, 3, 1), (262, 3, 1), (273, 4, 0),
            (277, 3, 1), (278, 3, h), (279, 4, len(strip))]
    ifd_off = 8
    data_off = ifd_off + 2 + 12 * len(tags) + 4
    ifd = struct.pack("<H", len(tags))
    for tag, typ, val in tags:
        val = data_off if tag == 273 else val
        ifd += struct.pack("<HHI", tag, typ, 1) + (struct.pack("<HH", val, 0) if typ == 3 else struct.pack("<I", val))
    return b"II*\x00" + struct.pack("<I", ifd_off) + ifd + struct.pack("<I", 0) + strip


def test_12bit_tiff_uses_declared_bits(tmp_path):
    """A TIFF declaring BitsPerSample=12 is scaled 0..4095 → 0..255, not 0..65535."""
    p = tmp_path / "a12.tif"
    p.write_bytes(tiff_12bit([[0, 4095], [2048, 1024]]))
    im = read_print(p)
    assert im.pixels[0, 0] == 0
    assert im.pixels[0, 1] == 255
    assert abs(int(im.pixels[1, 0]) - 128) <= 1
    assert abs(int(im.pixels[1, 1]) - 64) <= 1
    assert any("12-bit" in n for n in im.notes)


def test_rgba_png_composited_on_white(tmp_path):
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., :3] = 0  # black ink
    rgba[0, :, 3] = 0  # fully transparent row → paper
    rgba[1, :, 3] = 255  # opaque → black
    rgba[2, :, 3] = 128  # half → mid grey
    rgba[3, :, :3] = (255, 0, 0)
    rgba[3, :, 3] = 255  # opaque red → luma
    p = tmp_path / "rgba.png"
    Image.fromarray(rgba, "RGBA").save(p)
    im = read_print(p)
    assert im.pixels.dtype == np.uint8
    assert im.pixels.shape == (4, 4)
    assert (im.pixels[0] == 255).all()
    assert (im.pixels[1] == 0).all()
    assert (abs(im.pixels[2].astype(int) - 127) <= 1).all()
    assert (abs(im.pixels[3].astype(int) - 76) <= 1).all()  # ITU-R 601: 0.299*255
    assert any("transparency" in n for n in im.notes)
    assert any("colour" in n for n in im.notes)


def test_rgb_and_palette_converted(tmp_path, img):
    rgb = np.dstack([img, img, img])
    Image.fromarray(rgb, "RGB").save(tmp_path / "rgb.png")
    assert np.array_equal(read_print(tmp_path / "rgb.png").pixels, img)
    Image.fromarray(img).convert("P").save(tmp_path / "pal.png")
    assert read_print(tmp_path / "pal.png").pixels.shape == img.shape
    Image.fromarray(img).convert("1").save(tmp_path / "bw.bmp")
    assert set(np.unique(read_print(tmp_path / "bw.bmp").pixels)) <= {0, 255}


def test_fvc_style_1x1_dpi_tiff_is_unknown(tmp_path, img):
    p = tmp_path / "fvc.tif"
    Image.fromarray(img).save(p, dpi=(1, 1))  # what the FVC TIFFs say
    im = read_print(p)
    assert im.dpi is None
    assert any("not a plausible" in n for n in im.notes)


def test_editor_default_72dpi_png_is_unknown(tmp_path, img):
    Image.fromarray(img).save(tmp_path / "a.png", dpi=(72, 72))
    assert read_print(tmp_path / "a.png").dpi is None


def test_no_resolution_is_unknown(tmp_path, img):
    Image.fromarray(img).save(tmp_path / "a.png")
    Image.fromarray(img).save(tmp_path / "a.jpg")
    assert read_print(tmp_path / "a.png").dpi is None
    assert read_print(tmp_path / "a.jpg").dpi is None


def test_pixels_per_cm_png(tmp_path, img):
    Image.fromarray(img).save(tmp_path / "a.png", dpi=(1000, 1000))
    assert read_print(tmp_path / "a.png").dpi == 1000.0


def test_exif_orientation_is_noted_not_applied(tmp_path, img):
    exif = Image.Exif()
    exif[274] = 6  # "rotate 90° CW to display"
    Image.fromarray(img).save(tmp_path / "phone.jpg", exif=exif.tobytes(), quality=95)
    im = read_print(tmp_path / "phone.jpg")
    assert im.pixels.shape == img.shape  # not rotated
    assert any("EXIF orientation 6" in n for n in im.notes)


def test_content_decides_format_not_the_name(tmp_path, img):
    p = tmp_path / "really_a_jpeg.png"
    p.write_bytes(encode_image(img, "JPEG", 500))
    im = read_print(p)
    assert im.format == "JPEG"
    assert im.dpi == 500.0
    assert any("named .png but contains JPEG" in n for n in im.notes)


# ---------------------------------------------------------------------------- NIST

@pytest.mark.parametrize("compression", ["wsq", "none"])
@pytest.mark.parametrize("record_type", [14, 4])
def test_nist_multi_print_round_trip(tmp_path, compression, record_type):
    a, b = ridges(120, 150, 1), ridges(90, 110, 2)
    p = write_nist(tmp_path / "t.eft", [(a, 500.0, 2), (b, 500.0, 7)], compression=compression,
                   record_type=record_type)
    data = p.read_bytes()
    assert data.startswith(b"1.001:")
    prints = read_prints(p)
    assert len(prints) == 2
    assert [x.finger_position for x in prints] == [2, 7]
    assert [x.index for x in prints] == [0, 1]
    assert {x.record for x in prints} == {f"Type-{record_type}"}
    assert {x.format for x in prints} == {"NIST"}
    assert {x.sha256 for x in prints} == {hashlib.sha256(data).hexdigest()}
    assert prints[0].key != prints[1].key
    for got, want in zip(prints, (a, b), strict=True):
        assert got.dpi == 500.0
        if compression == "none":
            assert np.array_equal(got.pixels, want)
        else:
            assert 0 < mae(got.pixels, want) < 10.0
    assert "finger 7" in prints[1].label
    assert "Type-" in prints[1].label
    assert read_print(p).finger_position == 2


def test_nist_type14_dpi_unknown_and_other_dpi(tmp_path):
    p = write_nist(tmp_path / "t.nist", [(ridges(), None, 1), (ridges(seed=3), 1000.0, 6)], compression="none")
    first, second = read_prints(p)
    assert first.dpi is None
    assert second.dpi == 1000.0


@pytest.mark.parametrize("dpi", [1000.0, 569.0, 750.0, 333.0])
def test_nist_type4_native_resolution(tmp_path, dpi):
    p = write_nist(tmp_path / "t4.an2", [(ridges(), dpi, 3)], compression="wsq", record_type=4)
    (im,) = read_prints(p)
    assert im.dpi == dpi
    assert im.finger_position == 3


def test_nist_type4_rejects_mixed_dpi(tmp_path):
    with pytest.raises(ImageWriteError):
        write_nist(tmp_path / "t4.eft", [(ridges(), 500.0, 1), (ridges(), 1000.0, 2)], record_type=4)


def test_nist_structure_has_type1_type2_and_cnt(tmp_path):
    import nistitl

    p = write_nist(tmp_path / "t.eft", [(ridges(), 500.0, 2), (ridges(seed=2), 500.0, 3)])
    msg = nistitl.Message()
    msg.parse(p.read_bytes())
    types = [r.type for r in msg]
    assert types == [1, 2, 14, 14]
    cnt = msg[0]["CNT"].value
    assert cnt[0] == ["1", "3"]
    assert [c[0] for c in cnt[1:]] == ["2", "14", "14"]
    rec = msg[2]
    assert rec.CGA == "WSQ20"
    assert rec.SLC == "1"
    assert rec.THPS == "500"
    assert rec.HLL == "150"


def test_nist_without_fingerprint_records(tmp_path):
    import nistitl

    msg = nistitl.Message()
    msg.TOT = "X"
    r2 = nistitl.AsciiRecord(2)
    r2.IDC = 0
    msg += r2
    (tmp_path / "empty.eft").write_bytes(msg.NIST)
    with pytest.raises(ImageReadError, match="no fingerprint image"):
        read_prints(tmp_path / "empty.eft")


def test_nist_truncated(tmp_path):
    data = write_nist(tmp_path / "t.eft", [(ridges(), 500.0, 2)], compression="none").read_bytes()
    (tmp_path / "cut.eft").write_bytes(data[: len(data) // 2])
    with pytest.raises(TruncatedFileError):
        read_prints(tmp_path / "cut.eft")


def test_nist_unsupported_compression(tmp_path):
    import nistitl

    p = write_nist(tmp_path / "t.eft", [(ridges(), 500.0, 2)], compression="none")
    msg = nistitl.Message()
    msg.parse(p.read_bytes())
    msg[2].CGA = "JPEGL"
    (tmp_path / "jpegl.eft").write_bytes(msg.NIST)
    with pytest.raises(UnsupportedFormatError, match="JPEGL"):
        read_prints(tmp_path / "jpegl.eft")


def test_nist_garbage_after_header(tmp_path):
    (tmp_path / "junk.eft").write_bytes(b"1.001:57\x1d1.002:0400\x1dthis is not a nist file at all")
    with pytest.raises(ImageReadError):
        read_prints(tmp_path / "junk.eft")


# ---------------------------------------------------------------------------- bad input

@pytest.mark.parametrize("ext", [".png", ".bmp", ".tif", ".wsq", ".eft", ".jpg", ".pgm"])
def test_zero_byte_file(tmp_path, ext):
    p = tmp_path / f"empty{ext}"
    p.write_bytes(b"")
    with pytest.raises(EmptyFileError) as ei:
        read_print(p)
    assert "empty" in ei.value.user_message
    assert p.name in ei.value.user_message


@pytest.mark.parametrize("fmt,ext", [("PNG", ".png"), ("BMP", ".bmp"), ("TIFF", ".tif"), ("WSQ", ".wsq"),
                                     ("JPEG", ".jpg"), ("PGM", ".pgm")])
@pytest.mark.parametrize("keep", [0.5, 0.02])
def test_truncated_file(tmp_path, img, fmt, ext, keep):
    data = encode_image(img, fmt, 500)
    p = tmp_path / f"cut{ext}"
    p.write_bytes(data[: max(4, int(len(data) * keep))])
    with pytest.raises((TruncatedFileError, UnsupportedFormatError)) as ei:
        read_print(p)
    if keep == 0.5:
        assert isinstance(ei.value, TruncatedFileError)
        assert "truncated" in ei.value.user_message


def test_text_named_png(tmp_path):
    p = tmp_path / "notes.png"
    p.write_text("Case 2041: suspect prints attached\n", encoding="utf-8")
    with pytest.raises(UnsupportedFormatError) as ei:
        read_print(p)
    assert "text" in ei.value.user_message
    assert "PNG" in ei.value.user_message


def test_random_bytes_unknown_extension(tmp_path):
    p = tmp_path / "blob.dat"
    p.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(UnsupportedFormatError, match="Supported formats"):
        read_print(p)


@pytest.mark.parametrize("w,h", [(60000, 60000), (20000, 10), (9500, 9500)])
def test_absurd_png_dimensions_refused_before_decoding(tmp_path, w, h):
    p = tmp_path / "bomb.png"
    p.write_bytes(png_with_header(w, h))
    with pytest.raises(ImageTooLargeError):
        read_print(p)


def test_decompression_bomb_warning_becomes_error(tmp_path, recwarn):
    """9500×9500 = 90 MP: Pillow only *warns*; we must raise, not warn."""
    p = tmp_path / "warn.png"
    p.write_bytes(png_with_header(9500, 9500))
    with pytest.raises(ImageTooLargeError):
        read_print(p)
    assert not [w for w in recwarn if "DecompressionBomb" in w.category.__name__]


def test_absurd_bmp_and_wsq_dimensions(tmp_path, img):
    bmp = bytearray(encode_image(img, "BMP", 500))
    bmp[18:26] = struct.pack("<ii", 60000, 60000)
    (tmp_path / "big.bmp").write_bytes(bytes(bmp))
    with pytest.raises(ImageTooLargeError):
        read_print(tmp_path / "big.bmp")
    wsq = bytearray(encode_image(img, "WSQ", 500))
    sof = wsq.find(b"\xff\xa2")
    wsq[sof + 6:sof + 10] = struct.pack(">HH", 60000, 60000)
    (tmp_path / "big.wsq").write_bytes(bytes(wsq))
    with pytest.raises(ImageTooLargeError):
        read_print(tmp_path / "big.wsq")


def test_tiff_unsupported_compression(tmp_path, img):
    data = bytearray(encode_image(img, "TIFF", 500))
    off = struct.unpack("<I", data[4:8])[0]
    for i in range(struct.unpack("<H", data[off:off + 2])[0]):
        e = off + 2 + 12 * i
        if struct.unpack("<H", data[e:e + 2])[0] == 259:
            data[e + 8:e + 10] = struct.pack("<H", 34712)  # JPEG 2000 in TIFF
    (tmp_path / "j2k.tif").write_bytes(bytes(data))
    with pytest.raises(UnsupportedFormatError, match="compression"):
        read_print(tmp_path / "j2k.tif")


def test_bmp_unsupported_compression(tmp_path, img):
    data = bytearray(encode_image(img, "BMP", 500))
    data[30:34] = struct.pack("<I", 4)  # BI_JPEG
    (tmp_path / "jpeg.bmp").write_bytes(bytes(data))
    with pytest.raises(UnsupportedFormatError):
        read_print(tmp_path / "jpeg.bmp")


def test_folder_and_missing_file(tmp_path):
    (tmp_path / "dir.png").mkdir()
    with pytest.raises(FileAccessError, match="folder"):
        read_print(tmp_path / "dir.png")
    with pytest.raises(FileAccessError, match="does not exist"):
        read_print(tmp_path / "nope.wsq")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "scanner.png"
    os.mkfifo(fifo)
    with pytest.raises(FileAccessError, match="not a regular file"):
        read_print(fifo)


def test_permission_denied_simulated(tmp_path, img, monkeypatch):
    p = write_image(tmp_path / "a.png", img)

    def deny(*a, **k):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(imageio, "open", deny, raising=False)
    with pytest.raises(FileAccessError, match="permission"):
        read_print(p)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads files whatever their mode")
def test_permission_denied_real(tmp_path, img):
    p = write_image(tmp_path / "a.png", img)
    p.chmod(0)
    try:
        with pytest.raises(FileAccessError, match="permission"):
            read_print(p)
    finally:
        p.chmod(0o644)


def test_unexpected_decoder_failure_is_still_a_typed_error(tmp_path, img, monkeypatch):
    p = write_image(tmp_path / "a.png", img)

    def boom(*a, **k):
        raise RuntimeError("decoder bug")

    monkeypatch.setattr(imageio, "_decode_pillow", boom)
    with pytest.raises(ImageReadError, match="could not be read") as ei:
        read_print(p)
    assert ei.value.path == str(p)


def test_error_path_is_the_full_path(tmp_path):
    p = tmp_path / "t.png"
    p.write_text("text", encoding="utf-8")
    with pytest.raises(UnsupportedFormatError) as ei:
        read_print(p)
    assert ei.value.path == str(p)


def test_errors_are_image_read_errors_with_messages(tmp_path):
    """Everything above derives from ImageReadError, so callers can catch one type."""
    for cls in (EmptyFileError, TruncatedFileError, UnsupportedFormatError, ImageTooLargeError, FileAccessError):
        assert issubclass(cls, ImageReadError)


# ---------------------------------------------------------------------------- writing

def test_write_image_refuses_bad_input(tmp_path, img):
    with pytest.raises(ImageWriteError):
        write_image(tmp_path / "a.gif", img)
    with pytest.raises(ImageWriteError):
        write_image(tmp_path / "a.png", img.astype(np.float32))
    with pytest.raises(ImageWriteError):
        write_image(tmp_path / "a.pgm", np.dstack([img, img, img]))
    with pytest.raises(ImageWriteError):
        write_image(tmp_path / "a.png", np.dstack([img, img, img, img]))
    with pytest.raises(ImageWriteError):
        write_image(tmp_path / "a.wsq", img.astype(np.uint16))
    assert not list(tmp_path.iterdir())  # nothing half-written


def test_colour_figures_can_be_written(tmp_path, img):
    rgb = np.dstack([img, np.zeros_like(img), 255 - img])
    with Image.open(write_image(tmp_path / "fig.png", rgb)) as pil:
        assert pil.mode == "RGB"
        assert np.array_equal(np.asarray(pil), rgb)
    assert read_print(tmp_path / "fig.png").pixels.shape == img.shape  # read back as grey


def test_written_files_get_normal_permissions(tmp_path, img):
    p = write_image(tmp_path / "sub" / "a.png", img)
    umask = os.umask(0)
    os.umask(umask)
    assert p.stat().st_mode & 0o777 == 0o666 & ~umask
    assert [x.name for x in p.parent.iterdir()] == ["a.png"]


def test_write_nist_refuses_bad_arguments(tmp_path, img):
    with pytest.raises(ImageWriteError):
        write_nist(tmp_path / "x.eft", [])
    with pytest.raises(ImageWriteError):
        write_nist(tmp_path / "x.eft", [(img, 500.0, 2)], compression="jpeg")
    with pytest.raises(ImageWriteError):
        write_nist(tmp_path / "x.eft", [(img, 500.0, 42)])


# ---------------------------------------------------------------------------- folders

def test_iter_image_files(tmp_path, img):
    root = tmp_path / "case"
    for rel in ["b.png", "A.BMP", "sub/c.wsq", "sub/deeper/d.eft", ".hidden.png", ".git/e.png", "notes.txt",
                "sub/Z.TIF"]:
        f = root / rel
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(b"x")
    rel = [p.relative_to(root).as_posix() for p in iter_image_files(root)]
    assert rel == ["A.BMP", "b.png", "sub/c.wsq", "sub/deeper/d.eft", "sub/Z.TIF"]
    assert [p.name for p in iter_image_files(root, recursive=False)] == ["A.BMP", "b.png"]
    assert [p.name for p in iter_image_files(root, extensions=["png", ".TIF"])] == ["b.png", "Z.TIF"]
    assert list(iter_image_files(root)) == list(iter_image_files(root))  # deterministic
    with pytest.raises(FileAccessError):
        list(iter_image_files(tmp_path / "missing"))
    with pytest.raises(FileAccessError):
        list(iter_image_files(root / "b.png"))


def test_supported_extensions():
    assert SUPPORTED_EXTENSIONS == frozenset(
        {".png", ".bmp", ".tif", ".tiff", ".jpg", ".jpeg", ".pgm", ".wsq", ".eft", ".an2", ".nist"})


def test_bundled_samples():
    from fpstation.core.samples import load_sample, sample_file, sample_files

    files = sample_files()
    assert len(files) >= 2
    assert sum(f.stat().st_size for f in files) < 1_000_000
    for f in files:
        im = read_print(f)
        assert im.dpi == 500.0
        assert im.format == "PNG"
        assert min(im.pixels.shape) >= 200
    assert sample_file(files[1].stem) == files[1]
    assert load_sample().source == str(files[0])
    with pytest.raises(FileAccessError):
        sample_file("no-such-sample")


@pytest.mark.slow  # pyfing imports Keras/TensorFlow
def test_nist_file_readable_by_an_independent_parser(tmp_path):
    """pyfing's own NIST reader (written for NIST SD27/SD302) parses what write_nist produces."""
    nist_format = pytest.importorskip("pyfing.utils._nist_format")
    a = ridges(130, 150, 4)
    p = write_nist(tmp_path / "one.eft", [(a, 500.0, 3)], compression="none")
    f = nist_format._read_nist_file(str(p))
    assert f["1.002"] == [["0400"]]
    assert f["1.003"] == [["1", "2"], ["2", "0"], ["14", "1"]]
    assert (f["14.006"], f["14.007"], f["14.008"], f["14.009"]) == ([["150"]], [["130"]], [["1"]], [["500"]])
    assert (f["14.011"], f["14.012"], f["14.013"]) == ([["NONE"]], [["8"]], [["3"]])
    assert np.array_equal(np.frombuffer(f["14.999"], np.uint8).reshape(130, 150), a)
    assert int(f["14.001"][0][0]) == len(p.read_bytes()) - p.read_bytes().index(b"14.001:")


def test_nist_type13_latent_and_pixels_per_cm(tmp_path):
    """A Type-13 (latent) record built field by field, with its scale in pixels per centimetre."""
    import nistitl

    a = ridges(80, 100, 5)
    msg = nistitl.Message()
    msg.TOT = "LFS"
    r2 = nistitl.AsciiRecord(2)
    r2.IDC = 0
    msg += r2
    r = nistitl.AsciiRecord(13)
    r.IDC = 1
    for tag, val in ((3, "4"), (4, "LAB"), (5, "20240101"), (6, "100"), (7, "80"), (8, "2"), (9, "394"),
                     (10, "394"), (11, "NONE"), (12, "8"), (13, "0")):
        r += nistitl.Field(13, tag, val)
    r += nistitl.BinaryField(13, 999, a.tobytes())
    msg += r
    (tmp_path / "latent.nist").write_bytes(msg.NIST)
    (im,) = read_prints(tmp_path / "latent.nist")
    assert im.record == "Type-13"
    assert im.finger_position is None  # code 0 = unknown finger
    assert np.array_equal(im.pixels, a)
    assert im.dpi == 1000.76  # 394 px/cm × 2.54


# ---------------------------------------------------------------------------- WSQ decoder isolation

def test_damaged_wsq_is_an_image_or_a_typed_error_never_a_lost_process(tmp_path):
    """Fuzz: single-byte damage to a WSQ. NBIS reads past its buffers on some of these (flipping byte
    1005 to 252 segfaulted it on our machine, wsq 0.9), but whether a given flip crashes depends on
    memory layout, so this checks the property that holds everywhere: each damaged file either
    decodes to an image or raises ImageReadError; nothing else escapes and the process survives.
    The crash path itself is forced deterministically in the test below."""
    clean = bytes(encode_image(ridges(), "WSQ", 500))
    rng = np.random.default_rng(0)
    flips = [(1005, 252)] + [(int(rng.integers(0, len(clean))), int(rng.integers(0, 256))) for _ in range(40)]
    outcomes = {"image": 0, "error": 0}
    p = tmp_path / "damaged.wsq"
    for pos, value in flips:
        data = bytearray(clean)
        data[pos] = value
        p.write_bytes(bytes(data))
        try:
            im = read_print(p)
        except ImageReadError as e:
            assert e.detail  # a reason a person can read
            outcomes["error"] += 1
        else:
            assert im.pixels.dtype == np.uint8
            assert im.pixels.ndim == 2
            outcomes["image"] += 1
    assert outcomes["error"] >= 5, outcomes  # header/table damage is always caught
    assert read_print(write_image(tmp_path / "fine.wsq", ridges(), 500)).pixels.shape == (120, 150)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="isolation needs os.fork")
def test_wsq_decoder_crash_and_hang_are_contained(tmp_path, monkeypatch):
    import time

    import _wsq

    p = write_image(tmp_path / "a.wsq", ridges(), 500)
    import signal

    for die in (os.abort, lambda: os.kill(os.getpid(), signal.SIGSEGV)):  # runs in the child only
        monkeypatch.setattr(_wsq, "decompress", lambda data, die=die: die())
        with pytest.raises(TruncatedFileError, match="damaged") as ei:
            read_print(p)
        assert "crashed" in ei.value.detail
    from fpstation.core import imagecodecs

    monkeypatch.setattr(imagecodecs, "WSQ_DECODE_TIMEOUT_S", 0.5)
    monkeypatch.setattr(_wsq, "decompress", lambda data: time.sleep(30))
    t0 = time.perf_counter()
    with pytest.raises(TruncatedFileError) as ei:
        read_print(p)
    assert time.perf_counter() - t0 < 10
    assert "did not finish" in ei.value.detail
