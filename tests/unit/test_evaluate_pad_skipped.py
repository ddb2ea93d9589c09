"""``evaluate pad`` names the files it could not read and goes on past them."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest


def _ridges(seed: int, size: int = 700) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    r = np.hypot(yy - size * 0.6, xx - size * 0.45)
    img = 255 - 110 * (1 + np.sin(2 * np.pi * r / 18 + rng.uniform(0, 6))) + rng.normal(0, 8, (size, size))
    inside = ((yy - size / 2) / (0.4 * size)) ** 2 + ((xx - size / 2) / (0.3 * size)) ** 2 < 1
    return np.clip(np.where(inside, img, 250.0), 0, 255).astype(np.uint8)


def _folder(tmp_path, bad_live: bool = True):
    root = tmp_path / "livdet"
    (root / "Live").mkdir(parents=True)
    (root / "Fake" / "Latex").mkdir(parents=True)
    for i in range(2):
        cv2.imwrite(str(root / "Live" / f"901_1_{i}.png"), _ridges(i))
        cv2.imwrite(str(root / "Fake" / "Latex" / f"901_2_{i}.png"), _ridges(10 + i))
    if bad_live:
        (root / "Live" / "901_3_0.png").write_text("not an image")
    return root


def test_unreadable_file_is_named_and_left_out(tmp_path, capsys):
    from fpstation.cli import main

    root = _folder(tmp_path)
    out = tmp_path / "ev.json"
    assert main(["evaluate", "pad", "--data", str(root), "--model", "pad-livdet", "--dpi", "1000",
                 "--json", str(out)]) == 0
    d = json.loads(out.read_text())
    assert d["n"] == 4
    assert [f["path"].endswith("901_3_0.png") for f in d["skipped_files"]] == [True]
    assert "text" in d["skipped_files"][0]["reason"]
    assert any("1 unreadable file" in n for n in d["notes"])
    printed = capsys.readouterr().out
    assert "could not be read" in printed and "901_3_0.png" in printed


def test_a_folder_of_unreadable_files_is_refused_plainly(tmp_path):
    from fpstation.core.errors import DatasetError
    from fpstation.ml.classifiers.eval import evaluate_pad_folder

    root = tmp_path / "livdet"
    (root / "Live").mkdir(parents=True)
    (root / "Fake" / "Latex").mkdir(parents=True)
    (root / "Live" / "901_1_0.png").write_text("x")
    (root / "Fake" / "Latex" / "901_2_0.png").write_bytes(b"")
    with pytest.raises(DatasetError, match="could be read"):
        evaluate_pad_folder(root, "pad-livdet", dpi=1000)
