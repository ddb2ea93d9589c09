"""The real MainWindow (offscreen, real pools): open, linked views, cancel, bad drops, folders,
difference mode, shortcuts, and the start-up path staying free of TensorFlow / pyfing.

Only one test runs a real enhancement (pyfing's classical GBFEN/SNFEN, several seconds on its first
call); the others replace ``fpstation.ml.inference.default_analyzers`` with a fast fake restorer.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QMouseEvent, QWheelEvent
from PySide6.QtWidgets import QApplication, QDockWidget

from fpstation.core.jobs import Cancelled
from fpstation.core.pipeline import Analyzers
from fpstation.core.samples import sample_file, sample_files
from fpstation.core.types import RestorationResult
from fpstation.settings import Settings
from fpstation.workers import Pools, Task

ROOT = Path(__file__).resolve().parents[2]


def _fake_restore(im):
    # Deterministic and obviously different from the input: the negative.
    return RestorationResult(pixels=(255 - im.pixels).astype(np.uint8), method="test-negative", seconds=0.001)


@pytest.fixture
def fake_analysis(monkeypatch):
    """The window's analysis uses a fake restorer and no PAD/gender (no TensorFlow, no pyfing)."""
    from fpstation.ml import inference

    monkeypatch.setattr(inference, "default_analyzers", lambda settings=None, **_: Analyzers(restore=_fake_restore))


def _make_window(qtbot, tmp_path, restorer="unet"):
    from fpstation.gui.main_window import MainWindow

    s = Settings.load(tmp_path / "s.json")
    s.restorer = restorer
    w = MainWindow(s, Pools())
    qtbot.addWidget(w)
    w.resize(1200, 800)
    w.show()
    qtbot.waitExposed(w)
    return w


@pytest.fixture
def window(qtbot, tmp_path, fake_analysis):
    w = _make_window(qtbot, tmp_path)
    yield w
    _close(w)


def _close(w, msecs=10000):
    # Close first (no new jobs start after closeEvent), then wait for the running ones, as app.py does.
    w.close()
    assert w.pools.drain(msecs)


def _wait_analysed(qtbot, w, timeout=10000):
    qtbot.waitUntil(lambda: w.last_analysis() is not None and w.right_view.has_image(), timeout=timeout)


def _pixmap_image(view) -> np.ndarray:
    """The pixels the view actually paints (read back from its pixmap), as H×W gray."""
    img = view.pixmap().toImage().convertToFormat(view.pixmap().toImage().Format.Format_Grayscale8)
    h, w, bpl = img.height(), img.width(), img.bytesPerLine()
    return np.frombuffer(img.constBits(), np.uint8, count=h * bpl).reshape(h, bpl)[:, :w].copy()


# ---------------------------------------------------------------------- open + both views
def test_open_sample_shows_print_and_real_classical_enhancement(qtbot, tmp_path, monkeypatch):
    """A real pyfing enhancement (PAD/gender switched off so TensorFlow stays out of the test)."""
    from fpstation.ml import inference

    real = inference.default_analyzers
    monkeypatch.setattr(inference, "default_analyzers",
                        lambda settings=None, **_: real(settings, pad_=False, gender_=False))
    w = _make_window(qtbot, tmp_path, restorer="classical")
    try:
        path = sample_file()
        w.open_paths([path])
        _wait_analysed(qtbot, w, timeout=120000)
        im = w.current_print()
        assert im is not None
        assert Path(im.source).resolve() == path.resolve()
        left, right = w.left_view.pixmap(), w.right_view.pixmap()
        assert (left.width(), left.height()) == (im.width, im.height)
        assert (right.width(), right.height()) == (im.width, im.height)
        lpx, rpx = _pixmap_image(w.left_view), _pixmap_image(w.right_view)
        assert np.array_equal(lpx, im.pixels)  # left shows the print itself
        res = w.last_analysis().restoration
        assert res is not None
        assert res.method == "classical"
        assert np.array_equal(rpx, res.pixels)  # right shows the enhancement ...
        assert np.mean(lpx != rpx) > 0.2  # ... which is not the print
        assert "classical" in w.right_pane.caption.text()
        assert w.left_view.message() == ""
        assert w.right_view.message() == ""
    finally:
        _close(w, 60000)


