"""Matching benchmark -> bench/results/matching.json (and models/matching-operating-points.json).

For every developer-visible FVC B set and every extractor x matcher pair: EER, FMR100, FMR1000,
rank-1 (all-pairs protocol of ``fpstation.core.matching.evaluation``). Templates are cached under
bench/out/templates (keyed by file SHA-256 + extractor version), score matrices under bench/out/scores.
Then the decision thresholds: for each pair, the threshold at FMR 0.1 % on the impostor pairs of
the validation fingers (101..105 of every set, pooled), with the FMR/FNMR it gives on fingers
106..110. Speed: comparisons per second on one core, NFIQ 2 and extraction time per print, and
1:N search time for galleries of 1k and 10k templates (FVC templates replicated).

    nice -n 5 python bench/matching_bench.py --data ../shared/data
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fpstation.core.matching import evaluation as ev  # noqa: E402
from fpstation.core.matching import matchers as mt  # noqa: E402
from fpstation.core.matching.extractors import EXTRACTORS, extractor_version  # noqa: E402

SETS = ["fvc2002-db1b", "fvc2002-db2b", "fvc2002-db3b", "fvc2002-db4b", "fvc2004-db2b", "fvc2004-db4b"]
VALIDATION = {"101", "102", "103", "104", "105"}
OUT = ROOT / "bench" / "out"


def log(msg: str) -> None:
    print(time.strftime("%H:%M:%S"), msg, flush=True)


def templates_for(data: Path, name: str, extractor: str) -> tuple[list[ev.FvcPrint], list]:
    prints = ev.fvc_prints(data / name)
    cache = ev.TemplateCache(OUT / "templates")
    t0 = time.perf_counter()
    ts = [cache.get(p.path, extractor) for p in prints]
    log(f"{name} {extractor}: {len(ts)} templates in {time.perf_counter() - t0:.1f} s")
    return prints, ts


def base_matrix(name: str, extractor: str, matcher: str, ts: list) -> np.ndarray:
    f = OUT / "scores" / f"{name}_{extractor}_{matcher}.npy"
    if f.is_file():
        return np.load(f)
    t0 = time.perf_counter()
    s = ev.score_matrix(ts, lambda a, b: mt.score_only(a, b, matcher))
    f.parent.mkdir(parents=True, exist_ok=True)
    np.save(f, s)
    log(f"{name} {extractor} {matcher}: matrix in {time.perf_counter() - t0:.1f} s")
    return s


def matrices(name: str, extractor: str, ts: list) -> dict[str, np.ndarray]:
    out = {m: base_matrix(name, extractor, m, ts) for m in ("consensus", "geometric", "bozorth3")}
    out["fusion"] = 0.5 * out["consensus"] + 0.5 * np.minimum(out["bozorth3"] / mt.BOZORTH_SCALE, 1.0)
    return out


def speed(ts: list, n: int = 300) -> dict:
    rng = np.random.default_rng(0)
    pairs = [(ts[i], ts[j]) for i, j in rng.integers(0, len(ts), size=(n, 2))]
    out = {}
    for m in mt.MATCHERS:
        for a, b in pairs[:5]:
            mt.score_only(a, b, m)  # warm caches (bozorth3 loads each template once)
        for a, b in pairs:
            mt.score_only(a, b, "bozorth3") if m != "geometric" else None
        t0 = time.perf_counter()
        for a, b in pairs:
            mt.score_only(a, b, m)
        dt = time.perf_counter() - t0
        out[m] = {"comparisons_per_s": n / dt, "ms_per_comparison": 1000 * dt / n}
    return out


def search_rank1(data: Path, extractor: str, matcher: str = mt.DEFAULT_MATCHER) -> dict:
    """Rank-1 of the full search on one gallery pooled over the sets (impression 1 of every finger),
    probes = impression 2 of every finger (to keep the exhaustive variant affordable here); with a
    short ``cylinder`` shortlist (10) and with none (all), and the ``cylinder`` stage alone."""
    from fpstation.core.matching.gallery import GalleryIndex

    gal, probes = [], []
    for name in SETS:
        if not (data / name).is_dir():
            continue
        prints, ts = templates_for(data, name, extractor)
        for p, t in zip(prints, ts, strict=True):
            if p.impression in (1, 2):
                (gal if p.impression == 1 else probes).append((f"{name}/{p.finger}", t))
    gi = GalleryIndex(list(range(len(gal))), [t for _, t in gal], [k for k, _ in gal])
    out = {"gallery": len(gal), "probes": len(probes), "matcher": matcher}
    for label, short in (("shortlist_10", 10), ("shortlist_all", len(gal))):
        t0 = time.perf_counter()
        hits = sum(gi.search(t, top=1, shortlist=short, matcher=matcher)[0].label == k for k, t in probes)
        out[label] = {"rank1": hits / len(probes), "seconds_per_search": (time.perf_counter() - t0) / len(probes)}
    pre_hits = sum(gal[int(np.argmax(gi.fast_scores(t)))][0] == k for k, t in probes)
    out["cylinder_only_rank1"] = pre_hits / len(probes)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=os.environ.get("FPSTATION_SHARED_DATA", str(ROOT.parent / "shared" / "data")))
    ap.add_argument("--stages", default="templates,scores,speed,search,nfiq2")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "matching.json"))
    args = ap.parse_args(argv)
    data = Path(args.data)
    stages = set(args.stages.split(","))
    try:
        torch_threads = len(os.sched_getaffinity(0))
    except AttributeError:
        torch_threads = os.cpu_count()
    res: dict = {"command": "python bench/matching_bench.py " + " ".join(argv or sys.argv[1:]),
                 "machine": {"cpu": platform.processor() or platform.machine(), "cores_visible": torch_threads},
                 "extractors": {e: extractor_version(e) for e in EXTRACTORS},
                 "matchers": {m: mt.MATCHERS[m].scale for m in mt.MATCHERS},
                 "protocol": ev.__doc__.strip().splitlines()[2:7], "sets": {}, "mean": {}}
    all_ts: dict[str, list] = {}
    pooled: dict[tuple[str, str], list] = {}
    for extractor in EXTRACTORS:
        for name in SETS:
            if not (data / name).is_dir():
                log(f"missing {data / name}")
                continue
            prints, ts = templates_for(data, name, extractor)
            all_ts.setdefault(extractor, []).extend(ts)
            if "scores" not in stages:
                continue
            for m, s in matrices(name, extractor, ts).items():
                r = ev.summarise(s, prints)
                r.pop("det") if False else None
                res["sets"].setdefault(name, {})[f"{extractor}+{m}"] = r
                pooled.setdefault((extractor, m), []).append((s, prints))
                log(f"{name} {extractor}+{m}: EER {100 * r['eer']:.2f} %  rank1 {r['rank1']:.3f}")
    for (extractor, m), lst in pooled.items():
        key = f"{extractor}+{m}"
        eers = [res["sets"][n][key]["eer"] for n in res["sets"] if key in res["sets"][n]]
        val_imp, test_imp, test_gen = [], [], []
        for s, prints in lst:
            idx, same = ev.pair_indices(prints)
            f = np.array([p.finger for p in prints])
            va = np.isin(f[idx[:, 0]], list(VALIDATION)) & np.isin(f[idx[:, 1]], list(VALIDATION))
            te = ~np.isin(f[idx[:, 0]], list(VALIDATION)) & ~np.isin(f[idx[:, 1]], list(VALIDATION))
            v = s[idx[:, 0], idx[:, 1]]
            val_imp.append(v[va & ~same])
            test_imp.append(v[te & ~same])
            test_gen.append(v[te & same])
        vi, ti, tg = (np.concatenate(x) for x in (val_imp, test_imp, test_gen))
        thr = ev.threshold_at_fmr(vi, 0.001)
        thr100 = ev.threshold_at_fmr(vi, 0.01)
        res["mean"][key] = {
            "mean_eer": float(np.mean(eers)), "n_sets": len(eers),
            "mean_fmr100": float(np.mean([res["sets"][n][key]["fmr100"] for n in res["sets"]])),
            "mean_fmr1000": float(np.mean([res["sets"][n][key]["fmr1000"] for n in res["sets"]])),
            "mean_rank1": float(np.mean([res["sets"][n][key]["rank1"] for n in res["sets"]])),
            "operating_points": {
                "fmr1000": {"threshold": thr, "n_validation_impostor": int(vi.size),
                            "test_fmr": float(np.mean(ti >= thr)), "test_fnmr": float(np.mean(tg < thr)),
                            "n_test_impostor": int(ti.size), "n_test_genuine": int(tg.size)},
                "fmr100": {"threshold": thr100, "test_fmr": float(np.mean(ti >= thr100)),
                           "test_fnmr": float(np.mean(tg < thr100))}},
        }
        log(f"MEAN {key}: EER {100 * np.mean(eers):.2f} % over {len(eers)} sets; thr@FMR0.1% {thr:.4f}")
    if res["mean"]:
        ops = {"note": "Decision thresholds at FMR 0.1 % / 1 %, chosen on the impostor pairs of fingers "
                       "101..105 of the visible FVC B sets (pooled); test_* are measured on fingers 106..110.",
               "command": res["command"], "extractors": res["extractors"],
               "operating_points": {k: v["operating_points"] for k, v in res["mean"].items()}}
        (ROOT / "models" / "matching-operating-points.json").write_text(json.dumps(ops, indent=1) + "\n")
    if "speed" in stages and all_ts:
        ts = all_ts.get("leader") or next(iter(all_ts.values()))
        res["speed"] = {"one_core": speed(ts)}
        log(f"speed {res['speed']}")
    if "search" in stages and all_ts:
        from fpstation.core.matching.gallery import search_benchmark

        res["search"] = {e: search_benchmark(ts, sizes=(1000, 10000)) for e, ts in all_ts.items()}
        log(f"search {res['search']}")
        res["search_rank1"] = {e: search_rank1(data, e) for e in all_ts}
        log(f"search rank-1 {res['search_rank1']}")
    if "nfiq2" in stages:
        from fpstation.core.errors import FpError
        from fpstation.core.imageio import read_print
        from fpstation.core.matching.quality import nfiq2

        per = {}
        for name in SETS:
            if not (data / name).is_dir():
                continue
            prints = ev.fvc_prints(data / name)
            t0 = time.perf_counter()
            sc, failed = [], []
            for p in prints:
                try:
                    sc.append(nfiq2(read_print(p.path).with_stated_dpi(500)).score)
                except FpError as exc:  # NFIQ 2 refuses some prints: count them, say which
                    failed.append({"print": p.stem, "error": exc.user_message, "detail": exc.detail})
            per[name] = {"mean": float(np.mean(sc)) if sc else None, "min": int(min(sc)) if sc else None,
                         "max": int(max(sc)) if sc else None, "n": len(sc), "failed": failed,
                         "ms_per_print": 1000 * (time.perf_counter() - t0) / len(prints)}
        res["nfiq2"] = per
        log(f"nfiq2 {per}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(res, indent=1) + "\n")
    log(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
