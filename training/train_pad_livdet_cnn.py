"""pad-livdet CNN parts: a small patch CNN, cross-fitted inside each outer fold of the nested
leave-one-subject-out, alone and fused with the shipped grid-texture model (docs/adr/0269).

    OMP_NUM_THREADS=2 nohup nice -n 5 python training/train_pad_livdet_cnn.py \
        --data /work/shared/data/livdet2015-hiscan --dpi 1000 \
        --workdir /work/cache/h21/cnn --resume > /work/cache/h21/cnn.log 2>&1 &

Spoof Buster's (Chugh, Cao & Jain 2018) CNN part, small enough for this CPU and these 7 subjects:

- network (:func:`build_net`): 96×96 patches at 1000 dpi (the texture model's patch), a 5×5/2 conv
  (24) and three 3×3 conv + batch norm + ReLU + 2×2 max-pool blocks (32, 48, 64), global average
  pooling, dropout 0.3, one logit; about 50 000 weights, no pre-training;
- training: fixed --epochs (no early stopping, nothing chosen on data), Adam 1e-3 with cosine decay,
  batch 64, --patches-per-print random centres per print and epoch among the 16-px grid positions
  whose square is >= 60 % foreground, random rot90 / flip, grey-level shift +-10 and contrast
  x[0.9, 1.1]; bona fide and attack prints weighted to equal total weight;
- print logit = mean patch logit over ``pad_local.grid_centres`` (the texture model's grid, <= 48);
- cross-fitting inside each outer fold: the 6 training subjects cut in --parts parts
  (``datasets.subject_parts``, seed 0); one network per part, trained on the other parts; every
  training print's out-of-fold (OOF) logit comes from the network that did not see it; one Platt
  calibration on all OOF logits; the outer test subject's logit = mean of the networks' calibrated
  logits;
- approaches (every choice inside the outer fold, as train_pad_livdet_v2.py v3):
  ``grid`` = the shipped v3 recipe (its inner LOSO, from the cached texture evidence), ``cnn``,
  ``fusion_cnn`` = logistic regression (C = 1) over the calibrated grid and cnn logits, its own
  OOF scores by a leave-one-subject-out over the training subjects' OOF logits, Platt-calibrated;
  each approach's threshold (subject rule: BPCER <= 1 % pooled and <= 2 % within every subject) and
  transaction band from its inner OOF scores.

Every network's record (OOF and test logits, loss per epoch, seconds) and weights go to --workdir;
--resume skips networks already recorded. Results: --results (default
bench/results/pad_livdet_loso_cnn.json).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "training"))

import train_pad_livdet_v2 as v2  # noqa: E402

SIDE = 96            #: patch side at 1000 dpi (= pad_local.PATCH)
STEP = 16            #: grid of candidate training centres
MIN_COVER = 0.6
APPROACHES = ("grid", "cnn", "fusion_cnn")


# ------------------------------------------------------------------------------ prints
def prepare(items: list[dict], dpi: float, log) -> list[dict]:
    """Per print: the foreground crop at 1000 dpi (uint8), its training centres and its test centres
    (both (N, 2) y, x in the crop)."""
    import cv2

    from fpstation.ml.classifiers.pad_local import PATCH, _coverage, foreground_crop, grid_centres

    assert SIDE == PATCH
    out = []
    t0 = time.perf_counter()
    for i, it in enumerate(items):
        px = cv2.imread(str(it["path"]), cv2.IMREAD_GRAYSCALE)
        if px is None:
            raise SystemExit(f"cannot read {it['path']}")
        cm = foreground_crop(px, dpi)
        crop = cm.img
        h, w = crop.shape
        gy = np.arange(SIDE // 2, max(h - SIDE // 2, SIDE // 2 + 1), STEP)
        gx = np.arange(SIDE // 2, max(w - SIDE // 2, SIDE // 2 + 1), STEP)
        c = np.array([(a, b) for a in gy for b in gx], np.int64).reshape(-1, 2)
        cov = _coverage(cm, c)
        train_c = c[cov >= MIN_COVER] if (cov >= MIN_COVER).sum() >= 4 else c[np.argsort(-cov)[:4]]
        out.append({"crop": crop, "train_centres": train_c, "test_centres": grid_centres(cm)})
        if (i + 1) % 100 == 0:
            log(f"  prepared {i + 1}/{len(items)} ({time.perf_counter() - t0:.0f} s)")
    return out


def patches_at(crop: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """(N, SIDE, SIDE) squares centred on ``centres``, padded with white where they leave the crop."""
    pad = np.pad(crop, SIDE // 2, constant_values=255)   # (y, x) in the crop = top-left corner in ``pad``
    return np.stack([pad[y:y + SIDE, x:x + SIDE] for y, x in np.asarray(centres, np.int64)]) \
        if len(centres) else np.zeros((0, SIDE, SIDE), np.uint8)


def augment(p: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Random rot90 / flip, grey-level shift +-10 and contrast x[0.9, 1.1] of each patch."""
    out = np.empty_like(p)
    for i in range(len(p)):
        q = np.rot90(p[i], int(rng.integers(4)))
        if rng.random() < 0.5:
            q = q[:, ::-1]
        q = q.astype(np.float32)
        mu = q.mean()
        q = (q - mu) * rng.uniform(0.9, 1.1) + mu + rng.uniform(-10, 10)
        out[i] = np.clip(q, 0, 255).astype(np.uint8)
    return out


