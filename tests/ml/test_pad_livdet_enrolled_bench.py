"""bench/pad_livdet_enrolled.py (docs/adr/0276): a person's attack scores relative to their own
enrolment prints, from a nested run's kept logits, against the global threshold on the same prints."""

from __future__ import annotations

import json
import sys

import numpy as np

from tests.scripts import load_script


def _results(tmp_path):
    """Four subjects, 3 fingers each: live impressions 0-4 and (subjects 1-3) casts 0, 4, 5, 9.
    Within every subject lives score 4 logits below casts; subject 4's whole hand sits 5 logits
    higher than the others' (a person whose live prints look like casts to a global threshold)."""
    rng = np.random.default_rng(0)
    paths, subj, y, z = [], [], [], []
    for s, offset in ((1, 0.0), (2, 0.3), (3, -0.3), (4, 5.0)):
        for f in range(3):
            for i in range(5):
                paths.append(f"Live/00{s}_{f}_{i}.png"), subj.append(str(s)), y.append(0)
                z.append(-3.0 + offset + rng.normal(0, 0.2))
            if s < 4:
                for i in (0, 4, 5, 9):
                    paths.append(f"Fake/Gelatine/00{s}_{f}_{i}.png"), subj.append(str(s)), y.append(1)
                    z.append(1.0 + offset + rng.normal(0, 0.2))
    order = np.argsort(paths)
    paths = [paths[i] for i in order]
    subj, y, z = np.array(subj)[order], np.array(y)[order], np.array(z)[order]
    sig = 1 / (1 + np.exp(-z))
    folds = []
    thr = np.full(len(y), 0.5)
    for t in ("1", "2", "3", "4"):
        te, tr = np.nonzero(subj == t)[0], np.nonzero(subj != t)[0]
        folds.append({"test_subject": t, "approaches": {"grid": {"aggregate": "mean", "threshold": 0.5, "lo": 0.1,
                                                                 "hi": 0.5}},
                      "logits": {"grid": {"train_index": tr.tolist(), "train": z[tr].tolist(),
                                          "test_index": te.tolist(), "test": z[te].tolist()}}})
    res = {"threshold_rule": {"rule": "subject", "max_subject_bpcer": 0.02, "tie": "lowest"},
           "transaction_aggregate": "mean", "folds": folds,
           "out_of_fold": {"path": paths, "subject": subj.tolist(), "y": y.tolist(),
                           "score": {"grid": sig.tolist()}, "threshold": {"grid": thr.tolist()},
                           "lo": {"grid": (thr * 0.2).tolist()}, "hi": {"grid": thr.tolist()}}}
    f = tmp_path / "res.json"
    f.write_text(json.dumps(res))
    return f


def test_enrolment_is_live_impression_zero():
    b = load_script("bench/pad_livdet_enrolled.py")
    items = b.items_from({"path": ["Live/002_1_0.png", "Live/002_1_3.png", "Fake/Gelatine/002_1_0.png"],
                          "subject": ["2", "2", "2"], "y": [0, 0, 1]})
    assert items[2]["attack_type"] == "gelatine" and items[0]["label"] == "live"
    assert b.enrolment_mask(items).tolist() == [True, False, False]


def test_a_person_whose_lives_look_like_casts_passes_against_their_own_enrolment(tmp_path, monkeypatch, capsys):
    b = load_script("bench/pad_livdet_enrolled.py")
    out = tmp_path / "out.json"
    monkeypatch.setattr(sys, "argv", ["x", "--results", str(_results(tmp_path)), "--out", str(out)])
    b.main()
    r = json.loads(out.read_text())
    e, v3 = r["approaches"]["enrolled"], r["approaches"]["v3"]
    # enrolment prints (impression 0 of each live finger) are never scored: 4 subjects x 3 fingers x 4
    assert r["test_prints"] == {"bona_fide": 48, "attacks": 36, "enrolment_prints_not_scored": 12}
    assert v3["per_attempt"]["bpcer"]["errors"] == 12          # subject 4's test lives, all refused
    assert e["per_attempt"]["bpcer"]["errors"] == 0
    assert e["per_attempt"]["apcer_all_attacks"]["errors"] == 0
    assert r["adoption_rule"]["adopted"] is True
    boot = r["bpcer_attempt_subject_bootstrap95"]
    assert boot["on_the_test_prints"]["enrolled"] == [0.0, 0.0]
    lo, hi = boot["on_the_test_prints"]["v3"]        # one of 4 people refused whole: 0 to 1/2 of the lives
    assert lo == 0.0 and 0.25 <= hi <= 0.75
    assert [f["test_subject"] for f in r["folds"]] == ["1", "2", "3", "4"]
    assert "POOLED enrolled" in capsys.readouterr().out


def test_without_kept_logits_it_says_what_to_run(tmp_path, monkeypatch):
    import pytest

    b = load_script("bench/pad_livdet_enrolled.py")
    f = tmp_path / "r.json"
    f.write_text(json.dumps({"folds": [{"test_subject": "1"}]}))
    monkeypatch.setattr(sys, "argv", ["x", "--results", str(f), "--out", str(tmp_path / "o.json")])
    with pytest.raises(SystemExit, match="--keep-inner"):
        b.main()
