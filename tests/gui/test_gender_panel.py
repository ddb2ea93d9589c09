"""The gender dock in each state: a lean with its uncertainty and cross-validated accuracy, "cannot
tell" inside the uncertain band, "cannot tell" with no percentage outside the model's domain, an
error, and the combined estimate (inside and outside the domain)."""

from __future__ import annotations

import re

import numpy as np
import pytest

from fpstation.core.types import AnalysisResult, FingerprintImage, GenderResult, ModelRef
from fpstation.settings import Settings

CARD = {"name": "gender-socofing", "version": "2", "task": "gender", "data": {"layout": "socofing"},
        "uncertain_band": 0.3, "uncertain_band_combined": 0.2,
        "metrics": {"per_print": {"balanced_accuracy": {"value": 0.68, "ci95": [0.64, 0.71]}},
                    "per_print_finger_known": {"balanced_accuracy": {"value": 0.71, "ci95": [0.68, 0.74]}},
                    "per_subject": {"balanced_accuracy": {"value": 0.77, "ci95": [0.71, 0.83]}}}}
REF = ModelRef("gender-socofing", "2", "ab" * 32)
OUTSIDE = ("outside what this model was validated on: height 374 px (at the model's resolution) is "
           "outside the 100–106 px of its training prints")


def _image():
    px = np.full((103, 96), 200, np.uint8)
    return FingerprintImage(pixels=px, dpi=None, source="12__F_Left_index_finger.BMP", sha256="0" * 64)


def _res(g):
    return AnalysisResult(image=_image(), gender=g)


@pytest.fixture
def panel(qtbot, tmp_path):
    from fpstation.gui.analysis_panel import GenderPanel

    p = GenderPanel(Settings.load(tmp_path / "settings.json"))
    qtbot.addWidget(p)
    p.set_card(CARD)
    p.resize(420, 520)
    return p


def test_card_note_gives_cross_validated_ranges_and_weak_evidence(panel):
    t = panel.note_label.text()
    assert "0.68 (95 % CI 0.64–0.71) for one print (0.71 (95 % CI 0.68–0.74) when its finger is known)" in t
    assert "0.77 (95 % CI 0.71–0.83)" in t
    assert "single print is weak evidence" in t
    assert "combining several fingers" in t
    assert panel.band() == 0.3
    assert panel.band(combined=True) == 0.2


def test_lean_shows_probability_uncertainty_and_accuracy(panel):
    g = GenderResult(0.81, "female", REF, p_range=(0.74, 0.86), cv_balanced_accuracy=(0.68, 0.64, 0.71))
    panel.show_result(_res(g))
    assert panel.headline.text() == "Female more likely"
    d = panel.detail_label.text()
    assert "P(female) 81 % (model range 74–86 %)" in d
    assert "95 % CI 0.64–0.71" in d
    assert "single print is weak evidence" in d
    assert panel.female_bar.value() == 810
    assert panel.male_bar.format() == "19.0 %"
    assert "between 0.35 and 0.65" in panel.band_label.text()


def test_uncertain_says_cannot_tell(panel):
    panel.show_result(_res(GenderResult(0.56, "uncertain", REF, p_range=(0.5, 0.6))))
    assert panel.headline.text() == "Cannot tell"
    assert "inside the uncertain band" in panel.detail_label.text()


def test_out_of_domain_shows_no_percentage(panel):
    panel.show_result(_res(GenderResult(0.95, "female", REF)))  # an earlier in-domain result
    panel.show_result(_res(GenderResult(0.95, "uncertain", REF, in_domain=False, domain_reason=OUTSIDE)))
    assert panel.headline.text() == "Cannot tell"
    assert "outside what this model was validated on" in panel.detail_label.text()
    shown = " ".join([panel.headline.text(), panel.detail_label.text(), panel.female_bar.format(),
                      panel.male_bar.format(), panel.band_label.text()])
    assert "95" not in shown
    assert not re.search(r"\d+ ?%", shown)
    assert panel.female_bar.value() == 0


def test_error_state(panel):
    panel.show_result(AnalysisResult(image=_image(), errors={"gender": "No gender model is installed."}))
    assert "Gender unavailable: No gender model is installed." in panel.headline.text()
    assert panel.female_bar.format() == "—"


def test_combined_states(panel):
    panel.set_group([_image()] * 4, "12")
    panel.show_combined(GenderResult(0.2, "male", REF, p_range=(0.15, 0.26), n_prints=4,
                                     cv_balanced_accuracy=(0.77, 0.71, 0.83)))
    t = panel.combined_label.text()
    assert "Combined over 4 prints" in t
    assert "Male more likely" in t
    assert "4 prints combined" in t
    assert "weak evidence" not in t
    panel.show_combined(GenderResult(0.5, "uncertain", REF, in_domain=False, domain_reason=OUTSIDE, n_prints=4))
    t = panel.combined_label.text()
    assert "cannot tell" in t
    assert "outside what this model" in t
    assert "%" not in t.split(":")[0]