# ------------------------------------------------------------------------------ network
def build_net():
    import keras
    from keras import layers

    inp = keras.Input((SIDE, SIDE, 1), name="patch")
    x = layers.Rescaling(1 / 127.5, -1)(inp)
    x = layers.Conv2D(24, 5, strides=2, padding="same", use_bias=False)(x)
    x = layers.ReLU()(layers.BatchNormalization()(x))
    for f in (32, 48, 64):
        x = layers.Conv2D(f, 3, padding="same", use_bias=False)(x)
        x = layers.ReLU()(layers.BatchNormalization()(x))
        x = layers.MaxPooling2D()(x)
    x = layers.Dropout(0.3)(layers.GlobalAveragePooling2D()(x))
    return keras.Model(inp, layers.Dense(1, name="logit")(x), name="pad_livdet_patch_cnn")


def train_net(prep: list[dict], y: np.ndarray, idx: np.ndarray, epochs: int, per_print: int, seed: int,
              log, cancel=None):
    """A network trained on the prints ``idx``; returns (model, loss per epoch)."""
    import keras

    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    model = build_net()
    opt = keras.optimizers.Adam(1e-3)
    model.compile(opt, keras.losses.BinaryCrossentropy(from_logits=True))
    yi = y[idx]
    wcls = {v: 0.5 * len(yi) / max(int((yi == v).sum()), 1) for v in (0, 1)}
    losses = []
    for ep in range(epochs):
        opt.learning_rate.assign(1e-3 * 0.5 * (1 + np.cos(np.pi * ep / epochs)))
        xs, ys, ws = [], [], []
        for i in idx:
            tc = prep[i]["train_centres"]
            c = tc[rng.choice(len(tc), per_print, replace=len(tc) < per_print)]
            xs.append(augment(patches_at(prep[i]["crop"], c), rng))
            ys.append(np.full(len(c), y[i], np.float32))
            ws.append(np.full(len(c), wcls[int(y[i])], np.float32))
        x = np.concatenate(xs)[..., None]
        h = model.fit(x, np.concatenate(ys), sample_weight=np.concatenate(ws), batch_size=64, epochs=1,
                      shuffle=True, verbose=0)
        losses.append(float(h.history["loss"][-1]))
        if cancel is not None and cancel():
            raise KeyboardInterrupt
    log(f"      loss {losses[0]:.3f} -> {losses[-1]:.3f}")
    return model, losses


def print_logits(model, prep: list[dict], idx) -> np.ndarray:
    """Mean patch logit of each print in ``idx`` over its test centres."""
    ps = [patches_at(prep[i]["crop"], prep[i]["test_centres"]) for i in idx]
    z = np.asarray(model.predict(np.concatenate(ps)[..., None], batch_size=256, verbose=0)).ravel()
    ends = np.cumsum([len(q) for q in ps])
    return np.array([float(v.mean()) for v in np.split(z, ends[:-1])])


