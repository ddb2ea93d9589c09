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


def test_grid_nap_part_fits_on_grid_rows_with_each_rows_subject():
    """--nap: ``grid_nap`` scores the grid patches with a model whose weights are orthogonal to the
    training subjects' nuisance directions (docs/adr/0275)."""
    from fpstation.ml.classifiers.pad_local import part_rows
    from fpstation.ml.classifiers.patches import nuisance_directions

    lv = load_script("training/train_pad_livdet_v2.py")
    rng = np.random.default_rng(0)
    ev, y, subj = [], [], []
    for s, offset in enumerate([0.0, 1.0, 3.0, 4.0]):
        for label in (0, 1):
            for _ in range(4):
                g = rng.normal(0, 0.3, (10, 6))
                g[:, 0] += 1.5 * label
                g[:, 1] += offset
                ev.append({"grid": g})
                y.append(label)
                subj.append(str(s))
    y, subj = np.array(y), np.array(subj)
    tr, te = np.arange(0, 24), np.arange(24, 32)
    z, m = lv.part_logits(ev, tr, te, y, "grid_nap", (1.0, 6, 1), ["mean"], subj)
    assert set(z) == {"mean"} and z["mean"].shape == (8,)
    np.testing.assert_array_equal(part_rows(ev[0], "grid_nap"), ev[0]["grid"])
    xr, yr, pr = lv.patch_train_rows(ev, tr, y, "grid_nap", with_groups=True)
    v = nuisance_directions((xr - m.mean) / m.scale, yr, subj[pr], 1)
    assert v.shape == (6, 1) and abs(float(v[:, 0] @ m.w)) < 1e-8
    _, plain = lv.part_logits(ev, tr, te, y, "grid", (1.0, 6), ["mean"])
    assert abs(float(v[:, 0] @ plain.w)) > 1e-3
