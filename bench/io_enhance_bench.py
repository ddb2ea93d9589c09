"""Load time per image format and classical (pyfing) enhancement time per print.

* ``load`` — every bundled sample written once in each format (PNG, BMP, TIFF 8/16-bit, JPEG,
  PGM, WSQ, NIST Type-14 WSQ / uncompressed, NIST Type-4 WSQ) to a temp dir, then read with
  ``imageio.read_prints`` ``--repeat`` times; median and mean milliseconds per file.
* ``enhance`` — ``ml.classical.enhance`` in a fresh interpreter: the first call (imports pyfing /
  Keras / TensorFlow and builds the networks) and then ``--repeat`` warm calls per sample, for
  GBFEN and SNFEN; per-stage medians from ``extras["timings"]``.
* ``graph_vs_eager`` — the pyfing networks called through ``tf.function`` (what classical.py does)
  versus eagerly (what pyfing does), interleaved on one print.

    nice -n 10 .venv/bin/python bench/io_enhance_bench.py [--repeat 5] [--out bench/results/io_enhance.json]

The machine is shared (2 cores, several engineers): the load average is recorded with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def bench_load(repeat: int) -> dict:
    import numpy as np

    from fpstation.core.imageio import read_prints, write_image, write_nist
    from fpstation.core.samples import sample_files

    samples = [read_prints(f)[0] for f in sample_files()]
    cases = {
        "PNG": lambda d, s: write_image(d / "a.png", s.pixels, 500),
        "BMP": lambda d, s: write_image(d / "a.bmp", s.pixels, 500),
        "TIFF 8-bit": lambda d, s: write_image(d / "a.tif", s.pixels, 500),
        "TIFF 16-bit": lambda d, s: write_image(d / "a16.tif", s.pixels.astype(np.uint16) * 257, 500),
        "JPEG": lambda d, s: write_image(d / "a.jpg", s.pixels, 500),
        "PGM": lambda d, s: write_image(d / "a.pgm", s.pixels),
        "WSQ": lambda d, s: write_image(d / "a.wsq", s.pixels, 500),
        "NIST Type-14 WSQ (1 print)": lambda d, s: write_nist(d / "a14w.eft", [(s.pixels, 500.0, 1)]),
        "NIST Type-14 uncompressed (1 print)": lambda d, s: write_nist(d / "a14n.eft", [(s.pixels, 500.0, 1)],
                                                                       compression="none"),
        "NIST Type-4 WSQ (1 print)": lambda d, s: write_nist(d / "a4w.eft", [(s.pixels, 500.0, 1)], record_type=4),
    }
    out = {}
    with tempfile.TemporaryDirectory() as td:
        d = Path(td)
        for name, make in cases.items():
            times = []
            sizes = []
            for s in samples:
                p = make(d, s)
                sizes.append(p.stat().st_size)
                read_prints(p)  # first read (plugin registration, imports) not counted
                for _ in range(repeat):
                    t0 = time.perf_counter()
                    read_prints(p)
                    times.append((time.perf_counter() - t0) * 1000)
            out[name] = {"median_ms": round(statistics.median(times), 3), "mean_ms": round(statistics.mean(times), 3),
                         "reads": len(times), "mean_file_bytes": int(statistics.mean(sizes))}
            print(f"load {name:<38} median {out[name]['median_ms']:7.2f} ms", flush=True)
    return out


def bench_enhance(repeat: int) -> dict:
    from fpstation.core.imageio import read_print
    from fpstation.core.samples import sample_files

    t0 = time.perf_counter()
    from fpstation.ml import classical

    import_s = time.perf_counter() - t0
    samples = [(f.name, read_print(f)) for f in sample_files()]
    result: dict = {"import_fpstation_ml_classical_s": round(import_s, 4), "methods": {}}
    for method in ("GBFEN", "SNFEN"):
        first_name, first = samples[0]
        t = time.perf_counter()
        r = classical.enhance(first, method)
        first_s = time.perf_counter() - t
        per_sample = {}
        for name, im in samples:
            totals, stages = [], {}
            for _ in range(repeat):
                res = classical.enhance(im, method)
                totals.append(res.seconds)
                for k, v in res.extras["timings"].items():
                    stages.setdefault(k, []).append(v)
            per_sample[name] = {"size": [im.width, im.height], "warm_median_s": round(statistics.median(totals), 4),
                                "warm_min_s": round(min(totals), 4),
                                "stage_median_s": {k: round(statistics.median(v), 4) for k, v in stages.items()}}
            print(f"enhance {method} {name:<26} warm median {per_sample[name]['warm_median_s'] * 1000:7.0f} ms", flush=True)
        result["methods"][method] = {"first_call_s": round(first_s, 4), "first_call_sample": first_name,
                                     "first_call_load_s": round(r.extras["timings"]["load"], 4),
                                     "warm": per_sample}
        print(f"enhance {method} first call {first_s:.2f} s (load {r.extras['timings']['load']:.2f} s)", flush=True)
    return result


def bench_graph_vs_eager(repeat: int) -> dict:
    """Same print, networks called in graph mode (the default) vs eagerly, interleaved A/B."""
    from fpstation.core.imageio import read_print
    from fpstation.core.samples import sample_files
    from fpstation.ml import classical

    im = read_print(sample_files()[0])
    classical.enhance(im)  # build + trace
    nets = [a.model for a in (classical._algorithm(n) for n in ("SUFS", "SNFOE", "SNFFE"))]
    runs: dict[str, list[dict]] = {"graph": [], "eager": []}
    for _ in range(max(repeat, 5)):
        for mode in ("graph", "eager"):
            for m in nets:
                m._eager = mode == "eager"
            runs[mode].append(classical.enhance(im).extras["timings"])
    for m in nets:
        m._eager = False
    out = {}
    for mode, ts in runs.items():
        out[mode] = {k: round(statistics.median(t[k] for t in ts), 4)
                     for k in ("segmentation", "orientation", "frequency", "enhancement")}
        out[mode]["total"] = round(statistics.median(sum(t.values()) for t in ts), 4)
        print(f"{mode:5} median s per stage {out[mode]}", flush=True)
    out["print"] = f"{im.width}x{im.height}"
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "io_enhance.json"))
    args = ap.parse_args()
    load_before = os.getloadavg()
    doc = {"created": datetime.now(UTC).isoformat(timespec="seconds"), "python": platform.python_version(),
           "cpu_count": os.cpu_count(), "loadavg_before": [round(x, 2) for x in load_before],
           "repeat": args.repeat, "load": bench_load(args.repeat), "enhance": bench_enhance(args.repeat),
           "graph_vs_eager": bench_graph_vs_eager(args.repeat)}
    doc["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(doc, indent=2), encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
