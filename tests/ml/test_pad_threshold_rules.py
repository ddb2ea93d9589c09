"""bench/pad_threshold_rules.py: threshold rules set on the inner validation prints only, compared
on the same outer test prints."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.scripts import load_script


def _load():
    return load_script("bench/pad_threshold_rules.py")


def _rows(rng, first: int, people: int) -> list[dict]:
    """6 bona fide prints per person (a per-person offset: errors cluster by person) and 2 z-cuts."""
    rows = []
    for s in range(first, first + people):
        off = rng.normal(0, 0.7)
        for i in range(8):
            y = int(i >= 6)
            z = rng.normal(-3 + off, 1) if not y else rng.normal(1.5, 1.5)
            rows.append({"path": f"s{s}_{i}.BMP", "subject": str(s), "y": y, "attack_type": "z-cut" if y else None,
                         "level": "Altered-Easy" if y else "", "z": float(z), "z_mirror": float(z) + 5.0})
    return rows


def test_rules_use_the_inner_split_and_the_empirical_rule_matches_the_records(tmp_path):
    from fpstation.ml.classifiers.metrics import threshold_for_bpcer

    rules = _load()
    rng = np.random.default_rng(3)
    rec = tmp_path / "rec"
    rec.mkdir()
    for k in range(2):
        inner, test = _rows(rng, 1000 * k, 60), _rows(rng, 1000 * k + 500, 40)
        # the chosen view is "mirror": its logits are the plain ones + 5, a check the right ones are read
        zi = np.array([r["z_mirror"] for r in inner])
        yi = np.array([r["y"] for r in inner], bool)
        thr = threshold_for_bpcer(zi, yi, 0.01)
        for r in test:
            r["attack_chosen"] = bool(r["z_mirror"] >= thr)
        (rec / f"fold{k}.json").write_text(json.dumps({"fold": k, "operating_points": {"chosen": {"view": "mirror"}},
                                                       "test": test, "inner_val": inner}))
    out = tmp_path / "r.json"
    assert rules.main(["--record", str(rec), "--out", str(out), "--reps", "50", "--boot", "100"]) == 0
    r = json.loads(out.read_text())
    assert r["folds"] == [0, 1]
    assert all(f["empirical_disagrees_with_record"] == 0 and f["inner_bona_fide"] == 360 for f in r["per_fold"])
    for name in ("empirical", "harrell_davis", "subject_bagged"):
        p = r["pooled"][name]
        assert p["bpcer"]["n"] == 480 and p["apcer"]["z-cut"]["n"] == 160
        # every rule sits near the 99th percentile of the inner bona fide logits (about -3 + 2.9 + 5)
        assert all(3.5 < f[name]["threshold"] < 6.5 for f in r["per_fold"])
    assert set(r["paired_vs_empirical"]) == {"harrell_davis", "subject_bagged"}


def test_harrell_davis_estimates_a_quantile():
    rules = _load()
    z = np.random.default_rng(0).normal(size=20000)
    assert rules.harrell_davis(z, 0.99) == pytest.approx(2.326, abs=0.06)
    assert rules.harrell_davis(np.arange(101.0), 0.5) == pytest.approx(50.0, abs=1e-6)


def test_records_without_inner_logits_are_refused(tmp_path):
    rules = _load()
    (tmp_path / "fold0.json").write_text(json.dumps({"fold": 0, "test": []}))
    with pytest.raises(SystemExit, match="inner_val"):
        rules.main(["--record", str(tmp_path), "--out", str(tmp_path / "o.json")])
