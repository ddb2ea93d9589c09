"""Face identification panel inside the real MainWindow (offscreen, real pools, real dlib model)."""

from __future__ import annotations

import shutil

import pytest

from fpstation import paths
from fpstation.settings import Settings
from fpstation.workers import Pools

pytest.importorskip("dlib")
FACES = paths.samples_dir() / "faces"


@pytest.fixture
def window(qtbot, tmp_path):
    from fpstation.gui.main_window import MainWindow

    w = MainWindow(Settings.load(tmp_path / "settings.json"), Pools())
    qtbot.addWidget(w)
    yield w
    w.pools.drain(20000)


@pytest.fixture
def gallery(tmp_path):
    root = tmp_path / "people"
    for person, img in (("s1", "s1_1"), ("s2", "s2_1")):
        (root / person).mkdir(parents=True)
        shutil.copy(FACES / f"orl_{img}.png", root / person / f"{img}.png")
    return root


def _wait(qtbot, task):
    qtbot.waitUntil(lambda: task.done.is_set(), timeout=60000)


def test_face_panel_enrols_identifies_shows_box_and_says_not_in_gallery(window, qtbot, tmp_path, gallery):
    panel = window.face_panel
    qtbot.waitUntil(lambda: panel.model_combo.count() >= 1, timeout=20000)
    assert panel.model == "face-dlib-resnet"
    assert window.face_dock.isHidden()
    window.case_controller.open(tmp_path / "case.db")
    _wait(qtbot, panel.enrol(gallery))
    qtbot.waitUntil(lambda: "2 person(s)" in panel.gallery_label.text(), timeout=5000)
    assert "Enrolled 2 image(s) of 2 person(s)" in panel.detail_label.text()

    _wait(qtbot, panel.identify(FACES / "orl_s1_2.png"))
    qtbot.waitUntil(lambda: panel.result is not None, timeout=5000)
    assert panel.verdict_label.text() == "s1"
    assert panel.table.rowCount() == 2
    assert [panel.table.item(r, 1).text() for r in range(2)] == ["s1", "s2"]
    sims = [float(panel.table.item(r, 2).text()) for r in range(2)]
    assert sims[0] > sims[1]
    assert sims[0] >= panel.result.threshold
    # the detection box is drawn over the image, where the detector put it
    assert panel.view.has_image()
    assert panel._box_item is not None
    r = panel._box_item.rect()
    b = panel.result.box
    assert (r.x(), r.y(), r.width(), r.height()) == (b.left, b.top, b.width, b.height)
    assert "found by hog" in panel.detail_label.text()

    # remove s1 (no retraining): the same face is now not in the gallery
    assert panel.remove("s1") == 1
    assert "1 person(s)" in panel.gallery_label.text()
    panel.result = None
    _wait(qtbot, panel.identify(FACES / "orl_s1_2.png"))
    qtbot.waitUntil(lambda: panel.result is not None, timeout=5000)
    assert panel.verdict_label.text() == "Not in the gallery"
    assert "vs threshold" in panel.detail_label.text()


def test_face_panel_refuses_a_fingerprint(window, qtbot, tmp_path, gallery):
    from fpstation.core.samples import sample_file

    panel = window.face_panel
    window.case_controller.open(tmp_path / "case.db")
    _wait(qtbot, panel.enrol(gallery))
    task = panel.identify(sample_file())
    _wait(qtbot, task)
    qtbot.waitUntil(lambda: panel.verdict_label.text() == "Not a face", timeout=5000)
    assert "fingerprint" in panel.detail_label.text()
    assert panel.table.rowCount() == 0


def test_tools_menu_has_face_identification(window):
    texts = [a.text() for a in window.menu("&Tools").actions()]
    assert "&Face Identification…" in texts


@pytest.mark.slow
def test_training_dialog_trains_the_face_cnn_with_live_curves(qtbot, tmp_path):
    """The face task in the existing training dialog: scan summary, live curves, model registered.
    (Stop is the generic fit loop's, tested with the tiny task in test_training_dialog.py.)"""
    from PySide6.QtGui import QAction

    from fpstation.gui.training_dialog import install
    from tests.face.test_face_task import make_people
    from tests.gui.test_training_dialog import FakeWindow

    data = make_people(tmp_path / "people")
    w = FakeWindow(tmp_path)
    qtbot.addWidget(w)
    dialogs = install(w)
    try:
        next(a for a in w.findChildren(QAction) if a.objectName() == "actionTrainModel").trigger()
        dlg = dialogs.training
        dlg.backend = "thread"
        dlg.task_combo.setCurrentIndex(dlg.task_combo.findData("face"))
        assert dlg.task_combo.currentText() == "Face identification (small CNN)"
        dlg.set_folder(data)
        qtbot.waitUntil(lambda: dlg.scan_result is not None, timeout=60000)
        assert "Subjects: 8" in dlg.scan_text.toPlainText()
        dlg.epochs_spin.setValue(2)
        dlg.batch_spin.setValue(8)
        with qtbot.waitSignal(w.modelsChanged, timeout=600000):
            dlg.start_button.click()
        assert dlg.outcome is not None
        assert not dlg.outcome.stopped
        assert len(dlg.curves["val_loss"].getData()[0]) == 2
        assert len(dlg.curves["metric"].getData()[0]) == 2
        assert dlg.outcome.card.data["task"] == "face"
        assert "heldout_people_closed_set" in dlg.outcome.card.data["metrics"]
    finally:
        dialogs.shutdown()
        w.pools.drain(20000)
