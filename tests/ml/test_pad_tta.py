"""bench/pad_socofing_tta.py: the test-time views and their tallies."""

from __future__ import annotations

import numpy as np

from tests.scripts import load_script


def test_shift_moves_content_and_reflects_the_border():
    tta = load_script("bench/pad_socofing_tta.py")
    x = np.arange(2 * 10 * 12, dtype=np.float32).reshape(2, 10, 12, 1)
    assert tta.shifted(x, 0, 0) is x
    right = tta.shifted(x, 0, 4)
    assert right.shape == x.shape
    np.testing.assert_array_equal(right[:, :, 4:], x[:, :, :-4])  # moved right by 4
    np.testing.assert_array_equal(right[:, :, :4], x[:, :, 4:0:-1])  # the gap filled by reflection
    down = tta.shifted(x, 4, 0)
    np.testing.assert_array_equal(down[:, 4:], x[:, :-4])
    up = tta.shifted(x, -4, 0)
    np.testing.assert_array_equal(up[:, :-4], x[:, 4:])


class _Task:
    """logit = the mean of the left third of the print: sensitive to mirrors and shifts."""

    @staticmethod
    def logits(model, x):
        return x[:, :, : x.shape[2] // 3].mean(axis=(1, 2, 3))


def test_views_average_mirrors_and_shifts():
    tta = load_script("bench/pad_socofing_tta.py")
    rng = np.random.default_rng(0)
    x = rng.random((3, 16, 18, 1)).astype(np.float32)
    v = tta.views(_Task(), None, x)
    plain = _Task.logits(None, x)
    mirror = _Task.logits(None, x[:, :, ::-1])
    np.testing.assert_allclose(v["plain"], plain)
    np.testing.assert_allclose(v["mirror"], 0.5 * (plain + mirror))
    ten = [_Task.logits(None, tta.shifted(xf, dy, dx)) for xf in (x, np.ascontiguousarray(x[:, :, ::-1]))
           for dy, dx in ((0, 0), (0, -4), (0, 4), (-4, 0), (4, 0))]
    np.testing.assert_allclose(v["tta10"], np.mean(ten, axis=0), rtol=1e-6)
    assert not np.allclose(v["tta10"], v["mirror"])


def test_tally_counts_passed_attacks_and_bpcer_per_view():
    tta = load_script("bench/pad_socofing_tta.py")
    rows = [{"y": 0, "attack_type": None, **{f"attack_{v}": i == 0 for v in (*tta.VIEWS, "chosen")}} for i in range(4)]
    rows += [{"y": 1, "attack_type": "z-cut", **{f"attack_{v}": v != "plain" for v in (*tta.VIEWS, "chosen")}}
             for _ in range(3)]
    t = tta.tally([{"test": rows}])
    assert t["plain"] == {"bpcer_errors": 1, "bona_fide": 4, "z-cut passed": 3, "z-cut n": 3}
    assert t["tta10"]["z-cut passed"] == 0 and t["chosen"]["bpcer_errors"] == 1
