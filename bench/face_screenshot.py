"""Screenshot of the face panel for docs/screenshots (run under Xvfb).

Enrols ORL people s1–s30 (images 1–5) into a temporary case, identifies PROBE and saves the
window to OUT:

    xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python bench/face_screenshot.py \
        ../shared/data/orl_faces/s7/8.pgm docs/screenshots/face_panel.png
"""

import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["FPSTATION_HOME"] = tempfile.mkdtemp()

from PySide6.QtCore import QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication, QDockWidget  # noqa: E402

from fpstation.settings import Settings  # noqa: E402
from fpstation.workers import Pools  # noqa: E402


def main() -> int:
    probe, out = sys.argv[1], sys.argv[2]
    orl = Path(os.environ.get("ORL", ROOT.parent / "shared" / "data" / "orl_faces"))
    app = QApplication(sys.argv)
    from fpstation.gui.main_window import MainWindow

    tmp = Path(tempfile.mkdtemp())
    w = MainWindow(Settings.load(tmp / "s.json"), Pools())
    w.resize(1500, 900)
    w.show()
    gal = tmp / "people"
    for i in range(1, 31):
        (gal / f"s{i}").mkdir(parents=True)
        for j in range(1, 6):
            shutil.copy(orl / f"s{i}" / f"{j}.pgm", gal / f"s{i}" / f"{j}.pgm")
    w.case_controller.open(tmp / "demo-case.db")
    p = w.face_panel
    w.face_dock.show()
    for d in w.findChildren(QDockWidget):  # give the face dock the whole right column
        if d is not w.face_dock and w.dockWidgetArea(d) == w.dockWidgetArea(w.face_dock):
            d.hide()

    def when_done(task, then):
        if not task.done.is_set():
            QTimer.singleShot(200, lambda: when_done(task, then))
            return
        QTimer.singleShot(500, then)

    def save():
        print("saved", w.grab().save(out), p.verdict_label.text(), flush=True)
        app.quit()

    QTimer.singleShot(1500, lambda: when_done(p.enrol(gal), lambda: when_done(p.identify(probe), save)))
    app.exec()
    w.pools.drain(20000)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
