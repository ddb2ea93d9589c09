"""training/train_pad_livdet_cnn.py (ADR 0269): patches, cross-fitted logits and the fusion stack."""

from __future__ import annotations

import numpy as np

from tests.scripts import load_script


def test_patches_are_centred_and_padded_white():
    cn = load_script("training/train_pad_livdet_cnn.py")
    crop = np.zeros((200, 300), np.uint8)
    crop[100, 150] = 7
    p = cn.patches_at(crop, np.array([[100, 150], [0, 0]]))
    r = cn.SIDE // 2
    assert p.shape == (2, cn.SIDE, cn.SIDE)
    assert p[0, r, r] == 7 and (p[0] == 7).sum() == 1          # the centre pixel sits at the centre
    assert (p[1, :r, :] == 255).all() and (p[1, :, :r] == 255).all()   # outside the crop: white
    assert (p[1, r:, r:] == 0).all()
    assert cn.patches_at(crop, np.zeros((0, 2))).shape == (0, cn.SIDE, cn.SIDE)


def test_augment_keeps_shape_and_range():
    cn = load_script("training/train_pad_livdet_cnn.py")
    p = np.random.default_rng(0).integers(0, 256, (5, cn.SIDE, cn.SIDE)).astype(np.uint8)
    a = cn.augment(p, np.random.default_rng(1))
    assert a.shape == p.shape and a.dtype == np.uint8
    assert not np.array_equal(a, p)


def test_cnn_logits_use_one_calibration_and_average_the_networks():
    from fpstation.ml.classifiers import metrics as cm

    cn = load_script("training/train_pad_livdet_cnn.py")
    items = [{"path": f"p{i}"} for i in range(8)]
    y = np.array([0, 0, 1, 1, 0, 1, 0, 1])
    tr, te = np.arange(6), np.array([6, 7])
    recs = [{"oof": {"p0": -2.0, "p2": 1.0, "p4": -0.5}, "test": {"p6": -1.0, "p7": 2.0}},
            {"oof": {"p1": -1.5, "p3": 2.5, "p5": 0.2}, "test": {"p6": -3.0, "p7": 4.0}}]
    zin, zte, cal = cn.cnn_logits(items, recs, tr, te, y)
    raw = np.array([-2.0, -1.5, 1.0, 2.5, -0.5, 0.2])
    assert np.allclose(zin, cm.apply_calibration(raw, cal))
    want = [np.mean([cm.apply_calibration(np.array([a]), cal)[0] for a in v]) for v in ((-1.0, -3.0), (2.0, 4.0))]
    assert np.allclose(zte, want)


def test_fusion_stack_scores_each_subject_with_a_model_that_did_not_see_it():
    cn = load_script("training/train_pad_livdet_cnn.py")
    rng = np.random.default_rng(0)
    g = np.repeat(np.array(["1", "2", "3", "4"]), 20)
    y = np.tile(np.r_[np.zeros(10), np.ones(10)], 4).astype(int)
    z = np.column_stack([rng.normal(2 * y - 1, 1), rng.normal(2 * y - 1, 1)])
    zin, zte, choice = cn.stack(z, z[:3], y, g)
    # subject 4's out-of-fold scores come from a model fitted on subjects 1-3 only
    m = cn.v2.fit_linear(z[g != "4"], y[g != "4"], 1.0)
    so = m.decision(z[g == "4"])
    a, b = choice["calibration"]["a"], choice["calibration"]["b"]
    assert np.allclose(zin[g == "4"], a * so + b)
    assert zte.shape == (3,) and len(choice["weights"]) == 2
