"""Batch dock and scanner desk inside the real MainWindow (offscreen, real pools, fake analysers)."""

from __future__ import annotations

import sqlite3

import pytest

from fpstation.core.batch import fake_analyzers
from fpstation.settings import Settings
from fpstation.workers import Pools
from tests.unit.bad_corpus import good_files


@pytest.fixture
def window(qtbot, tmp_path):
    from fpstation.gui.main_window import MainWindow

    w = MainWindow(Settings.load(tmp_path / "settings.json"), Pools())
    qtbot.addWidget(w)
    yield w
    w.pools.drain(10000)


def _fake(delay=0.0):
    return lambda _settings: fake_analyzers(delay)


def test_batch_fills_table_with_error_row_and_opens_print(window, qtbot, tmp_path, monkeypatch):
    folder = tmp_path / "in"
    folder.mkdir()
    good_files(folder, 4)
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    panel = window.batch_panel
    panel.analyzers_factory = _fake()
    window.case_controller.open(tmp_path / "case.db")
    task = panel.start(str(folder))
    assert not window.batch_dock.isHidden()
    qtbot.waitUntil(lambda: task.done.is_set(), timeout=20000)
    try:
        qtbot.waitUntil(lambda: panel.model.rowCount() == 5 and "files" in panel.summary_label.text(), timeout=5000)
    except Exception as exc:
        raise AssertionError((panel.model.rowCount(), panel.summary_label.text(), panel.eta_label.text())) from exc
    rows = [panel.model.row(i) for i in range(5)]
    assert sorted(r["status"] for r in rows) == ["bad file", "done", "done", "done", "done"]
    assert "4 analysed" in panel.summary_label.text()
    assert "1 bad files" in panel.summary_label.text()
    assert panel.progress.value() == 1000
    # filter: errors only
    panel.status_combo.setCurrentText("Errors")
    assert panel.proxy.rowCount() == 1
    assert panel.source_row(0)["path"].endswith("broken.png")
    panel.status_combo.setCurrentText("All")
    panel.filter_edit.setText("good_0002")
    assert panel.proxy.rowCount() == 1
    panel.filter_edit.clear()
    # sort by attack score, descending
    col = [c[0] for c in __import__("fpstation.gui.batch_view", fromlist=["COLUMNS"]).COLUMNS].index("pad_score")
    panel.table.sortByColumn(col, __import__("PySide6.QtCore", fromlist=["Qt"]).Qt.SortOrder.DescendingOrder)
    scores = [panel.source_row(i)["pad_score"] for i in range(4)]
    assert scores == sorted(scores, reverse=True)
    # double-click opens that print in the side-by-side view
    opened = []
    monkeypatch.setattr(window, "open_paths", lambda paths: opened.append(list(paths)))
    panel._open_row(panel.proxy.index(0, 0))
    assert opened == [[panel.source_row(0)["path"]]]


