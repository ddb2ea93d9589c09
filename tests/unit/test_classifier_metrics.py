"""Calibration and APCER/BPCER math of ml/classifiers/metrics.py, and the verdict rules."""

from __future__ import annotations

import numpy as np
import pytest

from fpstation.ml.classifiers import metrics as cm


def test_platt_recovers_known_scaling():
    rng = np.random.default_rng(0)
    z = rng.normal(0, 2, 20000)
    # true probabilities are sigmoid(0.5 * z - 1): the raw logit is over-confident and biased
    y = (rng.uniform(size=z.size) < cm.sigmoid(0.5 * z - 1.0)).astype(int)
    cal = cm.platt_fit(z, y)
    assert cal["a"] == pytest.approx(0.5, abs=0.05)
    assert cal["b"] == pytest.approx(-1.0, abs=0.07)
    assert cal["val_logloss_after"] < cal["val_logloss_before"]
    t = cm.platt_fit(z, y, temperature_only=True)
    assert t["b"] == 0.0
    assert t["method"] == "temperature"


def test_balanced_platt_centres_the_decision_for_equal_priors():
    rng = np.random.default_rng(1)
    # 10 % positives, both classes unit-variance logits around -1 / +1
    y = (rng.uniform(size=20000) < 0.1).astype(int)
    z = np.where(y == 1, 1.0, -1.0) + rng.normal(0, 1, y.size)
    plain = cm.platt_fit(z, y)
    bal = cm.platt_fit(z, y, balanced=True)
    # for equal priors the log-likelihood ratio of N(±1, 1) is 2z: a≈2, b≈0
    assert bal["a"] == pytest.approx(2.0, abs=0.15)
    assert bal["b"] == pytest.approx(0.0, abs=0.1)
    # the unweighted fit carries the 10 % prior: log(0.1/0.9) ≈ -2.2
    assert plain["b"] == pytest.approx(np.log(0.1 / 0.9), abs=0.15)


def test_platt_needs_both_classes():
    with pytest.raises(ValueError):
        cm.platt_fit(np.array([0.1, 0.2]), np.array([1, 1]))


def test_apply_calibration_identity_and_affine():
    assert cm.apply_calibration(2.0, None) == pytest.approx(2.0)
    assert cm.apply_calibration(np.array([1.0, -1.0]), {"a": 2, "b": 1}).tolist() == [3.0, -1.0]


def test_auc_matches_pair_counting():
    s = np.array([0.1, 0.4, 0.35, 0.8, 0.4])
    y = np.array([0, 0, 1, 1, 1])
    pairs = [(p, n) for p in s[y == 1] for n in s[y == 0]]
    expected = np.mean([1.0 if p > n else 0.5 if p == n else 0.0 for p, n in pairs])
    assert cm.roc_auc(s, y) == pytest.approx(expected)


def test_pad_rates_by_hand():
    scores = np.array([0.1, 0.2, 0.3, 0.9, 0.6, 0.4, 0.95, 0.05])
    attack = np.array([0, 0, 0, 1, 1, 1, 1, 0])
    types = [None, None, None, "obliteration", "obliteration", "z-cut", "z-cut", None]
    r = cm.pad_rates(scores, attack, types, threshold=0.5)
    assert r["apcer"] == {"obliteration": 0.0, "z-cut": 0.5}
    assert r["apcer_max"] == 0.5
    assert r["apcer_pooled"] == pytest.approx(0.25)
    assert r["bpcer"] == 0.0
    r2 = cm.pad_rates(scores, attack, types, threshold=0.25)
    assert r2["bpcer"] == pytest.approx(0.25)  # 0.3 of 4 bona fide is now rejected
    assert r2["apcer_max"] == 0.0


def test_threshold_for_bpcer_keeps_the_limit_and_is_lowest():
    rng = np.random.default_rng(2)
    bona = rng.uniform(0, 0.6, 1000)
    att = rng.uniform(0.4, 1.0, 500)
    s = np.concatenate([bona, att])
    y = np.concatenate([np.zeros(1000), np.ones(500)])
    t = cm.threshold_for_bpcer(s, y, 0.01)
    assert np.mean(bona >= t) <= 0.01
    # one step lower would break the limit: the threshold sits just above the 11th highest bona fide score
    assert np.mean(bona >= t - 1e-3) > 0.01 or t <= bona.min()


def test_threshold_tie_margin_moves_into_the_middle_of_the_gap():
    """docs/adr/0273: same APCER and no higher BPCER, halfway (log-odds) between the highest bona fide
    score below the next attack score and that attack score."""
    live = [0.01, 0.02, 0.1, 0.2]
    y = np.array([0, 0, 0, 0, 1, 1])
    s = np.array(live + [0.9, 0.95])
    t0 = cm.threshold_for_bpcer(s, y, 0.01)
    assert t0 == pytest.approx(0.55)                       # just above the highest live score (midpoint)
    t = cm.threshold_for_bpcer(s, y, 0.01, tie="margin")
    assert t == pytest.approx(0.6)                         # sigmoid((logit 0.2 + logit 0.9) / 2)
    # a spoof already passing stays passing; the gap is the one above the lowest threshold
    s2 = np.array(live + [0.05, 0.9])
    assert cm.threshold_for_bpcer(s2, y, 0.01, tie="margin") == pytest.approx(0.6)
    # the per-subject bound still decides the lowest threshold; with no attack above it, nothing moves
    s3 = np.array(live + [0.05, 0.15])
    assert cm.threshold_for_bpcer(s3, y, 0.01, tie="margin") == cm.threshold_for_bpcer(s3, y, 0.01)
    with pytest.raises(ValueError, match="tie"):
        cm.threshold_for_bpcer(s, y, 0.01, tie="middle")


