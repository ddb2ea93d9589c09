"""fpstation.core.gender_person: one estimate per person from several prints — mean logit, combined
calibration per number of prints, interval, "weak evidence" for one print, and who a file belongs to."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fpstation.core.gender_person import CONFIDENT_SINGLE, WEAK, combine_person, person_key


def _sig(z: float) -> float:
    return 1 / (1 + math.exp(-z))


def test_prints_are_averaged_not_summed():
    g = combine_person([1.0, 1.0, 1.0], {})
    assert g.p_female == pytest.approx(_sig(1.0))


def test_combined_calibration_applies_to_several_prints():
    g = combine_person([0.5, 0.5], {"combined_calibration": {"2": [2.0, 0.0], "5": [3.0, 0.0]}})
    assert g.p_female == pytest.approx(_sig(1.0))


def test_nearest_number_of_prints_is_used():
    g = combine_person([0.5, 0.5, 0.5, 0.5], {"combined_calibration": {"2": [2.0, 0.0], "5": [3.0, 0.0]}})
    assert g.p_female == pytest.approx(_sig(1.5))


def test_one_print_keeps_its_own_calibration():
    g = combine_person([0.5], {"combined_calibration": {"2": [2.0, 0.0]}})
    assert g.p_female == pytest.approx(_sig(0.5))


def test_fingers_used_are_counted():
    assert combine_person([0.1, -0.3, 0.2, 0.4], {}).n_fingers == 4


def test_single_print_is_weak_evidence_without_a_confident_level():
    assert combine_person([4.0], {}).evidence == WEAK


def test_single_print_beyond_the_confident_level_is_confident():
    assert combine_person([4.0], {"confident_single": 0.4}).evidence == CONFIDENT_SINGLE


def test_single_print_short_of_the_confident_level_is_weak():
    assert combine_person([0.5], {"confident_single": 0.4}).evidence == WEAK


def test_several_prints_say_how_many_were_combined():
    assert combine_person([0.5, 0.2, 0.1], {}).evidence == "3 fingers combined"


def test_one_print_one_member_has_no_interval():
    assert combine_person([0.5], {}).interval == ()


def test_interval_holds_the_estimate_for_several_prints():
    g = combine_person([0.2, 1.5, -0.4, 0.9], {})
    assert g.interval[0] <= g.p_female <= g.interval[1]


def test_interval_widens_when_prints_disagree():
    agree = combine_person([0.5, 0.5, 0.5, 0.5], {})
    disagree = combine_person([-2.0, 3.0, -1.0, 2.0], {})
    assert disagree.interval[1] - disagree.interval[0] > agree.interval[1] - agree.interval[0]


def test_members_give_a_single_print_an_interval():
    g = combine_person(np.array([[0.2, 0.6, 1.0]]), {})
    assert g.interval[0] < g.interval[1]


def test_combined_band_is_used_for_several_prints():
    card = {"uncertain_band": 0.1, "uncertain_band_combined": 0.5}
    assert combine_person([0.6, 0.6], card).label == "uncertain"


def test_single_print_band_is_used_for_one_print():
    card = {"uncertain_band": 0.1, "uncertain_band_combined": 0.5}
    assert combine_person([0.6], card).label == "female"


def test_no_prints_is_refused_clearly():
    with pytest.raises(ValueError, match="at least one"):
        combine_person([], {})


def test_a_missing_logit_is_refused_clearly():
    with pytest.raises(ValueError, match="finite"):
        combine_person([0.3, float("nan")], {})


def test_person_of_a_socofing_name_is_its_subject():
    assert person_key("/data/x/12__F_Left_index_finger.BMP", "/data") == "subject 12"


def test_person_of_another_file_is_its_folder_under_the_root():
    assert person_key("/data/case7/suspect/a.png", "/data") == "case7/suspect"


def test_file_in_the_root_itself_is_person_dot():
    assert person_key("/data/a.png", "/data") == "."
