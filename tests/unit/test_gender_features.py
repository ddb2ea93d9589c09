"""Gender v2 cues (ridge frequency, ridge/valley widths, spectrum, finger size), the numpy feature
model and the subject bootstrap. Generated prints only; no TensorFlow."""

from __future__ import annotations

import numpy as np
import pytest

from fpstation.ml.classifiers import metrics as cm
from fpstation.ml.classifiers.gender_features import (
    GROUPS,
    IMAGE_NAMES,
    NAMES,
    FeatureModel,
    columns,
    features,
    finger_code,
)


def _ridges(freq: float, rng: np.random.Generator, h: int = 103, w: int = 96, duty: float = 0.0) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    th = rng.uniform(0, np.pi)
    v = np.sin(2 * np.pi * freq * (xx * np.cos(th) + yy * np.sin(th)) + rng.uniform(0, 6.28)) + duty
    img = np.where(v > 0, 40, 215) + rng.normal(0, 8, (h, w))  # dark ridges (v > 0) on a light ground
    return np.clip(img, 0, 255).astype(np.uint8)


def test_feature_vector_is_complete_and_finite():
    f = features(_ridges(0.28, np.random.default_rng(0)))
    assert f.shape == (len(NAMES),)
    assert np.isfinite(f[: len(IMAGE_NAMES)]).all()
    assert np.isnan(f[columns(["finger"])]).all()  # finger unknown
    assert sorted(columns(["spectrum"])) == [NAMES.index(n) for n in GROUPS["spectrum"]]
    g = features(_ridges(0.28, np.random.default_rng(0)), finger=7)
    assert np.array_equal(g[:len(IMAGE_NAMES)], f[:len(IMAGE_NAMES)])
    assert g[columns(["finger"])].tolist() == [float(k == 7) for k in range(1, 11)]


def test_finger_code_from_field_or_socofing_name():
    from fpstation.core.types import FingerprintImage

    px = np.zeros((10, 10), np.uint8)
    im = FingerprintImage(px, None, "/d/Real/12__F_Left_index_finger.BMP", "0" * 64)
    assert finger_code(im) == 7
    assert finger_code(FingerprintImage(px, None, "/d/12__M_Right_thumb_finger_CR.BMP", "0" * 64)) == 1
    assert finger_code(FingerprintImage(px, None, "/d/print.png", "0" * 64, finger_position=4)) == 4
    assert finger_code(FingerprintImage(px, None, "/d/print.png", "0" * 64, finger_position=0)) == 0


def test_unknown_finger_is_the_average_over_fingers():
    rng = np.random.default_rng(6)
    img = [_ridges(0.22 if k % 2 else 0.3, rng) for k in range(40)]
    fingers = [1 + k % 10 for k in range(40)]
    x = np.array([features(p, fg) for p, fg in zip(img, fingers, strict=True)])
    y = np.array([k % 2 == 0 for k in range(40)], int)
    m = FeatureModel.fit(x, y, columns(list(GROUPS)), l2=1.0)
    unknown = m.logits(np.array([features(p) for p in img]))
    # every finger equally frequent in training: unknown = the mean of the ten finger-known logits
    each = np.mean([m.logits(np.array([features(p, k) for p in img])) for k in range(1, 11)], axis=0)
    assert np.allclose(unknown, each)
    assert m.image_inputs(x).shape[1] == len(columns([g for g in GROUPS if g != "finger"]))


def test_ridge_frequency_follows_ridge_density():
    rng = np.random.default_rng(1)
    coarse = np.array([features(_ridges(0.22, rng)) for _ in range(5)])
    fine = np.array([features(_ridges(0.32, rng)) for _ in range(5)])
    for name in ("freq_centroid", "freq_peak", "freq_block_median"):
        i = NAMES.index(name)
        assert fine[:, i].min() > coarse[:, i].max(), name
        assert abs(np.median(fine[:, i]) - 0.32) < 0.03
        assert abs(np.median(coarse[:, i]) - 0.22) < 0.03
    i = NAMES.index("period_spatial")
    assert np.median(coarse[:, i]) == pytest.approx(1 / 0.22, rel=0.15)
    assert np.median(fine[:, i]) == pytest.approx(1 / 0.32, rel=0.15)


def test_ridge_valley_ratio_sees_wider_ridges():
    rng = np.random.default_rng(2)
    i = NAMES.index("ridge_valley_ratio")
    thin = np.median([features(_ridges(0.2, rng, duty=-0.4))[i] for _ in range(4)])
    thick = np.median([features(_ridges(0.2, rng, duty=0.4))[i] for _ in range(4)])
    assert thick > 1.3 * thin


def test_blank_print_gives_nan_block_features_that_the_model_fills():
    f = features(np.full((103, 96), 255, np.uint8))
    assert np.isnan(f[NAMES.index("freq_block_mean")])
    rng = np.random.default_rng(3)
    x = np.array([features(_ridges(fr, rng)) for fr in (0.22, 0.32) * 10])
    m = FeatureModel.fit(x, np.array([0, 1] * 10), columns(list(GROUPS)))
    assert np.isfinite(m.logits(f[None])).all()


def test_feature_model_learns_and_round_trips(tmp_path):
    rng = np.random.default_rng(4)
    y = np.array([0, 1] * 20)
    x = np.array([features(_ridges(0.22 if t == 0 else 0.3, rng)) for t in y])
    m = FeatureModel.fit(x, y, columns(["frequency"]), l2=1.0)
    z = m.logits(x)
    assert cm.roc_auc(z, y) > 0.95
    m.coef = np.vstack([m.coef, m.coef * 0.5])
    m.calib = np.array([2.0, 0.5])
    m.save(tmp_path / "g.npz")
    back = FeatureModel.load(tmp_path / "g.npz")
    assert np.allclose(back.logits(x), m.logits(x))
    assert back.member_logits(x).shape == (len(x), 2)
    assert np.allclose(back.logits(x), (2.0 * (z + 0.5 * z) / 2) + 0.5)


def test_subject_bootstrap_interval():
    rng = np.random.default_rng(5)
    subj = np.repeat(np.arange(60), 5).astype(str)
    y = np.repeat(np.arange(60) % 2, 5)
    z = y * 1.0 + rng.normal(0, 1, len(y))
    auc = cm.roc_auc(z, y)
    lo, hi = cm.subject_bootstrap(lambda i: cm.roc_auc(z[i], y[i]), subj, 300)
    assert lo < auc < hi
    assert 0.02 < hi - lo < 0.4
    assert cm.subject_bootstrap(lambda i: cm.roc_auc(z[i], y[i]), subj, 300) == [lo, hi]  # seeded
