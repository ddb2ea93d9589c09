"""bench/pad_socofing_cv_compare.py: two recipes' fold records compared on the same test prints,
with paired subject-bootstrap intervals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.scripts import load_script


def _load():
    return load_script("bench/pad_socofing_cv_compare.py", "pad_cv_compare")


def _records(folder: Path, miss_zcut: float, seed: int, folds: int = 2, subjects: int = 20) -> None:
    """Fold records like train_pad_cv's: per subject 4 bona fide and 2 z-cuts + 2 obliterations;
    z-cuts pass (verdict "not an attack") with probability ``miss_zcut``."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    for k in range(folds):
        rows = []
        for s in range(k * subjects, (k + 1) * subjects):
            for i in range(8):
                y = int(i >= 4)
                t = None if not y else ("z-cut" if i < 6 else "obliteration")
                z = rng.normal(-4, 1) if not y else (rng.normal(-4, 1) if t == "z-cut" and rng.uniform() < miss_zcut
                                                     else rng.normal(4, 1))
                rows.append({"path": f"s{s}_{i}.BMP", "subject": str(s), "y": y, "attack_type": t,
                             "level": "Altered-Easy" if y else "", "z": z, "z_mirror": z,
                             "attack_plain": bool(z > 0), "attack_mirror": bool(z > 0), "attack_chosen": bool(z > 0)})
        rec = {"fold": k, "recipe": {"seed": seed}, "operating_points": {"chosen": {"view": "plain"}}, "test": rows}
        (folder / f"fold{k}.json").write_text(json.dumps(rec))


def test_a_recipe_that_misses_more_z_cuts_is_worse_with_an_interval_above_zero(tmp_path):
    cmp = _load()
    _records(tmp_path / "a", 0.0, 1)
    _records(tmp_path / "b", 0.5, 2)
    out = tmp_path / "c.json"
    assert cmp.main(["--a", str(tmp_path / "a"), "--b", str(tmp_path / "b"), "--out", str(out), "--reps", "200"]) == 0
    r = json.loads(out.read_text())
    assert r["folds"] == [0, 1] and r["prints"] == 320 and r["subjects"] == 40
    za = r["own_threshold"]["a"]["chosen"]["apcer"]["z-cut"]
    zb = r["own_threshold"]["b"]["chosen"]["apcer"]["z-cut"]
    assert za["errors"] == 0 and za["n"] == 80 and 25 <= zb["errors"] <= 55
    d = r["paired_chosen"]["z-cut"]
    assert d["b_minus_a"] == pytest.approx(zb["errors"] / 80, abs=1e-4)
    assert 0 < d["ci95"][0] < d["b_minus_a"] < d["ci95"][1]
    assert r["paired_chosen"]["obliteration"]["b_minus_a"] == 0.0
    # the oracle threshold sits at each fold's 1 % BPCER point of the test bona fide prints
    assert r["oracle_1pct_bpcer"]["a"]["plain"]["bpcer"]["value"] <= 0.01 + 1e-9


def test_records_of_other_folds_or_prints_are_refused(tmp_path):
    cmp = _load()
    _records(tmp_path / "a", 0.0, 1)
    _records(tmp_path / "b", 0.0, 2, subjects=19)
    with pytest.raises(SystemExit, match="different test prints"):
        cmp.main(["--a", str(tmp_path / "a"), "--b", str(tmp_path / "b"), "--out", str(tmp_path / "c.json")])
