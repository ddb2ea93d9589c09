"""The one QApplication bootstrap: logging, excepthooks, settings, pools, the main window.

``main.py``, the ``fpstation`` GUI entry point and ``python -m fpstation gui`` all end here.
"""

from __future__ import annotations

import argparse
import logging
import logging.handlers
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from fpstation import __app_name__, __display_name__, __organization__, __version__, paths

# Before anything could import TensorFlow (a worker thread, an extension): its C++ start-up chatter
# (oneDNN / XLA / CPU-feature lines) is noise in an analyst's terminal. A value set by the user wins.
# This level alone does not silence the lines printed while the libraries load; fpstation.ml.quiet
# (installed by importing fpstation.ml) filters those.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

log = logging.getLogger("fpstation.app")

LOG_FILE_NAME = "fpstation.log"
_LOG_FORMAT = "%(asctime)s %(levelname)-7s %(threadName)s %(name)s: %(message)s"


def setup_logging(debug: bool = False) -> tuple[Path, list[logging.Handler]]:
    """Log to a rotating file in the user log dir (everything from INFO, DEBUG with ``debug``) and
    to stderr (warnings and up). Returns the log file and the handlers added (to remove on exit)."""
    log_path = paths.user_log_dir() / LOG_FILE_NAME
    file_handler = logging.handlers.RotatingFileHandler(log_path, maxBytes=2_000_000, backupCount=3,
                                                        encoding="utf-8")
    file_handler.setFormatter(logging.Formatter(_LOG_FORMAT))
    file_handler.setLevel(logging.DEBUG if debug else logging.INFO)
    err_handler = logging.StreamHandler(sys.stderr)
    err_handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    err_handler.setLevel(logging.DEBUG if debug else logging.WARNING)
    root = logging.getLogger()
    root.setLevel(logging.DEBUG if debug else logging.INFO)
    root.addHandler(file_handler)
    root.addHandler(err_handler)
    return log_path, [file_handler, err_handler]


