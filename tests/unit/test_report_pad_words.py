"""The report's words for a PAD verdict (core/report._pad_words): where its rates come from."""

from __future__ import annotations

from fpstation.core.report import _pad_words

RESULT = {"verdict": "LIVE", "score": 0.1, "payload": {"threshold": 0.3}}
THRESHOLD = {"value": 0.3, "rule": "lowest threshold with BPCER <= 0.01", "bpcer": 0.008, "apcer": {"z-cut": 0.03}}


def _rows(card):
    return dict(_pad_words(RESULT, card))


def test_a_single_split_card_reports_validation_rates():
    rows = _rows({"threshold": THRESHOLD, "split": {"val_subjects": ["1", "2"]}})
    assert "on held-out subjects: BPCER 0.8 %" in rows["Validation error rates"]
    assert "On new people (cross-validated recipe)" not in rows


def test_a_cross_fitted_card_reports_out_of_fold_rates_and_its_cross_validated_figure():
    rows = _rows({"threshold": THRESHOLD, "split": {"cross_fit": 5, "val_subjects": []},
                  "cross_validation": {"summary": "z-cut APCER 2.7 % at BPCER 0.81 %"}})
    assert "Validation error rates" not in rows
    assert "out of fold (each of its networks on the subjects it did not see)" in rows["Out-of-fold error rates"]
    assert rows["On new people (cross-validated recipe)"] == "z-cut APCER 2.7 % at BPCER 0.81 %."
