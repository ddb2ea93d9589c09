"""pad-socofing members trained on the same cross-validation folds, averaged: the ensemble's own CV figures.

    python bench/pad_socofing_cv_ensemble.py --members /work/padcv_map /work/padcv_map_s1 \
        --record training/checkpoints/pad-socofing-cv-map-ens2 --results bench/results/pad_socofing_cv_map_ens2.json

Each member is a ``--work`` folder of ``training/train_pad_cv.py`` run with the same ``--seed``
(so the same outer folds and inner split) and another ``--model-seed`` (another initialisation,
shuffle and augmentation); its ``fold<k>.best.keras`` is the member's network for outer fold k.
For every fold that all members finished:

- each member's logits on the fold's inner validation prints and outer test prints, for the print
  as given (``plain``) and the mean with its left-right mirror (``mirror``);
- the ensemble logit = the members' mean, per view;
- on the inner validation prints only: Platt calibration, threshold (lowest with BPCER <=
  ``--max-bpcer``) and the view (lower inner APCER_max): the same rule as ``train_pad_cv.py``;
- the outer test prints at that operating point.

The records also keep the inner validation logits (``inner_val``), so a threshold rule can be
studied without the networks.

It writes fold records in ``train_pad_cv.py``'s format to ``--record`` (so
``bench/pad_socofing_cv_compare.py`` compares the ensemble with one member on the same prints) and
the pooled figures to ``--results``. The first member's own logits are checked against its
committed record (``--check-record``) when given: the ensemble is built from the very networks
that record was scored with. Inference only (a few minutes on this CPU); the members' networks stay
in their ``--work`` folders (7 MB each, not committed): re-train them with the commands in
training/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "training"))

import train_pad_cv as cv  # noqa: E402

VIEWS = ("plain", "mirror")
NAMES = {"plain": "z", "mirror": "z_mirror"}


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def member_logits(task, best: Path, xv: np.ndarray, xt: np.ndarray) -> dict[str, dict[str, np.ndarray]]:
    """{"val"|"test": {view: logits}} of one member's fold network."""
    import keras

    model = keras.models.load_model(best, compile=False)
    out = {}
    for part, x in (("val", xv), ("test", xt)):
        z = task.logits(model, x)
        out[part] = {"plain": z, "mirror": task.mirror_logits(model, x, z)}
    del model
    keras.backend.clear_session()
    return out


def fold_record(k: int, zv: dict, zt: dict, yv, vtypes, titems, yt, data_root: str, max_bpcer: float,
                recipe: dict, subjects: dict) -> dict:
    """The fold's operating points (inner validation only) and its test rows, as train_pad_cv writes them."""
    from fpstation.ml.classifiers import metrics as cm

    ops = {v: cv.operating_point(zv[v], yv, vtypes, max_bpcer) for v in VIEWS}
    view = min(VIEWS, key=lambda v: (ops[v]["inner_apcer_max"], VIEWS.index(v)))
    ops["chosen"] = dict(ops[view], view=view)
    verdicts = {v: cm.sigmoid(cm.apply_calibration(zt[op.get("view", v)], op["calibration"])) >= op["threshold"]
                for v, op in ops.items()}
    rows = [{"path": os.path.relpath(it["path"], data_root), "subject": str(it["subject"]), "y": int(yt[i]),
             "attack_type": it["attack_type"], "level": it.get("level", ""),
             **{NAMES[v]: float(zt[v][i]) for v in VIEWS},
             **{f"attack_{v}": bool(a[i]) for v, a in verdicts.items()}} for i, it in enumerate(titems)]
    return {"fold": k, "subjects": subjects, "operating_points": ops, "test": rows, "recipe": recipe}


