"""gender-socofing v2: ridge-density / ridge-width / spectrum / finger-size features + logistic regression,
judged by repeated subject-disjoint k-fold cross-validation over all shared SOCOFing subjects.

    nice -n 5 .venv/bin/python training/train_gender_v2.py          # -> models/gender-socofing.npz + .json,
                                                                     #    bench/results/classifiers/gender_cv.json

What it does (no TensorFlow; about two minutes on one core):

1. features of every SOCOFing Real print (fpstation.ml.classifiers.gender_features);
   prints of another size than the standard 103×96 (27 prints, all from 4 subjects) are outside the
   model's domain: not trained on, and counted as abstentions;
2. ``--repeats`` × ``--folds`` subject-disjoint folds, stratified by gender. Each feature group
   (spectrum, frequency, ridge_valley, shape, orientation), the fusion of the ridge cues alone and the
   fusion of all are fitted on the same folds; every
   print gets out-of-fold (OOF) logits only;
3. figures per print and per subject (mean of a subject's logits = the combined estimate): mean ±
   std over the folds, and a 95 % interval from a bootstrap over subjects of the OOF scores;
4. the Platt calibration and the uncertain band are chosen on the OOF scores of the fusion; the
   domain statistic (Mahalanobis distance of the model inputs) is fitted per fold and its OOF
   abstention rate measured;
5. the shipped model: the fusion refitted on all subjects (``--members`` subject-bootstrap fits,
   whose spread is the per-print model uncertainty), the OOF calibration, the domain entry.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

STD_SHAPE = (103, 96)
COMPARE = {"spectrum": ["spectrum"], "frequency": ["frequency"], "ridge_valley": ["ridge_valley"],
           "shape": ["shape"], "orientation": ["orientation"],
           "fusion_ridge_only": ["spectrum", "frequency", "ridge_valley"],
           "fusion_no_finger": ["spectrum", "frequency", "ridge_valley", "shape", "orientation"],
           "fusion": ["spectrum", "frequency", "ridge_valley", "shape", "orientation", "finger"]}
SHIPPED = "fusion"


def stratified_subject_folds(subjects: np.ndarray, y: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Fold index per row: whole subjects to folds, women and men dealt out separately."""
    rng = np.random.default_rng(seed)
    subj_y = {s: int(v) for s, v in zip(subjects, y, strict=True)}
    fold: dict[str, int] = {}
    for g in (0, 1):
        u = sorted(s for s, v in subj_y.items() if v == g)
        rng.shuffle(u)
        for i, s in enumerate(u):
            fold[s] = i % k
    return np.array([fold[s] for s in subjects])


