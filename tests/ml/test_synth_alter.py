"""Synthetic flap alterations (PAD training augmentation): local, inside the ridge area, seeded."""

import numpy as np

from fpstation.ml.classifiers.train_data import _ridge_area, add_synthetic_alterations, synthetic_flap


def _print(h: int = 104, w: int = 96) -> np.ndarray:
    """A synthetic whorl-ish print: concentric ridges in an ellipse on a white background."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    r = np.hypot((yy - h / 2) / 1.1, xx - w / 2)
    img = np.where(np.cos(r * 2 * np.pi / 8) > 0, 30, 220).astype(np.uint8)
    img[r > 40] = 255
    return img


def test_flap_changes_a_local_region_inside_the_ridge_area():
    img = _print()
    fg = _ridge_area(img)
    for seed in range(5):
        out = synthetic_flap(img, np.random.default_rng(seed))
        assert out is not None and out.shape == img.shape and out.dtype == np.uint8
        changed = out != img
        assert 0 < changed.mean() < 0.2  # a flap, not the whole print
        assert not (changed & ~fg).any()  # never outside the ridge area (frame and background kept)


def test_blank_image_gives_no_flap():
    assert synthetic_flap(np.full((104, 96), 255, np.uint8), np.random.default_rng(0)) is None


def test_added_rows_are_attacks_from_bona_fide_and_seeded():
    x = np.stack([_print()] * 6)
    x[3:] = 255 - x[3:]  # the "attacks" differ, so a copy of one would show
    y = np.array([0, 0, 0, 1, 1, 1], np.int32)
    x2, y2 = add_synthetic_alterations(x, y, 1.0, seed=3)
    assert len(x2) == 9 and y2[6:].tolist() == [1, 1, 1] and (x2[:6] == x).all()
    for m in x2[6:]:
        diff = (m != x[0]).mean()
        assert 0 < diff < 0.2  # made from a bona fide print
    x3, _ = add_synthetic_alterations(x, y, 1.0, seed=3)
    assert (x3 == x2).all()
    x0, y0 = add_synthetic_alterations(x, y, 0.0, seed=3)
    assert x0 is x and y0 is y
