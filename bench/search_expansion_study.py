"""How far stage 1 should go down stage 0's order, and when (issue #24) -> bench/results/search_expansion_study.json.

For every probe of a fold (bench/search_scale.py's folds and packed galleries), stage 0 orders the
first ``--size`` templates and stage 1 scores the best ``--depth`` share of that order; the per-probe
scores are kept in ``--work`` (``expand_<fold>_<size>.json``). From them the search policy is
replayed offline: stage 1 on the first ``k0``, and when none of them scores ``sure`` or more, on
down to ``k1``. For each policy: rank-1 of stage 1 (the mate scores best among what stage 1 scored),
how many searches went further, and the mean number of templates stage 1 scored. The policy is
chosen on fold A and judged on fold B (the constants in fpstation/core/matching/packed.py).

    nice python bench/search_expansion_study.py --work /work/cache/search --size 100000
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.search_scale import FOLDS, load  # noqa: E402
from fpstation.core.matching import cylinders as cy  # noqa: E402
from fpstation.core.matching import evaluation as ev  # noqa: E402
from fpstation.core.matching import packed as pk  # noqa: E402


def collect(data: Path, work: Path, fold: str, size: int, depth: float) -> list[dict]:
    """Per probe: where its mate is in stage 0's order (-1: beyond ``depth``) and the stage-1
    scores of the first ``depth`` share, in that order."""
    cache = ev.TemplateCache(work / "templates")
    g = pk.PackedGallery(work / f"gallery-{fold}.fpg")
    size = min(size, len(g))
    recs = load(data, FOLDS[fold][0], cache)
    names = [f for f, i, _ in recs if i == 1]
    K = int(depth * size)
    out = []
    for f, imp, t in ((f, i, t) for f, i, t in recs if i != 1):
        e = cy.encode(t)
        if e.n == 0:
            out.append({"f": f, "imp": imp, "n": 0})
            continue
        cand, _ = pk.top_k(g.pre_scores(e, 0, size, threads=2), K)
        s1 = g.full_scores_at(e, cand, 2)
        pos = np.nonzero(cand == names.index(f))[0]
        out.append({"f": f, "imp": imp, "n": e.n, "mate_pos0": int(pos[0]) if len(pos) else -1,
                    "s1": np.round(s1, 4).tolist()})
    return out


def replay(rows: list[dict], k0: int, k1: int, sure: float) -> dict:
    """Stage-1 rank-1, searches that went further, mean stage-1 work, under one policy (a probe
    without cylinders counts as a miss)."""
    ok, went, work = 0, 0, []
    for x in rows:
        if not x.get("n"):
            continue
        s = np.asarray(x["s1"], np.float32)
        far = k1 > k0 and s[:k0].max() < sure
        k = k1 if far else k0
        p = x["mate_pos0"]
        ok += bool(0 <= p < k and s[p] >= s[:k].max())
        went += bool(far)
        work.append(k)
    return {"k0": k0, "k1": k1, "sure": sure, "stage1_rank1": int(ok), "probes": len(rows), "went_further": int(went),
            "stage1_templates_mean": float(np.mean(work))}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    ap.add_argument("--work", default="/work/cache/search")
    ap.add_argument("--size", type=int, default=100000)
    ap.add_argument("--depth", type=float, default=0.2, help="share of stage 0's order that stage 1 scores")
    ap.add_argument("--folds", nargs="+", default=["A", "B"])
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "search_expansion_study.json"))
    args = ap.parse_args(argv)
    work = Path(args.work)
    out = {"command": "python bench/search_expansion_study.py " + " ".join(argv if argv is not None else sys.argv[1:]),
           "size": args.size, "depth": args.depth, "folds": {}}
    for fold in args.folds:
        keep = work / f"expand_{fold}_{args.size}.json"
        if not keep.is_file():
            t0 = time.perf_counter()
            keep.write_text(json.dumps(collect(Path(args.data), work, fold, args.size, args.depth)))
            print(f"fold {fold}: collected in {time.perf_counter() - t0:.0f} s", flush=True)
        rows = json.loads(keep.read_text())
        best_nm = []
        for x in rows:
            if x.get("n"):
                s = np.asarray(x["s1"][:2000], np.float32)
                if 0 <= x["mate_pos0"] < len(s):
                    s = np.delete(s, x["mate_pos0"])
                best_nm.append(float(s.max()))
        n = args.size
        grid = [replay(rows, int(r0 * n), int(r1 * n), sure) for r0 in (0.001, 0.002, 0.005, 0.01, 0.02)
                for r1 in (0.05, 0.1, 0.2) for sure in (0.15, 0.2, 0.25, 0.3)]
        out["folds"][fold] = {
            "best_non_mate_stage1_in_first_2000": {f"q{q}": float(np.quantile(best_nm, q / 100)) for q in (50, 90, 95, 99)},
            "no_expansion": [replay(rows, int(r0 * n), int(r0 * n), 0.0) for r0 in (0.005, 0.02, 0.2)],
            "policies": grid}
        for r in out["folds"][fold]["no_expansion"] + [p for p in grid if p["k1"] == int(0.1 * n) and p["sure"] == 0.2]:
            print(fold, r, flush=True)
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
