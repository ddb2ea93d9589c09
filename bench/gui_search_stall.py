"""The main window's gallery search on a large packed gallery: GUI stalls, progress, cancel (issue #24).

Builds the real :class:`MainWindow` (offscreen Qt, the real worker pools), opens a sample print as
the probe, and points the Comparison dock's search at a packed gallery folder (instead of the
case's own, which would have to be packed from SQLite first). A 10 ms QTimer probes the GUI thread;
a stall is the time between two ticks minus 10 ms. Then:

1. one full search: its time, the worst and 99th-percentile stall, how many progress updates the
   bar showed, the candidates listed;
2. a second search, cancelled with the dock's Cancel button after ``--cancel-after`` seconds: how
   long until the job stopped, and what the dock says.

    QT_QPA_PLATFORM=offscreen python bench/gui_search_stall.py --gallery /work/cache/search/gallery-A.fpg
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gallery", required=True, help="a packed gallery folder (*.fpg)")
    ap.add_argument("--cancel-after", type=float, default=0.5)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "gui_search_stall.json"))
    args = ap.parse_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from fpstation.core.matching import gallery as gal
    from fpstation.core.matching.packed import PackedGallery
    from fpstation.core.pipeline import Analyzers
    from fpstation.core.samples import sample_files
    from fpstation.ml import inference
    from fpstation.settings import Settings
    from fpstation.workers import Pools

    inference.default_analyzers = lambda settings=None, **_: Analyzers()  # the search alone is measured
    g = PackedGallery(args.gallery)
    gal.packed_for_case = lambda store, extractor="", **_: g
    app = QApplication.instance() or QApplication([])
    from fpstation.gui.main_window import MainWindow

    w = MainWindow(Settings.load(Path(tempfile.mkdtemp()) / "s.json"), Pools())
    w.show()
    p = w.comparison_panel
    p.extractor_combo.setCurrentIndex(p.extractor_combo.findData(g.extractor or "leader"))

    def spin(until, timeout: float) -> bool:
        t0 = time.perf_counter()
        while not until():
            app.processEvents()
            time.sleep(0.001)
            if time.perf_counter() - t0 > timeout:
                return False
        return True

    w.open_paths([sample_files()[0]])
    spin(lambda: w.current_print() is not None, 60)
    ticks: list[float] = []
    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    progress_seen: list[int] = []
    p.progress.valueChanged.connect(progress_seen.append)

    def stalls_ms(a: float, b: float) -> list[float]:
        t = [x for x in ticks if a <= x <= b]
        return [max(0.0, (y - x) * 1000 - 10) for x, y in zip(t, t[1:], strict=False)]

    timer.start()
    spin(lambda: False, 0.3)  # a quiet baseline
    t0 = time.perf_counter()
    task = w.gallery_search()
    spin(lambda: task.done.is_set() and p.search_button.isEnabled(), 600)
    t1 = time.perf_counter()
    spin(lambda: False, 0.2)
    st = sorted(stalls_ms(t0, t1))
    full = {"seconds": t1 - t0, "worst_stall_ms": st[-1] if st else 0.0,
            "p99_stall_ms": st[int(0.99 * (len(st) - 1))] if st else 0.0, "ticks": len(st),
            "progress_updates": len(progress_seen), "rows": p.table.rowCount(), "status": p.search_status.text()}
    print("full search", json.dumps(full), flush=True)
    progress_seen.clear()
    t2 = time.perf_counter()
    task = w.gallery_search()
    spin(lambda: False, args.cancel_after)
    t3 = time.perf_counter()
    p.cancel_button.click()
    spin(lambda: task.done.is_set() and p.search_button.isEnabled(), 120)
    t4 = time.perf_counter()
    st = sorted(stalls_ms(t2, t4))
    cancel = {"cancel_clicked_after_s": t3 - t2, "stopped_after_click_s": t4 - t3,
              "worst_stall_ms": st[-1] if st else 0.0, "status": p.search_status.text(),
              "progress_format": p.progress.format()}
    print("cancelled search", json.dumps(cancel), flush=True)
    timer.stop()
    out = {"command": "python bench/gui_search_stall.py " + " ".join(argv if argv is not None else sys.argv[1:]),
           "gallery": str(g.folder), "gallery_size": len(g), "load_average": os.getloadavg(),
           "target": "GUI responsive (worst stall <= 50 ms) and cancellable on a 1M gallery, with progress",
           "full_search": full, "cancelled_search": cancel}
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    w.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