class ExceptHooks:
    """Installs ``sys.excepthook`` and ``threading.excepthook`` that log and show every error.

    ``show`` is called with the exception; it must be thread-safe (the GUI passes
    :meth:`fpstation.gui.errors.ErrorReporter.report`, which queues to the GUI thread).
    """

    def __init__(self, show: Callable[[BaseException], None]) -> None:
        self.show = show
        self._old_sys = sys.excepthook
        self._old_thread = threading.excepthook

    def install(self) -> ExceptHooks:
        sys.excepthook = self.sys_hook
        threading.excepthook = self.thread_hook
        return self

    def uninstall(self) -> None:
        sys.excepthook = self._old_sys
        threading.excepthook = self._old_thread

    def sys_hook(self, etype: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
        if issubclass(etype, KeyboardInterrupt):
            self._old_sys(etype, value, tb)
            return
        log.critical("uncaught exception", exc_info=(etype, value, tb))
        self._show(value)

    def thread_hook(self, args: threading.ExceptHookArgs) -> None:
        if args.exc_type is SystemExit:
            return
        name = args.thread.name if args.thread else "?"
        log.critical("uncaught exception in thread %s", name,
                     exc_info=(args.exc_type, args.exc_value, args.exc_traceback))
        if args.exc_value is not None:
            self._show(args.exc_value)

    def _show(self, exc: BaseException) -> None:
        try:
            self.show(exc)
        except Exception:  # noqa: BLE001 - the hook itself must never raise; the error is logged above
            log.exception("could not display an error")


def _parse(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    p = argparse.ArgumentParser(prog=__app_name__, description=f"{__display_name__} workstation")
    p.add_argument("files", nargs="*", help="prints or folders to open")
    p.add_argument("--debug", action="store_true", help="debug logging")
    p.add_argument("--version", action="version", version=f"{__display_name__} {__version__}")
    return p.parse_known_args(argv)  # unknown options (-platform, -style ...) go to Qt


def _exit_after_shown(app, window) -> None:
    """``FPSTATION_EXIT_AFTER_SHOWN=1`` (bench/bundle_bench.py, tests/packaging): once the window
    is exposed, print ``FPSTATION_SHOWN t=<epoch s> tensorflow=<bool>`` and quit. Measures start-up
    to a visible window and proves TensorFlow is not imported on the start-up path."""
    import time

    from PySide6.QtCore import QTimer

    timer = QTimer(app)
    timer.setInterval(5)

    def check() -> None:
        handle = window.windowHandle()
        if handle is not None and handle.isExposed():
            timer.stop()
            if sys.stdout is not None:  # None in a windowed Windows build
                print(f"FPSTATION_SHOWN t={time.time():.3f} tensorflow={'tensorflow' in sys.modules}",
                      flush=True)
            app.quit()

    timer.timeout.connect(check)
    timer.start()


def _window_settings():
    """QSettings for window geometry, kept in the user config dir (tests redirect it)."""
    from PySide6.QtCore import QSettings

    return QSettings(str(paths.user_config_dir() / "window.ini"), QSettings.Format.IniFormat)


def main(argv: list[str] | None = None) -> int:
    """Start the GUI. ``argv`` excludes the program name (default: ``sys.argv[1:]``).

    Returns the application's exit code.
    """
    args, qt_args = _parse(list(sys.argv[1:] if argv is None else argv))
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # again: a caller may have cleared it since import
    log_path, handlers = setup_logging(args.debug)
    log.info("%s %s starting (log: %s)", __display_name__, __version__, log_path)

    from PySide6.QtCore import QtMsgType, qInstallMessageHandler
    from PySide6.QtWidgets import QApplication

    from fpstation.gui.errors import ErrorReporter
    from fpstation.gui.main_window import MainWindow
    from fpstation.settings import Settings
    from fpstation.workers import Pools

    app = QApplication.instance() or QApplication([sys.argv[0], *qt_args])
    app.setApplicationName(__app_name__)
    app.setOrganizationName(__organization__)
    app.setApplicationDisplayName(__display_name__)
    app.setApplicationVersion(__version__)
    if app.style().name().lower() not in ("fusion",):
        app.setStyle("Fusion")  # same look on every platform (and under Xvfb)

    qt_log = logging.getLogger("qt")
    levels = {QtMsgType.QtDebugMsg: logging.DEBUG, QtMsgType.QtInfoMsg: logging.INFO,
              QtMsgType.QtWarningMsg: logging.WARNING, QtMsgType.QtCriticalMsg: logging.ERROR,
              QtMsgType.QtFatalMsg: logging.CRITICAL}
    old_qt_handler = qInstallMessageHandler(lambda mode, _ctx, msg: qt_log.log(levels.get(mode, logging.INFO), msg))

    reporter = ErrorReporter()
    hooks = ExceptHooks(reporter.report).install()
    settings = Settings.load()
    pools = Pools(io_threads=max(1, int(settings.io_threads)))
    window = MainWindow(settings, pools)
    reporter.set_parent_widget(window)

    qs = _window_settings()
    # validated against the screen: a layout that had grown past it is not brought back broken
    if window.restore_layout(qs.value("main/geometry"), qs.value("main/state")):
        log.info("saved window layout did not fit the screen; adjusted")

    def save_window() -> None:
        qs.setValue("main/geometry", window.saveGeometry())
        qs.setValue("main/state", window.saveState())
        qs.sync()

    app.aboutToQuit.connect(save_window)
    window.show()
    if os.environ.get("FPSTATION_EXIT_AFTER_SHOWN"):
        _exit_after_shown(app, window)
    if args.files:
        window.open_paths(args.files)

    try:
        code = app.exec()
    finally:
        # The event loop has ended, so nothing queued to the GUI thread is waited on: jobs are
        # cancelled and the pools drained here, before the window (and its signals) go away.
        if not pools.drain(15000):
            log.warning("some background jobs did not stop within 15 s")
        window.deleteLater()
        hooks.uninstall()
        qInstallMessageHandler(old_qt_handler)
        log.info("%s exiting with code %s", __display_name__, code if "code" in locals() else "?")
        for h in handlers:
            logging.getLogger().removeHandler(h)
            h.close()
    return int(code)
