"""Issue 25: one truth per print. The report, the case and the screen show the same analysis; dpi
wherever prints come in; equal file names told apart; verdicts that always fit; long work is never
cancelled by a stray key. Real MainWindow (offscreen), real pools, fake analysers."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from fpstation.core.batch import fake_analyzers
from fpstation.core.pipeline import Analyzers
from fpstation.core.types import ModelRef, PadResult, RestorationResult
from fpstation.settings import Settings
from fpstation.workers import Pools
from tests.unit.bad_corpus import good_files, ridge_image

ROOT = Path(__file__).resolve().parents[2]
#: where the screenshots go: FPSTATION_SCREENSHOTS=docs/screenshots to refresh the committed ones
SHOTS_ENV = "FPSTATION_SCREENSHOTS"


def _shots(tmp_path: Path) -> Path:
    d = Path(os.environ[SHOTS_ENV]) if os.environ.get(SHOTS_ENV) else tmp_path / "shots"
    d.mkdir(parents=True, exist_ok=True)
    return d


def _window_analyzers(settings=None, **_):
    """The window's analysis: a negative "restorer" and the fake PAD / gender of the batch."""
    a = fake_analyzers()
    return Analyzers(restore=lambda im: RestorationResult(255 - im.pixels, "test-negative"), pad=a.pad,
                     gender=a.gender)


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch):
    from fpstation.gui.main_window import MainWindow
    from fpstation.ml import inference

    monkeypatch.setattr(inference, "default_analyzers", _window_analyzers)
    w = MainWindow(Settings.load(tmp_path / "settings.json"), Pools())
    qtbot.addWidget(w)
    w.resize(1400, 900)
    w.batch_panel.analyzers_factory = lambda _s: fake_analyzers()
    w.desk_panel.analyzers_factory = lambda _s: fake_analyzers()
    w.case_controller.open(tmp_path / "case.db")
    yield w
    w.pools.cancel_all()
    w._closed = True
    w.close()
    assert w.pools.drain(10000)