def test_batch_cancel_keeps_finished_prints(window, qtbot, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    good_files(folder, 40)
    panel = window.batch_panel
    panel.analyzers_factory = _fake(0.05)
    window.case_controller.open(tmp_path / "case.db")
    task = panel.start(str(folder))
    qtbot.waitUntil(lambda: panel.model.rowCount() >= 3, timeout=20000)
    panel.cancel_button.click()
    qtbot.waitUntil(lambda: task.done.is_set(), timeout=10000)
    qtbot.waitUntil(lambda: panel.eta_label.text() == "cancelled", timeout=5000)
    n_rows = panel.model.rowCount()
    assert 3 <= n_rows < 40
    assert "Cancelled" in panel.summary_label.text()
    stored = sqlite3.connect(tmp_path / "case.db").execute("SELECT COUNT(*) FROM prints").fetchone()[0]
    assert stored == n_rows


def test_desk_watch_shows_verdict_and_records_decisions(window, qtbot, tmp_path):
    scanner = tmp_path / "scanner"
    scanner.mkdir()
    desk = window.desk_panel
    desk.analyzers_factory = _fake()
    desk.poll_interval = 0.05
    window.case_controller.open(tmp_path / "case.db")
    task = desk.start(str(scanner))
    assert "Watching" in desk.folder_label.text()
    (f,) = good_files(scanner, 1)
    qtbot.waitUntil(lambda: desk.current is not None, timeout=20000)
    assert desk.verdict_label.text() in ("PRESENTATION ATTACK", "LIVE")
    assert desk.confirm_button.isEnabled()
    assert desk.image_label.pixmap() is not None
    desk.operator_edit.setText("op7")
    desk.note_edit.setText("checked the sensor")
    desk.confirm_button.click()
    desk.override_button.click()
    shown = desk.current.row["pad_verdict"]
    decisions = window.case_controller.store.decisions()
    opposite = {"ATTACK": "LIVE", "LIVE": "ATTACK"}[shown]
    assert [d["decision"] for d in decisions] == ["confirm", f"override: {opposite}"]
    assert decisions[0]["operator"] == "op7"
    assert decisions[0]["note"] == "checked the sensor"
    assert decisions[1]["note"] == ""
    assert decisions[0]["pad_verdict"] == shown
    assert "Recorded: override" in desk.decision_label.text()
    # the analysis panel's decisions land in the same append-only trail
    pad_panel = window.pad_panel
    key = f"{desk.current.row['sha256']}:0"
    pad_panel.decisionRecorded.emit({"action": "confirmed", "print_key": key, "final_verdict": shown})
    assert window.case_controller.store.decisions()[-1]["decision"] == "confirm"
    assert len(window.case_controller.store.decisions()) == 3
    # a second arrival becomes the newest shown
    good_files(scanner, 1, start_seed=50)
    qtbot.waitUntil(lambda: desk.recent.count() == 2, timeout=20000)
    assert "good_0050" in desk.current.row["path"]
    desk.stop()
    qtbot.waitUntil(lambda: task.done.is_set(), timeout=5000)
    assert not desk.watching


def test_case_export_report_and_reopen_shows_rows(window, qtbot, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    good_files(folder, 3)
    panel = window.batch_panel
    panel.analyzers_factory = _fake()
    ctl = window.case_controller
    ctl.open(tmp_path / "case.db")
    task = panel.start(str(folder))
    qtbot.waitUntil(lambda: task.done.is_set() and panel.model.rowCount() == 3, timeout=20000)
    t = ctl.export(str(tmp_path / "case.json"))
    qtbot.waitUntil(lambda: t.done.is_set(), timeout=10000)
    import json

    assert len(json.loads((tmp_path / "case.json").read_text())["prints"]) == 3
    pid = panel.model.row(0)["print_id"]
    t = ctl.report(pid, str(tmp_path / "r.html"), restore=False)
    qtbot.waitUntil(lambda: t.done.is_set(), timeout=10000)
    assert "data:image/png;base64," in (tmp_path / "r.html").read_text()
    # opening the case again (e.g. after a restart) lists what it holds
    ctl.open(tmp_path / "other.db")
    qtbot.waitUntil(lambda: panel.model.rowCount() == 0, timeout=5000)
    ctl.open(tmp_path / "case.db")
    qtbot.waitUntil(lambda: panel.model.rowCount() == 3, timeout=5000)
    assert window.settings.current_case == str(tmp_path / "case.db")


def test_desk_states_the_watched_scanners_dpi_and_lists_each_pad_model(window, qtbot, tmp_path):
    from fpstation.core.pipeline import Analyzers
    from fpstation.core.types import ModelRef, PadResult

    def two_models(_settings):
        def pad(im):
            ok = im.dpi == 1000 and im.dpi_source == "stated"
            return (PadResult(0.1, 0.5, "LIVE", ModelRef("pad-socofing", "2"), 0.0, ("z-cut",), False,
                              "outside the sensor/resolution it was validated on: 1000 dpi"),
                    PadResult(0.9 if ok else 0.1, 0.5, "ATTACK" if ok else "LIVE", ModelRef("pad-livdet", "1"),
                              0.0, ("gelatine",)))
        return Analyzers(pad=pad)

    scanner = tmp_path / "scanner"
    scanner.mkdir()
    desk = window.desk_panel
    desk.analyzers_factory = two_models
    desk.poll_interval = 0.05
    window.case_controller.open(tmp_path / "case.db")
    desk.dpi_spin.setValue(1000)
    task = desk.start(str(scanner))
    assert "1000 dpi (stated)" in desk.folder_label.text()
    good_files(scanner, 1)
    qtbot.waitUntil(lambda: desk.current is not None, timeout=20000)
    assert desk.verdict_label.text() == "PRESENTATION ATTACK"  # pad-livdet saw the stated 1000 dpi
    text = desk.models_label.text()
    assert "pad-livdet" in text
    assert "NOT CHECKED" in text
    assert "pad-socofing" in text
    row = desk.current.row
    assert row["dpi_source"] == "stated"
    assert "pad-livdet ATTACK 0.90" in row["pad_models"]
    desk.stop()
    qtbot.waitUntil(lambda: task.done.is_set(), timeout=5000)
