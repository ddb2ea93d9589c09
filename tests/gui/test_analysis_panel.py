"""The liveness/gender docks: verdict display, threshold slider with validation rates, recorded
overrides, combined-estimate offer. Uses a minimal stand-in window exposing the extension API."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QDockWidget, QMainWindow

from fpstation.core.types import AnalysisResult, FingerprintImage, GenderResult, ModelRef, PadResult
from fpstation.settings import Settings

PAD_CARD = {
    "name": "pad-test", "task": "pad", "attack_types_seen": ["obliteration", "z-cut", "central rotation"],
    "threshold": {"value": 0.4},
    "roc": {"threshold": [1.0, 0.8, 0.4, 0.1], "tpr": [0.0, 0.7, 0.97, 1.0], "fpr": [0.0, 0.0, 0.01, 0.5]},
}
GENDER_CARD = {"name": "gender-test", "task": "gender", "metrics": {"balanced_accuracy": 0.7, "auc": 0.8}}


class _Card:
    def __init__(self, data):
        self.data = data


class FakeRegistry:
    def default(self, task):
        return _Card(PAD_CARD if task == "pad" else GENDER_CARD)

    def card(self, key):
        return self.default("pad" if key.startswith("pad") else "gender")


class _View:
    def __init__(self):
        self.overlay = "unset"

    def set_overlay(self, heat, alpha=0.45):
        self.overlay = heat


class _Prints(QObject):
    """The file list's part of the window contract: ``loaded`` prints, none selected."""

    itemSelectionChanged = Signal()

    def __init__(self, loaded=()):
        super().__init__()
        self.loaded = list(loaded)

    def images(self):
        return list(self.loaded)

    def selected_images(self):
        return []


class FakeWindow(QMainWindow):
    """The slice of ``contracts.Window`` that analysis_panel.install() uses."""

    printShown = Signal(object)
    printCleared = Signal()
    analysisFinished = Signal(object)
    modelsChanged = Signal()

    def __init__(self, settings, pools):
        super().__init__()
        self.settings, self.pools, self.registry = settings, pools, FakeRegistry()
        self.left_view = _View()
        self.file_list = _Prints()
        self.docks = []
        self.tasks = []

    def add_dock(self, widget, title):
        d = QDockWidget(title, self)
        d.setWidget(widget)
        self.docks.append(title)
        return d

    def run_task(self, pool_name, task, description):
        self.tasks.append((pool_name, description))
        return self.pools.start(pool_name, task)


def _image(name="12__F_Left_index_finger.BMP"):
    return FingerprintImage(np.full((103, 96), 128, np.uint8), None, f"/data/Real/{name}", "ab" * 32)


def _result(im, score):
    return AnalysisResult(image=im, pad=PadResult(score, 0.4, "ATTACK" if score >= 0.45 else "LIVE",
                                                  ModelRef("pad-test", "1", "cd" * 32)),
                          gender=GenderResult(0.62, "female", ModelRef("gender-test", "1", "ef" * 32)))


@pytest.fixture
def window(qtbot, sync_pools, tmp_path):
    from fpstation.gui.analysis_panel import install

    w = FakeWindow(Settings.load(tmp_path / "settings.json"), sync_pools)
    qtbot.addWidget(w)
    pad, gender = install(w)
    return w, pad, gender


def test_docks_and_card_info(window):
    w, pad, gender = window
    assert w.docks == ["Liveness (PAD)", "Gender"]
    assert "obliteration, z-cut, central rotation" in pad.seen_label.text()
    assert abs(pad.slider.value() / 1000 - 0.4) < 1e-9
    assert "APCER 3.0 %" in pad.rates_label.text()
    assert "BPCER 1.0 %" in pad.rates_label.text()


def test_the_cross_validated_figure_is_shown_at_the_models_own_threshold(window):
    w, pad, _ = window
    pad.card = dict(pad.card, cross_validation={"summary": "z-cut APCER 3.8 % at BPCER 0.8 %"})
    pad.reset_threshold()
    assert "On new people (cross-validated): z-cut APCER 3.8 % at BPCER 0.8 %." in pad.rates_label.text()
    pad.slider.setValue(900)  # an operator's threshold: the recipe's figure does not apply
    assert "operator's" in pad.rates_label.text() and "cross-validated" not in pad.rates_label.text()


