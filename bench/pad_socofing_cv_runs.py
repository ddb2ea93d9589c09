"""Several cross-validation runs of pad-socofing recipes side by side: own thresholds, each view, oracle.

    python bench/pad_socofing_cv_runs.py \
        --runs training/checkpoints/pad-socofing-cv-map training/checkpoints/pad-socofing-cv-map-fix \
               training/checkpoints/pad-socofing-cv-map-s1 training/checkpoints/pad-socofing-cv-map-s1-rerun \
               training/checkpoints/pad-socofing-cv-map-ens2 \
        --single 0 1 2 3 --out bench/results/pad_socofing_cv_runs.json

One run of a recipe moves with the network's seed (ADR 0265), so a candidate is compared with the
mean of several single runs, not with one. For each run (a folder of fold records of
``training/train_pad_cv.py`` or ``bench/pad_socofing_cv_ensemble.py``, all on the same outer folds)
this counts, pooled over its folds: BPCER and the passed attacks of each type

- at the folds' own thresholds, for the view chosen per fold and for each view always
  (``plain``, ``mirror``: each view's threshold was also set on the inner split, so these are nested
  figures too);
- at the oracle threshold, each fold's own test 1 % BPCER point (ranking only, not a result);

and, over the runs listed by ``--single`` (indices into ``--runs``), the mean and range.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
LOGIT = {"plain": "z", "mirror": "z_mirror"}


def load(folder: Path) -> list[dict]:
    folds = [json.loads(p.read_text()) for p in sorted(folder.glob("fold*.json"))]
    if not folds:
        raise SystemExit(f"{folder}: no fold records")
    return folds


def counts(rows: list[dict], attack: np.ndarray) -> dict:
    y = np.array([r["y"] for r in rows], bool)
    out = {"bpcer_errors": int(attack[~y].sum()), "bona_fide": int((~y).sum())}
    for t in sorted({r["attack_type"] for r in rows if r["y"]}):
        m = np.array([bool(r["y"]) and r["attack_type"] == t for r in rows])
        out[f"{t} passed"] = int((~attack[m]).sum())
        out[f"{t} n"] = int(m.sum())
    return out


def oracle(folds: list[dict], view: str, bpcer: float) -> np.ndarray:
    out = []
    for f in folds:
        z = np.array([r[LOGIT[view]] for r in f["test"]])
        y = np.array([r["y"] for r in f["test"]], bool)
        out.append(z > np.quantile(z[~y], 1.0 - bpcer, method="higher"))
    return np.concatenate(out)


def run_summary(folder: Path, bpcer: float) -> dict:
    folds = load(folder)
    rows = [r for f in folds for r in f["test"]]
    own = {v: counts(rows, np.array([r[f"attack_{v}"] for r in rows], bool)) for v in ("chosen", "plain", "mirror")}
    return {"record": str(folder.relative_to(REPO)) if folder.is_relative_to(REPO) else str(folder),
            "folds": [f["fold"] for f in folds],
            "views_chosen": [f["operating_points"]["chosen"].get("view") for f in folds],
            "own_threshold": own,
            "oracle_1pct_bpcer": {v: counts(rows, oracle(folds, v, bpcer)) for v in LOGIT}}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", nargs="+", type=Path, required=True)
    ap.add_argument("--single", nargs="*", type=int, default=None,
                    help="indices of --runs that are single runs of one recipe (their mean and range)")
    ap.add_argument("--bpcer", type=float, default=0.01, help="the oracle's test BPCER")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    runs = [run_summary(p.resolve(), args.bpcer) for p in args.runs]
    tests = {tuple(r["folds"]) for r in runs}
    if len(tests) > 1:
        raise SystemExit(f"the runs do not cover the same folds: {sorted(tests)}")
    out = {"command": "python bench/pad_socofing_cv_runs.py " + " ".join(argv if argv is not None else sys.argv[1:]),
           "runs": runs}
    if args.single:
        sel = [runs[i] for i in args.single]
        stats = {}
        for part, views in (("own_threshold", ("chosen", "plain", "mirror")), ("oracle_1pct_bpcer", tuple(LOGIT))):
            stats[part] = {}
            for v in views:
                keys = [k for k in sel[0][part][v] if k.endswith("passed") or k == "bpcer_errors"]
                stats[part][v] = {k: {"mean": float(np.mean([r[part][v][k] for r in sel])),
                                      "range": [min(r[part][v][k] for r in sel), max(r[part][v][k] for r in sel)]}
                                  for k in keys}
        out["single_runs"] = {"runs": [r["record"] for r in sel], **stats}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    for r in runs:
        o, q = r["own_threshold"], r["oracle_1pct_bpcer"]
        print(f"{r['record']:50s} BPCER {o['chosen']['bpcer_errors']:3d}  z-cut passed: chosen "
              f"{o['chosen'].get('z-cut passed')}, plain {o['plain'].get('z-cut passed')}, mirror "
              f"{o['mirror'].get('z-cut passed')} | oracle plain {q['plain'].get('z-cut passed')}, "
              f"mirror {q['mirror'].get('z-cut passed')}")
    if args.single:
        m = out["single_runs"]["own_threshold"]["chosen"]["z-cut passed"]
        print(f"single runs: z-cut passed (chosen view) mean {m['mean']:.2f}, range {m['range']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
