"""The gender dock's per-person estimate: "weak evidence" on a single print unless it is confident,
the combined estimate with its interval and fingers used, and which prints the combine button offers
(the analyst's selection, a SOCOFing subject, or a folder)."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QObject, Signal

from fpstation.core.gender_person import CONFIDENT_SINGLE, WEAK
from fpstation.core.types import AnalysisResult, FingerprintImage, GenderResult, ModelRef
from fpstation.settings import Settings

REF = ModelRef("gender-socofing", "2", "ab" * 32)


def _image(source="/data/Real/12__F_Left_index_finger.BMP"):
    return FingerprintImage(np.full((103, 96), 128, np.uint8), None, source, "ab" * 32)


@pytest.fixture
def panel(qtbot, tmp_path):
    from fpstation.gui.analysis_panel import GenderPanel

    p = GenderPanel(Settings.load(tmp_path / "settings.json"))
    qtbot.addWidget(p)
    p.set_card({"name": "gender-socofing", "version": "2", "uncertain_band": 0.3, "uncertain_band_combined": 0.2})
    return p


def test_single_print_headline_says_weak_evidence(panel):
    panel.show_result(AnalysisResult(image=_image(), gender=GenderResult(0.81, "female", REF, evidence=WEAK)))
    assert panel.headline.text() == "Female more likely — weak evidence"


def test_confident_single_print_headline_has_no_weak_evidence(panel):
    g = GenderResult(0.97, "female", REF, evidence=CONFIDENT_SINGLE)
    panel.show_result(AnalysisResult(image=_image(), gender=g))
    assert panel.headline.text() == "Female more likely"


def test_confident_single_print_detail_says_so(panel):
    g = GenderResult(0.97, "female", REF, evidence=CONFIDENT_SINGLE)
    panel.show_result(AnalysisResult(image=_image(), gender=g))
    assert "confident single print" in panel.detail_label.text()


def test_combined_shows_interval_and_fingers(panel):
    panel.set_group([_image()] * 4, "subject 12")
    panel.show_combined(GenderResult(0.2, "male", REF, n_prints=4, interval=(0.1, 0.3), evidence="4 fingers combined"))
    t = panel.combined_label.text()
    assert "interval 10–30 %" in t
    assert "4 fingers combined" in t


def test_combined_single_print_in_domain_is_weak_evidence(panel):
    panel.set_group([_image()] * 3, "subject 12")
    panel.show_combined(GenderResult(0.8, "female", REF, n_prints=1, evidence=WEAK))
    assert "weak evidence" in panel.combined_label.text()


def test_button_names_a_selection(panel):
    from fpstation.gui.analysis_panel import SELECTED

    panel.set_group([_image()] * 3, SELECTED)
    assert panel.combine_button.text() == "Combine the 3 selected prints as one person"


def test_button_names_a_folder(panel):
    panel.set_group([_image("/case/suspect/a.png")] * 2, "/case/suspect")
    assert panel.combine_button.text() == "Combine the 2 loaded prints in folder /case/suspect"


def test_file_list_returns_the_selected_prints(qtbot):
    from PySide6.QtGui import QImage

    from fpstation.gui.file_list import FileList

    fl = FileList()
    qtbot.addWidget(fl)
    ims = [_image(f"/x/{k}.png") for k in range(3)]
    thumb = QImage(8, 8, QImage.Format.Format_Grayscale8)
    rows = [fl.set_prints(im.source, [im], [thumb])[0] for im in ims]
    rows[0].setSelected(True)
    rows[2].setSelected(True)
    assert fl.selected_images() == [ims[0], ims[2]]


class _List(QObject):
    itemSelectionChanged = Signal()

    def __init__(self, images):
        super().__init__()
        self._images, self.selected = images, []

    def images(self):
        return list(self._images)

    def selected_images(self):
        return list(self.selected)


@pytest.fixture
def window(qtbot, sync_pools, tmp_path):
    from fpstation.gui.analysis_panel import install
    from tests.gui.test_analysis_panel import FakeWindow

    w = FakeWindow(Settings.load(tmp_path / "settings.json"), sync_pools)
    qtbot.addWidget(w)
    w.file_list = _List([_image(f"/case/suspect/{k}.png") for k in range(3)] + [_image("/case/other/z.png")])
    _, gender = install(w)
    return w, gender


def test_selecting_prints_offers_to_combine_them(window, combined_calls):
    w, gender = window
    w.printShown.emit(w.file_list._images[0])
    _select(w, 0, 3)
    assert gender.combine_button.text() == "Combine the 2 selected prints as one person"


def test_prints_of_one_folder_are_offered_together(window):
    w, gender = window
    w.printShown.emit(w.file_list._images[0])
    assert gender.combine_button.text() == "Combine the 3 loaded prints in folder /case/suspect"


@pytest.fixture
def combined_calls(monkeypatch):
    import fpstation.ml.classifiers as clf

    calls = []

    def fake_combined(images, key="", band=0.1):
        calls.append(list(images))
        return GenderResult(0.7, "female", n_prints=len(images), interval=(0.6, 0.8),
                            evidence=f"{len(images)} fingers combined")

    monkeypatch.setattr(clf, "gender_combined", fake_combined)
    return calls


def _select(w, *idx):
    w.file_list.selected = [w.file_list._images[i] for i in idx]
    w.file_list.itemSelectionChanged.emit()


def test_selecting_prints_shows_their_combined_estimate(window, combined_calls):
    w, gender = window
    w.printShown.emit(w.file_list._images[0])
    _select(w, 1, 3)
    assert combined_calls == [[w.file_list._images[1], w.file_list._images[3]]]


def test_selection_estimate_names_fingers_and_interval(window, combined_calls):
    w, gender = window
    w.printShown.emit(w.file_list._images[0])
    _select(w, 1, 3)
    t = gender.combined_label.text()
    assert "Combined over 2 prints" in t
    assert "interval 60–80 %" in t
    assert "2 fingers combined" in t


def test_showing_a_selected_print_keeps_the_selection_estimate(window, combined_calls):
    w, gender = window
    _select(w, 1, 3)
    w.printShown.emit(w.file_list._images[3])  # Ctrl-click made it the current print
    assert "Combined over 2 prints" in gender.combined_label.text()


def test_the_same_selection_is_not_combined_twice(window, combined_calls):
    w, gender = window
    _select(w, 1, 3)
    w.file_list.itemSelectionChanged.emit()
    assert len(combined_calls) == 1


def test_combine_button_runs_on_exactly_the_selected_prints(window, combined_calls):
    w, gender = window
    _select(w, 1, 3)
    gender.combine_button.click()
    assert combined_calls[-1] == [w.file_list._images[1], w.file_list._images[3]]