def subject_means(z: np.ndarray, y: np.ndarray, subjects: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    uniq, inv = np.unique(subjects, return_inverse=True)
    zs = np.bincount(inv, weights=z) / np.bincount(inv)
    ys = np.zeros(len(uniq), int)
    ys[inv] = y
    return zs, ys, uniq


def summary(z: np.ndarray, y: np.ndarray) -> dict[str, float]:
    from fpstation.ml.classifiers import metrics as cm

    r = cm.binary_summary(cm.sigmoid(z), y)
    return {"balanced_accuracy": float(r["balanced_accuracy"]), "auc": float(cm.roc_auc(z, y))}


def figures(z_oof: np.ndarray, z_folds: list[tuple[np.ndarray, np.ndarray, np.ndarray]], y: np.ndarray,
            subjects: np.ndarray, n_boot: int) -> dict:
    """Per print and per subject: OOF point value, mean ± std over folds, subject-bootstrap 95 % CI."""
    from fpstation.ml.classifiers import metrics as cm

    out: dict = {}
    zs, ys, us = subject_means(z_oof, y, subjects)
    for level in ("per_print", "per_subject"):
        if level == "per_print":
            point = summary(z_oof, y)
            groups, zz, yy = subjects, z_oof, y
        else:
            point = summary(zs, ys)
            groups, zz, yy = us, zs, ys
        per_fold = []
        for zf, yf, sf in z_folds:
            per_fold.append(summary(zf, yf) if level == "per_print" else summary(*subject_means(zf, yf, sf)[:2]))
        d: dict = {"n": int(len(yy)), "n_female": int(yy.sum())}
        for key in ("balanced_accuracy", "auc"):
            vals = np.array([f[key] for f in per_fold])
            if key == "auc":
                def stat(idx, zz=zz, yy=yy):
                    return cm.roc_auc(zz[idx], yy[idx])
            else:
                def stat(idx, zz=zz, yy=yy):
                    return cm.binary_summary(cm.sigmoid(zz[idx]), yy[idx])["balanced_accuracy"]
            d[key] = {"oof": point[key], "fold_mean": float(vals.mean()), "fold_std": float(vals.std(ddof=1)),
                      "ci95": cm.subject_bootstrap(stat, groups, n_boot)}
        out[level] = d
    return out


def band_choice(p: np.ndarray, y: np.ndarray, max_inside_ba: float = 0.6) -> dict:
    """The widest band 0.5 ± h (h ≤ 0.3) whose prints the model gets right no better than
    ``max_inside_ba`` (balanced accuracy inside the band): there, its answer is close to a coin."""
    from fpstation.ml.classifiers import metrics as cm

    best = 0.0
    for h in np.arange(0.01, 0.301, 0.01):
        inside = np.abs(p - 0.5) < h
        if inside.sum() < 20 or len(np.unique(y[inside])) < 2:
            continue
        if cm.binary_summary(p[inside], y[inside])["balanced_accuracy"] <= max_inside_ba:
            best = float(h)
    sure = np.abs(p - 0.5) >= best
    return {"uncertain_band": round(2 * best, 2), "rule": f"widest 0.5±h whose OOF balanced accuracy inside is "
            f"<= {max_inside_ba}", "decided_fraction": float(sure.mean()),
            "balanced_accuracy_decided": float(cm.binary_summary(p[sure], y[sure])["balanced_accuracy"])
            if sure.any() else float("nan")}


def main() -> int:
    from fpstation.core.domain import fit_stats, mahalanobis
    from fpstation.core.imageio import read_print
    from fpstation.ml.classifiers import metrics as cm
    from fpstation.ml.classifiers.gender_features import (
        IMAGE_NAMES,
        FeatureModel,
        columns,
        describe,
        features,
        finger_code,
    )
    from fpstation.ml.classifiers.tasks import GenderTask
    from fpstation.ml.datasets import file_list_sha256
    from fpstation.ml.registry import sha256_file
    from fpstation.paths import shared_data_dir

    sd = shared_data_dir()
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(sd / "socofing") if sd else None)
    ap.add_argument("--out", default=str(REPO / "models"))
    ap.add_argument("--bench", default=str(REPO / "bench" / "results" / "classifiers" / "gender_cv.json"))
    ap.add_argument("--name", default="gender-socofing")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--l2", type=float, default=10.0)
    ap.add_argument("--members", type=int, default=20, help="subject-bootstrap fits in the shipped model")
    ap.add_argument("--bootstrap", type=int, default=1000)
    ap.add_argument("--quantile", type=float, default=0.995, help="domain statistic: quantile of training distances")
    ap.add_argument("--cache", default="", help="optional .npz of computed features (reused when it exists)")
    ap.add_argument("--oof", default=str(REPO.parent / "runs" / "gender-socofing" / "oof.npz"),
                    help="where to save the out-of-fold logits (read by bench/gender_cnn_compare.py)")
    args = ap.parse_args()
    if not args.data:
        raise SystemExit("no --data and ../shared/data is absent")
    t0 = time.time()

    task = GenderTask()
    layout, items, _ = task._items(Path(args.data), task.default_hyper())
    paths = [str(it["path"]) for it in items]
    if args.cache and Path(args.cache).is_file() and list(np.load(args.cache)["path"]) == paths:
        c = np.load(args.cache)
        feats, shapes = c["F"][:, :len(IMAGE_NAMES)], c["shp"]
    else:
        feats, shapes = [], []
        for i, p in enumerate(paths):
            px = read_print(p).pixels
            feats.append(features(px)[:len(IMAGE_NAMES)])
            shapes.append(px.shape[:2])
            if i % 500 == 0:
                print(f"features {i}/{len(paths)}", flush=True)
        feats, shapes = np.array(feats), np.array(shapes)
        if args.cache:
            np.savez(args.cache, F=feats, shp=shapes, path=np.array(paths))
    # which finger: from the SOCOFing name (the model's one-hot "finger" group)
    codes = [finger_code(type("Named", (), {"source": p, "finger_position": None})()) for p in paths]
    feats = np.c_[feats, np.array([[float(c == k) for k in range(1, 11)] for c in codes])]
    y_all = np.array([it["y"] for it in items])
    s_all = np.array([str(it["subject"]) for it in items])
    std = (shapes[:, 0] == STD_SHAPE[0]) & (shapes[:, 1] == STD_SHAPE[1])
    f, y, s = feats[std], y_all[std], s_all[std]
    print(f"{len(items)} prints of {len(set(s_all))} subjects; {int((~std).sum())} of another size "
          f"(outside the domain); features {time.time() - t0:.0f}s", flush=True)

    # ---- cross-validation: every group on the same folds
    fold_sets = [stratified_subject_folds(s, y, args.folds, seed) for seed in range(args.repeats)]
    results: dict = {}
    oof_fusion = oof_unknown = None
    f_unknown = f.copy()
    f_unknown[:, columns(["finger"])] = np.nan  # the same prints, finger not known
    oof_all: dict[str, np.ndarray] = {}
    dom_rates, dom_rates_size = [], []
    for name, groups in COMPARE.items():
        cols = columns(groups)
        z_rep = np.zeros((args.repeats, len(y)))
        z_rep_u = np.zeros((args.repeats, len(y)))
        z_folds, z_folds_u = [], []
        for r, fo in enumerate(fold_sets):
            for k in range(args.folds):
                tr = fo != k
                m = FeatureModel.fit(f[tr], y[tr], cols, args.l2)
                z_rep[r, ~tr] = m.logits(f[~tr])
                z_folds.append((z_rep[r, ~tr], y[~tr], s[~tr]))
                if name == SHIPPED:
                    z_rep_u[r, ~tr] = m.logits(f_unknown[~tr])
                    z_folds_u.append((z_rep_u[r, ~tr], y[~tr], s[~tr]))
                    st = fit_stats(m.image_inputs(f[tr]), "features", args.quantile)
                    d = np.array([mahalanobis(v, st) for v in m.image_inputs(f[~tr])])
                    out_stat = d > st["max_distance"]
                    dom_rates.append(float(out_stat.mean()))
                    # the size rule on this fold's subjects' prints of another size
                    held = set(s[~tr])
                    n_other = int(sum(1 for ss, ok in zip(s_all, std, strict=True) if ss in held and not ok))
                    dom_rates_size.append((int(out_stat.sum()) + n_other) / (len(d) + n_other))
        z_oof = z_rep.mean(axis=0)  # each print: mean of its R out-of-fold logits
        oof_all[name] = z_oof
        results[name] = {"groups": groups, "n_features": int(len(cols)),
                         **figures(z_oof, z_folds, y, s, args.bootstrap)}
        if name == SHIPPED:
            oof_fusion = z_oof
            oof_unknown = z_rep_u.mean(axis=0)
            oof_all["fusion_finger_unknown"] = oof_unknown
            results["fusion_finger_unknown"] = {"groups": groups, "n_features": int(len(cols)),
                                                "note": "the fusion model, finger columns unknown (NaN)",
                                                **figures(oof_unknown, z_folds_u, y, s, args.bootstrap)}
        pp, ps = results[name]["per_print"], results[name]["per_subject"]
        print(f"{name:13s} print BA {pp['balanced_accuracy']['oof']:.3f} AUC {pp['auc']['oof']:.3f} | subject BA "
              f"{ps['balanced_accuracy']['oof']:.3f} AUC {ps['auc']['oof']:.3f}", flush=True)
    assert oof_fusion is not None and oof_unknown is not None
    pu = results["fusion_finger_unknown"]
    print(f"{'fusion, finger unknown':13s} print BA {pu['per_print']['balanced_accuracy']['oof']:.3f} AUC "
          f"{pu['per_print']['auc']['oof']:.3f} | subject BA {pu['per_subject']['balanced_accuracy']['oof']:.3f} "
          f"AUC {pu['per_subject']['auc']['oof']:.3f}", flush=True)

    # ---- calibration and uncertain bands, out of fold (calibration on finger known and unknown alike)
    cal = cm.platt_fit(np.r_[oof_fusion, oof_unknown], np.r_[y, y], balanced=True)
    band = band_choice(cm.sigmoid(cm.apply_calibration(oof_unknown, cal)), y)
    zs, ys, _ = subject_means(cm.apply_calibration(oof_fusion, cal), y, s)
    band_subject = band_choice(cm.sigmoid(zs), ys)

    # ---- the shipped model: all subjects, subject-bootstrap members
    cols = columns(COMPARE[SHIPPED])
    base = FeatureModel.fit(f, y, cols, args.l2)
    x_std = base.standardise(f)
    rng = np.random.default_rng(0)
    uniq = np.unique(s)
    rows = {u: np.nonzero(s == u)[0] for u in uniq}
    coefs = [base.coef[0]]
    from fpstation.ml.classifiers.gender_features import fit_logreg

    while len(coefs) < args.members:
        pick = np.concatenate([rows[u] for u in rng.choice(uniq, len(uniq))])
        if len(np.unique(y[pick])) < 2:
            continue
        coefs.append(fit_logreg(x_std[pick], y[pick].astype(np.float64), args.l2))
    model = FeatureModel(cols, base.mean, base.scale, np.array(coefs), [cal["a"], cal["b"]])
    stats = fit_stats(base.image_inputs(f), "ridge, spectrum and finger-size features (standardised model inputs)",
                      args.quantile)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    npz = out / f"{args.name}.npz"
    model.save(npz)

    hs = shapes[std]
    domain = {
        "sensors": ["SOCOFing Real prints (Hamster Plus optical sensor, 500 dpi; released as whole-finger "
                    "images of 103×96 px, ridge period about 3–4 px)"],
        "dpi": {"nominal": 500, "min": 450, "max": 550, "unknown": "assume"},
        "size_px": {"height": [int(hs[:, 0].min()) - 3, int(hs[:, 0].max()) + 3],
                    "width": [int(hs[:, 1].min()) - 3, int(hs[:, 1].max()) + 3]},
        "stats": stats,
    }

    def brief(r: dict) -> dict:
        return {lvl: {k: {"value": r[lvl][k]["oof"], "ci95": r[lvl][k]["ci95"],
                          "fold_mean": r[lvl][k]["fold_mean"], "fold_std": r[lvl][k]["fold_std"]}
                      for k in ("balanced_accuracy", "auc")} | {"n": r[lvl]["n"], "n_female": r[lvl]["n_female"]}
                for lvl in ("per_print", "per_subject")}

    kept_args, skip = [], False
    for a in sys.argv[1:]:  # --cache / --oof say where work files go, --data where the same data lies
        if skip or a.startswith(("--cache=", "--oof=", "--data=")):
            skip = False
            continue
        if a in ("--cache", "--oof", "--data"):
            skip = True
            continue
        kept_args.append(a)
    cmd = "python " + " ".join(shlex.quote(a) for a in [f"training/{Path(__file__).name}", *kept_args])
    cv_desc = (f"{args.repeats}× repeated {args.folds}-fold cross-validation by subject (stratified by gender) "
               f"over all {len(uniq)} shared SOCOFing subjects with standard-size prints; figures from "
               "out-of-fold scores (a print's score = mean of its out-of-fold logits over the repeats); "
               "fold_mean ± fold_std over the folds; ci95 = bootstrap over subjects (whole subjects resampled)")
    card = {
        "name": args.name, "task": "gender", "version": "2", "file": npz.name, "sha256": sha256_file(npz),
        "default": True, "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "architecture": "feature_logreg",
        "input": {"kind": "features", "dpi": None, "features": describe(),
                  "preprocessing": "no resampling (SOCOFing's physical scale is its fixed image size); "
                                   "features on the print minus a 3 px border"},
        "data": {"root": "../shared/data/socofing", "layout": layout, "subjects": int(len(uniq)),
                 "prints": int(len(y)), "female_prints": int(y.sum()),
                 "excluded_other_size": int((~std).sum()),
                 "file_list_sha256": file_list_sha256([p for p, ok in zip(paths, std, strict=True) if ok])},
        "split": {"rule": cv_desc, "folds": args.folds, "repeats": args.repeats,
                  "train_subjects": sorted(uniq.tolist(), key=int), "val_subjects": []},
        "prior_female": float(y.mean()),
        "score": ("calibrated P(female) for EQUAL priors (class-balanced Platt scaling on out-of-fold scores); "
                  "multiply the odds by prior_female/(1-prior_female) for a population with that share of women"),
        "calibration": {k: cal[k] for k in ("method", "a", "b", "balanced")} | {"fitted_on": "out-of-fold scores"},
        "uncertain_band": band["uncertain_band"],
        "uncertain_band_combined": band_subject["uncertain_band"],
        "members": int(len(coefs)),
        "uncertainty": "the 10–90 % range of the members' P(female) (subject-bootstrap refits): model uncertainty "
                       "only; a single print is weak evidence, see the cross-validated figures",
        "metrics": {"cv": cv_desc,
                    "per_print": brief(results["fusion_finger_unknown"])["per_print"],
                    "per_print_finger_known": brief(results[SHIPPED])["per_print"],
                    "per_subject": brief(results[SHIPPED])["per_subject"],
                    "per_subject_finger_unknown": brief(results["fusion_finger_unknown"])["per_subject"],
                    "levels": "per_print: one print, finger unknown; per_print_finger_known: one print whose "
                              "finger is known (file field or SOCOFing name); per_subject: mean logit of a "
                              "subject's prints, fingers known",
                    "uncertain_band_choice": {"per_print": band, "per_subject": band_subject},
                    "domain_abstained_oof": {
                        "mahalanobis_only": float(np.mean(dom_rates)),
                        "with_size_rule": float(np.mean(dom_rates_size)),
                        "note": "share of held-out subjects' SOCOFing prints the domain check abstains on, "
                                "statistic refitted per fold; mean over folds"},
                    "comparison": {k: {lvl: {m: v[lvl][m]["oof"] for m in ("balanced_accuracy", "auc")}
                                       for lvl in ("per_print", "per_subject")} for k, v in results.items()}},
        "domain": domain,
        "training": {"command": cmd, "seconds": round(time.time() - t0, 1), "l2": args.l2},
    }
    (out / f"{args.name}.json").write_text(json.dumps(card, indent=2), encoding="utf-8")
    bench = {"command": cmd, "cv": cv_desc, "groups": results, "shipped": SHIPPED,
             "calibration": cal, "uncertain_band": {"per_print": band, "per_subject": band_subject},
             "domain_abstained_oof": card["metrics"]["domain_abstained_oof"],
             "domain_abstained_per_fold": dom_rates_size,
             "cnn": "not cross-validated: one CNN training took 1357 s here (20 epochs, card of v1); a 5-fold, "
                    "repeated retrain does not fit the 2 shared CPU cores. See gender_cnn_compare.json for the "
                    "v1 CNN against the fusion on the v1 validation subjects."}
    Path(args.oof).parent.mkdir(parents=True, exist_ok=True)
    std_paths = np.array([Path(p).relative_to(Path(args.data)).as_posix() for p, ok in zip(paths, std, strict=True)
                          if ok])
    np.savez(args.oof, path=std_paths, subject=s, y=y, **{f"oof_{k}": v for k, v in oof_all.items()})
    Path(args.bench).parent.mkdir(parents=True, exist_ok=True)
    Path(args.bench).write_text(json.dumps(bench, indent=2), encoding="utf-8")
    print(json.dumps(card["metrics"], indent=2)[:3000])
    print(f"wrote {npz}, {out / (args.name + '.json')}, {args.bench} in {time.time() - t0:.0f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
