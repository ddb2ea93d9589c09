"""Issue 16: what the window shows is true (no stale results), and stays usable (no freeze, no
layout that breaks). Real MainWindow, offscreen, real pools, fake analysers."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest
from PIL import Image

from fpstation.core.batch import fake_analyzers
from fpstation.core.pipeline import Analyzers
from fpstation.core.types import GenderResult, ModelRef, PadResult, RestorationResult
from fpstation.settings import Settings
from fpstation.workers import Pools
from tests.unit.bad_corpus import good_files

REF = ModelRef("test-fake", "0", "")


def _analyzers(settings=None, **_):
    return Analyzers(restore=lambda im: RestorationResult(255 - im.pixels, "test-negative"),
                     pad=lambda im: PadResult(0.048, 0.5, "LIVE", REF),
                     gender=lambda im: GenderResult(0.93, "female", REF))


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch):
    from fpstation.gui.main_window import MainWindow
    from fpstation.ml import inference

    monkeypatch.setattr(inference, "default_analyzers", _analyzers)
    w = MainWindow(Settings.load(tmp_path / "settings.json"), Pools())
    qtbot.addWidget(w)
    w.resize(1200, 800)
    w.show()
    qtbot.waitExposed(w)
    yield w
    w.close()
    assert w.pools.drain(10000)


def _png(path, seed=0):
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, (80, 70), dtype=np.uint8)).save(path)
    return path


# ---------------------------------------------------------------- item 2: stale results
def test_unreadable_row_clears_every_panel(window, qtbot, tmp_path):
    good = _png(tmp_path / "good.png")
    bad = tmp_path / "bad.png"
    bad.write_text("this is a text file named .png")
    window.open_paths([str(good)])
    qtbot.waitUntil(lambda: window.last_analysis() is not None, timeout=10000)
    pad, gender = window.pad_panel, window.gender_panel
    qtbot.waitUntil(lambda: "0.048" in pad.score_label.text(), timeout=5000)
    assert pad.verdict_label.text() == "LIVE" and "93 %" in gender.headline.text()
    window.open_paths([str(bad)])
    qtbot.waitUntil(lambda: not window.loading(), timeout=10000)
    fl = window.file_list
    row = next(i for i in range(fl.count()) if fl.entry(fl.item(i)).error)
    fl.setCurrentRow(row)
    assert window.current_print() is None
    assert "0.048" not in pad.score_label.text() and pad.verdict_label.text() == "—"
    assert "93" not in gender.headline.text()
    assert not pad.confirm_button.isEnabled()


def test_new_case_clears_decision_and_batch_summary(window, qtbot, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    good_files(folder, 3)
    ctl = window.case_controller
    ctl.open(tmp_path / "a.db")
    panel = window.batch_panel
    panel.analyzers_factory = lambda _s: fake_analyzers()
    task = panel.start(str(folder))
    qtbot.waitUntil(lambda: task.done.is_set() and "files" in panel.summary_label.text(), timeout=20000)
    window.open_paths([str(sorted(folder.iterdir())[0])])
    qtbot.waitUntil(lambda: window.pad_panel.confirm_button.isEnabled(), timeout=10000)
    window.pad_panel.operator_edit.setText("examiner 4")
    window.pad_panel.confirm_button.click()
    assert "examiner 4" in window.pad_panel.decision_label.text()
    assert ctl.store.decisions()[-1]["operator"] == "examiner 4"
    assert window.settings.operator == "examiner 4"  # remembered for the next session
    ctl.open(tmp_path / "b.db")  # File → New Case
    assert window.pad_panel.decision_label.text() == ""
    assert panel.summary_label.text() == "" and panel.progress.value() == 0
    qtbot.waitUntil(lambda: panel.model.rowCount() == 0, timeout=5000)
    ctl.open(tmp_path / "a.db")  # back to the first case: its decision is shown again
    assert "examiner 4" in window.pad_panel.decision_label.text()


# ---------------------------------------------------------------- item 3: no freeze
def test_folder_rows_are_added_in_slices(window, qtbot, tmp_path, monkeypatch):
    from fpstation.gui import main_window as mw

    window._feed.extend(("pending", str(tmp_path / f"f{i:05d}.png")) for i in range(3000))
    t = time.perf_counter()
    window._drain_feed()
    took = time.perf_counter() - t
    added = window.file_list.count()
    assert 0 < added < 3000, "one event-loop turn must not add every row"
    assert took < mw.FEED_SLICE_S + 0.2
    window._feed_timer.start()  # as _on_load_partial does
    qtbot.waitUntil(lambda: not window._feed, timeout=10000)
    assert window.file_list.count() == 3000


def test_load_job_sends_chunks(tmp_path):
    from fpstation.core.jobs import CancelToken
    from fpstation.gui import main_window as mw

    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(mw.LOAD_CHUNK_FILES + 6):
        _png(folder / f"p{i:03d}.png", i)
    got = []
    n = mw.load_files_job([str(folder)], progress=lambda *a: None, cancel=CancelToken(), partial=got.append)
    assert n == mw.LOAD_CHUNK_FILES + 6
    assert [k for k, *_ in got][0] == "files" and all(k == "rows" for k, *_ in got[1:])
    assert sum(len(x[1]) for x in got if x[0] == "rows") == n
    assert all(len(x[1]) <= mw.LOAD_CHUNK_FILES for x in got if x[0] == "rows")


def test_open_symlinked_folder(window, qtbot, tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    for i in range(3):
        _png(real / f"p{i}.png", i)
    top = tmp_path / "top"
    top.mkdir()
    os.symlink(real, top / "linked")
    window.open_paths([str(top)])
    qtbot.waitUntil(lambda: not window.loading() and window.file_list.count() == 3, timeout=10000)
    assert all(e.image is not None for e in window.file_list.entries())


# ---------------------------------------------------------------- item 4: desk override
def test_desk_override_is_the_final_state(window, qtbot, tmp_path):
    from fpstation.gui.desk_view import final_verdict

    scanner = tmp_path / "scanner"
    scanner.mkdir()
    desk = window.desk_panel
    desk.analyzers_factory = lambda _s: fake_analyzers()
    desk.poll_interval = 0.05
    window.case_controller.open(tmp_path / "case.db")
    task = desk.start(str(scanner))
    good_files(scanner, 1)
    qtbot.waitUntil(lambda: desk.current is not None, timeout=20000)
    model = desk.current.row["pad_verdict"]
    other = {"ATTACK": "LIVE", "LIVE": "ATTACK"}[model]
    desk.override_button.click()
    assert final_verdict(desk.current.row) == (other, "operator override")
    assert other in desk.verdict_label.text() and "OPERATOR" in desk.verdict_label.text()
    assert f"model said {model}" in desk.model_label.text()
    recent = desk.recent.item(0).text()
    assert f"{other} (operator; model said {model})" in recent
    desk.stop()
    qtbot.waitUntil(lambda: task.done.is_set(), timeout=5000)