def test_a_cross_fitted_cards_rates_are_called_out_of_fold(window):
    w, pad, _ = window
    assert "On validation it gives" in pad.rates_label.text()
    pad.card = dict(pad.card, split={"cross_fit": 5, "val_subjects": []})
    pad.reset_threshold()
    assert "Out of fold (each network on the people it did not see) it gives APCER" in pad.rates_label.text()
    assert "On validation" not in pad.rates_label.text()


def test_verdict_shown_large_and_coloured(window):
    w, pad, gender = window
    im = _image()
    w.printShown.emit(im)
    assert pad.verdict_label.text() == "—"
    w.analysisFinished.emit(_result(im, 0.9))
    assert pad.verdict_label.text() == "ATTACK"
    assert pad.verdict_label.font().pointSize() >= 40
    assert "#c62828" in pad.verdict_label.styleSheet()
    w.analysisFinished.emit(_result(im, 0.1))
    assert pad.verdict_label.text() == "LIVE"
    w.analysisFinished.emit(_result(im, 0.42))
    assert pad.verdict_label.text() == "UNCERTAIN"
    assert "0.420" in pad.score_label.text()
    # gender: both probabilities, never a bare label
    assert gender.headline.text() == "Female more likely"
    assert "P(female) 62 %" in gender.detail_label.text()
    assert gender.female_bar.value() == 620
    assert gender.male_bar.value() == 380


def test_moving_the_threshold_changes_verdict_rates_and_settings(window):
    w, pad, _ = window
    im = _image()
    w.printShown.emit(im)
    w.analysisFinished.emit(_result(im, 0.9))
    pad.slider.setValue(950)
    assert w.settings.pad_threshold == pytest.approx(0.95)
    assert pad.verdict_label.text() == "UNCERTAIN"  # 0.9 is within ±0.05 of 0.95
    assert "operator's" in pad.rates_label.text()
    assert "APCER 100.0 %" in pad.rates_label.text()
    pad.reset_threshold()
    assert w.settings.pad_threshold is None
    assert pad.verdict_label.text() == "ATTACK"


def test_override_is_recorded_with_timestamp(window, qtbot):
    w, pad, _ = window
    decisions = []
    pad.decisionRecorded.connect(decisions.append)
    im = _image()
    w.printShown.emit(im)
    w.analysisFinished.emit(_result(im, 0.9))
    with qtbot.waitSignal(pad.decisionRecorded) as blocker:
        pad.live_button.click()
    d = blocker.args[0]
    assert d["action"] == "override"
    assert d["model_verdict"] == "ATTACK"
    assert d["final_verdict"] == "LIVE"
    assert d["timestamp"].endswith("+00:00")
    assert d["sha256"] == im.sha256
    assert d["model"]["name"] == "pad-test"
    pad.confirm_button.click()
    assert [x["action"] for x in decisions] == ["override", "confirmed"]
    assert "confirm" in pad.decision_label.text().lower()  # what the case now holds for this print


def test_no_decision_without_a_result(window):
    w, pad, _ = window
    w.printShown.emit(_image())
    assert not pad.confirm_button.isEnabled()
    assert pad.record("confirmed") is None


def test_pad_error_is_shown(window):
    w, pad, gender = window
    im = _image()
    w.analysisFinished.emit(AnalysisResult(image=im, errors={"pad": "No pad model is installed.",
                                                             "gender": "broken"}))
    assert "No pad model" in pad.verdict_label.toolTip()
    assert "broken" in gender.headline.text()


def test_why_toggle_runs_heat_map_on_inference_pool(window, monkeypatch):
    import fpstation.ml.classifiers as clf

    w, pad, _ = window
    im = _image()
    monkeypatch.setattr(clf, "pad_explain", lambda image, key="": np.full(image.pixels.shape, 0.5, np.float32))
    w.printShown.emit(im)
    w.analysisFinished.emit(_result(im, 0.9))
    pad.why_button.setChecked(True)
    assert w.tasks[-1][0] == "inference"
    assert isinstance(w.left_view.overlay, np.ndarray)
    assert w.left_view.overlay.shape == (103, 96)
    pad.why_button.setChecked(False)
    assert w.left_view.overlay is None


