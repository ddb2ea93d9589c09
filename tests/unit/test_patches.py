"""Texture patches at a fixed physical resolution and the classical texture baseline (no TF)."""

from __future__ import annotations

import numpy as np
import pytest

from fpstation.ml.classifiers.patches import (
    LinearModel,
    extract_patches,
    foreground_mask,
    fuse_logits,
    patch_heatmap,
    texture_features,
)


def _print(h: int = 400, w: int = 300, seed: int = 0) -> np.ndarray:
    """A ridge pattern in an ellipse on white paper."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    ridges = 128 + 110 * np.sin(2 * np.pi * 0.1 * (xx * 0.8 + yy * 0.6)) + rng.normal(0, 8, (h, w))
    inside = ((yy - h / 2) / (h * 0.4)) ** 2 + ((xx - w / 2) / (w * 0.4)) ** 2 < 1
    return np.where(inside, np.clip(ridges, 0, 255), 255).astype(np.uint8)


def test_foreground_is_the_ridge_area():
    img = _print()
    m = foreground_mask(img)
    assert m[200, 150]
    assert not m[5, 5]
    assert 0.3 < m.mean() < 0.7


def test_patches_lie_on_the_foreground_and_map_back_to_the_original():
    img = _print()
    p = extract_patches(img, dpi=1000, model_dpi=1000, size=64)
    assert p.pixels.shape[1:] == (64, 64)
    assert len(p.pixels) >= 4
    assert (p.coverage >= 0.6).all()
    assert p.scale == pytest.approx(1.0)
    assert (p.boxes[:, 2] <= 400).all()
    assert (p.boxes[:, 3] <= 300).all()


def test_patches_resample_by_the_dpi():
    img = _print()
    at_500 = extract_patches(img, dpi=500, model_dpi=1000, size=64)  # upsampled ×2: more patches
    same = extract_patches(img, dpi=1000, model_dpi=1000, size=64)
    assert at_500.scale == pytest.approx(2.0)
    assert len(at_500.pixels) > len(same.pixels)
    # boxes are in the original image's pixels: a 64 px patch at 2× covers 32 original pixels
    assert int(at_500.boxes[0, 2] - at_500.boxes[0, 0]) == 32
    # unknown dpi: no resampling
    assert extract_patches(img, None, 1000, size=64).scale == pytest.approx(1.0)


def test_tiny_print_is_padded_not_refused():
    p = extract_patches(np.full((30, 20), 128, np.uint8), 1000, 1000, size=64)
    assert p.pixels.shape == (len(p.pixels), 64, 64)
    assert len(p.pixels) >= 1


def test_heatmap_and_fusion():
    img = _print()
    p = extract_patches(img, 1000, 1000, size=64)
    vals = np.linspace(0, 1, len(p.pixels))
    heat = patch_heatmap(p, vals)
    assert heat.shape == img.shape
    assert heat.max() <= 1.0
    assert heat[5, 5] == 0
    assert fuse_logits(np.array([1.0, 3.0])) == pytest.approx(2.0)


def test_texture_features_and_linear_model_separate_two_textures():
    smooth = [texture_features(_print(seed=s), 1000) for s in range(6)]
    rough = [texture_features(np.clip(_print(seed=s).astype(int) + np.random.default_rng(s).integers(
        -60, 60, (400, 300)), 0, 255).astype(np.uint8), 1000) for s in range(6)]
    x = np.array(smooth + rough)
    y = np.array([0] * 6 + [1] * 6)
    assert x.shape == (12, 350)
    assert np.isfinite(x).all()
    m = LinearModel(1.0).fit(x, y)
    assert ((m.decision(x) > 0).astype(int) == y).all()
    m2 = LinearModel.from_dict(m.to_dict())
    assert np.allclose(m2.decision(x), m.decision(x))
