"""Exact binomial intervals (fpstation.core.stats), used by the benchmarks and the PAD training."""

import pytest

from fpstation.core.stats import clopper_pearson, rate


def test_clopper_pearson_known_values():
    # 0 of 10: the upper bound is 1 - 0.025 ** (1 / 10)
    lo, hi = clopper_pearson(0, 10)
    assert lo == 0.0 and hi == pytest.approx(1 - 0.025 ** 0.1, abs=1e-9)
    lo, hi = clopper_pearson(10, 10)
    assert hi == 1.0 and lo == pytest.approx(0.025 ** 0.1, abs=1e-9)
    lo, hi = clopper_pearson(5, 10)
    assert lo == pytest.approx(1 - hi, abs=1e-9) and 0.18 < lo < 0.19
    assert all(v != v for v in clopper_pearson(0, 0))  # nan: no trials


def test_rate_reports_value_count_and_interval():
    r = rate(3, 12)
    assert r["value"] == 0.25 and r["errors"] == 3 and r["n"] == 12
    assert r["ci95"][0] < 0.25 < r["ci95"][1]
