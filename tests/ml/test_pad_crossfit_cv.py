"""bench/pad_socofing_crossfit_cv.py: K cross-fitted networks per outer fold, one pooled threshold."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.scripts import load_script


def _write(folder, k, j, folds=2, n_outer=2, shift=0.0, seed=0):
    """Fold records of run j of K: 40 bona fide + 20 z-cuts tested, 30 + 15 inner prints each."""
    rng = np.random.default_rng(seed + 10 * j)
    folder.mkdir(parents=True, exist_ok=True)
    for f in range(folds):
        test = []
        for i in range(60):
            y = int(i >= 40)
            z = float(rng.normal(2.0 if y else -2.0) + shift)
            test.append({"path": f"f{f}/p{i}.BMP", "subject": str(i // 10), "y": y,
                         "attack_type": "z-cut" if y else None, "z": z, "z_mirror": z, "attack_mirror": z > 0})
        yi = [0] * 30 + [1] * 15
        zi = [float(rng.normal(2.0 if y else -2.0)) for y in yi]
        rec = {"fold": f, "recipe": {"folds": n_outer, "seed": 0, "inner_folds": [k, j]}, "test": test,
               "inner": {"subject": [str(100 + j)] * 45, "y": yi, "attack_type": [None] * 30 + ["z-cut"] * 15,
                         "z": zi, "z_mirror": zi}}
        (folder / f"fold{f}.json").write_text(json.dumps(rec))


def test_the_pooled_threshold_scores_the_ensemble_and_each_network(tmp_path):
    xf = load_script("bench/pad_socofing_crossfit_cv.py")
    runs = [tmp_path / f"j{j}" for j in range(3)]
    for j, r in enumerate(runs):
        _write(r, 3, j)
    out = tmp_path / "x.json"
    assert xf.main(["--runs", *map(str, runs), "--out", str(out)]) == 0
    d = json.loads(out.read_text())
    assert d["inner_folds"] == 3 and d["outer_folds"] == [0, 1] and d["complete"]
    assert d["per_fold"]["0"]["inner_prints"] == 3 * 45 and d["per_fold"]["0"]["inner_bona_fide"] == 90
    e = d["ensemble"]
    assert e["bona_fide"] == 80 and e["z-cut n"] == 40 and 0 <= e["z-cut passed"] <= 40
    assert len(d["single_pooled"]["z-cut passed"]["each"]) == 3
    own = d["single_own"]["bpcer_errors"]["each"]  # the records' own verdicts (z > 0 here)
    assert own == [sum(json.loads((r / f"fold{f}.json").read_text())["test"][i]["z"] > 0
                       for f in range(2) for i in range(40)) for r in runs]
    # well-separated scores: the ensemble at the pooled 1 % point turns almost no one away
    assert e["bpcer_errors"] <= 2


def test_incomplete_or_mixed_runs_are_refused(tmp_path):
    xf = load_script("bench/pad_socofing_crossfit_cv.py")
    for j in (0, 2):
        _write(tmp_path / f"j{j}", 3, j)
    with pytest.raises(SystemExit, match=r"inner folds \[1\] of 3 are missing"):
        xf.main(["--runs", str(tmp_path / "j0"), str(tmp_path / "j2"), "--out", str(tmp_path / "x.json")])
    _write(tmp_path / "k4", 4, 1)
    with pytest.raises(SystemExit, match="different K"):
        xf.main(["--runs", str(tmp_path / "j0"), str(tmp_path / "k4"), "--out", str(tmp_path / "x.json")])
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "fold0.json").write_text(json.dumps({"fold": 0, "recipe": {"folds": 2}, "test": []}))
    with pytest.raises(SystemExit, match="not a cross-fitting run"):
        xf.main(["--runs", str(plain), "--out", str(tmp_path / "x.json")])
