"""``evaluate pad`` for a card with a transaction rule: three-way attempts at the band and simulated
transactions of the same finger (ml/classifiers/eval.py, issue 21 item 2)."""

from __future__ import annotations

import numpy as np

from fpstation.ml.classifiers.eval import _attempts_and_transactions

CARD = {"threshold": {"value": 0.5}, "transaction": {"lo": 0.1, "threshold": 0.5, "hi": 0.8, "max_attempts": 3}}


def _items():
    # live finger 900_1 (3 impressions), gelatine finger 900_1 (2), latex finger 901_2 (1), one oddly named live print
    names = [("Live/900_1_0.png", "900"), ("Live/900_1_1.png", "900"), ("Live/900_1_2.png", "900"),
             ("Fake/Gelatine/900_1_0.png", "900"), ("Fake/Gelatine/900_1_1.png", "900"),
             ("Fake/Latex/901_2_0.png", "901"), ("Live/scan.png", "902")]
    return [{"path": p, "subject": s} for p, s in names]


def test_transactions_and_band_verdicts():
    s = np.array([0.05, 0.3, 0.9, 0.95, 0.4, 0.2, 0.3])
    y = np.array([0, 0, 0, 1, 1, 1, 0])
    types = [None, None, None, "gelatine", "gelatine", "latex", None]
    kept = _items()
    r = _attempts_and_transactions(CARD, None, s, y, types, kept)
    band = r["per_attempt_at_band"]["verdicts"]
    assert band["bona_fide"] == {"LIVE": 1, "UNCERTAIN": 2, "ATTACK": 1, "NOT CHECKED": 0}
    assert band["attack"] == {"LIVE": 0, "UNCERTAIN": 2, "ATTACK": 1, "NOT CHECKED": 0}
    tx = r["per_transaction"]
    # live finger: (0.05) LIVE; (0.3, 0.9) -> mean 0.6, again, (0.3, 0.9, 0.05) -> 0.417 < 0.5 LIVE;
    # (0.9) ATTACK. Odd name: a one-attempt transaction at 0.3 -> LIVE (threshold at its last attempt)
    assert tx["bpcer"]["errors"] == 1 and tx["bpcer"]["n"] == 4
    assert tx["attempts_live_histogram"] == {"1": 3, "3": 1}
    # gelatine: (0.95) ATTACK; (0.4, 0.95) -> 0.675 < 0.8, its last attempt -> ATTACK. Latex (0.2) -> LIVE
    assert tx["apcer_by_type"]["gelatine"]["errors"] == 0 and tx["apcer_by_type"]["latex"]["errors"] == 1
    assert "1 prints named otherwise" in tx["protocol"]


def test_an_attempt_outside_the_domain_is_not_checked():
    s = np.array([0.05, 0.3, 0.9, 0.95, 0.4, 0.2, 0.3])
    y = np.array([0, 0, 0, 1, 1, 1, 0])
    types = [None, None, None, "gelatine", "gelatine", "latex", None]
    kept = _items()
    kept[5] = {**kept[5], "in_domain": False}            # the latex cast was outside the model's domain
    r = _attempts_and_transactions(CARD, None, s, y, types, kept)
    assert r["per_attempt_at_band"]["verdicts"]["attack"]["NOT CHECKED"] == 1
    tx = r["per_transaction"]
    assert tx["apcer_by_type"]["latex"]["errors"] == 0 and tx["not_checked"] == {"bona_fide": 0, "attack": 1}
