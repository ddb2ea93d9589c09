"""Two pad-socofing recipes cross-validated by training/train_pad_cv.py, compared on the same test prints.

    python bench/pad_socofing_cv_compare.py --a training/checkpoints/pad-socofing-cv \
        --b training/checkpoints/pad-socofing-cv-map --out bench/results/pad_socofing_cv_compare_map.json

Both recipes' fold records (``fold<k>.json``: every outer test print's logits and verdicts at its
fold's own inner-split operating point) must come from the same outer folds (same subjects, same
seed); only the folds both finished are compared. Per recipe and per view (``chosen`` = the view
each fold picked on its inner split; ``plain``, ``mirror``, ``map`` when recorded):

- BPCER and APCER per alteration and per level at the folds' own thresholds (what the recipe
  would ship), 95 % Clopper-Pearson intervals;
- the same at an *oracle* threshold per fold, each fold's test 1 % BPCER point on that view's
  logit (for comparing ranking, not a shippable figure);
- paired differences b − a of APCER_max and of each alteration's APCER at the folds' own
  thresholds, with 95 % intervals from a bootstrap over test subjects (2,000 resamples): the prints
  of one subject move together, as the cross-validation's errors do.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from fpstation.core.stats import rate  # noqa: E402

LOGIT = {"plain": "z", "mirror": "z_mirror", "map": "z_map"}


def load(folder: Path) -> dict[int, dict]:
    return {int(p.stem[4:]): json.loads(p.read_text()) for p in sorted(folder.glob("fold*.json"))}


def rates(rows: list[dict], attack: np.ndarray) -> dict:
    """BPCER, APCER per type and per type/level, APCER_max from per-print attack decisions."""
    y = np.array([r["y"] for r in rows], bool)
    out = {"bpcer": rate(int(attack[~y].sum()), int((~y).sum())), "apcer": {}, "apcer_by_level": {}}
    for t in sorted({r["attack_type"] for r in rows if r["y"]}):
        m = np.array([bool(r["y"]) and r["attack_type"] == t for r in rows], bool)
        out["apcer"][t] = rate(int((~attack[m]).sum()), int(m.sum()))
        for lv in ("Easy", "Medium", "Hard"):
            ml = m & np.array([r["level"].endswith(lv) for r in rows])
            if ml.any():
                out["apcer_by_level"][f"{t} / {lv}"] = rate(int((~attack[ml]).sum()), int(ml.sum()))
    out["apcer_max"] = max(v["value"] for v in out["apcer"].values())
    return out


def oracle_attack(folds: list[dict], view: str, bpcer: float = 0.01) -> np.ndarray:
    """Per fold, the threshold on the view's logit at the fold's test ``bpcer`` point."""
    out = []
    for f in folds:
        z = np.array([r[LOGIT[view]] for r in f["test"]])
        y = np.array([r["y"] for r in f["test"]], bool)
        thr = np.quantile(z[~y], 1.0 - bpcer, method="higher")
        out.append(z > thr)
    return np.concatenate(out)


def apcers(rows: list[dict], attack: np.ndarray, idx: np.ndarray, types: list[str]) -> np.ndarray:
    """APCER per type (then APCER_max) over the rows ``idx`` (a bootstrap resample)."""
    vals = []
    for t in types:
        m = idx[np.array([bool(rows[i]["y"]) and rows[i]["attack_type"] == t for i in idx], bool)]
        vals.append(float((~attack[m]).mean()) if len(m) else np.nan)
    return np.array([*vals, np.nanmax(vals)])


def paired(rows: list[dict], att_a: np.ndarray, att_b: np.ndarray, reps: int, seed: int) -> dict:
    types = sorted({r["attack_type"] for r in rows if r["y"]})
    subj = np.array([r["subject"] for r in rows])
    uniq = np.unique(subj)
    by = {s: np.flatnonzero(subj == s) for s in uniq}
    everything = np.arange(len(rows))
    point = apcers(rows, att_b, everything, types) - apcers(rows, att_a, everything, types)
    rng = np.random.default_rng(seed)
    boot = []
    for _ in range(reps):
        idx = np.concatenate([by[s] for s in rng.choice(uniq, len(uniq), replace=True)])
        boot.append(apcers(rows, att_b, idx, types) - apcers(rows, att_a, idx, types))
    lo, hi = np.nanpercentile(np.array(boot), [2.5, 97.5], axis=0)
    names = [*types, "apcer_max"]
    return {n: {"b_minus_a": round(float(point[i]), 4), "ci95": [round(float(lo[i]), 4), round(float(hi[i]), 4)]}
            for i, n in enumerate(names)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--a", type=Path, default=REPO / "training" / "checkpoints" / "pad-socofing-cv")
    ap.add_argument("--b", type=Path, required=True)
    ap.add_argument("--reps", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    a, b = load(args.a), load(args.b)
    common = sorted(set(a) & set(b))
    if not common:
        raise SystemExit(f"no fold finished in both {args.a} and {args.b}")
    fa, fb = [a[k] for k in common], [b[k] for k in common]
    rows = [r for f in fa for r in f["test"]]
    rows_b = {r["path"]: r for f in fb for r in f["test"]}
    if {r["path"] for r in rows} != set(rows_b):
        raise SystemExit("the two recipes' folds hold different test prints (other folds or seed?)")
    order = [r["path"] for r in rows]
    fb = [{**f, "test": [rows_b[r["path"]] for r in fo["test"]]} for f, fo in zip(fb, fa, strict=True)]
    rows_bo = [rows_b[p] for p in order]
    result = {"command": "python bench/pad_socofing_cv_compare.py " + " ".join(argv if argv is not None else sys.argv[1:]),
              "a": {"record": str(args.a.relative_to(REPO) if args.a.is_relative_to(REPO) else args.a), "recipe": fa[0]["recipe"]},
              "b": {"record": str(args.b.relative_to(REPO) if args.b.is_relative_to(REPO) else args.b), "recipe": fb[0]["recipe"]},
              "folds": common, "prints": len(rows), "subjects": len({r["subject"] for r in rows}),
              "own_threshold": {}, "oracle_1pct_bpcer": {}, "chosen_views_b": [f["operating_points"]["chosen"].get("view") for f in fb]}
    for name, folds, rr in (("a", fa, rows), ("b", fb, rows_bo)):
        views = [v for v in ("plain", "mirror", "map", "chosen") if f"attack_{v}" in rr[0]]
        result["own_threshold"][name] = {v: rates(rr, np.array([r[f"attack_{v}"] for r in rr])) for v in views}
        result["oracle_1pct_bpcer"][name] = {v: rates(rr, oracle_attack(folds, v)) for v in views if v != "chosen"}
    att_a = np.array([r["attack_chosen"] for r in rows])
    att_b = np.array([r["attack_chosen"] for r in rows_bo])
    result["paired_chosen"] = paired(rows, att_a, att_b, args.reps, args.seed)
    y = np.array([r["y"] for r in rows], bool)
    result["paired_chosen"]["bpcer"] = {"a": round(float(att_a[~y].mean()), 4), "b": round(float(att_b[~y].mean()), 4)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    for name in ("a", "b"):
        c = result["own_threshold"][name]["chosen"]
        print(f"{name}: BPCER {c['bpcer']['value']:.4f}  APCER " +
              "  ".join(f"{t} {v['errors']}/{v['n']}" for t, v in c["apcer"].items()))
    print("b - a:", json.dumps(result["paired_chosen"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