# ------------------------------------------------------------------------------ protocol
def fold_networks(args, items, prep, y, subj, test_subject: str, log) -> list[dict]:
    """The cross-fitted networks of one outer fold: records with their OOF and test logits (trained
    now, or read from --workdir with --resume)."""
    from fpstation.ml.datasets import subject_parts

    tr = np.nonzero(subj != test_subject)[0]
    te = np.nonzero(subj == test_subject)[0]
    parts = subject_parts(subj[tr], args.parts, seed=0)
    names = lambda ix: sorted({str(s) for s in subj[ix]}, key=lambda v: (len(v), v))  # noqa: E731
    recs = []
    for k in range(args.parts):
        d = Path(args.workdir) / f"fold-{test_subject}" / f"net-{k}"
        rec_f = d / "record.json"
        if args.resume and rec_f.is_file():
            recs.append(json.loads(rec_f.read_text(encoding="utf-8")))
            log(f"    net {k}: recorded ({rec_f})")
            continue
        held = np.array([parts[s] == k for s in subj[tr]])
        fit_idx, oof_idx = tr[~held], tr[held]
        t0 = time.perf_counter()
        log(f"    net {k}: train on {names(fit_idx)} ({len(fit_idx)} prints), held out {names(oof_idx)}")
        model, losses = train_net(prep, y, fit_idx, args.epochs, args.patches_per_print,
                                  seed=1000 * int(test_subject) + k, log=log)
        rec = {"test_subject": test_subject, "part": k,
               "train_subjects": names(fit_idx), "held_out_subjects": names(oof_idx),
               "oof": {str(items[i]["path"]): v for i, v in zip(oof_idx, print_logits(model, prep, oof_idx), strict=True)},
               "test": {str(items[i]["path"]): v for i, v in zip(te, print_logits(model, prep, te), strict=True)},
               "loss": losses, "epochs": args.epochs, "patches_per_print": args.patches_per_print,
               "seconds": round(time.perf_counter() - t0, 1)}
        d.mkdir(parents=True, exist_ok=True)
        model.save_weights(d / "net.weights.h5")
        tmp = rec_f.with_suffix(".tmp")
        tmp.write_text(json.dumps(rec, indent=1), encoding="utf-8")
        tmp.replace(rec_f)
        log(f"    net {k}: {rec['seconds']:.0f} s")
        recs.append(rec)
    return recs


def cnn_logits(items, recs, tr, te, y) -> tuple[np.ndarray, np.ndarray, dict]:
    """(calibrated OOF logits of ``tr``, calibrated test logits of ``te``, calibration): one Platt
    fit on all OOF logits; a test print's logit = mean of the networks' calibrated logits."""
    from fpstation.ml.classifiers import metrics as cm

    oof = {}
    for r in recs:
        oof.update(r["oof"])
    raw_in = np.array([oof[str(items[i]["path"])] for i in tr])
    cal = cm.platt_fit(raw_in, y[tr])
    zte = np.mean([cm.apply_calibration(np.array([r["test"][str(items[i]["path"])] for i in te]), cal)
                   for r in recs], axis=0)
    return cm.apply_calibration(raw_in, cal), zte, cal


def stack(zin: np.ndarray, zte: np.ndarray, y_in: np.ndarray, g_in: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict]:
    """``fusion_cnn``: train_pad_livdet_v2's score fusion of the calibrated logits, and its weights."""
    so, st_te, stacker, cal = v2.stack(zin, zte, y_in, g_in)
    return so, st_te, {"weights": stacker.w.tolist(), "calibration": {"a": cal["a"], "b": cal["b"]}}


