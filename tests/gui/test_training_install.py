"""training_dialog.install() inside the real MainWindow: Tools menu entries and the dialogs open."""

from __future__ import annotations

import pytest
from PySide6.QtGui import QAction

from fpstation.ml.registry import Registry
from fpstation.settings import Settings
from fpstation.workers import Pools


def test_tools_menu_has_training_and_models(qtbot, tmp_path):
    mw = pytest.importorskip("fpstation.gui.main_window")
    win = mw.MainWindow(Settings.load(tmp_path / "settings.json"), Pools(),
                        Registry(shipped_dir=tmp_path / "shipped", user_dir=tmp_path / "user"))
    qtbot.addWidget(win)
    tools = win.menu("&Tools")
    names = [a.objectName() for a in tools.actions()]
    assert "actionTrainModel" in names
    assert "actionModels" in names
    next(a for a in tools.actions() if a.objectName() == "actionTrainModel").trigger()
    dlg = win.training_dialogs.training
    assert dlg.isVisible()
    assert [dlg.task_combo.itemData(i) for i in range(dlg.task_combo.count())][:3] == ["restoration", "pad", "gender"]
    for name in ("restoration", "pad", "gender"):  # the real tasks load without TensorFlow
        dlg.task_combo.setCurrentIndex(dlg.task_combo.findData(name))
        assert dlg.error_label.text() == "", dlg.error_label.text()
        assert dlg.arch_combo.currentText()
        assert dlg.epochs_spin.value() >= 1  # the task's defaults
        assert dlg.start_button.isEnabled()
    next(a for a in win.findChildren(QAction) if a.objectName() == "actionModels").trigger()
    md = win.training_dialogs.models.dialog
    md.select_task("restoration")
    assert [r.value for r in md.rows()][:3] == ["unet", "autoencoder", "classical"]
    win.pools.drain(5000)


def test_without_the_train_extra_the_dialog_says_how_to_add_training(qtbot, tmp_path, monkeypatch):
    import importlib.util

    mw = pytest.importorskip("fpstation.gui.main_window")
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a, **k: None if name == "tensorflow" else real(name, *a, **k))
    win = mw.MainWindow(Settings.load(tmp_path / "settings.json"), Pools(),
                        Registry(shipped_dir=tmp_path / "shipped", user_dir=tmp_path / "user"))
    qtbot.addWidget(win)
    next(a for a in win.menu("&Tools").actions() if a.objectName() == "actionTrainModel").trigger()
    dlg = win.training_dialogs.training
    assert "pip install 'fpstation[train]'" in dlg.error_label.text()
    assert not dlg.start_button.isEnabled()