def _no_dpi_png(path: Path, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(ridge_image(seed=seed)).save(path)  # PIL writes no resolution: dpi unknown
    return path


def _batch(window, qtbot, folder, dpi=None):
    panel = window.batch_panel
    task = panel.start(str(folder), dpi=dpi)
    qtbot.waitUntil(lambda: task.done.is_set(), timeout=20000)
    qtbot.waitUntil(lambda: "files" in panel.summary_label.text(), timeout=5000)
    return [panel.model.row(i) for i in range(panel.model.rowCount())]


# ---------------------------------------------------------------- item 1: one analysis, named
def test_report_holds_the_analysis_on_screen_not_the_older_batch_one(window, qtbot, tmp_path):
    from fpstation.gui.case import report_job

    folder = tmp_path / "livdet"
    f = _no_dpi_png(folder / "Fake" / "Gelatine" / "010_1_0.png")
    rows = _batch(window, qtbot, folder)
    assert rows[0]["dpi"] is None
    assert rows[0]["analysis_origin"] == "batch"
    batch_aid = rows[0]["analysis_id"]
    # the examiner opens it at 1000 dpi: the screen shows a new analysis
    window.open_dpi_spin.setValue(1000)
    window.open_paths([str(f)])
    qtbot.waitUntil(lambda: window.last_analysis() is not None, timeout=10000)
    assert window.current_print().dpi == 1000
    ids = window.case_controller.record_shown_analysis()
    assert ids is not None
    assert ids[1] != batch_aid
    store = window.case_controller.store
    assert store.get_analysis(ids[1])["dpi"] == 1000
    assert store.get_analysis(ids[1])["origin"] == "window"
    # recording the same on-screen analysis twice gives the same record, and the screen names it
    assert window.case_controller.record_shown_analysis() == ids
    assert f"as analysis #{ids[1]}" in window.info.values["Analysis"].text()
    out = tmp_path / "r.html"
    report_job(store, ids[0], str(out), window.settings, False, ids[1], progress=lambda *a: None, cancel=None)
    text = out.read_text(encoding="utf-8")
    assert f"This report holds Analysis #{ids[1]}" in text
    assert "1000 dpi (stated)" in text.split("Other analyses")[0]
    assert f"#{batch_aid}, " in text  # the older batch analysis is listed as another one, not reported
    # the batch row now shows the case's newest analysis of that print, named
    row = window.batch_panel.model.row(0)
    assert row["analysis_id"] == ids[1]
    assert row["dpi"] == 1000


def test_batch_row_report_holds_that_rows_analysis(window, qtbot, tmp_path, monkeypatch):
    folder = tmp_path / "in"
    folder.mkdir()
    good_files(folder, 1)
    rows = _batch(window, qtbot, folder, dpi=1000)
    seen = {}
    monkeypatch.setattr(window.case_controller, "report_dialog", lambda pid, aid=None: seen.update(pid=pid, aid=aid))
    window.batch_panel.table.selectRow(0)
    window.batch_panel._report_selected()
    assert seen == {"pid": rows[0]["print_id"], "aid": rows[0]["analysis_id"]}


# ---------------------------------------------------------------- item 2: dpi wherever prints come in
def test_analyse_folder_dialog_has_a_dpi_field_defaulting_to_open_at(window, qtbot, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QDialog

    from fpstation.gui import batch_view

    folder = tmp_path / "in"
    _no_dpi_png(folder / "a.png")
    window.settings.last_open_dir = str(folder)
    window.open_dpi_spin.setValue(1000)
    made = {}

    def fake_exec(dlg):
        made["dpi_field"] = dlg.dpi_spin.value()
        return QDialog.DialogCode.Accepted

    monkeypatch.setattr(batch_view.AnalyseFolderDialog, "exec", fake_exec)
    batch_view.analyse_folder_dialog(window, window.batch_panel)
    task = window.batch_panel.task
    qtbot.waitUntil(lambda: task.done.is_set(), timeout=20000)
    qtbot.waitUntil(lambda: window.batch_panel.model.rowCount() == 1, timeout=5000)
    row = window.batch_panel.model.row(0)
    assert made["dpi_field"] == 1000
    assert row["dpi"] == 1000
    assert row["dpi_source"] == "stated"


def test_not_checked_prints_are_counted_once(window, qtbot, tmp_path):
    folder = tmp_path / "in"
    for i in range(3):
        _no_dpi_png(folder / f"nodpi_{i}.png", seed=i)
    good_files(folder, 1, start_seed=9)  # 500 dpi in the file
    window.show()
    qtbot.waitExposed(window)
    _batch(window, qtbot, folder)
    notices = [n.text for n in window.notifications.notices]
    assert [t for t in notices if "not checked" in t] == [
        "3 of 4 prints not checked for presentation attacks: their resolution is unknown. "
        "State the scanner's dpi (File → Analyse Folder…, Resolution) and analyse again."]
    assert "--dpi" not in " ".join(notices)
    assert window.notifications.text().startswith("3 of 4 prints not checked")
    _batch(window, qtbot, folder, dpi=1000)  # stated now: every print checked, the old notice goes
    assert window.notifications.text() == ""


def test_desk_dpi_change_while_watching_applies_to_the_next_print(window, qtbot, tmp_path):
    scanner = tmp_path / "scanner"
    scanner.mkdir()
    desk = window.desk_panel
    desk.poll_interval = 0.05
    task = desk.start(str(scanner))
    _no_dpi_png(scanner / "first.png", seed=1)
    qtbot.waitUntil(lambda: desk.current is not None, timeout=20000)
    assert desk.current.row["dpi"] is None
    desk.dpi_spin.setValue(1000)
    assert "1000 dpi (stated)" in desk.folder_label.text()
    _no_dpi_png(scanner / "second.png", seed=2)
    qtbot.waitUntil(lambda: desk.current is not None and "second" in desk.current.row["path"], timeout=20000)
    assert desk.current.row["dpi"] == 1000
    assert desk.current.row["dpi_source"] == "stated"
    assert desk.recent.item(0).text().endswith("second.png")
    desk.stop()
    qtbot.waitUntil(lambda: task.done.is_set(), timeout=5000)


# ---------------------------------------------------------------- item 3: equal names told apart
def test_equal_file_names_in_different_folders_are_told_apart(window, qtbot, tmp_path):
    folder = tmp_path / "livdet"
    _no_dpi_png(folder / "Live" / "010_1_0.png", seed=1)
    _no_dpi_png(folder / "Fake" / "Gelatine" / "010_1_0.png", seed=2)
    _batch(window, qtbot, folder)
    m = window.batch_panel.model
    col = [c[0] for c in __import__("fpstation.gui.batch_view", fromlist=["COLUMNS"]).COLUMNS].index("file")
    shown = sorted(m.data(m.index(i, col)) for i in range(m.rowCount()))
    assert shown == ["Fake/Gelatine/010_1_0.png", "Live/010_1_0.png"]
    window.open_paths([str(folder)])
    qtbot.waitUntil(lambda: window.file_list.count() == 2 and not window.loading(), timeout=10000)
    texts = sorted(window.file_list.item(i).text().split("\n")[0] for i in range(2))
    assert texts == ["Fake/Gelatine/010_1_0.png", "Live/010_1_0.png"]


# ---------------------------------------------------------------- item 4: verdicts always fit
def _fits(label) -> bool:
    """Every word of the label fits its width in the font it is drawn with (nothing is cut)."""
    fm = label.fontMetrics()
    return all(fm.horizontalAdvance(w) <= label.width() - 8 for w in label.text().split())


def _button_whole(b) -> bool:
    return b.width() >= b.fontMetrics().horizontalAdvance(b.text()) + 8


def test_verdicts_and_buttons_fit_a_300_px_dock(window, qtbot, tmp_path):
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QDockWidget

    shots = _shots(tmp_path)
    window.resize(1600, 1000)
    window.show()
    qtbot.waitExposed(window)
    pad, desk = window.pad_panel, window.desk_panel
    docks = {d.objectName(): d for d in window.findChildren(QDockWidget)}
    pad_dock, desk_dock = docks["dock_LivenessPAD"], window.desk_dock
    for dock, panel, name in ((pad_dock, pad, "liveness"), (desk_dock, desk, "desk")):
        dock.show()
        dock.raise_()
        window.resizeDocks([dock], [300], Qt.Orientation.Horizontal)
        qtbot.wait(50)
        assert dock.width() <= 302, (name, dock.width(), panel.minimumSizeHint().width())
        for text in ("PRESENTATION ATTACK", "UNCERTAIN — CHECK", "UNCERTAIN", "LIVE"):
            panel.verdict_label.setText(text)
            qtbot.wait(10)
            assert panel.verdict_label.width() <= dock.width()
            assert _fits(panel.verdict_label), (name, text, panel.verdict_label.font().pointSize())
        buttons = ([pad.confirm_button, pad.live_button, pad.attack_button, pad.reset_button] if panel is pad
                   else [desk.stop_button, desk.confirm_button, desk.override_button,
                         *[b for b in [getattr(desk, "new_tx_button", None)] if b is not None]])
        for b in buttons:
            assert _button_whole(b), (name, b.text(), b.width())
        if panel is desk:  # a real print, LIVE, with what it was checked for
            from fpstation.core.samples import load_sample

            live = PadResult(0.08, 0.5, "LIVE", ModelRef("pad-livdet", "2", ""), attack_types_seen=("gelatine",))
            row = {"status": "done", "path": "/scanner/Fake/Gelatine/010_1_0.png", "pad_verdict": "LIVE",
                   "pad_score": 0.08, "pad_threshold": 0.5, "print_id": 1, "sha256": "ab" * 32, "decision": ""}
            desk.folder = "/scanner"
            desk.show_item(SimpleNamespace(row=row, image=load_sample(), result=SimpleNamespace(
                pad=live, pad_models=(live,))))
            assert _fits(desk.verdict_label)
            assert desk.coverage_label.text().startswith("checked for: gelatine")
            assert desk.file_label.text().startswith("Fake/Gelatine/010_1_0.png")
        else:
            panel.verdict_label.setText("PRESENTATION ATTACK")
            panel.verdict_label.setStyleSheet("color:white; background:#b00020; padding:8px; border-radius:6px;")
        qtbot.wait(20)
        dock.grab().save(str(shots / f"verdict_300px_{name}.png"))


def test_damage_mask_keeps_the_panes_side_by_side(window, qtbot, tmp_path):
    f = good_files(tmp_path, 1)[0]
    window.show()
    qtbot.waitExposed(window)
    window.open_paths([str(f)])
    qtbot.waitUntil(lambda: window.last_analysis() is not None and window.right_view.has_image(), timeout=10000)
    before = (window.left_pane.width(), window.right_pane.width())
    window.act_damage.trigger()
    qtbot.waitUntil(lambda: window.damage_legend.isVisible(), timeout=2000)
    qtbot.wait(50)
    left, right = window.left_pane.width(), window.right_pane.width()
    assert abs(left - right) <= 6, (before, (left, right))


# ---------------------------------------------------------------- item 5: Esc asks first
def test_esc_asks_before_cancelling_a_batch(window, qtbot, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    good_files(folder, 6)
    window.show()
    qtbot.waitExposed(window)
    window.batch_panel.analyzers_factory = lambda _s: fake_analyzers(delay=0.3)
    task = window.batch_panel.start(str(folder))
    asked = []
    window.confirm = lambda title, text: asked.append(text) or False
    window.act_cancel.trigger()
    assert asked
    assert "Batch" in asked[0]
    assert not task.token.cancelled
    window.confirm = lambda title, text: True
    window.act_cancel.trigger()
    assert task.token.cancelled
    qtbot.waitUntil(lambda: task.done.is_set(), timeout=20000)


def test_quit_while_watching_asks_first(window, qtbot, tmp_path):
    scanner = tmp_path / "scanner"
    scanner.mkdir()
    window.show()
    qtbot.waitExposed(window)
    task = window.desk_panel.start(str(scanner))
    window.confirm = lambda title, text: False
    window.act_quit.trigger()
    assert window.isVisible()
    assert not task.token.cancelled
    window.desk_panel.stop()
    qtbot.waitUntil(lambda: task.done.is_set(), timeout=5000)


# ---------------------------------------------------------------- items 6-8: desk and face panel
def test_new_case_clears_the_desk_and_the_face_panel(window, qtbot, tmp_path):
    scanner = tmp_path / "scanner"
    scanner.mkdir()
    desk = window.desk_panel
    desk.poll_interval = 0.05
    task = desk.start(str(scanner))
    good_files(scanner, 1)
    qtbot.waitUntil(lambda: desk.current is not None, timeout=20000)
    desk.stop()
    qtbot.waitUntil(lambda: task.done.is_set(), timeout=5000)
    face = window.face_panel
    face.verdict_label.setText("alice")
    face.table.setRowCount(2)
    cmp_panel = window.findChild(__import__("fpstation.gui.comparison_panel", fromlist=["x"]).ComparisonPanel)
    cmp_panel.show_candidates([SimpleNamespace(score=0.9, label="old", print_id=1, path="/a")], 0.5)
    window.case_controller.open(tmp_path / "other.db")
    assert cmp_panel.table.rowCount() == 0
    assert desk.current is None
    assert desk.verdict_label.text() == "—"
    assert desk.recent.count() == 0
    assert not desk.confirm_button.isEnabled()
    assert face.verdict_label.text() == "—"
    assert face.table.rowCount() == 0


def test_desk_shows_a_print_already_in_the_case(window, qtbot, tmp_path):
    scanner = tmp_path / "scanner"
    scanner.mkdir()
    (f,) = good_files(tmp_path, 1)
    _batch(window, qtbot, tmp_path)  # the print is in the case before it is presented
    desk = window.desk_panel
    desk.poll_interval = 0.05
    task = desk.start(str(scanner))
    (scanner / f.name).write_bytes(f.read_bytes())
    qtbot.waitUntil(lambda: desk.current is not None, timeout=20000)
    assert desk.image_label.pixmap() is not None
    assert not desk.image_label.pixmap().isNull()
    assert "(image not kept)" not in desk.image_label.text()
    desk.stop()
    qtbot.waitUntil(lambda: task.done.is_set(), timeout=5000)


def test_desk_never_shows_a_python_class_name(window, qtbot, tmp_path):
    scanner = tmp_path / "scanner"
    scanner.mkdir()
    desk = window.desk_panel
    desk.poll_interval = 0.05
    desk.undecodable_after = 0.1
    task = desk.start(str(scanner))
    (scanner / "cut.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    qtbot.waitUntil(lambda: desk.current is not None, timeout=20000)
    assert desk.verdict_label.text() == "FILE NOT READABLE"
    text = desk.score_label.text()
    assert text
    assert "Error:" not in text
    assert "Error" not in text.split(" ")[0]
    desk.stop()
    qtbot.waitUntil(lambda: task.done.is_set(), timeout=5000)


def test_live_verdict_states_what_it_did_not_check(window):
    desk = window.desk_panel
    ref = ModelRef("pad-livdet", "1", "")
    live = PadResult(0.1, 0.5, "LIVE", ref, attack_types_seen=("gelatine",))
    res = SimpleNamespace(pad=live, pad_models=(live,))
    row = {"status": "done", "path": "/s/a.png", "pad_verdict": "LIVE", "pad_score": 0.1, "print_id": 1,
           "sha256": "ab" * 32, "decision": ""}
    desk.show_item(SimpleNamespace(row=row, image=SimpleNamespace(pixels=np.zeros((20, 20), np.uint8)),
                                   result=res))
    assert desk.coverage_label.text() == "checked for: gelatine; not checked: other materials and other alterations"
    row2 = dict(row, pad_verdict="ATTACK")
    desk.show_item(SimpleNamespace(row=row2, image=None, result=res))
    assert desk.coverage_label.text() == ""


def test_opening_a_batch_row_shows_the_print_at_the_rows_dpi(window, qtbot, tmp_path):
    folder = tmp_path / "in"
    f = _no_dpi_png(folder / "a.png")
    window.open_paths([str(f)])  # opened first at the file's (unknown) dpi
    qtbot.waitUntil(lambda: window.last_analysis() is not None, timeout=10000)
    assert window.current_print().dpi is None
    _batch(window, qtbot, folder, dpi=1000)
    panel = window.batch_panel
    panel._open_row(panel.proxy.index(0, 0))
    qtbot.waitUntil(lambda: window.current_print().dpi == 1000 and window.last_analysis() is not None,
                    timeout=10000)
    assert window.current_print().dpi_source == "stated"
    assert window.file_list.count() == 1
    assert window.file_list.images()[0].dpi == 1000


def test_file_list_names_files_reached_through_symlinks_relative_to_the_folder(window, qtbot, tmp_path):
    real = tmp_path / "store"
    a = _no_dpi_png(real / "x" / "010_1_0.png", seed=1)
    b = _no_dpi_png(real / "y" / "010_1_0.png", seed=2)
    opened = tmp_path / "livdet"
    (opened / "Live").mkdir(parents=True)
    (opened / "Fake" / "Gelatine").mkdir(parents=True)
    (opened / "Live" / "010_1_0.png").symlink_to(a)
    (opened / "Fake" / "Gelatine" / "010_1_0.png").symlink_to(b)
    window.open_paths([str(opened)])
    qtbot.waitUntil(lambda: window.file_list.count() == 2 and not window.loading(), timeout=10000)
    texts = sorted(window.file_list.item(i).text().split("\n")[0] for i in range(2))
    assert texts == ["Fake/Gelatine/010_1_0.png", "Live/010_1_0.png"]
