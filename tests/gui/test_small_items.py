"""Issue 25 item 11: small things a user meets on the first day."""

from __future__ import annotations

import runpy
import sys

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from fpstation.core.samples import load_sample


def test_python_m_fpstation_without_a_command_opens_the_window(monkeypatch):
    import fpstation.app

    called = []
    monkeypatch.setattr(fpstation.app, "main", lambda argv=None: called.append(argv) or 0)
    monkeypatch.setattr(sys, "argv", ["fpstation"])
    try:
        runpy.run_module("fpstation", run_name="__main__")
    except SystemExit as exc:
        assert exc.code == 0
    assert called == [[]]


def test_python_m_fpstation_with_a_command_is_the_cli(monkeypatch, capsys):
    import fpstation.app

    monkeypatch.setattr(fpstation.app, "main", lambda argv=None: (_ for _ in ()).throw(AssertionError("window")))
    monkeypatch.setattr(sys, "argv", ["fpstation", "report", "--help"])
    try:
        runpy.run_module("fpstation", run_name="__main__")
    except SystemExit as exc:
        assert exc.code == 0
    assert "--analysis" in capsys.readouterr().out


def test_esc_and_ctrl_w_close_the_compare_window(qtbot, sync_pools):
    from fpstation.gui.compare_window import CompareWindow

    for key, mod in ((Qt.Key.Key_Escape, Qt.KeyboardModifier.NoModifier),
                     (Qt.Key.Key_W, Qt.KeyboardModifier.ControlModifier)):
        w = CompareWindow(sync_pools, None, None, extractor="mindtct", matcher="consensus")
        qtbot.addWidget(w)
        w.show()
        qtbot.waitExposed(w)
        w.activateWindow()
        qtbot.waitUntil(w.isActiveWindow, timeout=2000)
        QTest.keyClick(w, key, mod)
        qtbot.waitUntil(lambda w=w: not w.isVisible(), timeout=2000)


def test_quality_overlay_leaves_the_background_uncoloured():
    from fpstation.core.matching.quality import local_quality_overlay

    im = load_sample()
    px = np.full((im.height + 80, im.width + 80), 255, np.uint8)  # a blank margin round the print
    px[40:-40, 40:-40] = im.pixels
    ov = local_quality_overlay(px)
    assert np.isnan(ov[:20, :20]).all()  # plain background: no tint
    inner = ov[40 + im.height // 3: 40 + 2 * im.height // 3, 40 + im.width // 3: 40 + 2 * im.width // 3]
    assert np.isfinite(inner).mean() > 0.9
    assert np.nanmean(inner) < 0.5  # the print's centre has clear ridges (low "unclear" value)


def test_search_results_show_the_rank_once(qtbot):
    from types import SimpleNamespace

    from fpstation.gui.comparison_panel import ComparisonPanel

    p = ComparisonPanel()
    qtbot.addWidget(p)
    p.show_candidates([SimpleNamespace(score=0.9, label="a", print_id=1, path="/a")], 0.5)
    assert not p.table.verticalHeader().isVisible() or p.table.verticalHeader().isHidden()
    assert p.table.item(0, 0).text() == "1"


def test_batch_attack_score_names_its_model():
    from fpstation.gui.batch_view import COLUMNS, ResultsModel

    m = ResultsModel()
    m.add_rows([{"status": "done", "path": "/a.png", "pad_score": 0.953, "pad_model": "pad-livdet v2",
                 "pad_verdict": "ATTACK"}])
    col = [c[0] for c in COLUMNS].index("pad_score")
    assert m.data(m.index(0, col)) == "0.953 (pad-livdet v2)"