def test_info_area_shows_size_dpi_and_full_sha256(window, qtbot):
    window.open_paths([sample_file()])
    _wait_analysed(qtbot, window)
    im = window.current_print()
    v = window.info.values
    assert v["Size"].text() == f"{im.width} × {im.height} px"
    assert "dpi" in v["Resolution"].text()
    assert v["SHA-256"].text().replace("\n", "") == im.sha256  # the whole hash, never cut
    assert im.sha256 in v["SHA-256"].toolTip()
    window.info.copy_sha256()
    assert QApplication.clipboard().text() == im.sha256


# ---------------------------------------------------------------------- linked zoom / pan
def _wheel(view, notches: int, at: QPointF) -> None:
    ev = QWheelEvent(at, view.viewport().mapToGlobal(at), QPoint(0, 0), QPoint(0, 120 * notches),
                     Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(view.viewport(), ev)


def _drag(view, start: QPoint, end: QPoint) -> None:
    vp = view.viewport()
    left, none = Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton
    mods = Qt.KeyboardModifier.NoModifier
    for etype, pos, button, buttons in ((QEvent.Type.MouseButtonPress, start, left, left),
                                         (QEvent.Type.MouseMove, (start + end) / 2, none, left),
                                         (QEvent.Type.MouseMove, end, none, left),
                                         (QEvent.Type.MouseButtonRelease, end, left, none)):
        p = QPointF(pos)
        QApplication.sendEvent(vp, QMouseEvent(etype, p, vp.mapToGlobal(p), button, buttons, mods))


def _same_view(a, b) -> bool:
    return (a.transform() == b.transform()
            and a.horizontalScrollBar().value() == b.horizontalScrollBar().value()
            and a.verticalScrollBar().value() == b.verticalScrollBar().value())


@pytest.mark.parametrize("driver", ["left", "right"])
def test_wheel_zoom_and_drag_pan_are_linked(window, qtbot, driver):
    window.open_paths([sample_file()])
    _wait_analysed(qtbot, window)
    src = window.left_view if driver == "left" else window.right_view
    other = window.right_view if driver == "left" else window.left_view
    fit_zoom = src.zoom()
    centre = QPointF(src.viewport().rect().center())
    _wheel(src, 3, centre)
    assert src.zoom() == pytest.approx(fit_zoom * 1.25 ** 3, rel=1e-6)
    assert not src.is_fit_mode()
    assert _same_view(src, other)
    assert other.zoom() == pytest.approx(src.zoom())
    # zoom far enough in that there is room to pan, then drag
    src.set_zoom(4.0)
    h0, v0 = src.horizontalScrollBar().value(), src.verticalScrollBar().value()
    _drag(src, QPoint(200, 200), QPoint(140, 170))
    assert (src.horizontalScrollBar().value(), src.verticalScrollBar().value()) == (h0 + 60, v0 + 30)
    assert _same_view(src, other)
    # fit and 1:1 (toolbar / F / 1) move both as well
    window.act_1to1.trigger()
    assert src.zoom() == other.zoom() == 1.0
    assert _same_view(src, other)
    assert window.status.zoom_label.text() == "100 %"
    window.act_fit.trigger()
    assert src.is_fit_mode()
    assert other.is_fit_mode()
    assert _same_view(src, other)
    assert window.status.zoom_label.text().endswith("(fit)")


def test_zoom_survives_switching_prints_of_same_size_and_result_arrival(window, qtbot):
    """The restored image arriving after the user zoomed must adopt the left view's place."""
    window.open_paths([sample_file()])
    _wait_analysed(qtbot, window)
    window.left_view.set_zoom(3.0)
    window.left_view.horizontalScrollBar().setValue(window.left_view.horizontalScrollBar().maximum() // 3)
    window.set_mode("difference")
    window.set_mode("restored")
    assert window.right_view.zoom() == 3.0
    assert _same_view(window.left_view, window.right_view)


# ---------------------------------------------------------------------- cancel
def _slow_job(started: threading.Event, *, progress, cancel):
    started.set()
    for i in range(600):  # 60 s unless cancelled
        cancel.raise_if_cancelled()
        progress(i / 600, f"step {i}")
        time.sleep(0.1)
    return "finished"


def test_cancel_button_cancels_running_job_and_gui_stays_usable(window, qtbot):
    started = threading.Event()
    task = Task(_slow_job, started, name="slow")
    results, cancelled = [], []
    task.signals.result.connect(results.append)
    task.signals.cancelled.connect(lambda: cancelled.append(True))
    window.run_task("io", task, "Slow test job")
    assert started.wait(5)
    st = window.status
    qtbot.waitUntil(lambda: st.cancel_button.isVisible() and "Slow test job" in st.task_label.text(), timeout=3000)
    t0 = time.monotonic()
    with qtbot.waitSignal(task.signals.finished, timeout=5000):
        qtbot.mouseClick(st.cancel_button, Qt.MouseButton.LeftButton)
    assert time.monotonic() - t0 < 2.0
    assert cancelled == [True]
    assert results == []
    assert "Cancelled: Slow test job" in st.current_message()
    qtbot.waitUntil(lambda: not st.cancel_button.isVisible() and not st.progress_bar.isVisible(), timeout=3000)
    assert window.notifications.text() == ""  # cancelling is not an error
    # still usable: a print opens and is analysed
    window.open_paths([sample_file()])
    _wait_analysed(qtbot, window)
    assert window.current_print() is not None


def test_escape_cancels_analysis_of_current_print(window, qtbot, monkeypatch):
    from fpstation.ml import inference

    gate = threading.Event()

    def slow_restore(im):
        gate.wait(10)
        return _fake_restore(im)

    monkeypatch.setattr(inference, "default_analyzers", lambda settings=None, **_: Analyzers(
        restore=slow_restore, pad=lambda im: (_ for _ in ()).throw(AssertionError("pad must not run"))))
    window.open_paths([sample_file()])
    qtbot.waitUntil(lambda: window._analysis_task is not None and window.status.cancel_button.isVisible(),
                    timeout=10000)
    task = window._analysis_task
    with qtbot.waitSignal(task.signals.cancelled, timeout=10000):
        window.act_cancel.trigger()
        gate.set()  # the restore step returns; the pipeline stops before PAD
    assert window.last_analysis() is None
    assert "Cancelled" in window.status.current_message()
    qtbot.waitUntil(lambda: not window.status.cancel_button.isVisible(), timeout=3000)
    assert "cancelled" in window.right_view.message().lower()  # no stale "Restoring…" forever


# ---------------------------------------------------------------------- bad files
def _write_bad_and_good(tmp_path):
    bad = tmp_path / "notes.png"
    bad.write_text("this is a text file, not a fingerprint\n")
    good = tmp_path / "good.png"
    shutil.copy(sample_file(), good)
    return bad, good


def _wait_rows_settled(qtbot, w, n):
    qtbot.waitUntil(lambda: w.file_list.count() == n and not any(e.pending for e in w.file_list.entries()),
                    timeout=10000)


def test_drop_bad_file_shows_clear_message_and_good_file_still_loads(window, qtbot, tmp_path):
    from fpstation.gui.main_window import file_urls

    bad, good = _write_bad_and_good(tmp_path)
    width = window.width()
    mime = file_urls([bad, good])
    # what a file manager's drag does: enter (accepted: local files), then drop
    args = (Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    enter = QDragEnterEvent(QPoint(300, 300), *args)
    QApplication.sendEvent(window, enter)
    assert enter.isAccepted()
    ev = QDropEvent(QPointF(300, 300), *args)
    QApplication.sendEvent(window, ev)
    assert ev.isAccepted()
    _wait_rows_settled(qtbot, window, 2)
    _wait_analysed(qtbot, window)
    entries = {Path(e.path).name: e for e in window.file_list.entries()}
    assert entries["good.png"].image is not None
    assert entries["good.png"].error is None
    msg = entries["notes.png"].error
    assert msg
    assert "text" in msg
    assert "Traceback" not in msg
    row = window.file_list.rows_for(str(bad))[0]
    assert "⚠" in row.text()
    assert "notes.png" in row.text()
    assert msg in row.toolTip()  # the row shows a short title; the whole message is one hover away
    assert "Could not open notes.png" in window.notifications.text()
    # a long message wraps in the strip; it must not make the window wider (it did, past the screen)
    assert window.width() == width
    assert window.minimumSizeHint().width() <= width
    assert window.notifications.notices[-1].level == "error"
    # the good print is the one shown, and its restoration arrived
    assert window.current_print().source.endswith("good.png")
    assert window.right_view.has_image()
    # selecting the bad row explains it in the pane instead of showing a stale print
    window.file_list.setCurrentItem(row)
    assert "notes.png" in window.left_view.message()
    assert not window.left_view.has_image()
    assert "notes.png" in window.status.current_message()


def test_drop_onto_a_print_pane_reaches_the_window(window, qtbot, tmp_path):
    """Analysts drop files on the big print views, not on the window frame."""
    from fpstation.gui.main_window import file_urls

    _, good = _write_bad_and_good(tmp_path)
    args = (Qt.DropAction.CopyAction, file_urls([good]), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    vp = window.right_view.viewport()
    enter = QDragEnterEvent(QPoint(50, 50), *args)
    QApplication.sendEvent(vp, enter)
    assert enter.isAccepted()
    QApplication.sendEvent(vp, QDropEvent(QPointF(50, 50), *args))
    _wait_rows_settled(qtbot, window, 1)
    _wait_analysed(qtbot, window)
    assert window.current_print().source.endswith("good.png")


def test_handle_drop_of_only_bad_files_and_non_file_urls(window, qtbot, tmp_path):
    from PySide6.QtCore import QMimeData, QUrl

    from fpstation.gui.main_window import file_urls

    empty = tmp_path / "empty.bmp"
    empty.write_bytes(b"")
    assert window.handle_drop(file_urls([empty]))
    _wait_rows_settled(qtbot, window, 1)
    assert window.file_list.entries()[0].error
    assert "empty.bmp" in window.left_view.message()  # the only row is shown with its error
    web = QMimeData()
    web.setUrls([QUrl("https://example.org/print.png")])
    assert not window.handle_drop(web)


# ---------------------------------------------------------------------- folders
def test_open_folder_recursively(window, qtbot, tmp_path):
    top = tmp_path / "case"
    (top / "a" / "b").mkdir(parents=True)
    files = sample_files()
    targets = [top / "one.png", top / "a" / "two.png", top / "a" / "b" / "three.png"]
    for src, dst in zip(files * 3, targets, strict=False):
        shutil.copy(src, dst)
    (top / "a" / "readme.txt").write_text("not a print")
    task = window.open_paths([top])
    assert task is not None
    _wait_rows_settled(qtbot, window, 3)
    names = sorted(Path(e.path).name for e in window.file_list.entries())
    assert names == ["one.png", "three.png", "two.png"]
    assert all(e.image is not None for e in window.file_list.entries())
    assert window.settings.last_open_dir == str(top)
    _wait_analysed(qtbot, window)
    # PgDown steps through the list and shows the next print
    first = window.current_print()
    window.act_next.trigger()
    assert window.current_print() is not first


# ---------------------------------------------------------------------- difference / overlay
def test_difference_and_overlay_toggles_change_right_view(window, qtbot):
    window.open_paths([sample_file()])
    _wait_analysed(qtbot, window)
    im = window.current_print()
    restored = window.right_view.pixels().copy()
    assert np.array_equal(restored, 255 - im.pixels)
    window._act_diff.trigger()
    assert window.mode() == "difference"
    diff = window.right_view.pixels()
    expected = np.abs(im.pixels.astype(np.int16) - restored.astype(np.int16))
    assert not np.array_equal(diff, restored)
    # the difference image is |original - restored| (possibly contrast-stretched): same ordering
    assert np.corrcoef(diff.astype(float).ravel(), expected.astype(float).ravel())[0, 1] > 0.99
    assert "Difference" in window.right_pane.caption.text()
    window._act_overlay.trigger()
    assert window.mode() == "overlay"
    assert not window._act_diff.isChecked()
    assert window.right_view.pixels().shape == (*im.pixels.shape, 3)
    window._act_overlay.trigger()  # unchecking returns to the restoration
    assert window.mode() == "restored"
    assert np.array_equal(window.right_view.pixels(), restored)


def test_shortcuts_f_1_d_exist_and_work(window, qtbot):
    shortcuts = {a.shortcut().toString(): a for a in window.actions() if not a.shortcut().isEmpty()}
    for key in ("F", "1", "D", "O", "Esc", "Ctrl+O", "Ctrl+Shift+O"):
        assert key in shortcuts, key
    window.open_paths([sample_file()])
    _wait_analysed(qtbot, window)
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=3000)
    window.left_view.setFocus()
    qtbot.keyClick(window.left_view, Qt.Key.Key_1)
    assert window.left_view.zoom() == 1.0 == window.right_view.zoom()
    qtbot.keyClick(window.left_view, Qt.Key.Key_F)
    assert window.left_view.is_fit_mode()
    assert window.left_view.zoom() != 1.0
    qtbot.keyClick(window.left_view, Qt.Key.Key_D)
    assert window.mode() == "difference"
    qtbot.keyClick(window.left_view, Qt.Key.Key_D)
    assert window.mode() == "restored"


# ---------------------------------------------------------------------- layout
def test_default_layout_gives_the_print_views_most_of_the_window(window, qtbot):
    docks = {d.windowTitle(): d for d in window.findChildren(QDockWidget)}
    if "Batch" in docks:
        assert not docks["Batch"].isVisible()  # shown when a batch starts (or View → Batch)
    window.resize(1400, 860)  # the default size
    qtbot.waitUntil(lambda: window.views_splitter.width() > 0)
    assert window.views_splitter.width() >= 0.55 * window.width()
    assert window.views_splitter.height() >= 0.85 * window.height()
    left, right = window.views_splitter.sizes()
    assert abs(left - right) <= 1  # equal panes: linked views show the same region
    window.open_paths([sample_file()])
    _wait_analysed(qtbot, window)
    left2, right2 = window.views_splitter.sizes()
    assert abs(left2 - right2) <= 1
    assert left2 >= left - 1  # long captions do not squeeze a pane


# ---------------------------------------------------------------------- start-up path
def _run_py(code: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)


HEAVY = "{'tensorflow', 'keras', 'pyfing'}"


def test_importing_app_and_main_window_does_not_import_tf_keras_pyfing():
    r = _run_py("import fpstation.app, fpstation.gui.main_window, sys; "
                f"bad = {HEAVY} & set(sys.modules); assert not bad, bad")
    assert r.returncode == 0, r.stderr


def test_constructing_main_window_with_extensions_does_not_import_tf_keras_pyfing(tmp_path):
    code = f"""
import sys
from PySide6.QtWidgets import QApplication
from fpstation.gui import main_window
from fpstation.settings import Settings
from fpstation.workers import Pools
app = QApplication([])
w = main_window.MainWindow(Settings.load({str(tmp_path / 's.json')!r}), Pools())
w.show()
app.processEvents()
installed = [m for m in main_window.EXTENSIONS if m in sys.modules]
assert len(installed) == len(main_window.EXTENSIONS), installed
bad = {HEAVY} & set(sys.modules)
assert not bad, bad
print("ok", len(w.findChildren(__import__("PySide6.QtWidgets", fromlist=["QDockWidget"]).QDockWidget)))
w.pools.drain(5000)
"""
    r = _run_py(code)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("ok")


def test_cancelled_job_helper_really_raises():
    # guards the slow job above: a cancelled token must raise, or the cancel test could pass vacuously
    from fpstation.core.jobs import CancelToken

    t = CancelToken()
    t.cancel()
    with pytest.raises(Cancelled):
        _slow_job(threading.Event(), progress=lambda *_: None, cancel=t)


def test_unavailable_gender_is_normal_text_not_the_verdict_font(window, qtbot):
    window.open_paths([sample_file()])  # the fake analysers compute no gender
    _wait_analysed(qtbot, window)
    panel = window.gender_panel
    assert panel.headline.text().startswith("Gender unavailable")
    assert panel.headline.font().pointSizeF() == pytest.approx(QApplication.font().pointSizeF())
    assert not panel.headline.font().bold()


def test_restoration_failure_is_explained_in_the_right_pane(window, qtbot, monkeypatch):
    from fpstation.core.errors import FpError
    from fpstation.ml import inference

    class _NoModel(FpError):
        title = "No model"

    def broken(im):
        raise _NoModel("No trained restoration model is installed.")

    monkeypatch.setattr(inference, "default_analyzers", lambda settings=None, **_: Analyzers(restore=broken))
    window.open_paths([sample_file()])
    qtbot.waitUntil(lambda: window.last_analysis() is not None, timeout=10000)
    assert not window.right_view.has_image()
    assert "No trained restoration model" in window.right_view.message()
    assert "unavailable" in window.right_pane.caption.text()
    assert "Restoration unavailable" in window.status.current_message()
    assert "No trained restoration model" in window.info.values["Unavailable"].text()
    window._act_diff.trigger()  # nothing to compare: still the explanation, no crash
    assert "No trained restoration model" in window.right_view.message()


def test_result_of_a_print_no_longer_shown_is_dropped(window, qtbot, monkeypatch):
    from fpstation.ml import inference

    gate = threading.Event()

    def gated(im):
        if im.source.endswith(sample_files()[0].name):
            gate.wait(10)  # the first print's restoration finishes only after the second is shown
        return _fake_restore(im)

    monkeypatch.setattr(inference, "default_analyzers", lambda settings=None, **_: Analyzers(restore=gated))
    first, second = sample_files()[:2]
    window.open_paths([first])
    qtbot.waitUntil(lambda: window.current_print() is not None, timeout=10000)
    window.open_paths([second])
    qtbot.waitUntil(lambda: window.current_print() is not None and window.current_print().source.endswith(second.name),
                    timeout=10000)
    gate.set()
    _wait_analysed(qtbot, window)
    assert window.last_analysis().image is window.current_print()
    assert np.array_equal(window.right_view.pixels(), 255 - window.current_print().pixels)


def test_stated_dpi_for_opened_folder_and_per_print(window, qtbot, tmp_path):
    """The toolbar's "Open at" dpi applies to every print opened; the info panel's field restates one
    print (shown as "(stated)", the file's own value kept apart) and re-runs its analysis."""
    top = tmp_path / "scans"
    top.mkdir()
    for i, src in enumerate(sample_files()[:2]):
        shutil.copy(src, top / f"p{i}.png")
    window.open_dpi_spin.setValue(1000)
    window.open_paths([top])
    _wait_rows_settled(qtbot, window, 2)
    assert all(e.image.dpi == 1000 and e.image.dpi_source == "stated" for e in window.file_list.entries())
    _wait_analysed(qtbot, window)
    assert "1000 dpi (stated)" in window.info.values["Resolution"].text()
    assert "1000 dpi (stated)" in window.status.info_label.text()
    assert window.info.dpi_spin.value() == 1000
    window.info.dpi_spin.setValue(500)
    im = window.current_print()
    assert im.dpi == 500
    assert im.dpi_source == "stated"
    assert any(e.image is im for e in window.file_list.entries())  # the row holds the restated print
    _wait_analysed(qtbot, window)
    assert window.last_analysis().image is im
    window.info.dpi_spin.setValue(0)  # back to what the file says
    assert window.current_print().dpi_source != "stated"
