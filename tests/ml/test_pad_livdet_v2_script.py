"""training/train_pad_livdet_v2.py: the per-print out-of-fold columns its results keep."""

from __future__ import annotations

import json

import numpy as np

from tests.scripts import load_script


def test_out_of_fold_columns_keep_every_print_and_mark_the_unscored(tmp_path):
    lv = load_script("training/train_pad_livdet_v2.py")
    items = [{"path": str(tmp_path / "Live" / "002_1_0.png")}, {"path": str(tmp_path / "Fake" / "Gelatine" / "002_1_0.png")},
             {"path": str(tmp_path / "Live" / "003_4_2.png")}]
    subj, y = np.array(["2", "2", "3"]), np.array([0, 1, 0])
    score = {"grid": np.array([0.1, 0.9, np.nan])}
    thr = {"grid": np.array([0.5, 0.5, np.nan])}
    d = lv.out_of_fold(items, str(tmp_path), subj, y, {"score": score, "threshold": thr})
    assert d["path"] == ["Live/002_1_0.png", "Fake/Gelatine/002_1_0.png", "Live/003_4_2.png"]
    assert d["subject"] == ["2", "2", "3"] and d["y"] == [0, 1, 0]
    assert d["score"]["grid"] == [0.1, 0.9, None] and d["threshold"]["grid"] == [0.5, 0.5, None]
    json.dumps(d)  # plain JSON types only
