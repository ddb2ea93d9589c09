"""Screenshots of the Liveness dock and the Scanner desk with both PAD models (docs/screenshots/).

    xvfb-run -a .venv/bin/python bench/pad_screenshots.py

Real models, real window. A LivDet gelatine spoof (and a live print) at a stated 1000 dpi: the
material-spoof model checks it, the alteration model says it is outside its domain. LivDet images
may not be redistributed, so every print image in the saved pictures is blurred beyond recognition
(the panels' text is what these pictures document).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> int:
    tmp = Path(tempfile.mkdtemp(prefix="fp-shots-"))
    os.environ["FPSTATION_HOME"] = str(tmp / "home")
    from PySide6.QtWidgets import QApplication

    from fpstation.paths import shared_data_dir

    data = (shared_data_dir() or Path("/nonexistent")) / "livdet2015-hiscan"
    if not data.is_dir():
        print("needs ../shared/data/livdet2015-hiscan", file=sys.stderr)
        return 2
    app = QApplication.instance() or QApplication(sys.argv)
    from PySide6.QtCore import QEventLoop, QTimer

    from fpstation.gui.main_window import MainWindow
    from fpstation.settings import Settings
    from fpstation.workers import Pools

    def wait_until(cond, timeout_s=240.0):
        import time

        t0 = time.monotonic()
        while not cond():
            if time.monotonic() - t0 > timeout_s:
                raise TimeoutError("timed out")
            loop = QEventLoop()
            QTimer.singleShot(50, loop.quit)
            loop.exec()

    def blur_views(w):
        """Blur every print image shown (LivDet data must not be redistributed)."""
        import cv2
        import numpy as np

        from fpstation.gui.qimage import to_qpixmap

        for view in (w.left_view, w.right_view):
            view.set_image(None)
            view.set_message("(print hidden: LivDet data may not be redistributed)")
        desk = w.desk_panel
        if desk.current is not None and desk.current.image is not None:
            px = cv2.resize(desk.current.image.pixels, (12, 12), interpolation=cv2.INTER_AREA)
            px = cv2.resize(px, (240, 240), interpolation=cv2.INTER_NEAREST)
            desk.image_label.setPixmap(to_qpixmap(np.ascontiguousarray(px)))

    out = ROOT / "docs" / "screenshots"
    w = MainWindow(Settings.load(tmp / "settings.json"), Pools())
    w.resize(1500, 950)
    w.show()
    fake = sorted((data / "Fake").rglob("*.png"))[5]
    w.open_dpi_spin.setValue(1000)
    w.open_paths([str(fake)])
    wait_until(lambda: w.last_analysis() is not None)
    wait_until(lambda: w.pad_panel.verdict_label.text() not in ("—", ""))
    blur_views(w)
    dock = w.pad_panel.parentWidget()
    while dock is not None and not dock.inherits("QDockWidget"):
        dock = dock.parentWidget()
    dock.resize(520, 900)
    app.processEvents()
    (dock or w.pad_panel).grab().save(str(out / "liveness_two_models.png"))
    w.grab().save(str(tmp / "window.png"))

    # scanner desk: a watched folder at a stated 1000 dpi, one spoof arrives
    scanner = tmp / "scanner"
    scanner.mkdir()
    w.case_controller.open(tmp / "case.db")
    desk = w.desk_panel
    desk.dpi_spin.setValue(1000)
    w.desk_dock.show()
    desk.operator_edit.setText("op 7")
    desk.start(str(scanner))
    shutil.copy(sorted((data / "Fake").rglob("*.png"))[40], scanner / "scan_0001.png")
    wait_until(lambda: desk.current is not None)
    blur_views(w)
    w.desk_dock.resize(560, 900)
    app.processEvents()
    desk.grab().save(str(out / "scanner_desk_two_models.png"))
    print(f"pad panel: {w.pad_panel.verdict_label.text()} | {w.pad_panel.models_label.text()}")
    print(f"desk: {desk.verdict_label.text()} | {desk.models_label.text()}")
    desk.stop()
    w.close()
    w.pools.drain(20000)
    print("wrote", out / "liveness_two_models.png", out / "scanner_desk_two_models.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
