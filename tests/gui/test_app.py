"""app.py: TF log level set on import, and the excepthooks log and show every uncaught error
(from a Qt slot on the GUI thread and from a plain thread), the dialog replaced by a recorder."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from PySide6.QtCore import QObject, QTimer, Signal

ROOT = Path(__file__).resolve().parents[2]


def test_importing_app_sets_tf_log_level_unless_already_set():
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    code = "import os, fpstation.app; print(os.environ.get('TF_CPP_MIN_LOG_LEVEL'))"
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "2"
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=dict(env, TF_CPP_MIN_LOG_LEVEL="0"),
                       capture_output=True, text=True, timeout=60)
    assert r.stdout.strip() == "0"  # the user's choice wins


@pytest.fixture
def hooks():
    from fpstation.app import ExceptHooks

    shown: list[BaseException] = []
    h = ExceptHooks(shown.append).install()
    h.shown = shown
    try:
        yield h
    finally:
        h.uninstall()


class _Emitter(QObject):
    fired = Signal()


def test_exception_in_qt_slot_is_logged_and_shown(qtbot, hooks, caplog):
    assert sys.excepthook == hooks.sys_hook
    em = _Emitter()

    def slot():
        raise ValueError("boom in a slot")

    em.fired.connect(slot)
    with caplog.at_level(logging.CRITICAL, logger="fpstation.app"):
        QTimer.singleShot(0, em.fired.emit)
        qtbot.waitUntil(lambda: bool(hooks.shown), timeout=3000)
    assert isinstance(hooks.shown[0], ValueError)
    assert str(hooks.shown[0]) == "boom in a slot"
    rec = [r for r in caplog.records if r.name == "fpstation.app" and r.levelno == logging.CRITICAL]
    assert rec
    assert rec[0].exc_info
    assert rec[0].exc_info[0] is ValueError


def test_exception_in_thread_is_logged_and_shown(hooks, caplog):
    def work():
        raise RuntimeError("boom in a thread")

    with caplog.at_level(logging.CRITICAL, logger="fpstation.app"):
        t = threading.Thread(target=work, name="worker-x")
        t.start()
        t.join(5)
    assert [str(e) for e in hooks.shown] == ["boom in a thread"]
    assert any("worker-x" in r.getMessage() and r.exc_info for r in caplog.records)


def test_system_exit_in_thread_and_keyboard_interrupt_are_not_shown(hooks, monkeypatch):
    t = threading.Thread(target=lambda: sys.exit(3))
    t.start()
    t.join(5)
    seen = []
    monkeypatch.setattr(hooks, "_old_sys", lambda *a: seen.append(a[0]))
    hooks.sys_hook(KeyboardInterrupt, KeyboardInterrupt(), None)
    assert hooks.shown == []
    assert seen == [KeyboardInterrupt]


def test_a_failing_show_never_raises_from_the_hook(caplog):
    from fpstation.app import ExceptHooks

    def broken(_exc):
        raise OSError("display gone")

    h = ExceptHooks(broken)
    h.sys_hook(ValueError, ValueError("x"), None)  # must not raise
    assert any("could not display" in r.getMessage() for r in caplog.records)


def test_hooks_with_error_reporter_show_a_dialog_on_gui_thread(qtbot, monkeypatch):
    """The real wiring of app.main: thread error -> hook -> ErrorReporter (queued) -> dialog."""
    from fpstation.app import ExceptHooks
    from fpstation.gui import errors

    dialogs = []

    class _Box:
        def __init__(self):
            self._em = _Emitter()
            self.destroyed = self._em.fired

        def isVisible(self):  # noqa: N802
            return False

    def fake_show_error(parent, exc, *, modal=True):
        dialogs.append((exc, modal, threading.current_thread() is threading.main_thread()))
        return _Box()

    monkeypatch.setattr(errors, "show_error", fake_show_error)
    reporter = errors.ErrorReporter()
    h = ExceptHooks(reporter.report).install()
    try:
        t = threading.Thread(target=lambda: 1 / 0)
        t.start()
        t.join(5)
        qtbot.waitUntil(lambda: bool(dialogs), timeout=3000)
    finally:
        h.uninstall()
    exc, modal, on_main = dialogs[0]
    assert isinstance(exc, ZeroDivisionError)
    assert modal is False
    assert on_main
    assert reporter.shown
    assert reporter.shown[0].expected is False
    assert "ZeroDivisionError" in reporter.shown[0].message


def test_failure_while_showing_an_error_does_not_loop(qtbot, monkeypatch, caplog):
    """If the dialog itself fails, the hook must not feed that error back into the reporter forever."""
    from fpstation.app import ExceptHooks
    from fpstation.gui import errors

    calls = []

    def broken_show_error(parent, exc, *, modal=True):
        calls.append(exc)
        raise RuntimeError("no display for the dialog")

    monkeypatch.setattr(errors, "show_error", broken_show_error)
    reporter = errors.ErrorReporter()
    h = ExceptHooks(reporter.report).install()
    try:
        reporter.report(ValueError("first"))
        qtbot.wait(200)
    finally:
        h.uninstall()
    assert len(calls) == 1
    assert any("could not show" in r.getMessage() for r in caplog.records)
