"""pad-socofing's recipe under subject-grouped cross-validation: every figure from subjects the fold never saw.

    nohup nice -n 5 python training/train_pad_cv.py --work /work/padcv --epochs 14 --convs-per-block 2 \
        --max-minutes 100 --resume > /work/padcv/cv.log 2>&1 &

The shipped ``pad-socofing`` card takes its threshold, calibration and rates from one validation
split (20 % of the subjects). This script runs the same recipe (``training/train_pad.py``: the
same task, CNN, augmentation, cosine schedule and operating-point rule) inside each fold of a
``--folds``-fold split by subject:

- outer fold k: its subjects are the test subjects; nothing below sees them;
- inner split of the other subjects (``fpstation.ml.datasets.subject_split``, 20 %): the fit
  keeps the best epoch by inner validation AUC, and the inner validation prints give the Platt
  calibration and the threshold (lowest with BPCER <= ``--max-bpcer``), exactly as the shipped model's
  validation split does;
- the outer test prints are then scored at that threshold.

It records, per test print, the logit, the calibrated score and the verdict, both for the print as
given and for the mean logit of the print and its left-right mirror (its own calibration and
threshold, also from the inner split; ``chosen`` = the one with the lower inner APCER_max), and the
inner validation prints' logits (``inner``, by column).
``--inner-folds K --inner-fold j`` makes the inner validation subjects part j of a K-part
partition instead of a random 20 %: K such runs (j = 0..K-1, each with its own ``--record``) are a
cross-fitted design, combined by ``bench/pad_socofing_crossfit_cv.py``.
Pooled over the folds: BPCER, APCER per alteration and per level (Easy / Medium / Hard) with 95 %
Clopper-Pearson intervals -> ``--results`` (default bench/results/pad_socofing_cv.json).

Compute: one fold is one full training (about 14 epochs). Each epoch ends with a resumable save
under ``--work`` (``fold<k>.last.keras`` with the optimiser, ``fold<k>.state.json``); a finished
fold writes its test scores to ``--record``/``fold<k>.json`` (small, committed, so finished folds
survive a lost machine); ``--resume`` continues where the last run stopped, ``--max-minutes`` stops cleanly
(SIGTERM too), so the folds can span sessions on this 2-core machine or run on a lent device.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

sys.path.insert(0, str(REPO / "training"))

from classifier_common import compile_classifier, parse_weights  # noqa: E402

from fpstation.core.stats import rate  # noqa: E402
from fpstation.ml.datasets import subject_parts  # noqa: E402

LEVELS = ("Altered-Easy", "Altered-Medium", "Altered-Hard")


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


#: subject -> outer fold (a seeded permutation cut in ``k`` near-equal parts)
outer_folds = subject_parts


def fold_parts(items: list[dict], fold_of: dict[str, int], k: int, val_fraction: float, seed: int,
               inner: tuple[int, int] | None = None) -> tuple[list[dict], list[dict], set[str], set[str]]:
    """Outer fold ``k``: (test items, the other items, their inner training subjects, their inner
    validation subjects). ``inner=(K, j)``: the inner validation subjects are part ``j`` of a
    seeded ``K``-part partition of the other subjects (cross-fitting: K runs with j = 0..K-1
    score every training subject once, each by a network that did not see it)."""
    from fpstation.ml.datasets import subject_split

    test = [it for it in items if fold_of[str(it["subject"])] == k]
    rest = [it for it in items if fold_of[str(it["subject"])] != k]
    subj = sorted({str(it["subject"]) for it in rest})
    if inner:
        n_parts, j = inner
        part = outer_folds(subj, n_parts, seed + 1000 * (k + 1))
        va_s = {s for s in subj if part[s] == j}
        return test, rest, set(subj) - va_s, va_s
    tr_s, va_s = subject_split(subj, val_fraction, seed)
    if not va_s or not tr_s:  # few subjects: the salted-hash split can leave a side empty
        perm = [subj[int(i)] for i in np.random.default_rng(seed).permutation(len(subj))]
        n_val = min(len(subj) - 1, max(1, round(val_fraction * len(subj))))
        va_s, tr_s = set(perm[:n_val]), set(perm[n_val:])
    return test, rest, set(tr_s), set(va_s)


def tf_threads(n: int) -> None:
    """TensorFlow on ``n`` intra-op threads, one inter-op (a no-op on another Keras backend)."""
    import keras

    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        try:
            tf.config.threading.set_intra_op_parallelism_threads(n)
            tf.config.threading.set_inter_op_parallelism_threads(1)
        except RuntimeError:  # TensorFlow already started in this process (e.g. the test suite)
            pass


def operating_point(z: np.ndarray, y: np.ndarray, types: list, max_bpcer: float) -> dict:
    """Platt calibration and threshold from inner validation logits (the shipped rule)."""
    from fpstation.ml.classifiers import metrics as cm
    from fpstation.ml.classifiers.tasks import _calibrate

    cal = _calibrate(z, y, balanced=False)
    s = cm.sigmoid(cm.apply_calibration(z, cal))
    thr = float(cm.threshold_for_bpcer(s, y, max_bpcer))
    r = cm.pad_rates(s, y, types, thr)
    return {"calibration": cal, "threshold": thr, "inner_apcer_max": float(r["apcer_max"]),
            "inner_bpcer": float(r["bpcer"])}


def run_fold(k: int, task, hyper, items: list[dict], fold_of: dict[str, int], args, work: Path,
             deadline: float, token) -> dict | None:
    """Train, calibrate and test outer fold ``k``; None when stopped before the fit finished."""
    import keras

    from fpstation.ml.classifiers import metrics as cm
    from fpstation.ml.tasks import DatasetScan
    from fpstation.ml.training import fit_keras

    test, rest, tr_s, va_s = fold_parts(items, fold_of, k, args.val_fraction, args.seed, inner_of(args))
    subj = sorted({str(it["subject"]) for it in rest})
    scan = DatasetScan(root=Path(args.data), layout="socofing", items=rest, counts={}, subjects=len(subj),
                       train_subjects=set(tr_s), val_subjects=set(va_s))
    ds = task.datasets(scan, hyper)
    last, state_f, best_f = work / f"fold{k}.last.keras", work / f"fold{k}.state.json", work / f"fold{k}.best.keras"
    state = json.loads(state_f.read_text()) if (args.resume and state_f.is_file() and last.is_file()) else None
    if state:
        from fpstation.ml.architectures import custom_objects

        model = keras.models.load_model(last, custom_objects=custom_objects())
        log(f"fold {k}: resumed after epoch {state['epochs_done']} (best {state['best']})")
    else:
        model = task.build_model(hyper)
        compile_classifier(model, args.lr, int(math.ceil(len(scan.train_items) / hyper.batch_size)) * args.epochs,
                           map_weight=args.alter_map or 1.0)
        state = {"epochs_done": 0, "best": None, "seconds": 0.0}
    better = (lambda a, b: a > b) if task.monitor_mode == "max" else (lambda a, b: a < b)
    monitor = ds.get("monitor", task.monitor)
    t_fold = time.perf_counter()

    class Save(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            v = (logs or {}).get(monitor)
            if v is not None and (state["best"] is None or better(v, state["best"])):
                state["best"] = float(v)
            state["epochs_done"] = epoch + 1
            state["seconds"] = state.get("seconds", 0.0) + (time.perf_counter() - self.t)
            self.t = time.perf_counter()
            self.model.save(last)
            state_f.write_text(json.dumps(state, indent=1))
            log(f"fold {k}: epoch {epoch + 1}/{args.epochs} {monitor}={v} loss={(logs or {}).get('loss')}")
            if time.time() > deadline:
                token.cancel()

        def on_epoch_begin(self, epoch, logs=None):
            self.t = time.perf_counter()

    if state["epochs_done"] < args.epochs:
        res = fit_keras(model, ds["train"], ds["val"], epochs=args.epochs, checkpoint=best_f,
                        monitor=monitor, mode=task.monitor_mode, class_weight=ds["class_weight"],
                        cancel=token, initial_epoch=state["epochs_done"], best=state["best"] if best_f.is_file() else None,
                        callbacks=[Save()])
        if res.stopped and state["epochs_done"] < args.epochs:
            log(f"fold {k}: stopped after epoch {state['epochs_done']}; --resume continues it")
            return None
    best = keras.models.load_model(best_f, compile=False)
    # inner validation: the operating point of each view (the print as given, the print + mirror
    # mean, and with an alteration map its highest cell); "chosen" = the lowest inner APCER_max
    xv, yv, vitems = task.arrays(scan.val_items, hyper)
    vtypes = [it["attack_type"] if it["y"] else None for it in vitems]
    zv = view_logits(task, best, xv)
    ops = {v: operating_point(z, yv, vtypes, args.max_bpcer) for v, z in zv.items()}
    view = min(zv, key=lambda v: (ops[v]["inner_apcer_max"], list(zv).index(v)))
    ops["chosen"] = dict(ops[view], view=view)
    xt, yt, titems = task.arrays(test, hyper)
    zt = view_logits(task, best, xt)
    verdicts = {v: cm.sigmoid(cm.apply_calibration(zt[op.get("view", v)], op["calibration"])) >= op["threshold"]
                for v, op in ops.items()}
    names = {"plain": "z", "mirror": "z_mirror", "map": "z_map"}
    rows = [{"path": os.path.relpath(it["path"], args.data), "subject": str(it["subject"]), "y": int(yt[i]),
             "attack_type": it["attack_type"], "level": it.get("level", ""),
             **{names[v]: float(z[i]) for v, z in zt.items()},
             **{f"attack_{v}": bool(a[i]) for v, a in verdicts.items()}} for i, it in enumerate(titems)]
    # the inner validation prints' logits, by column (compact: they set thresholds in cross-fitting)
    inner_rows = {"subject": [str(it["subject"]) for it in vitems], "y": [int(v) for v in yv],
                  "attack_type": [it["attack_type"] for it in vitems],
                  **{names[v]: [round(float(x), 4) for x in z] for v, z in zv.items()}}
    out = {"fold": k, "epochs": state["epochs_done"], "best_inner_auc": state["best"],
           "fit_seconds": round(state.get("seconds", 0.0), 1), "fold_seconds_this_run": round(time.perf_counter() - t_fold, 1),
           "subjects": {"train": len(tr_s), "inner_val": len(va_s), "test": len({r["subject"] for r in rows})},
           "operating_points": ops, "test": rows, "inner": inner_rows}
    out["recipe"] = recipe_of(args)
    record = Path(args.record)
    record.mkdir(parents=True, exist_ok=True)
    (record / f"fold{k}.json").write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    for f in (last, state_f):
        f.unlink(missing_ok=True)
    return out


def view_logits(task, model, x: np.ndarray) -> dict[str, np.ndarray]:
    """Per print: ``plain`` logit, ``mirror`` (mean with the left-right mirror's) and, for a model
    with an ``alter_map`` output, ``map`` (its highest cell logit: the most altered-looking place)."""
    from fpstation.ml.architectures import has_alter_map

    z = task.logits(model, x)
    out = {"plain": z, "mirror": task.mirror_logits(model, x, z)}
    if has_alter_map(model):
        cells = [np.asarray(model(x[i:i + 256], training=False)["alter_map"]) for i in range(0, len(x), 256)]
        out["map"] = np.concatenate(cells).max(axis=1) if cells else np.zeros(0)
    return out


def inner_of(args: argparse.Namespace) -> tuple[int, int] | None:
    """``--inner-folds K --inner-fold j`` as (K, j), or None for the usual inner split."""
    k = getattr(args, "inner_folds", 0) or 0
    if not k:
        return None
    j = getattr(args, "inner_fold", 0)
    if k < 2 or not 0 <= j < k:
        raise SystemExit(f"--inner-fold must be 0..{k - 1} with --inner-folds {k} (K >= 2)")
    return k, j


def recipe_of(args: argparse.Namespace) -> dict:
    return {"epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr, "width": args.width,
            "convs_per_block": args.convs_per_block, "augment": True, "max_bpcer": args.max_bpcer,
            "val_fraction": args.val_fraction, "seed": args.seed, "folds": args.folds, "limit": args.limit,
            **({"synth_alter": args.synth_alter} if args.synth_alter else {}),
            **({"alter_map": args.alter_map} if args.alter_map else {}),
            **({"attack_weights": parse_weights(args.attack_weight)} if getattr(args, "attack_weight", None) else {}),
            **({"model_seed": args.model_seed} if getattr(args, "model_seed", None) not in (None, args.seed) else {}),
            **({"inner_folds": list(inner_of(args))} if inner_of(args) else {})}


def pooled(folds: list[dict]) -> dict:
    rows = [r for f in folds for r in f["test"]]
    types = sorted({r["attack_type"] for r in rows if r["y"]})
    out = {}
    bf = [r for r in rows if not r["y"]]
    for v in [v for v in ("plain", "mirror", "map", "chosen") if f"attack_{v}" in rows[0]]:
        d = {"bpcer": rate(sum(r[f"attack_{v}"] for r in bf), len(bf)), "apcer": {}, "apcer_by_level": {}}
        for t in types:
            at = [r for r in rows if r["y"] and r["attack_type"] == t]
            d["apcer"][t] = rate(sum(not r[f"attack_{v}"] for r in at), len(at))
            for lv in LEVELS:
                al = [r for r in at if r["level"] == lv]
                if al:
                    d["apcer_by_level"][f"{t} / {lv.split('-')[1]}"] = rate(sum(not r[f"attack_{v}"] for r in al), len(al))
        d["apcer_max"] = max(x["value"] for x in d["apcer"].values()) if d["apcer"] else None
        out[v] = d
    out["mirror_chosen_in_folds"] = sum(f["operating_points"]["chosen"].get("view") == "mirror" for f in folds)
    return out


def main(argv: list[str] | None = None) -> int:
    sd = REPO.parent / "shared" / "data"
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(sd / "socofing"))
    ap.add_argument("--work", default="/work/padcv")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--only", type=int, nargs="*", default=None, help="run only these outer folds")
    ap.add_argument("--epochs", type=int, default=14)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--width", type=int, default=16)
    ap.add_argument("--convs-per-block", type=int, default=2)
    ap.add_argument("--synth-alter", type=float, default=0.0,
                    help="add this many synthetic flap alterations per training bona fide print (0 = the shipped recipe)")
    ap.add_argument("--alter-map", type=float, default=0.0,
                    help="also train an alteration map (where each training print is altered), its loss weighted "
                         "this much (0 = the shipped recipe)")
    ap.add_argument("--attack-weight", nargs="*", default=[], metavar="TYPE[/LEVEL]=W",
                    help="within the attacks, weight these this much in the loss, e.g. z-cut/Easy=3 "
                         "(the attack class keeps its total weight; none = the shipped recipe)")
    ap.add_argument("--val-fraction", type=float, default=0.2)
    ap.add_argument("--inner-folds", type=int, default=0, metavar="K",
                    help="cross-fitting: the inner validation subjects are part --inner-fold of a K-part partition "
                         "of each fold's training subjects (instead of --val-fraction); run j = 0..K-1, each to its "
                         "own --record, and combine them with bench/pad_socofing_crossfit_cv.py")
    ap.add_argument("--inner-fold", type=int, default=0, metavar="J")
    ap.add_argument("--seed", type=int, default=0, help="the outer folds and inner split (keep it to compare recipes)")
    ap.add_argument("--model-seed", type=int, default=None,
                    help="the network's initialisation, shuffling and augmentation (default: --seed); another value "
                         "trains another member on the same folds and splits (bench/pad_socofing_cv_ensemble.py)")
    ap.add_argument("--max-bpcer", type=float, default=0.01)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--max-minutes", type=float, default=0)
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--limit", type=int, default=0, help="development: this many subjects only")
    ap.add_argument("--results", default=str(REPO / "bench" / "results" / "pad_socofing_cv.json"))
    ap.add_argument("--record", default=str(REPO / "training" / "checkpoints" / "pad-socofing-cv"),
                    help="where each finished fold's test scores go (small JSON, committed: it survives the machine)")
    args = ap.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    tf_threads(args.threads)
    model_seed = args.seed if args.model_seed is None else args.model_seed
    keras.utils.set_random_seed(model_seed)
    from fpstation.core.jobs import CancelToken
    from fpstation.ml.tasks import get_task

    task = get_task("pad")
    hyper = task.default_hyper()
    hyper.epochs, hyper.batch_size, hyper.learning_rate = args.epochs, args.batch_size, args.lr
    # the folds and inner split come from args.seed (fold_parts); hyper.seed only shuffles and augments here
    hyper.seed, hyper.val_fraction, hyper.augment = model_seed, args.val_fraction, True
    hyper.extra.update(width=args.width, convs_per_block=args.convs_per_block, max_bpcer=args.max_bpcer,
                       synth_alter=args.synth_alter, alter_map=args.alter_map,
                       attack_weights=parse_weights(args.attack_weight) or None, cache_dir=str(Path(args.work) / "cache"))
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    _, items, _ = task._items(Path(args.data), hyper)
    subjects = sorted({str(it["subject"]) for it in items}, key=lambda s: (len(s), s))
    if args.limit:
        keep = set(subjects[:: max(1, len(subjects) // args.limit)][: args.limit])
        items = [it for it in items if str(it["subject"]) in keep]
        subjects = sorted(keep)
    fold_of = outer_folds(subjects, args.folds, args.seed)
    token = CancelToken()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: token.cancel())
    deadline = time.time() + args.max_minutes * 60 if args.max_minutes > 0 else float("inf")
    log(f"{len(items)} prints, {len(subjects)} subjects, {args.folds} outer folds")
    done = []
    for k in range(args.folds) if args.only is None else args.only:
        f = Path(args.record) / f"fold{k}.json"
        if f.is_file() and args.resume:
            d = json.loads(f.read_text())
            if d.get("recipe") != recipe_of(args):
                raise SystemExit(f"{f} was made with another recipe ({d.get('recipe')}): use another --record")
            done.append(d)
            continue
        if token.cancelled or time.time() > deadline:
            break
        out = run_fold(k, task, hyper, items, fold_of, args, work, deadline, token)
        if out is None:
            break
        done.append(out)
        log(f"fold {k} done: {out['epochs']} epochs, inner AUC {out['best_inner_auc']:.4f}")
    if args.only is not None:  # the results pool every finished fold of this recipe, not just --only's
        for k in sorted(set(range(args.folds)) - set(args.only)):
            f = Path(args.record) / f"fold{k}.json"
            if f.is_file():
                d = json.loads(f.read_text())
                if d.get("recipe") == recipe_of(args):
                    done.append(d)
    finished = sorted(d["fold"] for d in done)
    result = {"command": "python training/train_pad_cv.py " + " ".join(argv if argv is not None else sys.argv[1:]),
              "recipe": recipe_of(args),
              "folds": args.folds, "folds_finished": finished, "complete": len(finished) == args.folds,
              "subjects": len(subjects), "prints": len(items),
              "per_fold": [{k: v for k, v in d.items() if k != "test"} for d in done]}
    if done:
        result["pooled"] = pooled(done)
    Path(args.results).parent.mkdir(parents=True, exist_ok=True)
    Path(args.results).write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    log(f"folds finished: {finished} of {args.folds}; wrote {args.results}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