def test_bpcer_at_apcer():
    s = np.array([0.1, 0.2, 0.3, 0.7, 0.8, 0.9])
    y = np.array([0, 0, 1, 0, 1, 1])
    types = [None, None, "a", None, "a", "a"]
    # APCER <= 0 requires catching the 0.3 attack: threshold <= 0.3 rejects 0.7 as well -> BPCER 1/3
    assert cm.bpcer_at_apcer(s, y, types, 0.0) == pytest.approx(1 / 3)


def test_binary_summary_balanced_accuracy_and_confusion():
    p = np.array([0.9, 0.2, 0.6, 0.1, 0.3, 0.2])
    y = np.array([1, 1, 1, 0, 0, 0])
    out = cm.binary_summary(p, y)
    assert out["confusion_matrix"] == [[3, 0], [1, 2]]
    assert out["balanced_accuracy"] == pytest.approx((1.0 + 2 / 3) / 2)
    assert out["accuracy"] == pytest.approx(5 / 6)


def test_roc_points_ends():
    r = cm.roc_points(np.array([0.2, 0.8, 0.5]), np.array([0, 1, 1]))
    assert r["tpr"][0] == 0.0
    assert r["fpr"][0] == 0.0
    assert r["tpr"][-1] == 1.0
    assert r["fpr"][-1] == 1.0
    assert r["threshold"] == sorted(r["threshold"], reverse=True)


def test_combine_logits_is_the_mean():
    assert cm.combine_logits([1.0, 3.0]) == pytest.approx(2.0)
    with pytest.raises(ValueError):
        cm.combine_logits([])


def test_verdict_rules_and_rates_from_card():
    from fpstation.ml.classifiers import gender_label, pad_rates_at, pad_verdict

    assert pad_verdict(0.8, 0.5, 0.1) == "ATTACK"
    assert pad_verdict(0.52, 0.5, 0.1) == "UNCERTAIN"
    assert pad_verdict(0.3, 0.5, 0.1) == "LIVE"
    assert pad_verdict(0.5, 0.5, 0.0) == "ATTACK"
    assert gender_label(0.7) == "female"
    assert gender_label(0.3) == "male"
    assert gender_label(0.52) == "uncertain"
    card = {"roc": {"threshold": [1.0, 0.8, 0.5, 0.2], "tpr": [0.0, 0.5, 0.9, 1.0], "fpr": [0.0, 0.0, 0.1, 0.6]}}
    r = pad_rates_at(card, 0.6)
    assert r == {"threshold": 0.8, "apcer": 0.5, "bpcer": 0.0}
    # cards written by ml/training.train() keep the ROC under "metrics"
    assert pad_rates_at({"metrics": card}, 0.5)["bpcer"] == pytest.approx(0.1)
    assert pad_rates_at({}, 0.5) is None


def test_fit_to_input_keeps_aspect_and_size():
    from fpstation.ml.classifiers import fit_to_input

    img = np.zeros((103, 96), np.uint8)
    img[:, :48] = 255
    x = fit_to_input(img, (104, 96))
    assert x.shape == (104, 96)
    assert x.dtype == np.float32
    assert 0 <= x.min()
    assert x.max() <= 1
    big = np.full((298, 241), 200, np.uint8)
    assert fit_to_input(big, (104, 96)).shape == (104, 96)
    # a 500 dpi print fed to a 250 dpi model is halved first
    y = fit_to_input(np.full((100, 80), 10, np.uint8), (104, 96), scale=0.5)
    assert y.shape == (104, 96)


def test_apcer_by_type_matches_pad_rates():
    rng = np.random.default_rng(3)
    s = rng.uniform(size=300)
    y = (rng.uniform(size=300) < 0.4).astype(int)
    types = [("a" if i % 2 else "b") if y[i] else None for i in range(300)]
    roc = cm.roc_points(s, y, max_points=50)
    by = cm.apcer_by_type_at(s, y, types, roc["threshold"])
    for k in (0, 10, 25, len(roc["threshold"]) - 1):
        r = cm.pad_rates(s, y, types, roc["threshold"][k])
        assert by["a"][k] == pytest.approx(r["apcer"]["a"])
        assert by["b"][k] == pytest.approx(r["apcer"]["b"])
        assert 1 - roc["tpr"][k] == pytest.approx(r["apcer_pooled"])
        assert roc["fpr"][k] == pytest.approx(r["bpcer"])


def test_grouped_threshold_keeps_every_subject_within_its_bound():
    from fpstation.ml.classifiers.metrics import threshold_for_bpcer

    rng = np.random.default_rng(0)
    # 4 subjects x 50 bona fide prints; subject "d" scores higher (a dry finger), attacks near 1
    live = np.concatenate([rng.uniform(0.0, 0.3, 150), rng.uniform(0.2, 0.7, 50)])
    groups = ["a"] * 50 + ["b"] * 50 + ["c"] * 50 + ["d"] * 50 + ["x"] * 100
    s = np.concatenate([live, rng.uniform(0.8, 1.0, 100)])
    y = np.r_[np.zeros(200), np.ones(100)].astype(int)
    pooled = threshold_for_bpcer(s, y, 0.01)
    grouped = threshold_for_bpcer(s, y, 0.01, groups, 0.02)
    d = live[150:]
    assert np.mean(d >= pooled) <= 0.04  # pooled: at most 2 of 200 over, all of them subject d's
    assert np.mean(d >= grouped) <= 0.02 and np.mean(live >= grouped) <= 0.01
    assert grouped >= pooled
    # a bound no threshold below every score can meet: above the highest score
    assert threshold_for_bpcer(s, y, 0.0, groups, 0.0) > s[y == 0].max()
