"""Issue 16 items 8-10: symlinked folders are followed, a batch with every step off still gives a
row per file, and the dpi column says where the resolution came from (or why it is unknown)."""

import csv
import os

import numpy as np
import pytest
from PIL import Image

from fpstation.cli import main
from fpstation.core.batch import list_images
from fpstation.core.imageio import dpi_note, iter_image_files, read_print
from fpstation.core.store import CaseStore
from fpstation.ml.datasets import detect_layout, image_files


def _png(path, dpi=None):
    arr = (np.arange(48 * 40) % 251).astype(np.uint8).reshape(48, 40)
    Image.fromarray(arr).save(path, **({"dpi": (dpi, dpi)} if dpi else {}))


@pytest.fixture
def linked_tree(tmp_path):
    """root/a.png, root/sub -> ../elsewhere (a symlink) holding b.png, and a loop root/sub/up -> root."""
    root, elsewhere = tmp_path / "root", tmp_path / "elsewhere"
    root.mkdir()
    elsewhere.mkdir()
    _png(root / "a.png", 500)
    _png(elsewhere / "b.png", 500)
    os.symlink(elsewhere, root / "sub")
    os.symlink(root, elsewhere / "up")  # a loop: must not be walked forever or listed twice
    return root


def test_symlinked_subfolders_are_followed_once(linked_tree):
    names = [p.name for p in iter_image_files(linked_tree)]
    assert names == ["a.png", "b.png"]
    assert [os.path.basename(p) for p in list_images(linked_tree)] == ["a.png", "b.png"]
    assert sorted(p.name for p in image_files(linked_tree)) == ["a.png", "b.png"]


def test_dataset_layout_sees_linked_class_folders(tmp_path):
    root = tmp_path / "ds"
    root.mkdir()
    for cls in ("Live", "Fake"):
        real = tmp_path / f"real_{cls}"
        real.mkdir()
        _png(real / "1_x.png")
        os.symlink(real, root / cls)
    assert detect_layout(root) == "livdet"


def test_batch_with_every_step_off_gives_a_row_per_file(linked_tree, tmp_path, capsys):
    (linked_tree / "bad.png").write_bytes(b"not an image")
    out = tmp_path / "r.csv"
    rc = main(["batch", str(linked_tree), "--out", str(out), "--case", str(tmp_path / "c.db"),
               "--no-restore", "--no-pad", "--no-gender", "--no-quality", "--quiet"])
    assert rc == 0
    rows = list(csv.DictReader(out.open()))
    assert sorted(os.path.basename(r["path"]) for r in rows) == ["a.png", "b.png", "bad.png"]
    good = [r for r in rows if r["status"] != "bad file"]
    assert all(r["sha256"] and r["width"] == "40" and r["dpi"] == "500.0" for r in good)
    assert all(r["dpi_note"] == "from the file" for r in good)
    # a second run finds them stored and skips them (nothing to add)
    out2 = tmp_path / "r2.csv"
    assert main(["batch", str(linked_tree), "--out", str(out2), "--case", str(tmp_path / "c.db"),
                 "--no-restore", "--no-pad", "--no-gender", "--no-quality", "--quiet"]) == 0
    assert sorted(r["status"] for r in csv.DictReader(out2.open())) == ["bad file", "skipped", "skipped"]


def test_implausible_file_dpi_is_named_not_hidden(tmp_path):
    bmp = tmp_path / "x.bmp"
    Image.fromarray(np.full((30, 30), 128, np.uint8)).save(bmp, dpi=(96, 96))
    im = read_print(bmp)
    assert im.dpi is None
    assert dpi_note(im) == "96 dpi in the file, not plausible"
    _png(tmp_path / "none.png")
    assert dpi_note(read_print(tmp_path / "none.png")) == "the file does not say"
    stated = read_print(bmp).with_stated_dpi(500)
    assert dpi_note(stated) == "stated by the operator (the file says 96 dpi, not plausible)"
    with CaseStore(tmp_path / "c.db") as st:
        pid = st.record_print(im, [])
        assert st.print_row(pid)["dpi_note"] == "96 dpi in the file, not plausible"
