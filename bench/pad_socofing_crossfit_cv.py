"""Cross-fitted pad-socofing: K networks per outer fold, every training person sets the threshold -> JSON.

    python bench/pad_socofing_crossfit_cv.py --runs training/checkpoints/pad-socofing-cv-xfit-j0 ... -j4 \
        --out bench/results/pad_socofing_crossfit_cv.json

ADR 0265/0266: at each fold's own test 1 % BPCER point the recipe ranks the z-cuts close to the
target (20.8/716 with the mirror view), but the threshold is set on the ~77 people of one inner
split and moves with which people they are; setting it on more people by training on fewer ranked
worse. Cross-fitting keeps both: ``training/train_pad_cv.py --inner-folds K --inner-fold j`` for
j = 0..K-1 trains, in every outer fold, K networks on K-1 parts of the fold's training people,
each validated (best epoch, Platt calibration) on the part it did not see. Here, per outer fold:

- each network's inner logits are calibrated on its own inner part; the calibrated inner scores
  of all K parts - every training person once, each scored by a network blind to them - set one
  threshold (lowest with BPCER <= 1 %, the recipe's rule);
- ``ensemble`` (the candidate, fixed before any result, 2026-12-06): a test print's score is the
  sigmoid of the mean of the K calibrated logits, ATTACK at or above that pooled threshold;
- ``single_pooled``: each network alone at the pooled threshold (mean over the K);
- ``single_own``: each network at its own inner part's threshold, as the single runs do (mean).

Nothing of the test people is used. Pooled over the outer folds; view ``--view`` (mirror, the
recipe's, ADR 0266). Pre-registered rule: the ensemble replaces the recipe only if it passes fewer
z-cuts than every single run of the recipe so far (< 22/716 with the mirror view) at test BPCER
<= 1 %.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))
LOGIT = {"plain": "z", "mirror": "z_mirror"}
BEST_SINGLE_RUN = 22  # z-cuts through, mirror view, the best of the 5 single runs (ADR 0266)


def load_runs(folders: list[Path]) -> tuple[int, int, dict[int, list[dict]]]:
    """K, the number of outer folds, and per outer fold finished in every run the K fold records
    ordered by inner fold j."""
    runs = {}
    for folder in folders:
        recs = [json.loads(p.read_text()) for p in sorted(folder.glob("fold*.json"))]
        if not recs:
            raise SystemExit(f"{folder}: no fold records")
        inner = recs[0]["recipe"].get("inner_folds")
        if not inner:
            raise SystemExit(f"{folder}: not a cross-fitting run (train_pad_cv.py --inner-folds K --inner-fold j)")
        runs[tuple(inner)] = {r["fold"]: r for r in recs}
    ks = {k for k, _ in runs}
    if len(ks) != 1:
        raise SystemExit(f"the runs use different K: {sorted(ks)}")
    k = ks.pop()
    missing = sorted(set(range(k)) - {j for _, j in runs})
    if missing:
        raise SystemExit(f"inner folds {missing} of {k} are missing")
    recipes = {json.dumps({a: b for a, b in r["recipe"].items() if a != "inner_folds"}, sort_keys=True)
               for v in runs.values() for r in v.values()}
    if len(recipes) > 1:
        raise SystemExit("the runs were made with different recipes")
    folds = set.intersection(*(set(v) for v in runs.values()))
    n_outer = next(iter(next(iter(runs.values())).values()))["recipe"]["folds"]
    return k, n_outer, {f: [runs[(k, j)][f] for j in range(k)] for f in sorted(folds)}


def fold_scores(recs: list[dict], view: str, max_bpcer: float) -> dict:
    """One outer fold: the pooled threshold, and the verdicts of each rule on its test prints."""
    from fpstation.ml.classifiers import metrics as cm
    from fpstation.ml.classifiers.tasks import _calibrate

    key = LOGIT[view]
    paths = [r["path"] for r in recs[0]["test"]]
    by = [{r["path"]: r for r in rec["test"]} for rec in recs]
    if any(set(b) != set(paths) for b in by):
        raise SystemExit(f"outer fold {recs[0]['fold']}: the runs tested different prints (another outer split?)")
    pool_s, pool_y, cal_z, own = [], [], [], []
    for rec, b in zip(recs, by, strict=True):
        inner = rec["inner"]
        z, y = np.asarray(inner[key], float), np.asarray(inner["y"], bool)
        cal = _calibrate(z, y.astype(int), balanced=False)
        pool_s.append(cm.sigmoid(cm.apply_calibration(z, cal)))
        pool_y.append(y)
        zt = cm.apply_calibration(np.array([b[p][key] for p in paths]), cal)
        cal_z.append(zt)
        own.append(np.array([b[p][f"attack_{view}"] for p in paths], bool))
    s_pool, y_pool = np.concatenate(pool_s), np.concatenate(pool_y)
    thr = float(cm.threshold_for_bpcer(s_pool, y_pool.astype(int), max_bpcer))
    cal_z = np.array(cal_z)
    return {"threshold": thr, "inner_prints": int(y_pool.size), "inner_bona_fide": int((~y_pool).sum()),
            "y": np.array([b0["y"] for b0 in (by[0][p] for p in paths)], bool),
            "types": [by[0][p]["attack_type"] if by[0][p]["y"] else None for p in paths],
            "ensemble": cm.sigmoid(cal_z.mean(axis=0)) >= thr,
            "single_pooled": [cm.sigmoid(z) >= thr for z in cal_z], "single_own": own}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", nargs="+", type=Path, required=True, help="the K record folders (inner folds 0..K-1)")
    ap.add_argument("--view", choices=sorted(LOGIT), default="mirror")
    ap.add_argument("--max-bpcer", type=float, default=0.01)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    k, n_outer, folds = load_runs([p.resolve() for p in args.runs])
    if not folds:
        raise SystemExit("no outer fold is finished in every run yet")
    per = {f: fold_scores(recs, args.view, args.max_bpcer) for f, recs in folds.items()}
    y = np.concatenate([p["y"] for p in per.values()])
    types = [t for p in per.values() for t in p["types"]]
    from pad_socofing_cv_runs import counts

    rows = [{"y": bool(a), "attack_type": t} for a, t in zip(y, types, strict=True)]
    ens = counts(rows, np.concatenate([p["ensemble"] for p in per.values()]))

    def mean_of(rule: str) -> dict:
        each = [counts(rows, np.concatenate([p[rule][j] for p in per.values()])) for j in range(k)]
        return {key: {"mean": float(np.mean([e[key] for e in each])), "each": [e[key] for e in each]}
                for key in each[0]}

    complete = len(per) == n_outer
    zc = ens.get("z-cut passed")
    bpcer_ok = ens["bpcer_errors"] <= args.max_bpcer * ens["bona_fide"]
    doc = {"command": "python bench/pad_socofing_crossfit_cv.py " + " ".join(argv if argv is not None else sys.argv[1:]),
           "what": " ".join(__doc__.split("\n\n")[2:4]).replace("\n", " "),
           "inner_folds": k, "view": args.view, "outer_folds": sorted(per), "complete": complete,
           "per_fold": {str(f): {"threshold": p["threshold"], "inner_prints": p["inner_prints"],
                                 "inner_bona_fide": p["inner_bona_fide"]} for f, p in per.items()},
           "ensemble": ens, "single_pooled": mean_of("single_pooled"), "single_own": mean_of("single_own"),
           "rule": f"the ensemble replaces the recipe only if, over all outer folds, fewer than {BEST_SINGLE_RUN} of "
                   "716 z-cuts pass at test BPCER <= 1 % (fixed before the result)",
           "rule_met": bool(complete and zc is not None and zc < BEST_SINGLE_RUN and bpcer_ok)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    so, sp = doc["single_own"], doc["single_pooled"]
    print(f"K={k}, outer folds {sorted(per)}: ensemble z-cut {zc} BPCER {ens['bpcer_errors']}/{ens['bona_fide']}; "
          f"single at own thresholds z-cut {so['z-cut passed']['mean']:.1f} BPCER {so['bpcer_errors']['mean']:.1f}; "
          f"single at the pooled threshold z-cut {sp['z-cut passed']['mean']:.1f} BPCER {sp['bpcer_errors']['mean']:.1f}")
    print(f"rule met: {doc['rule_met']}; wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
