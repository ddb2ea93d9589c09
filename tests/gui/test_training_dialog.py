"""Training dialog + Models manager driven with pytest-qt on the tiny stripes task (offscreen)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PySide6.QtCore import Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMainWindow

from fpstation.ml import tasks
from fpstation.ml.registry import Registry
from fpstation.settings import Settings
from fpstation.workers import Pools
from tests.ml.tiny_task import TINY_SPEC, make_dataset

pytestmark = pytest.mark.slow


class FakeWindow(QMainWindow):
    """The slice of H-gui's MainWindow that training_dialog.install() relies on."""

    modelsChanged = Signal()

    def __init__(self, tmp: Path) -> None:
        super().__init__()
        self.pools = Pools()
        self.settings = Settings.load(tmp / "settings.json")
        self.registry = Registry(shipped_dir=tmp / "shipped", user_dir=tmp / "user")
        self._menus = {}

    def menu(self, title: str):
        if title not in self._menus:
            self._menus[title] = self.menuBar().addMenu(title)
        return self._menus[title]


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch):
    from fpstation.gui.training_dialog import install

    monkeypatch.setitem(tasks.TASKS, "tiny", TINY_SPEC)
    w = FakeWindow(tmp_path)
    qtbot.addWidget(w)
    w.dialogs = install(w)
    yield w
    w.dialogs.shutdown()
    w.pools.drain(10000)


def _trigger(window, name):
    act = next(a for a in window.findChildren(QAction) if a.objectName() == name)
    act.trigger()


def _open(window, qtbot, data, backend):
    _trigger(window, "actionTrainModel")
    dlg = window.dialogs.training
    dlg.backend = backend
    dlg.task_combo.setCurrentIndex(dlg.task_combo.findData("tiny"))
    dlg.set_folder(data)
    qtbot.waitUntil(lambda: dlg.scan_result is not None, timeout=10000)
    return dlg


def _n(curve) -> int:
    x, _y = curve.getData()
    return 0 if x is None else len(x)


def test_two_epochs_curves_grow_model_registered_and_selectable(window, qtbot, tmp_path):
    data = make_dataset(tmp_path / "data")
    dlg = _open(window, qtbot, data, "thread")
    text = dlg.scan_text.toPlainText()
    assert "horizontal: 40, vertical: 40" in text
    assert "Subjects: 10" in text
    assert "s99_broken.png" in text  # unreadable files are listed
    dlg.epochs_spin.setValue(2)
    dlg.batch_spin.setValue(4)
    seen = []  # (batch points, epoch points) whenever an epoch arrives
    dlg.curves["loss"].sigPlotChanged.connect(
        lambda *_: seen.append((_n(dlg.curves["batch_loss"]), _n(dlg.curves["loss"]))))
    with qtbot.waitSignal(window.modelsChanged, timeout=60000):
        dlg.start_button.click()
        assert dlg.running
        assert not dlg.start_button.isEnabled()
    assert dlg.outcome is not None
    assert not dlg.outcome.stopped
    ep = [s for s in seen if s[1] > 0]
    assert [s[1] for s in ep][-1] == 2
    assert ep[0][0] < ep[-1][0]  # both curves grew
    assert _n(dlg.curves["val_loss"]) == 2
    assert _n(dlg.curves["metric"]) == 2
    assert "epoch 2/2 · ETA 0 s" in dlg.epoch_label.text()
    # issue 25: metrics in words, never raw keys
    assert "accuracy" in dlg.result_text.toPlainText()
    assert "val_" not in dlg.result_text.toPlainText()
    assert "n val" not in dlg.result_text.toPlainText()
    key = dlg.outcome.card.key
    assert key == "tiny-cnn2@v1"
    # selectable in the Models manager without a restart
    _trigger(window, "actionModels")
    md = window.dialogs.models.dialog
    md.select_task("tiny")
    assert key in [r.value for r in md.rows()]
    md.select_value(key)
    details = md.details.toPlainText()
    assert "key tiny-cnn2@v1" in details
    assert "Command: python -m fpstation train tiny" in details
    assert "Validation: " in details
    assert "Split: " in details
    card = json.loads(dlg.outcome.card_path.read_text())
    assert card["data"]["unreadable"] == 1
    assert card["training"]["epochs_run"] == 2


