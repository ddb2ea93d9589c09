"""The Compare window (charted 1:1 comparison, hand-edited minutiae, re-score) and the Comparison
dock of the main window (NFIQ 2, minutiae overlays, quality map, gallery enrol + search)."""

from __future__ import annotations

import shutil
from dataclasses import replace

import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt

from fpstation.core.samples import load_sample, sample_files
from fpstation.settings import Settings
from fpstation.workers import Pools


def _shifted(im, dx=6, dy=4):
    px = np.full_like(im.pixels, 255)
    px[dy:, dx:] = im.pixels[:-dy, :-dx]
    return replace(im, pixels=px, source=im.source + "#shifted")


def test_compare_window_charts_pairs_and_rescores_hand_edits(qtbot, sync_pools):
    from fpstation.gui.compare_window import GAP, CompareWindow

    a = load_sample()
    w = CompareWindow(sync_pools, a, _shifted(a), extractor="mindtct", matcher="consensus")
    qtbot.addWidget(w)
    w.show()
    ta, tb = w.templates
    assert ta is not None
    assert tb is not None
    assert ta.n > 10
    d = w.decision
    assert d is not None
    assert d.comparison.score > 0.5
    assert len(d.comparison.pairs) > 10
    assert not w.lines.path().isEmpty()  # the charted pairs are drawn
    # both prints in one scene, B to the right of A: one transform = linked zoom and pan
    assert w.pix[1].offset().x() == a.width + GAP
    assert w.pix[0].scene() is w.pix[1].scene()
    assert "NFIQ 2" in w.side_labels[0].text()
    assert f"{ta.n} minutiae" in w.side_labels[0].text()
    assert w.verdict_label.text()
    # remove a minutia by clicking it in Remove mode
    w.mode_remove.setChecked(True)
    x, y = ta.minutiae[0, :2]
    w._on_press(QPointF(x + 1, y), Qt.KeyboardModifier.NoModifier)
    assert w.templates[0].n == ta.n - 1
    assert w.templates[0].extractor.endswith("+edited")
    assert w.decision is not d
    assert "edited by hand" in w.score_label.text()
    # add one on B in Add mode: press at the spot, drag towards its direction, release (Shift = bifurcation)
    w.mode_add.setChecked(True)
    bx = a.width + GAP + 100.0
    w._on_press(QPointF(bx, 120.0), Qt.KeyboardModifier.NoModifier)
    w._on_release(QPointF(bx + 10, 110.0), Qt.KeyboardModifier.ShiftModifier)
    tb2 = w.templates[1]
    assert tb2.n == tb.n + 1
    assert tb2.minutiae[-1, 0] == pytest.approx(100.0)
    assert tb2.minutiae[-1, 3] == 2
    assert tb2.minutiae[-1, 2] == pytest.approx(45.0)  # up and to the right = 45° counter-clockwise
    assert w.overlays[1].minutiae.shape[0] == tb2.n
    # a click outside both prints changes nothing
    w._on_press(QPointF(-50, -50), Qt.KeyboardModifier.NoModifier)
    w._on_release(QPointF(-40, -50), Qt.KeyboardModifier.NoModifier)
    assert w.templates[1].n == tb2.n
    w.close()


def test_compare_window_different_fingers_scores_lower(qtbot, sync_pools):
    from fpstation.gui.compare_window import CompareWindow

    files = sample_files()
    from fpstation.core.imageio import read_print

    a, b = read_print(files[0]), read_print(files[1])
    same = CompareWindow(sync_pools, a, _shifted(a), extractor="mindtct", matcher="consensus")
    diff = CompareWindow(sync_pools, a, b, extractor="mindtct", matcher="consensus")
    for w in (same, diff):
        qtbot.addWidget(w)
    assert diff.decision.comparison.score < same.decision.comparison.score


@pytest.fixture
def fake_analysis(monkeypatch):
    from fpstation.core.pipeline import Analyzers
    from fpstation.core.types import RestorationResult
    from fpstation.ml import inference

    def restore(im):  # a mild blur: the restored print still has ridges
        from scipy import ndimage

        return RestorationResult(pixels=ndimage.uniform_filter(im.pixels, 3), method="test-blur", seconds=0.001)

    monkeypatch.setattr(inference, "default_analyzers", lambda settings=None, **_: Analyzers(restore=restore))


def test_main_window_comparison_dock(qtbot, tmp_path, fake_analysis):
    from fpstation.gui.main_window import MainWindow

    s = Settings.load(tmp_path / "s.json")
    w = MainWindow(s, Pools())
    qtbot.addWidget(w)
    w.show()
    try:
        p = w.comparison_panel
        p.extractor_combo.setCurrentIndex(p.extractor_combo.findData("mindtct"))
        p.show_minutiae.setChecked(True)
        files = sample_files()
        w.open_paths([files[0]])
        qtbot.waitUntil(lambda: w.current_print() is not None, timeout=20000)
        # NFIQ 2 in the dock and in the info panel
        qtbot.waitUntil(lambda: p.nfiq2_label.text()[:1].isdigit(), timeout=30000)
        assert "NFIQ 2 (NIST" in p.nfiq2_label.text()
        # minutiae on the original (left) and on the restored print (right)
        qtbot.waitUntil(lambda: "restored" in p.minutiae_label.text(), timeout=60000)
        scene_items = [it for it in w.left_view.scene().items() if it.zValue() == 5.0]
        assert any(not it.path().isEmpty() for it in scene_items)
        assert any(not it.path().isEmpty() for it in w.right_view.scene().items() if it.zValue() == 5.0)
        p.show_minutiae.setChecked(False)
        assert all(it.path().isEmpty() for it in w.left_view.scene().items() if it.zValue() == 5.0)
        # local quality map on the left view
        p.quality_map.setChecked(True)
        qtbot.waitUntil(lambda: w.left_view.overlay() is not None, timeout=20000)
        p.quality_map.setChecked(False)
        assert w.left_view.overlay() is None
        # gallery: enrol a folder (off the GUI thread, with progress), then search the current print
        folder = tmp_path / "prints"
        folder.mkdir()
        for f in files:
            shutil.copy(f, folder / f.name)
        task = w.enroll_folder(str(folder))
        qtbot.waitUntil(lambda: task.done.is_set() and p.enroll_button.isEnabled(), timeout=60000)
        assert "enrolled 3" in p.progress.format()
        search = w.gallery_search()
        qtbot.waitUntil(lambda: p.table.rowCount() > 0, timeout=30000)
        qtbot.waitUntil(search.done.is_set, timeout=5000)  # the worker sets it just after the result
        assert p.table.item(0, 2).text() == files[0].name  # the print itself ranks first
        p._open_candidate(0)
        from PySide6.QtWidgets import QApplication

        from fpstation.gui.compare_window import CompareWindow

        wins = [x for x in QApplication.topLevelWidgets() if isinstance(x, CompareWindow)]
        assert wins
        qtbot.waitUntil(lambda: wins[-1].decision is not None, timeout=60000)
        for x in wins:
            x.close()
    finally:
        w.close()
        assert w.pools.drain(20000)
