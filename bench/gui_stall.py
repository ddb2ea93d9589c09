"""Worst GUI event-loop stall while the main window loads a print and analyses it (offscreen Qt).

Each run starts a *fresh* Python process (so pyfing's and TensorFlow's first import and first call
happen during the measurement, as in the app), builds the real :class:`MainWindow` with its
extensions and real pools, and probes the GUI thread with a 10 ms QTimer: a stall is the time
between two probe ticks minus the 10 ms interval. The window then opens the bundled samples one
after another (``open_paths`` -> decode + thumbnail on the io pool -> analysis on the inference pool
-> both views filled), and the stalls are recorded per print: the first print is "cold" (imports,
first calls), the others "warm".

Workloads:
- ``classical``: right pane = pyfing classical enhancement only (PAD/gender switched off);
- ``full``: classical enhancement + the shipped PAD and gender models (TensorFlow on the inference
  thread), i.e. what an analyst gets with ``restorer = classical``.
- ``onnx``: the defaults since issue #23: U-Net restorer + the shipped PAD and gender models, all on
  onnxruntime (``tensorflow_imported`` records that TensorFlow never loaded).

- ``folder``: open a folder of 4,800 SOCOFing prints (``/work/shared/data/socofing/Real``, reached
  through a symlinked sub-folder) and, once every row is in, a second folder of 800 more
  (Altered-Easy); analysis is switched off so only listing, hashing, decoding, thumbnails and adding
  rows are measured. Stalls are recorded per phase ("open 4800", "add 800").

Results: bench/results/gui_stall.json under ``variants[--variant]`` (target: worst stall <= 50 ms;
the machine's load average is recorded because the CPU is shared). Variants measured:
``no-preload`` (TensorFlow imported by the first analysis as is) and ``preload``
(fpstation/ml/preload.py dlopens TensorFlow's native libraries without the GIL first).

    .venv/bin/python bench/gui_stall.py --repeats 2 --variant preload
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROBE_MS = 10
TARGET_WORST_MS = 50.0


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q / 100 * (len(s) - 1))))]


SOCOFING = Path(os.environ.get("FPSTATION_SOCOFING", "/work/shared/data/socofing"))


def run_folder(timeout_s: float) -> dict:
    """The ``folder`` workload: stalls while 4,800 prints are opened, then 800 more."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    sys.path.insert(0, str(ROOT))
    tmp = Path(tempfile.mkdtemp(prefix="fp-gui-stall-"))
    os.environ["FPSTATION_HOME"] = str(tmp / "home")
    big, more = tmp / "big", tmp / "more"
    big.mkdir()
    more.mkdir()
    os.symlink(SOCOFING / "Real", big / "Real")
    extra = sorted((SOCOFING / "Altered" / "Altered-Easy").iterdir())[:800]
    for f in extra:
        os.symlink(f, more / f.name)
    n_big = sum(1 for _ in (SOCOFING / "Real").iterdir())

    from PySide6.QtCore import QElapsedTimer, QTimer
    from PySide6.QtWidgets import QApplication

    import fpstation.app  # noqa: F401
    from fpstation.core.pipeline import Analyzers
    from fpstation.gui.main_window import MainWindow
    from fpstation.ml import inference
    from fpstation.settings import Settings
    from fpstation.workers import Pools

    inference.default_analyzers = lambda settings=None, **_: Analyzers()  # measure loading only
    app = QApplication.instance() or QApplication([])
    settings = Settings.load(tmp / "settings.json")
    window = MainWindow(settings, Pools())
    window.resize(1400, 860)
    window.show()
    app.processEvents()

    # "idle (control)": the same probe for 5 s with nothing to do, to show what the shared machine's
    # load alone costs the GUI thread (the other phases cannot be better than this)
    phases = [("idle (control)", "", 0), ("open 4800", str(big), n_big), ("add 800", str(more), n_big + len(extra))]
    out: list[dict] = []
    gaps: list[float] = []
    clock = QElapsedTimer()
    state = {"i": -1, "t0": 0.0, "last": 0}
    probe = QTimer()
    probe.setInterval(PROBE_MS)

    late: list[list[float]] = []  # [ms since the phase began, stall ms] of every stall over the target

    def tick() -> None:
        now = clock.elapsed()
        gaps.append(now - state["last"] - PROBE_MS)
        if gaps[-1] > TARGET_WORST_MS:
            late.append([now, gaps[-1]])
        state["last"] = now

    probe.timeout.connect(tick)
    poll = QTimer()
    poll.setInterval(100)

    def busy() -> bool:
        return bool(window._load_tasks) or bool(getattr(window, "_feed", None))  # works before the fix too

    def check() -> None:
        if state["i"] < 0 or busy():
            return
        if not phases[state["i"]][1] and time.perf_counter() - state["t0"] < 5.0:
            return
        poll.stop()
        probe.stop()
        name, _, expected = phases[state["i"]]
        out.append({"phase": name, "rows": window.file_list.count(), "rows_expected": expected,
                    "seconds_to_all_rows": round(time.perf_counter() - state["t0"], 2),
                    "probe_ticks": len(gaps), "worst_stall_ms": round(max(gaps, default=float("nan")), 1),
                    "p99_stall_ms": round(_percentile(gaps, 99), 1),
                    "stalls_over_50ms": sum(g > 50 for g in gaps), "stalls_over_50ms_at": list(late),
                    "loadavg_1min_after": round(os.getloadavg()[0], 2)})
        late.clear()
        QTimer.singleShot(300, next_phase)

    poll.timeout.connect(check)

    def next_phase() -> None:
        state["i"] += 1
        if state["i"] >= len(phases):
            app.quit()
            return
        gaps.clear()
        state["t0"] = time.perf_counter()
        clock.start()
        state["last"] = 0
        probe.start()
        if phases[state["i"]][1]:
            window.open_paths([phases[state["i"]][1]])
        poll.start()

    QTimer.singleShot(300, next_phase)
    QTimer.singleShot(int(timeout_s * 1000), app.quit)
    app.exec()
    window.close()
    window.pools.drain(30000)
    return {"workload": "folder", "prints": out, "worst_stall_ms": max((p["worst_stall_ms"] for p in out),
                                                                        default=float("nan")),
            "completed": len(out) == len(phases) and all(p["rows"] == p["rows_expected"] for p in out)}