def test_stop_midway_in_child_process_keeps_usable_checkpoint(window, qtbot, tmp_path):
    data = make_dataset(tmp_path / "data")
    dlg = _open(window, qtbot, data, "process")
    dlg.epochs_spin.setValue(500)
    dlg.batch_spin.setValue(2)
    dlg.activate_check.setChecked(False)
    asked = []
    dlg.confirm_keep_stopped = lambda summary: asked.append(summary) or True  # the user keeps it
    dlg.start_button.click()
    qtbot.waitUntil(lambda: _n(dlg.curves["loss"]) >= 1, timeout=90000)
    with qtbot.waitSignal(dlg.runEnded, timeout=30000) as ended:
        dlg.stop_button.click()
    assert ended.args == ["done"]
    out = dlg.outcome
    assert out.stopped
    assert 1 <= out.fit.epochs_run < 500
    assert len(asked) == 1
    assert f"stopped at epoch {out.fit.epochs_run}/500" in asked[0]
    assert "kept at your request" in dlg.status_label.text()
    assert dlg.progress_bar.value() < 1000  # not "100 %" next to "epoch 2/500"
    # registered, verified against its card and loadable
    reg = window.registry
    assert [c.key for c in reg.cards("tiny")] == [out.card.key]
    assert reg.load(out.card.key).output_shape == (None, 2)
    assert json.loads(out.card_path.read_text())["training"]["stopped"] is True


def test_dataset_problem_is_shown_in_words(window, qtbot, tmp_path):
    data = make_dataset(tmp_path / "bad", empty_class=True)
    dlg = _open(window, qtbot, data, "thread")
    assert "has no images" in dlg.scan_text.toPlainText()
    with qtbot.waitSignal(dlg.runEnded, timeout=30000) as ended:
        dlg.start_button.click()
    assert ended.args == ["error"]
    assert "The class “vertical” has no images" in dlg.error_label.text()
    assert dlg.start_button.isEnabled()
    assert window.registry.cards("tiny") == []
    # the folder field losing focus (Start disables it) must not rescan and wipe the message
    dlg.folder_edit.editingFinished.emit()
    assert dlg._scan_task is None
    qtbot.wait(300)
    assert "The class “vertical” has no images" in dlg.error_label.text()


def _fake_model(dirpath: Path, name: str) -> Path:
    dirpath.mkdir(parents=True, exist_ok=True)
    f = dirpath / f"{name}.keras"
    f.write_bytes(name.encode())
    return f


def test_models_manager_switches_versions_and_back(window, qtbot, tmp_path):
    from fpstation.ml.registry import sha256_file

    shipped = tmp_path / "shipped"
    w = _fake_model(shipped, "pad-socofing")
    (shipped / "pad-socofing.json").write_text(json.dumps(
        {"name": "pad-socofing", "task": "pad", "file": w.name, "sha256": sha256_file(w), "default": True,
         "metrics": {"auc": 0.97}}))
    reg = window.registry
    for acc in (0.8, 0.9):
        reg.register({"name": "pad-cnn", "task": "pad", "metrics": {"val_auc": acc}}, _fake_model(tmp_path / "w", "x"))
    dlg = window.dialogs.open_models()
    dlg.select_task("pad")
    rows = dlg.rows()
    assert [r.value for r in rows] == ["", "pad-socofing", "pad-cnn@v1", "pad-cnn@v2"]
    assert rows[0].label.startswith("Always the shipped default (now pad-socofing")
    assert "val_auc 0.8" in rows[2].metrics
    assert rows[0].origin == "follows updates"  # not a look-alike of the shipped card row
    assert dlg.table.item(0, 0).text() == "●"  # default active
    with qtbot.waitSignal(window.modelsChanged, timeout=2000):
        dlg.select_value("pad-cnn@v1")
        dlg.use_button.click()
    assert window.settings.pad_model == "pad-cnn@v1"
    assert Settings.load(tmp_path / "settings.json").pad_model == "pad-cnn@v1"  # saved
    assert dlg.table.item(2, 0).text() == "●"
    assert dlg.table.item(0, 0).text() == ""
    # switch back to the shipped default; both trained versions are still listed
    dlg.select_value("")
    dlg.use_selected()
    assert Settings.load(tmp_path / "settings.json").pad_model == ""
    # restoration: built-in methods plus trained registry keys
    reg.register({"name": "restore-unet", "task": "restoration", "metrics": {}}, _fake_model(tmp_path / "w", "y"))
    window.modelsChanged.emit()  # a new model appears without reopening the dialog
    dlg.select_task("restoration")
    assert [r.value for r in dlg.rows()] == ["unet", "autoencoder", "classical", "restore-unet@v1"]
    dlg.select_value("restore-unet@v1")
    dlg.use_selected()
    assert Settings.load(tmp_path / "settings.json").restorer == "restore-unet@v1"


