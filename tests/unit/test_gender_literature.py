"""The literature's gender cues (gender_features.literature_features): ridges per mm and the
ridge-to-valley thickness ratio on generated gratings of known period, width and scale."""

from __future__ import annotations

import numpy as np
import pytest

from fpstation.ml.classifiers.gender_features import NAMES, columns, features, foreground, literature_features


def _grating(period: float, dark_fraction: float = 0.5, angle_deg: float = 0.0, size: int = 200) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    a = np.deg2rad(angle_deg)
    t = (xx * np.cos(a) + yy * np.sin(a)) / period
    dark = (t - np.floor(t)) < dark_fraction
    return np.where(dark, 0.15, 0.85).astype(np.float32)


def _cues(x: np.ndarray, ppm: tuple[float, float]) -> dict:
    return literature_features(x, foreground(x), ppm)


def test_ridge_density_is_in_ridges_per_mm():
    c = _cues(_grating(8.0), (16.0, 16.0))  # 8 px per ridge at 16 px/mm = 2 ridges per mm
    assert c["lit_density_mean"] == pytest.approx(2.0, rel=0.05)


def test_ridge_density_follows_the_physical_scale():
    c = _cues(_grating(8.0), (24.0, 24.0))  # same pixels, finer scale: 3 ridges per mm
    assert c["lit_density_mean"] == pytest.approx(3.0, rel=0.05)


def test_ridge_density_is_counted_across_slanted_ridges():
    c = _cues(_grating(8.0, angle_deg=35.0), (16.0, 16.0))
    assert c["lit_density_grid_median"] == pytest.approx(2.0, rel=0.08)


def _socofing_like(period: float, dark_fraction: float) -> np.ndarray:
    return _grating(period, dark_fraction, size=110)[:103, :96]


def test_ridge_density_at_socofing_scale():
    c = _cues(_socofing_like(3.2, 0.5), (7.0, 7.0))  # 3.2 px per ridge at 7 px/mm = 2.19 ridges per mm
    assert c["lit_density_mean"] == pytest.approx(7.0 / 3.2, rel=0.03)


# At SOCOFing's scale a ridge is under 2 px wide: the ratio is compressed towards 1 (a 60:40 grating
# reads about 1.2, ADR 0111), but it keeps its direction.
def test_thick_ridges_give_a_ratio_above_one():
    assert _cues(_socofing_like(3.2, 0.6), (7.0, 7.0))["lit_rtvtr_mean"] > 1.1


def test_thin_ridges_give_a_ratio_below_one():
    assert _cues(_socofing_like(3.2, 0.4), (7.0, 7.0))["lit_rtvtr_mean"] < 0.92


def test_equal_ridges_and_valleys_give_a_ratio_of_one():
    assert _cues(_socofing_like(3.2, 0.5), (7.0, 7.0))["lit_rtvtr_mean"] == pytest.approx(1.0, abs=0.03)


def test_ridge_width_is_in_mm():
    c = _cues(_grating(10.0, dark_fraction=0.5), (20.0, 20.0))  # 5 px ridges at 20 px/mm
    assert c["lit_ridge_width_mm"] == pytest.approx(0.25, rel=0.05)


def test_blank_image_gives_no_cues():
    x = np.full((200, 200), 0.8, np.float32)
    assert all(np.isnan(v) for v in _cues(x, (16.0, 16.0)).values())


def test_literature_columns_follow_the_finger_columns():
    # older models index NAMES: the v2 columns (image groups, then finger) must not move
    assert columns(["literature"]).min() > columns(["finger"]).max()


def test_feature_vector_carries_the_literature_group():
    px = (_grating(3.5, size=100)[:103, :96] * 255).astype(np.uint8)
    f = features(px)
    assert np.isfinite(f[NAMES.index("lit_density_mean")])