def run_one(workload: str, timeout_s: float) -> dict:
    """Measure one workload inside this (fresh) process."""
    if workload == "folder":
        return run_folder(timeout_s)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    sys.path.insert(0, str(ROOT))
    tmp = Path(tempfile.mkdtemp(prefix="fp-gui-stall-"))
    os.environ["FPSTATION_HOME"] = str(tmp / "home")
    t_start = time.perf_counter()

    from PySide6.QtCore import QElapsedTimer, QTimer
    from PySide6.QtWidgets import QApplication

    import fpstation.app  # noqa: F401 - sets TF_CPP_MIN_LOG_LEVEL like the real start-up
    from fpstation.core.samples import sample_files
    from fpstation.gui.main_window import MainWindow
    from fpstation.ml import inference
    from fpstation.settings import Settings
    from fpstation.workers import Pools

    if workload == "classical":
        real = inference.default_analyzers
        inference.default_analyzers = lambda settings=None, **_: real(settings, pad_=False, gender_=False)

    app = QApplication.instance() or QApplication([])
    settings = Settings.load(tmp / "settings.json")
    settings.restorer = "unet" if workload == "onnx" else "classical"
    window = MainWindow(settings, Pools())
    window.resize(1400, 860)
    window.show()
    app.processEvents()
    startup_s = time.perf_counter() - t_start

    samples = [str(p) for p in sample_files()]
    per_print: list[dict] = []
    gaps: list[float] = []
    clock = QElapsedTimer()
    state = {"i": -1, "t0": 0.0, "last": 0}

    probe = QTimer()
    probe.setInterval(PROBE_MS)

    def tick() -> None:
        now = clock.elapsed()
        gaps.append(now - state["last"] - PROBE_MS)
        state["last"] = now

    probe.timeout.connect(tick)

    def next_print() -> None:
        if state["i"] >= 0:
            res = window.last_analysis()
            per_print.append({
                "file": Path(samples[state["i"]]).name,
                "phase": "cold" if state["i"] == 0 else "warm",
                "seconds_open_to_both_views": round(time.perf_counter() - state["t0"], 3),
                "analysis_timings_s": {k: round(v, 3) for k, v in (res.timings if res else {}).items()},
                "analysis_errors": dict(res.errors) if res else {"all": "no result"},
                "probe_ticks": len(gaps),
                "worst_stall_ms": round(max(gaps, default=float("nan")), 1),
                "p99_stall_ms": round(_percentile(gaps, 99), 1),
                "p95_stall_ms": round(_percentile(gaps, 95), 1),
                "stalls_over_50ms": sum(g > 50 for g in gaps),
            })
        state["i"] += 1
        if state["i"] >= len(samples):
            probe.stop()
            app.quit()
            return
        gaps.clear()
        state["t0"] = time.perf_counter()
        clock.start()
        state["last"] = 0
        probe.start()
        window.open_paths([samples[state["i"]]])

    def on_analysis(_result) -> None:
        # the right view is filled in the same slot as analysisFinished; stop this print's probe
        # after one more tick so the repaint that follows is included
        QTimer.singleShot(2 * PROBE_MS, lambda: (probe.stop(), next_print()))

    window.analysisFinished.connect(on_analysis)
    QTimer.singleShot(200, next_print)  # let the first show/layout settle; start-up is measured elsewhere
    QTimer.singleShot(int(timeout_s * 1000), app.quit)
    app.exec()
    window.close()
    window.pools.drain(30000)
    all_worst = [p["worst_stall_ms"] for p in per_print]
    return {"workload": workload, "prints": per_print, "window_startup_s": round(startup_s, 2),
            "worst_stall_ms": max(all_worst, default=float("nan")),
            "completed": len(per_print) == len(samples), "tensorflow_imported": "tensorflow" in sys.modules}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workloads", nargs="+", default=["classical", "full"], choices=["classical", "full", "onnx", "folder"])
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--timeout", type=float, default=300.0, help="per run, seconds")
    p.add_argument("--out", default=str(ROOT / "bench" / "results" / "gui_stall.json"))
    p.add_argument("--variant", default="current",
                   help="name of this code variant; results of other variants in --out are kept")
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    if args.child:
        print("RESULT " + json.dumps(run_one(args.child, args.timeout)), flush=True)
        return 0

    runs: dict[str, list[dict]] = {w: [] for w in args.workloads}
    loads = []
    for r in range(args.repeats):
        for w in args.workloads:
            loads.append(os.getloadavg()[0])
            proc = subprocess.run([sys.executable, __file__, "--child", w, "--timeout", str(args.timeout)],
                                  cwd=ROOT, capture_output=True, text=True, timeout=args.timeout + 120)
            line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
            if line is None:
                print(proc.stdout[-2000:], proc.stderr[-4000:], file=sys.stderr)
                raise SystemExit(f"run {w} #{r} failed (exit {proc.returncode})")
            res = json.loads(line[len("RESULT "):])
            runs[w].append(res)
            print(f"{w} #{r}: worst stall {res['worst_stall_ms']:.1f} ms; per print "
                  + ", ".join(f"{x['phase']} {x['worst_stall_ms']:.0f} ms "
                              f"({x.get('seconds_open_to_both_views', x.get('seconds_to_all_rows')):.1f} s)"
                              for x in res["prints"]), flush=True)

    summary = {}
    for w, rs in runs.items():
        if w == "folder":
            worst = [x["worst_stall_ms"] for r in rs for x in r["prints"] if not x["phase"].startswith("idle")]
            summary[w] = {"worst_stall_ms": max(worst, default=None),
                          **{f"worst_stall_{x['phase'].replace(' ', '_')}_ms": max(
                              y["worst_stall_ms"] for r2 in rs for y in r2["prints"] if y["phase"] == x["phase"])
                             for x in rs[0]["prints"]},
                          "all_rows_in": all(r["completed"] for r in rs),
                          "meets_target": bool(worst) and max(worst) <= TARGET_WORST_MS}
            continue
        cold = [x["worst_stall_ms"] for r in rs for x in r["prints"] if x["phase"] == "cold"]
        warm = [x["worst_stall_ms"] for r in rs for x in r["prints"] if x["phase"] == "warm"]
        summary[w] = {"worst_stall_ms": max(cold + warm), "worst_stall_cold_ms": max(cold, default=None),
                      "worst_stall_warm_ms": max(warm, default=None),
                      "median_of_worst_warm_ms": sorted(warm)[len(warm) // 2] if warm else None,
                      "meets_target": max(cold + warm) <= TARGET_WORST_MS}
    variant = {
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "loadavg_1min_at_runs": [round(x, 2) for x in loads],
        "summary": summary,
        "runs": runs,
    }
    out_path = Path(args.out)
    variants = {}
    if out_path.is_file():
        try:
            variants = json.loads(out_path.read_text(encoding="utf-8")).get("variants", {})
        except (OSError, ValueError):
            variants = {}
    variants[args.variant] = variant
    out = {
        "benchmark": "bench/gui_stall.py",
        "what": "GUI-thread stalls (10 ms QTimer probe) while MainWindow opens each bundled sample and "
                "shows its analysis; fresh process per run, first print cold",
        "probe_interval_ms": PROBE_MS,
        "target_worst_stall_ms": TARGET_WORST_MS,
        "machine": {"platform": platform.platform(), "python": platform.python_version(),
                    "cpus": os.cpu_count(), "note": "CPU shared with other jobs; offscreen Qt"},
        "variants": variants,
    }
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    tmp.replace(out_path)
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