def test_killed_child_process_is_reported_in_words(window, qtbot, tmp_path):
    """A child killed from outside (as the kernel's out-of-memory killer would) ends the run with
    a message, never a hang; the dialog can start again."""
    data = make_dataset(tmp_path / "data")
    dlg = _open(window, qtbot, data, "process")
    dlg.epochs_spin.setValue(500)
    dlg.batch_spin.setValue(2)
    dlg.start_button.click()
    qtbot.waitUntil(lambda: _n(dlg.curves["batch_loss"]) >= 1, timeout=90000)
    with qtbot.waitSignal(dlg.runEnded, timeout=30000) as ended:
        dlg.run.process.kill()
    assert ended.args == ["error"]
    assert "training process ended unexpectedly" in dlg.error_label.text()
    assert "out of memory" in dlg.error_label.text()
    assert dlg.start_button.isEnabled()
    assert window.registry.cards("tiny") == []


def test_child_does_not_rerun_an_unguarded_main_script(tmp_path):
    """'spawn' re-executes the parent's __main__ script unless it is guarded; ProcessRun hides it,
    so a launcher without ``if __name__ == "__main__"`` never opens a second app in the child."""
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    data = make_dataset(tmp_path / "data", subjects=4, per_subject=2)
    script = tmp_path / "launcher.py"
    script.write_text(f"""
import os, sys
sys.path.insert(0, {str(root)!r})
print("LAUNCHER RAN", os.getpid(), flush=True)
from PySide6.QtCore import QCoreApplication, QTimer
from fpstation.ml import tasks
from fpstation.ml.registry import Registry
from fpstation.gui.training_runner import ProcessRun
from tests.ml.tiny_task import TINY_SPEC, TinyTask
tasks.TASKS["tiny"] = TINY_SPEC
app = QCoreApplication([])
hyper = TinyTask().default_hyper()
hyper.epochs = 1
from pathlib import Path
run = ProcessRun("tiny", {str(data)!r}, hyper, Registry(Path({str(tmp_path / 's')!r}), Path({str(tmp_path / 'u')!r})))
run.event.connect(lambda kind, payload: (print("EVENT", kind, payload if kind == "error" else "", flush=True),
                                          kind in ("done", "error", "cancelled") and app.quit()))
run.start()
QTimer.singleShot(120000, app.quit)
app.exec()
""")
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=180, env=env)
    assert proc.stdout.count("LAUNCHER RAN") == 1, proc.stdout + proc.stderr[-2000:]
    assert "EVENT done" in proc.stdout, proc.stdout + proc.stderr[-2000:]


def test_dpi_field_selects_the_patch_pad_model(window, qtbot, tmp_path):
    """A stated dpi for presentation-attack data switches to the texture-patch model and its
    defaults; the dpi reaches the Hyper the run is started with."""
    _trigger(window, "actionTrainModel")
    dlg = window.dialogs.training
    dlg.task_combo.setCurrentIndex(dlg.task_combo.findData("pad"))
    assert dlg.arch_combo.currentText() == "pad_cnn"
    assert dlg.dpi_spin.value() == 0
    assert "dpi" not in dlg.hyper().extra
    dlg.dpi_spin.setValue(1000)
    assert dlg.arch_combo.currentText() == "pad_patch_cnn"
    h = dlg.hyper()
    assert h.architecture == "pad_patch_cnn"
    assert h.extra["dpi"] == 1000
    assert h.extra["model_dpi"] == 1000
    assert h.input_size == 96
    assert dlg.size_spin.value() == 96
    # issue 25: the switch is said in the form, with what it changed (never silently)
    note = dlg.change_label.text()
    assert "texture-patch model" in note
    assert "batch size" in note
    assert "learning rate" in note
    assert f"→ {h.batch_size}" in note
    assert dlg.batch_spin.value() == h.batch_size


