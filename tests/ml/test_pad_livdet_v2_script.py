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


def test_choose_rule_picks_the_aggregate_inside_the_fold():
    """--aggregate choose: the transaction rule's aggregate is chosen like its band (docs/adr/0268)."""
    lv = load_script("training/train_pad_livdet_v2.py")
    # live finger: one borderline-high impression among clearly live ones; spoof finger: steady high
    s = np.array([0.9, 1e-4, 1e-4, 1e-4, 0.3, 0.6, 0.7, 0.65])
    y = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    seqs = [[0, 1, 2], [1, 2, 3], [2, 3, 0], [3, 0, 1], [4, 5, 6], [5, 6, 7], [6, 7, 4], [7, 4, 5]]
    chosen = {}
    try:
        for mode in ("mean", "logit", "choose"):
            lv.AGGREGATE["mode"] = mode
            rule = lv.choose_rule(s, y, seqs, 0.5, max_bpcer=0.0, max_mean_attempts=3.0)
            chosen[mode] = (rule.aggregate, lv.simulate_rule(s, y, seqs, rule))
    finally:
        lv.AGGREGATE["mode"] = "mean"
    # no mean-probability band keeps every live transaction: the single-attempt fallback turns one away
    assert chosen["mean"][0] == "mean" and chosen["mean"][1]["bpcer_k"] == 1
    # the mean logit lets the clearly live attempts outweigh the borderline one, and stops every spoof
    assert chosen["logit"][0] == "logit" and chosen["logit"][1]["bpcer_k"] == 0 and chosen["logit"][1]["apcer_k"] == 0
    assert chosen["choose"][0] == "logit"


def test_resolution_entry_is_the_rule_on_the_training_prints_at_1000_dpi(tmp_path):
    """--resolution-check (docs/adr/0271): the card's range comes from the training prints, measured
    after resampling them to the model's 1000 dpi."""
    import cv2

    from fpstation.core.domain import CardDomain

    lv = load_script("training/train_pad_livdet_v2.py")
    y, x = np.mgrid[0:300, 0:300]
    items = []
    for i, period in enumerate((9.0, 10.0)):            # at 500 dpi: 0.46 and 0.51 mm
        img = (128 + 70 * np.sin(2 * np.pi * (x + 0.3 * y) / period)).astype(np.uint8)
        f = tmp_path / f"{i}.png"
        cv2.imwrite(str(f), img)
        items.append({"path": str(f)})
    e = lv.resolution_entry(items, 500.0)
    lo, hi = e["ridge_period_mm"]
    assert 0.9 * 0.40 < lo < 0.9 * 0.47 and 1.1 * 0.48 < hi < 1.1 * 0.56
    assert e["detail_min"] > 0 and e["validated"].endswith("pad_livdet_resolution.json")
    assert CardDomain.parse({"resolution": e}).resolution.period_mm == (lo, hi)
