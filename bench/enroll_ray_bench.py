"""Enrolment on Ray vs local -> bench/results/enroll_ray.json.

The same folder (default: fvc2004-db2b, 80 prints) is enrolled with LEADER into a fresh case by the
local engine (2 threads) and by ``enroll_ray`` with 1 and 2 workers on a local Ray started once
for the benchmark (``ray.init(num_cpus=2)``, the workers join it, so ``ray_start_s`` is ~0). For each
run: wall seconds, ``setup_s`` (workers started, extractor warmed and checked), the steady rate
``enrolled / (seconds - setup_s)``, the load average. Scaling = steady rate with 2 workers / (2 × the
rate with 1). Every Ray case is compared with the local one: same prints, same template JSON and ISO
bytes, print by print.

This machine has 2 cores shared with other jobs, so 2 workers is as far as it goes here; the
figures say what 1 → 2 workers gives under that load, not what a cluster gives.

``--simulate S`` measures the engine itself on a simulated cluster instead: Ray gets 8 logical CPUs,
and each extraction is NIST mindtct (~0.03 CPU-s) plus S seconds of waiting, standing for a node of
its own; 1, 2, 4 and 8 workers with ``--per-worker`` prints each (weak scaling, so every run lasts
about as long); scaling = steady rate with n / (n × rate with 1)
(-> bench/results/enroll_ray_simulated.json).

    flock /tmp/fpstation-heavy.lock nice -n 5 .venv/bin/python bench/enroll_ray_bench.py
    .venv/bin/python bench/enroll_ray_bench.py --simulate 0.5 --data ../shared/data/fvc*/images \
        --out bench/results/enroll_ray_simulated.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def content(db: Path) -> list[tuple]:
    con = sqlite3.connect(db)
    try:
        return con.execute("SELECT p.id, p.sha256, p.idx, t.extractor_version, t.template, t.iso FROM templates t"
                           " JOIN prints p ON p.id=t.print_id ORDER BY p.id").fetchall()
    finally:
        con.close()


class SlowExtract:
    """mindtct plus a fixed wait: one worker stands for one node of a simulated cluster."""

    def __init__(self, delay: float) -> None:
        self.delay = delay

    def __call__(self, image, extractor):
        from fpstation.core.matching import extract

        time.sleep(self.delay)
        return extract(image, "mindtct")


def simulate(files: list[Path], delay: float, per_worker: int, res: dict, tmp: Path) -> None:
    import ray

    from fpstation.core.matching.enrolment import enroll_ray
    from fpstation.core.store import CaseStore

    ray.init(num_cpus=8, include_dashboard=False, log_to_driver=False, logging_level="error",
             runtime_env={"env_vars": {"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}})
    try:
        for n in (1, 2, 4, 8):
            load0 = os.getloadavg()
            with CaseStore(tmp / f"sim{n}.db") as st:
                rep = enroll_ray(st, files[:n * per_worker], "mindtct", dpi=500, workers=n, files_per_task=2,
                                 extract=SlowExtract(delay))
            setup = float(rep.extra.get("setup_s", 0.0))
            res["runs"][f"ray_w{n}"] = {"enrolled": rep.enrolled, "seconds": rep.seconds, "setup_s": setup,
                                        "steady_prints_per_s": rep.enrolled / max(rep.seconds - setup, 1e-9),
                                        "load_before": load0, "load_after": os.getloadavg()}
            print(time.strftime("%H:%M:%S"), n, json.dumps(res["runs"][f"ray_w{n}"]), flush=True)
    finally:
        ray.shutdown()
    r1 = res["runs"]["ray_w1"]["steady_prints_per_s"]
    res["scaling_vs_linear"] = {str(n): res["runs"][f"ray_w{n}"]["steady_prints_per_s"] / (n * r1) for n in (2, 4, 8)}


def main(argv: list[str] | None = None) -> int:
    import ray

    from fpstation.core.imageio import iter_image_files
    from fpstation.core.matching.enrolment import enroll, enroll_ray
    from fpstation.core.store import CaseStore

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, nargs="+", default=[Path("/work/shared/data/fvc2004-db2b/images")])
    ap.add_argument("--per-worker", type=int, default=40, help="--simulate: prints per worker")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "enroll_ray.json")
    ap.add_argument("--simulate", type=float, default=None, metavar="S",
                    help="simulated cluster: mindtct + S seconds of waiting per print, 1/2/4/8 workers")
    args = ap.parse_args(argv)
    files = [f for d in args.data for f in sorted(iter_image_files(d, recursive=True))]
    res: dict = {"command": "python bench/enroll_ray_bench.py " + " ".join(argv or sys.argv[1:]),
                 "machine": {"cpu": platform.machine(), "cores_visible": os.cpu_count()},
                 "data": [str(d) for d in args.data], "n_files": len(files), "runs": {}}
    tmp = Path(tempfile.mkdtemp(prefix="h27-ray-"))
    if args.simulate is not None:
        res["simulated_wait_s"] = args.simulate
        try:
            res["per_worker"] = args.per_worker
            simulate(files, args.simulate, args.per_worker, res, tmp)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        res["target_scaling"] = 0.8
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(res, indent=2), encoding="utf-8")
        print("scaling", res["scaling_vs_linear"])
        return 0
    t = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="error",
             runtime_env={"env_vars": {"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}})
    res["ray_init_s"] = time.perf_counter() - t
    try:
        for name, fn in (("local_w2", lambda st: enroll(st, files, "leader", dpi=500, workers=2)),
                         ("ray_w1", lambda st: enroll_ray(st, files, "leader", dpi=500, workers=1)),
                         ("ray_w2", lambda st: enroll_ray(st, files, "leader", dpi=500, workers=2))):
            load0 = os.getloadavg()
            with CaseStore(tmp / f"{name}.db") as st:
                rep = fn(st)
            setup = float(rep.extra.get("setup_s", 0.0))
            res["runs"][name] = {"enrolled": rep.enrolled, "failed": len(rep.failed), "seconds": rep.seconds,
                                 "setup_s": setup, "prints_per_s": rep.prints_per_s,
                                 "steady_prints_per_s": rep.enrolled / max(rep.seconds - setup, 1e-9),
                                 "workers": rep.workers, "commits": rep.commits,
                                 "load_before": load0, "load_after": os.getloadavg(),
                                 **{k: rep.extra[k] for k in ("transport", "worker_ids") if k in rep.extra}}
            print(time.strftime("%H:%M:%S"), name, json.dumps(res["runs"][name]), flush=True)
    finally:
        ray.shutdown()
    local = content(tmp / "local_w2.db")
    for name in ("ray_w1", "ray_w2"):
        res["runs"][name]["identical_to_local"] = content(tmp / f"{name}.db") == local
    shutil.rmtree(tmp, ignore_errors=True)
    r1, r2 = res["runs"]["ray_w1"]["steady_prints_per_s"], res["runs"]["ray_w2"]["steady_prints_per_s"]
    res["scaling_2_workers_vs_linear"] = r2 / (2 * r1) if r1 else None
    res["target_scaling"] = 0.8
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=2), encoding="utf-8")
    print("scaling", res["scaling_2_workers_vs_linear"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
