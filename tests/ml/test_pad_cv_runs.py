"""bench/pad_socofing_cv_runs.py: several CV runs side by side, and the mean of the single runs."""

from __future__ import annotations

import json

import pytest

from tests.ml.test_pad_cv_compare import _records
from tests.scripts import load_script


def test_runs_are_counted_per_view_and_single_runs_averaged(tmp_path):
    runs = load_script("bench/pad_socofing_cv_runs.py")
    _records(tmp_path / "a", 0.0, 1)
    _records(tmp_path / "b", 0.5, 2)
    out = tmp_path / "r.json"
    assert runs.main(["--runs", str(tmp_path / "a"), str(tmp_path / "b"), "--single", "0", "1", "--out", str(out)]) == 0
    r = json.loads(out.read_text())
    a, b = r["runs"]
    assert a["folds"] == [0, 1] and a["views_chosen"] == ["plain", "plain"]
    assert a["own_threshold"]["chosen"]["z-cut passed"] == 0 and a["own_threshold"]["chosen"]["z-cut n"] == 80
    zb = b["own_threshold"]["chosen"]["z-cut passed"]
    assert 25 <= zb <= 55
    single = r["single_runs"]["own_threshold"]["chosen"]["z-cut passed"]
    assert single == {"mean": pytest.approx(zb / 2), "range": [0, zb]}
    assert "mirror" in r["single_runs"]["oracle_1pct_bpcer"]


def test_runs_on_other_folds_are_refused(tmp_path):
    runs = load_script("bench/pad_socofing_cv_runs.py")
    _records(tmp_path / "a", 0.0, 1)
    _records(tmp_path / "b", 0.0, 2, folds=3)
    with pytest.raises(SystemExit, match="same folds"):
        runs.main(["--runs", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(tmp_path / "r.json")])
