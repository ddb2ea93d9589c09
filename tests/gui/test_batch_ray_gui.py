"""Analyse Folder offers the engine and the Ray address; the Batch dock runs a batch on Ray workers."""

from __future__ import annotations

import pytest

from fpstation.core.cluster import FakeSetup
from fpstation.settings import Settings
from fpstation.workers import Pools
from tests.unit.bad_corpus import good_files


def test_dialog_offers_engine_and_address(qtbot, tmp_path):
    from fpstation.core.cluster import ray_available
    from fpstation.gui.batch_view import AnalyseFolderDialog

    dlg = AnalyseFolderDialog(None, str(tmp_path), [".png"], "ray", "ray://head:10001")
    qtbot.addWidget(dlg)
    if not ray_available():  # the Ray entry is there but disabled, with the install command as tooltip
        assert dlg.engine()[0] == "local"
        assert "pip install" in dlg.engine_combo.model().item(1).toolTip()
        return
    assert dlg.engine() == ("ray", "ray://head:10001")
    assert dlg.address_edit.isEnabled()
    dlg.engine_combo.setCurrentIndex(0)
    assert dlg.engine()[0] == "local"
    assert not dlg.address_edit.isEnabled()
    assert dlg.values() == (str(tmp_path), [".png"], True)


@pytest.mark.slow
def test_batch_dock_runs_on_ray_workers(qtbot, tmp_path):
    ray = pytest.importorskip("ray")
    from fpstation.gui.main_window import MainWindow

    if ray.is_initialized():
        ray.shutdown()
    w = MainWindow(Settings.load(tmp_path / "settings.json"), Pools())
    qtbot.addWidget(w)
    try:
        folder = tmp_path / "in"
        folder.mkdir()
        good_files(folder, 4)
        (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
        panel = w.batch_panel
        panel.setup_factory = lambda _settings: FakeSetup()
        w.case_controller.open(tmp_path / "case.db")
        task = panel.start(str(folder), engine="ray")
        qtbot.waitUntil(lambda: task.done.is_set(), timeout=120000)
        qtbot.waitUntil(lambda: panel.model.rowCount() == 5 and "files" in panel.summary_label.text(), timeout=5000)
        rows = [panel.model.row(i) for i in range(5)]
        assert sorted(r["status"] for r in rows) == ["bad file", "done", "done", "done", "done"]
        assert "4 analysed" in panel.summary_label.text()
        assert not ray.is_initialized()  # the batch started Ray, so it stopped it
    finally:
        w.pools.drain(10000)