def test_whole_print_pad_offers_the_alteration_map_on_socofing_pairs_only(window, qtbot, tmp_path):
    """The shipped pad-socofing recipe (docs/adr/0264) from the dialog: the alteration map is used
    only when the scanned folder holds real/altered pairs (SOCOFing layout), the mirror view on
    whole-print PAD; neither option exists for the texture-patch model."""
    from tests.ml.classifier_fixtures import make_livdet, make_socofing

    _trigger(window, "actionTrainModel")
    dlg = window.dialogs.training
    dlg.task_combo.setCurrentIndex(dlg.task_combo.findData("pad"))
    dlg.set_folder(make_socofing(tmp_path / "soco", subjects=6))
    qtbot.waitUntil(lambda: dlg.scan_result is not None, timeout=10000)
    assert not dlg.alter_map_check.isHidden() and dlg.alter_map_check.isEnabled()
    h = dlg.hyper()
    assert h.extra["alter_map"] == 1.0 and h.extra["mirror"] is True
    dlg.alter_map_check.setChecked(False)
    dlg.mirror_check.setChecked(False)
    assert "alter_map" not in dlg.hyper().extra and "mirror" not in dlg.hyper().extra
    dlg.alter_map_check.setChecked(True)
    dlg.set_folder(make_livdet(tmp_path / "livdet", subjects=4))  # no pairs: the map cannot be learnt
    qtbot.waitUntil(lambda: dlg.scan_result is not None and dlg.scan_result.layout == "livdet", timeout=10000)
    assert not dlg.alter_map_check.isEnabled()
    assert "alter_map" not in dlg.hyper().extra
    dlg.arch_combo.setCurrentText("pad_patch_cnn")
    assert dlg.alter_map_check.isHidden() and dlg.mirror_check.isHidden()
    assert {"alter_map", "mirror"}.isdisjoint(dlg.hyper().extra)
    # with the map, Keras names the print's metrics logit_auc / val_logit_auc: the AUC curves still fill
    dlg._epoch_x, dlg._epoch_logs = [1, 2], [{"loss": 0.9, "val_logit_auc": 0.95, "logit_auc": 0.9},
                                             {"loss": 0.5, "val_logit_auc": 0.97, "logit_auc": 0.93}]
    assert dlg._series("val_auc") == ([1, 2], [0.95, 0.97]) and dlg._series("auc") == ([1, 2], [0.9, 0.93])
    assert dlg._series("loss") == ([1, 2], [0.9, 0.5])


def _pad_cnn_dialog(window, qtbot, tmp_path):
    """The Training dialog on a small SOCOFing-layout folder, pad_cnn chosen."""
    from tests.ml.classifier_fixtures import make_socofing

    _trigger(window, "actionTrainModel")
    dlg = window.dialogs.training
    dlg.task_combo.setCurrentIndex(dlg.task_combo.findData("pad"))
    dlg.set_folder(make_socofing(tmp_path / "soco", subjects=6))
    qtbot.waitUntil(lambda: dlg.scan_result is not None, timeout=10000)
    dlg.arch_combo.setCurrentText("pad_cnn")
    return dlg