def main() -> None:  # noqa: C901 - one protocol, read top to bottom
    from fpstation.paths import shared_data_dir

    sd = shared_data_dir()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str(sd / "livdet2015-hiscan") if sd else None)
    p.add_argument("--dpi", type=float, default=1000)
    p.add_argument("--cache", default="/work/cache/h21/evidence", help="texture evidence cache (train_pad_livdet_v2)")
    p.add_argument("--workdir", default="/work/cache/h21/cnn")
    p.add_argument("--resume", action="store_true")
    p.add_argument("--epochs", type=int, default=24)
    p.add_argument("--patches-per-print", type=int, default=16)
    p.add_argument("--parts", type=int, default=3)
    p.add_argument("--cs", default="0.01,0.1,1", help="C values of the texture models (as v3)")
    p.add_argument("--folds", type=int, default=0, help="development: first N outer folds only")
    p.add_argument("--limit", type=int, default=0, help="development: first N prints of each class of each subject")
    p.add_argument("--results", default=str(REPO / "bench" / "results" / "pad_livdet_loso_cnn.json"))
    args = p.parse_args()
    if not args.data or not Path(args.data).is_dir():
        raise SystemExit(f"dataset folder not found: {args.data}")
    v2.THRESHOLD.update(rule="subject", max_subject_bpcer=0.02)
    v2.AGGREGATE.update(mode="mean")
    v2.PARTS, v2.APPROACHES = ("grid",), ("grid",)   # of the texture recipe, only its grid part is used here
    log = lambda *a: print(*a, flush=True)  # noqa: E731
    t_start = time.perf_counter()
    from fpstation.ml.classifiers import metrics as cm
    from fpstation.ml.classifiers.pad_local import FUSIONS
    from fpstation.ml.datasets import scan_livdet

    items, _ = scan_livdet(args.data)
    items.sort(key=lambda it: it["path"])
    if args.limit:
        seen: dict[tuple, int] = {}
        kept = []
        for it in items:
            key = (str(it["subject"]), it["label"])
            seen[key] = seen.get(key, 0) + 1
            if seen[key] <= args.limit:
                kept.append(it)
        items = kept
    y = np.array([0 if it["label"] == "live" else 1 for it in items])
    subj = np.array([str(it["subject"]) for it in items])
    types = [it.get("attack_type") if it["label"] != "live" else None for it in items]
    subjects = sorted({str(s) for s in subj}, key=lambda s: (len(s), s))
    if len(subjects) < args.parts + 1:
        raise SystemExit(f"{len(subjects)} subjects: cross-fitting {args.parts} parts inside leave-one-subject-out "
                         f"needs at least {args.parts + 1}")
    log(f"{len(items)} prints, subjects {subjects}")
    ev = v2.evidence_for(items, args.dpi, Path(args.cache), log)
    prep = prepare(items, args.dpi, log)
    cs = [float(c) for c in args.cs.split(",")]
    n = len(items)
    pool = v2.OuterPool(APPROACHES, n)
    folds = []
    for fk, t in enumerate(subjects[: args.folds or None]):
        te = np.nonzero(subj == t)[0]
        tr = np.nonzero(subj != t)[0]
        log(f"outer fold {fk + 1}/{len(subjects)}: test subject {t} ({time.perf_counter() - t_start:.0f} s)")
        recs = fold_networks(args, items, prep, y, subj, t, log)
        res = v2.fit_stage(items, ev, y, subj, tr, te, cs, list(FUSIONS), lambda *a: None, tag=f"[{t}]")
        zc_in, zc_te, ccal = cnn_logits(items, recs, tr, te, y)
        zf_in, zf_te, fchoice = stack(np.column_stack([res["grid"]["zin"], zc_in]),
                                      np.column_stack([res["grid"]["zte"], zc_te]), y[tr], subj[tr])
        z = {"grid": (res["grid"]["zin"], res["grid"]["zte"]), "cnn": (zc_in, zc_te), "fusion_cnn": (zf_in, zf_te)}
        seqs_in = [[int(np.searchsorted(tr, i)) for i in q] for q in v2.sequences(items, tr)]
        seqs_te = v2.sequences(items, te)
        fold = {"test_subject": t, "networks": [{k: r[k] for k in ("part", "train_subjects", "held_out_subjects",
                                                                   "seconds", "loss")} for r in recs],
                "cnn_calibration": {"a": ccal["a"], "b": ccal["b"]}, "fusion": fchoice,
                "grid_choice": {k: res["grid"]["choice"][k] for k in ("C", "patch_fusion", "features")},
                "approaches": {}}
        for a, (zin, zte) in z.items():
            s_in, s_te = cm.sigmoid(zin), cm.sigmoid(zte)
            th = v2.threshold(s_in, y[tr], subj[tr])
            rule = v2.choose_rule(s_in, y[tr], seqs_in, th, groups=subj[tr])
            fold["approaches"][a] = {**pool.add(a, y, te, s_te, th, rule, seqs_te),
                                     "inner_criterion": v2.criterion(s_in, y[tr], subj[tr])}
            fa = fold["approaches"][a]
            log(f"  [{t}] {a:10s} thr {th:.3f} attempt apcer {fa['apcer_attempt']['errors']}/{fa['apcer_attempt']['n']} "
                f"bpcer {fa['bpcer_attempt']['errors']}/{fa['bpcer_attempt']['n']} | tx apcer "
                f"{fa['apcer_transaction']['errors']}/{fa['apcer_transaction']['n']} bpcer "
                f"{fa['bpcer_transaction']['errors']}/{fa['bpcer_transaction']['n']}")
        folds.append(fold)
    done = np.nonzero(~np.isnan(pool.score["cnn"]))[0]
    approaches = {a: pool.report(items, y, types, done, a) for a in APPROACHES}
    for a, r in approaches.items():
        pa, pt = r["per_attempt"], r["per_transaction"]
        log(f"POOLED {a:10s} attempt apcer {pa['apcer_all_attacks']['errors']}/{pa['apcer_all_attacks']['n']} "
            f"bpcer {pa['bpcer']['errors']}/{pa['bpcer']['n']} auc {pa['auc_pooled']:.4f} | tx apcer "
            f"{pt['apcer']['errors']}/{pt['apcer']['n']} bpcer {pt['bpcer']['errors']}/{pt['bpcer']['n']} "
            f"attempts(live) {pt['mean_attempts_live']:.2f}")
    primary = approaches["fusion_cnn"]["per_transaction"]
    adopt = bool(len(folds) == len(subjects) and primary["bpcer"]["errors"] <= 3
                 and primary["apcer"]["value"] <= 0.02 and primary["mean_attempts_live"] <= 1.3)
    results = {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "python " + " ".join(shlex.quote(a) for a in sys.argv),
        "adr": "docs/adr/0269-pad-livdet-patch-cnn.md",
        "protocol": ("nested leave-one-subject-out (7 outer folds); inside each, the CNN is cross-fitted over "
                     f"{args.parts} parts of the 6 training subjects (OOF logit of every training print from the "
                     "network that did not see it, one Platt fit, test = mean calibrated logit of the networks); "
                     "grid = v3's inner LOSO recipe; fusion_cnn = logistic stack of the two, OOF by inner LOSO; "
                     "threshold and transaction band of each approach from its inner OOF scores (" +
                     v2.threshold_rule_text() + "); figures pooled over the outer test prints; ci95 = Clopper-Pearson"),
        "network": {"input_px": SIDE, "dpi": 1000, "epochs": args.epochs, "patches_per_print": args.patches_per_print,
                    "parameters": int(build_net().count_params()), "print_logit": "mean patch logit over pad_local.grid_centres"},
        "data": {"root": str(Path(args.data).resolve()), "prints": n, "bona_fide": int((y == 0).sum()),
                 "attacks": int((y == 1).sum()), "subjects": subjects},
        "approaches": approaches, "folds": folds,
        "out_of_fold": v2.out_of_fold(items, args.data, subj, y, {"score": pool.score, "threshold": pool.thr,
                                                                    "lo": pool.lo, "hi": pool.hi}),
        "adoption_rule": ("pre-registered (ADR 0269): fusion_cnn replaces v3 if, pooled over all 7 outer folds, "
                          "per-transaction BPCER <= 3/350, per-transaction APCER <= 2 % and mean live attempts <= 1.3"),
        "adopt_fusion_cnn": adopt,
        "targets": {a: v2.target_check(approaches[a]) for a in APPROACHES},
        "network_seconds": [r["seconds"] for f in folds for r in f["networks"]],
        "load_average": os.getloadavg(),
    }
    results["total_seconds"] = round(time.perf_counter() - t_start, 1)
    out = Path(args.results)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1, default=float), encoding="utf-8")
    log(f"wrote {out} ({results['total_seconds']:.0f} s); adopt fusion_cnn: {adopt}")


if __name__ == "__main__":
    main()