def main(argv: list[str] | None = None) -> int:
    sd = REPO.parent / "shared" / "data"
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--members", nargs="+", type=Path, required=True, help="train_pad_cv.py --work folders")
    ap.add_argument("--data", default=str(sd / "socofing"))
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0, help="the CV's --seed (outer folds and inner split)")
    ap.add_argument("--val-fraction", type=float, default=0.2)
    ap.add_argument("--max-bpcer", type=float, default=0.01)
    ap.add_argument("--record", type=Path, required=True)
    ap.add_argument("--results", type=Path, required=True)
    ap.add_argument("--check-record", type=Path, default=None,
                    help="the first member's committed fold records: its recomputed logits must match them")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    cv.tf_threads(args.threads)
    from fpstation.ml.tasks import get_task

    task = get_task("pad")
    hyper = task.default_hyper()
    hyper.extra.update(cache_dir=str(args.members[0] / "cache"))
    _, items, _ = task._items(Path(args.data), hyper)
    subjects = sorted({str(it["subject"]) for it in items}, key=lambda s: (len(s), s))
    fold_of = cv.outer_folds(subjects, args.folds, args.seed)
    recipe = {"ensemble_of": [str(m) for m in args.members], "combine": "mean logit per view",
              "max_bpcer": args.max_bpcer, "seed": args.seed, "folds": args.folds, "val_fraction": args.val_fraction}
    done, checks = [], []
    args.record.mkdir(parents=True, exist_ok=True)
    for k in range(args.folds):
        bests = [m / f"fold{k}.best.keras" for m in args.members]
        # a fold still training has a best.keras too, and its state.json (deleted when the fold ends)
        if not all(b.is_file() and not (b.parent / f"fold{k}.state.json").exists() for b in bests):
            log(f"fold {k}: not every member finished it; skipped")
            continue
        test, rest, tr_s, va_s = cv.fold_parts(items, fold_of, k, args.val_fraction, args.seed)
        vitems_in = [it for it in rest if str(it["subject"]) in va_s]
        xv, yv, vitems = task.arrays(vitems_in, hyper)
        xt, yt, titems = task.arrays(test, hyper)
        vtypes = [it["attack_type"] if it["y"] else None for it in vitems]
        per = [member_logits(task, b, xv, xt) for b in bests]
        if args.check_record is not None and (args.check_record / f"fold{k}.json").is_file():
            ref = json.loads((args.check_record / f"fold{k}.json").read_text())
            zref = {r["path"]: r["z"] for r in ref["test"]}
            got = {os.path.relpath(it["path"], args.data): float(per[0]["test"]["plain"][i]) for i, it in enumerate(titems)}
            diff = max(abs(zref[p] - got[p]) for p in zref)
            checks.append({"fold": k, "max_abs_logit_difference": diff})
            if diff > 1e-3:
                raise SystemExit(f"fold {k}: member 0's logits differ from {args.check_record} by {diff:.4g}")
        zv = {v: np.mean([p["val"][v] for p in per], axis=0) for v in VIEWS}
        zt = {v: np.mean([p["test"][v] for p in per], axis=0) for v in VIEWS}
        rec = fold_record(k, zv, zt, yv, vtypes, titems, yt, args.data, args.max_bpcer, recipe,
                          {"train": len(tr_s), "inner_val": len(va_s), "test": len({str(it["subject"]) for it in test})})
        # the inner validation logits (threshold-rule studies need no network)
        rec["inner_val"] = [{"path": os.path.relpath(it["path"], args.data), "subject": str(it["subject"]), "y": int(yv[i]),
                             "attack_type": it["attack_type"], "level": it.get("level", ""),
                             **{NAMES[v]: round(float(zv[v][i]), 5) for v in VIEWS}} for i, it in enumerate(vitems)]
        # each member alone, through this same code (its inner-split operating point)
        rec["members_alone"] = []
        for p in per:
            alone = fold_record(k, p["val"], p["test"], yv, vtypes, titems, yt, args.data, args.max_bpcer, recipe, {})
            a = np.array([r["attack_chosen"] for r in alone["test"]])
            rec["members_alone"].append({"view": alone["operating_points"]["chosen"]["view"],
                                         "threshold": alone["operating_points"]["chosen"]["threshold"],
                                         "test_attack_chosen_count": int(a.sum())})
        (args.record / f"fold{k}.json").write_text(json.dumps(rec, indent=1) + "\n", encoding="utf-8")
        done.append(rec)
        c = rec["operating_points"]["chosen"]
        log(f"fold {k}: view {c['view']}, inner APCER_max {c['inner_apcer_max']:.4f}, inner BPCER {c['inner_bpcer']:.4f}")
    if not done:
        raise SystemExit("no fold finished by every member")
    result = {"command": "python bench/pad_socofing_cv_ensemble.py " + " ".join(argv if argv is not None else sys.argv[1:]),
              "recipe": recipe,
              "folds_finished": [d["fold"] for d in done], "complete": len(done) == args.folds,
              "member_check": checks, "pooled": cv.pooled(done)}
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    ch = result["pooled"]["chosen"]
    log(f"pooled (chosen view): BPCER {ch['bpcer']['errors']}/{ch['bpcer']['n']}, " +
        ", ".join(f"{t} {v['errors']}/{v['n']}" for t, v in ch["apcer"].items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
