"""training/learn_bsif_filters.py: FastICA un-mixes independent sources; the filters are zero-sum."""

from __future__ import annotations

import numpy as np

from tests.scripts import load_script


def test_fast_ica_recovers_independent_sources():
    lb = load_script("training/learn_bsif_filters.py")
    rng = np.random.default_rng(1)
    s = np.stack([rng.laplace(size=20000), rng.uniform(-1, 1, 20000) ** 3, rng.laplace(size=20000)])
    x = rng.normal(size=(3, 3)) @ s
    x -= x.mean(axis=1, keepdims=True)
    vals, vecs = np.linalg.eigh(np.cov(x))
    v = (vecs / np.sqrt(vals)).T
    w = lb.fast_ica(v @ x)
    c = np.abs(np.corrcoef(w @ v @ x, s)[:3, 3:])
    assert (c.max(axis=1) > 0.98).all() and sorted(c.argmax(axis=1)) == [0, 1, 2]


def test_filters_from_images_are_zero_sum_and_deterministic():
    lb = load_script("training/learn_bsif_filters.py")
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:60, 0:60]
    images = [np.clip(128 + 60 * np.sin(x / (3 + i) + y / (5 + i)) + rng.normal(0, 20, (60, 60)), 0, 255).astype(np.uint8)
              for i in range(6)]
    f = lb.learn_filters(images, size=7, n=4, patches=3000)
    assert f.shape == (4, 7, 7) and np.allclose(f.sum(axis=(1, 2)), 0, atol=1e-6)
    assert np.allclose(np.abs(f).sum(axis=(1, 2)), 1, atol=1e-5)
    assert np.array_equal(f, lb.learn_filters(images, size=7, n=4, patches=3000))
