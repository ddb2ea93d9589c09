"""Batch throughput: the local engine vs the Ray engine with 1 and 2 workers, and Ray's start-up cost.

Every run is a fresh interpreter (``os.nice(5)``) over the same N SOCOFing prints (96×103 BMP, first
N files of socofing/Real in sorted order, copied to a temp dir — never into the repo), with the
models installed in models/ (U-Net restoration + PAD + gender, settings defaults) or ``--analyzers
fake``. Each run writes its own case; afterwards the rows of every Ray run are compared with the
local run's, print by print (same sha256 + index, same verdicts, scores to 1e-6).

Figures per run:
* ``prints_per_s`` — whole run, start-up included;
* ``steady_prints_per_s`` — from the first row to the last (start-up and first model load excluded):
  the throughput the target compares (Ray 2 workers ≥ 90 % of local);
* ``first_row_s`` — from the call to the first row; ``startup_added_s`` = Ray's first row minus
  local's (target < 10 s); ``ray_init_s`` (ray.init alone) and ``setup_s`` (init + workers ready,
  models verified on every worker).

The machine has 2 cores shared with other engineers' jobs: the load average before/after each run
and the busiest processes are recorded with the figures.

    .venv/bin/python bench/batch_ray_bench.py [--n 2000] [--analyzers real|fake] [--out bench/results/batch_ray.json]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _busy() -> list[str]:
    try:
        out = subprocess.run(["ps", "-eo", "pcpu,etimes,comm", "--sort=-pcpu"], capture_output=True, text=True,
                             timeout=10).stdout.splitlines()[1:8]
        return [" ".join(line.split()) for line in out]
    except (OSError, subprocess.SubprocessError):
        return []


def prepare(n: int, dest: Path) -> Path:
    from fpstation import paths

    root = paths.shared_data_dir()
    src = (root / "socofing" / "Real") if root else None
    if src is None or not src.is_dir():
        raise SystemExit("../shared/data/socofing/Real is not present: this benchmark needs SOCOFing prints")
    files = sorted(p for p in src.iterdir() if p.suffix.lower() == ".bmp")[:n]
    dest.mkdir(parents=True, exist_ok=True)
    for p in files:
        shutil.copyfile(p, dest / p.name)
    return dest


# ---------------------------------------------------------------------- child
def child(engine: str, workers: int, folder: str, case: str, rows_csv: str, analyzers: str,
          address: str | None = None) -> dict:
    os.nice(5)
    t0 = time.perf_counter()
    from fpstation.core.batch import fake_analyzers, run_batch
    from fpstation.core.store import ROW_COLUMNS, CaseStore

    stamps: list[float] = []
    fh = open(rows_csv, "w", newline="", encoding="utf-8")  # noqa: SIM115
    w = csv.DictWriter(fh, fieldnames=ROW_COLUMNS, extrasaction="ignore")
    w.writeheader()

    def partial(item) -> None:
        stamps.append(time.perf_counter())
        w.writerow(item.row)

    extra: dict = {}
    with CaseStore(case) as store:
        if engine == "local":
            if analyzers == "fake":
                an = fake_analyzers()
            else:
                from fpstation.ml.inference import default_analyzers
                from fpstation.settings import Settings

                an = default_analyzers(Settings())
            s = run_batch(folder, store, an, partial=partial)
        else:
            from fpstation.core.cluster import FakeSetup, run_batch_ray

            if analyzers == "fake":
                setup = FakeSetup()
            else:
                from fpstation.ml.inference import ClusterSetup
                from fpstation.settings import Settings

                setup = ClusterSetup(Settings())
            s = run_batch_ray(folder, store, setup, partial=partial, workers=workers, address=address)
            extra = dict(s.extra)
    fh.close()
    n = s.prints_analysed
    first = stamps[0] - t0 if stamps else None
    steady = (len(stamps) - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 1 else None
    return {"engine": engine, "workers": workers if engine == "ray" else None, "prints_analysed": n,
            "bad_files": s.bad_files, "prints_with_step_errors": s.step_errors,
            "seconds": round(time.perf_counter() - t0, 3), "batch_seconds": round(s.seconds, 3),
            "prints_per_s": round(n / (time.perf_counter() - t0), 2),
            "first_row_s": round(first, 3) if first is not None else None,
            "steady_prints_per_s": round(steady, 2) if steady else None,
            "ray_init_s": extra.get("ray_start_s"), "setup_s": extra.get("setup_s"),
            # workers ready -> first row: each worker importing TensorFlow and loading its models
            "ready_to_first_row_s": (round(first - extra["setup_s"], 3) if first is not None and extra.get("setup_s")
                                     else None),
            "transport": extra.get("transport"), "models_verified_per_worker": extra.get("models"),
            "driver_write_ms_per_file": (round(1000 * extra["driver_write_s"] / s.files, 3)
                                         if extra.get("driver_write_s") and s.files else None)}


def _run_child(args, engine: str, workers: int, folder: Path, work: Path, address: str = "") -> dict:
    tag = f"{engine}{workers if engine == 'ray' else ''}{'joined' if address else ''}"
    cmd = [sys.executable, __file__, "--child", engine, "--workers", str(workers), "--folder", str(folder),
           "--case", str(work / f"{tag}.db"), "--rows", str(work / f"{tag}.csv"), "--analyzers", args.analyzers]
    if address:
        cmd += ["--address", address]
    load_before = os.getloadavg()
    busy = _busy()
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT,
                       env=dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="2"))
    if r.returncode != 0:
        raise SystemExit(f"{tag} failed:\n{r.stderr[-3000:]}")
    out = json.loads(r.stdout.strip().splitlines()[-1])
    out.update(loadavg_before=[round(x, 2) for x in load_before], loadavg_after=[round(x, 2) for x in os.getloadavg()],
               busiest_before=busy)
    print(tag, json.dumps({k: out[k] for k in ("seconds", "prints_per_s", "steady_prints_per_s", "first_row_s")}),
          flush=True)
    return out


def compare(a_csv: Path, b_csv: Path) -> dict:
    """Rows of two runs, print by print: same prints, same verdicts and models, scores to 1e-6."""
    def rows(p: Path) -> dict:
        return {(r["path"], r["index"]): r for r in csv.DictReader(p.open(encoding="utf-8"))}

    a, b = rows(a_csv), rows(b_csv)
    diff_text, max_abs = 0, 0.0
    for key in a.keys() & b.keys():
        for col, va in a[key].items():
            vb = b[key][col]
            if col in ("seconds",):
                continue
            if col in ("pad_score", "p_female", "pad_threshold", "dpi") and va and vb:
                max_abs = max(max_abs, abs(float(va) - float(vb)))
            elif va != vb:
                diff_text += 1
    return {"rows_a": len(a), "rows_b": len(b), "same_keys": a.keys() == b.keys(),
            "cells_differing_excluding_scores_and_seconds": diff_text, "max_abs_score_diff": max_abs,
            "identical": a.keys() == b.keys() and diff_text == 0 and max_abs <= 1e-6}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--analyzers", choices=("real", "fake"), default="real")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "batch_ray.json"))
    ap.add_argument("--child")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--folder")
    ap.add_argument("--case")
    ap.add_argument("--rows")
    ap.add_argument("--address")
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.workers, args.folder, args.case, args.rows, args.analyzers,
                               args.address)))
        return 0

    import ray

    from fpstation import __version__

    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    ray_dir = Path(ray.__file__).parent
    install_mb = sum(f.stat().st_size for f in ray_dir.rglob("*") if f.is_file()) / 2**20
    imports = []
    for _ in range(3):  # a fresh interpreter each time; the median of three
        r = subprocess.run([sys.executable, "-c", "import time; t = time.perf_counter(); import ray; "
                            "print(time.perf_counter() - t)"], capture_output=True, text=True)
        imports.append(float(r.stdout.strip().splitlines()[-1]))
    with tempfile.TemporaryDirectory(prefix="fp-raybench-") as tmp:
        work = Path(tmp)
        folder = prepare(args.n, work / "prints")
        runs = {"local": _run_child(args, "local", 0, folder, work),
                "ray_1_worker": _run_child(args, "ray", 1, folder, work),
                "ray_2_workers": _run_child(args, "ray", 2, folder, work)}
        # the same, joining a Ray that already runs (``ray start --head`` once, then --address auto)
        t = time.perf_counter()
        ctx = ray.init(num_cpus=2, include_dashboard=False, logging_level="warning", log_to_driver=False)
        head_s = time.perf_counter() - t
        try:
            runs["ray_2_workers_joined"] = _run_child(args, "ray", 2, folder, work, ctx.address_info["gcs_address"])
        finally:
            ray.shutdown()
        runs["ray_2_workers_joined"]["head_started_beforehand_s"] = round(head_s, 3)
        same = {k: compare(work / "local.csv", work / f"{tag}.csv")
                for k, tag in (("ray_1_worker", "ray1"), ("ray_2_workers", "ray2"),
                               ("ray_2_workers_joined", "ray2joined"))}
    local, r2 = runs["local"], runs["ray_2_workers"]
    ratio = (r2["steady_prints_per_s"] / local["steady_prints_per_s"]
             if r2["steady_prints_per_s"] and local["steady_prints_per_s"] else None)
    added = (r2["first_row_s"] - local["first_row_s"]) if r2["first_row_s"] and local["first_row_s"] else None
    result = {
        "benchmark": "batch_ray", "started_utc": started, "fpstation": __version__, "ray": ray.__version__,
        "host": platform.node(), "python": platform.python_version(), "cpu_count": os.cpu_count(),
        "note": ("2 CPU cores shared with five other engineers' jobs (training, tests): see each run's "
                 "loadavg_before/after and busiest_before; every run niced (+5)."),
        "data": f"first {args.n} files of socofing/Real (sorted), 96x103 BMP", "analyzers": args.analyzers,
        "settings": "defaults: U-Net restoration (ONNX) + PAD + gender" if args.analyzers == "real" else "fake",
        "ray_install_mb": round(install_mb, 1), "import_ray_s_median_of_3": round(sorted(imports)[1], 3),
        "runs": runs, "rows_vs_local": same,
        "targets": {"ray2_steady_vs_local_min": 0.9, "startup_added_max_s": 10.0, "rows": "identical (1e-6)"},
        "measured": {"ray2_steady_vs_local": round(ratio, 3) if ratio else None,
                     "ray1_steady_vs_local": round(runs["ray_1_worker"]["steady_prints_per_s"]
                                                   / local["steady_prints_per_s"], 3),
                     "startup_added_s": round(added, 2) if added is not None else None,
                     "startup_added_joined_s": round(runs["ray_2_workers_joined"]["first_row_s"]
                                                     - local["first_row_s"], 2),
                     "ray2_joined_steady_vs_local": round(runs["ray_2_workers_joined"]["steady_prints_per_s"]
                                                          / local["steady_prints_per_s"], 3),
                     "ray_init_s": r2["ray_init_s"], "ray_setup_s": r2["setup_s"]},
    }
    result["met"] = {"throughput": bool(ratio and ratio >= 0.9), "startup": bool(added is not None and added < 10),
                     "rows": all(v["identical"] for v in same.values())}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(result["measured"]), json.dumps(result["met"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