def test_combined_offer_for_same_subject(window, monkeypatch):
    import fpstation.ml.classifiers as clf

    w, _, gender = window
    ims = [_image(f"12__F_Left_{f}_finger.BMP") for f in ("thumb", "index")] + [_image("7__M_Left_thumb_finger.BMP")]

    w.file_list.loaded = ims
    seen = {}

    def fake_combined(images, key="", band=0.1):
        seen["n"] = len(images)
        return GenderResult(0.7, "female")

    monkeypatch.setattr(clf, "gender_combined", fake_combined)
    w.printShown.emit(ims[0])
    assert gender.combine_button.isVisibleTo(gender)
    assert "2 loaded prints of subject 12" in gender.combine_button.text()
    gender.combine_button.click()
    assert seen["n"] == 2
    assert "Combined over 2 prints" in gender.combined_label.text()
    w.printShown.emit(ims[2])
    assert not gender.combine_button.isVisibleTo(gender)


def test_gender_note_names_training_domain(window):
    _, _, gender = window
    gender.set_card({"name": "g", "data": {"layout": "socofing"},
                     "metrics": {"balanced_accuracy": 0.7, "auc": 0.76}})
    text = gender.note_label.text()
    assert "balanced accuracy 0.70" in text
    assert "Trained on SOCOFing" in text
    assert "other sensors" in text


def _two_models(im, alt_score, spoof_score, spoof_in_domain=True, alt_in_domain=True):
    from fpstation.core.pad import combine_pad

    alt = PadResult(alt_score, 0.4, "ATTACK" if alt_score >= 0.45 else "LIVE", ModelRef("pad-test", "1"), 0.01,
                    ("z-cut",), alt_in_domain, "" if alt_in_domain else
                    "outside the sensor/resolution it was validated on: height 1000 px")
    v = ("ATTACK" if spoof_score >= 0.55 else "LIVE") if spoof_in_domain else "UNCERTAIN"
    spoof = PadResult(spoof_score, 0.5, v, ModelRef("pad-livdet", "1"), 0.02, ("gelatine",), spoof_in_domain,
                      "" if spoof_in_domain else "outside the sensor/resolution it was validated on: 500 dpi")
    return AnalysisResult(image=im, pad=combine_pad([alt, spoof]), pad_models=(alt, spoof))


def test_two_models_side_by_side_and_combined_verdict(window):
    w, pad, _ = window
    im = _image()
    w.printShown.emit(im)
    w.analysisFinished.emit(_two_models(im, 0.1, 0.9))
    assert pad.verdict_label.text() == "ATTACK"  # any model saying attack
    text = pad.models_label.text()
    assert "pad-test" in text
    assert "pad-livdet" in text
    assert "gelatine" in text
    assert "z-cut" in text
    assert "Combined verdict of 2" in pad.score_label.text()
    # the material model outside its domain: not checked, listed; the alteration model decides
    w.analysisFinished.emit(_two_models(im, 0.1, 0.9, spoof_in_domain=False))
    assert pad.verdict_label.text() == "LIVE"
    assert "NOT CHECKED" in pad.models_label.text()
    assert "500 dpi" in pad.models_label.text()
    assert "500 dpi" in pad.models_label.toolTip()
    # both outside: no confident verdict
    w.analysisFinished.emit(_two_models(im, 0.1, 0.9, spoof_in_domain=False, alt_in_domain=False))
    assert pad.verdict_label.text() == "UNCERTAIN"
    assert "no model was validated" in pad.verdict_label.toolTip()


def test_slider_moves_only_the_primary_model(window):
    w, pad, _ = window
    im = _image()
    w.printShown.emit(im)
    w.analysisFinished.emit(_two_models(im, 0.3, 0.1))
    assert pad.verdict_label.text() == "LIVE"
    pad.slider.setValue(100)  # the primary (pad-test) now says ATTACK at 0.3 >= 0.1 + 0.05
    assert pad.verdict_label.text() == "ATTACK"
    d = pad.record("confirmed")
    assert [m["model"] for m in d["models"]] == ["pad-test", "pad-livdet"]
    assert d["models"][0]["verdict"] == "ATTACK"
    assert d["models"][1]["verdict"] == "LIVE"


def test_why_explains_the_deciding_model(window, monkeypatch):
    import fpstation.ml.classifiers as clf

    w, pad, _ = window
    im = _image()
    asked = []
    monkeypatch.setattr(clf, "pad_explain", lambda image, key="": asked.append(key) or np.zeros((103, 96), np.float32))
    w.printShown.emit(im)
    w.analysisFinished.emit(_two_models(im, 0.1, 0.9))
    pad.why_button.setChecked(True)
    assert asked == ["pad-livdet"]
