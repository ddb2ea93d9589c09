"""Nuisance attribute projection in the PAD linear model (docs/adr/0275)."""

from __future__ import annotations

import numpy as np
import pytest

from fpstation.ml.classifiers.patches import LinearModel, nuisance_directions


def _subjects(rng: np.random.Generator, spoof_shift: float):
    """Feature 0 carries the class; feature 1 a per-subject offset that, in training, happens to
    be larger for the subjects whose spoofs are in the set (a subject effect, not liveness)."""
    xs, ys, gs = [], [], []
    for s, offset in enumerate([0.0, 0.5, 1.0, 4.0, 4.5]):
        for label in (0, 1):
            if label == 1 and offset < 2:
                continue  # only the high-offset subjects have spoofs
            n = 80
            x = rng.normal(0, 0.3, (n, 4))
            x[:, 0] += 1.5 * label + rng.normal(0, 0.5, n)
            x[:, 1] += offset + (spoof_shift if label else 0.0)
            xs.append(x)
            ys.append(np.full(n, label))
            gs.append(np.full(n, f"s{s}"))
    return np.concatenate(xs), np.concatenate(ys), np.concatenate(gs)


def test_directions_are_orthonormal_and_follow_the_subject_offsets():
    rng = np.random.default_rng(0)
    x, y, g = _subjects(rng, 0.0)
    v = nuisance_directions(x, y, g, 2)
    assert v.shape[0] == 4 and 1 <= v.shape[1] <= 2
    np.testing.assert_allclose(v.T @ v, np.eye(v.shape[1]), atol=1e-9)
    assert abs(v[1, 0]) > 0.95          # the leading direction is the per-subject offset (feature 1)
    assert nuisance_directions(x, y, g, 0).shape == (4, 0)


def test_one_subject_per_class_gives_no_direction():
    x = np.random.default_rng(1).normal(size=(20, 3))
    y = np.r_[np.zeros(10), np.ones(10)]
    g = np.r_[["a"] * 10, ["b"] * 10]
    assert nuisance_directions(x, y, g, 3).shape == (3, 0)


def test_projected_model_ignores_the_subject_offset_a_plain_model_learns():
    rng = np.random.default_rng(2)
    x, y, g = _subjects(rng, 0.0)
    plain = LinearModel(c=1.0).fit(x, y)
    nap = LinearModel(c=1.0).fit(x, y, groups=g, nuisance_k=1)
    # a new live subject whose offset is higher still than the spoof subjects'
    new_live = rng.normal(0, 0.3, (200, 4))
    new_live[:, 1] += 8.0
    assert (plain.decision(new_live) > 0).mean() > 0.5   # the plain model takes them for spoofs
    assert (nap.decision(new_live) > 0).mean() < 0.05
    # the score does not move at all along the removed direction
    v = nuisance_directions((x - nap.mean) / nap.scale, y, g, 1)[:, 0]
    d = nap.decision(new_live + 3.0 * v * nap.scale) - nap.decision(new_live)
    assert np.abs(d).max() < 1e-9
    assert np.abs(plain.decision(new_live + 3.0 * v * plain.scale) - plain.decision(new_live)).max() > 1.0
    # the class signal is kept
    assert (nap.decision(x[y == 1]) > 0).mean() > 0.8


def test_nuisance_needs_groups():
    x = np.random.default_rng(3).normal(size=(10, 2))
    with pytest.raises(ValueError, match="groups"):
        LinearModel().fit(x, np.r_[np.zeros(5), np.ones(5)], nuisance_k=1)