def test_print_cnns_offer_an_ensemble_of_networks(window, qtbot, tmp_path):
    """The Ensemble row (N networks on one split, their mean logit as one model) shows for the
    one-logit print CNNs only, reaches the hyper-parameters, and the curves span every member."""
    dlg = _pad_cnn_dialog(window, qtbot, tmp_path)
    assert not dlg.members_spin.isHidden() and dlg.members_spin.value() == 1
    assert "members" not in dlg.hyper().extra
    dlg.members_spin.setValue(3)
    assert dlg.hyper().extra["members"] == 3 and dlg.members_spin.suffix() == " networks, averaged"
    dlg.arch_combo.setCurrentText("pad_patch_cnn")  # patch scores: no single logit to average
    assert dlg.members_spin.isHidden() and "members" not in dlg.hyper().extra
    dlg.task_combo.setCurrentIndex(dlg.task_combo.findData("gender"))
    dlg.arch_combo.setCurrentText("gender_cnn")
    assert not dlg.members_spin.isHidden()


def test_pad_cnn_networks_can_be_cross_fitted(window, qtbot, tmp_path):
    """With more than one pad_cnn network the dialog offers cross-fitting (ADR 0267): ticked, the
    networks become cross_fit parts (not members on one split) and the validation share is unused."""
    dlg = _pad_cnn_dialog(window, qtbot, tmp_path)
    assert dlg.crossfit_check.isHidden()  # one network: nothing to cross-fit
    dlg.members_spin.setValue(5)
    assert not dlg.crossfit_check.isHidden() and not dlg.crossfit_check.isChecked()
    assert dlg.hyper().extra["members"] == 5 and dlg.val_spin.isEnabled()
    dlg.crossfit_check.setChecked(True)
    extra = dlg.hyper().extra
    assert extra["cross_fit"] == 5 and "members" not in extra and not dlg.val_spin.isEnabled()
    assert "Cross-fitted: the subjects are cut into 5 parts" in dlg.scan_text.toPlainText()
    dlg.crossfit_check.setChecked(False)
    assert dlg.val_spin.isEnabled() and "cross_fit" not in dlg.hyper().extra
    assert "Cross-fitted" not in dlg.scan_text.toPlainText()
    dlg.task_combo.setCurrentIndex(dlg.task_combo.findData("gender"))
    dlg.arch_combo.setCurrentText("gender_cnn")
    assert dlg.crossfit_check.isHidden() and "cross_fit" not in dlg.hyper().extra


def test_metrics_are_shown_in_words():
    from fpstation.gui.training_dialog import _fmt_metrics

    lines = _fmt_metrics({"val_n": 120, "bpcer": 0.009, "auc": 0.98765, "val_top_1": 0.5})
    assert lines == ["validation prints 120", "BPCER (live prints rejected) 0.9 %", "AUC 0.9877",
                     "validation top 1 0.5"]
    assert not any("val_" in x for x in lines)


def test_stopped_run_is_discarded_unless_kept_and_choices_are_remembered(window, qtbot, tmp_path):
    """Issue 16 item 6: a stopped run is registered only if the user agrees; task and folder come
    back in the next session; the legends sit under the plots, not over the curves."""
    data = make_dataset(tmp_path / "data")
    dlg = _open(window, qtbot, data, "thread")
    assert dlg.loss_legend.isVisibleTo(dlg)
    assert dlg.loss_plot.getPlotItem().legend is None
    dlg.epochs_spin.setValue(300)
    dlg.batch_spin.setValue(2)
    dlg.activate_check.setChecked(False)
    asked = []  # the status line while the question is asked (issue 25: not "registered")
    dlg.confirm_keep_stopped = lambda summary: asked.append(dlg.status_label.text()) or False  # the user says No
    dlg.start_button.click()
    qtbot.waitUntil(lambda: _n(dlg.curves["loss"]) >= 1, timeout=90000)
    with qtbot.waitSignal(dlg.runEnded, timeout=60000):
        dlg.stop_button.click()
    assert dlg.outcome.stopped
    assert "discarded" in dlg.status_label.text()
    assert asked
    assert "registered" not in asked[0].lower()
    assert window.registry.cards("tiny") == []  # nothing selectable
    assert dlg.progress_bar.value() < 1000
    # the next session's dialog opens on the same task and folder
    assert window.settings.train_task == "tiny"
    assert window.settings.train_folder == str(data)
    from fpstation.gui.training_dialog import TrainingDialog

    again = TrainingDialog(window.pools, window.registry, window, settings=window.settings)
    qtbot.addWidget(again)
    assert again.task_name == "tiny"
    assert again.folder_edit.text() == str(data)
