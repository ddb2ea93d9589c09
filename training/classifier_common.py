"""Shared driver of train_pad.py and train_gender.py: scan, fit, calibrate, export weights + card.

Run from the repository root. Writes ``models/<name>.keras`` + ``models/<name>.json`` (or
``--out DIR``); work files (best checkpoint, log, image cache) go to ``--workdir`` (outside the repo).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import signal
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def common_args(p: argparse.ArgumentParser, name: str) -> None:
    from fpstation.paths import shared_data_dir

    sd = shared_data_dir()
    p.add_argument("--data", default=str(sd / "socofing") if sd else None, help="dataset folder")
    p.add_argument("--out", default=str(REPO / "models"), help="folder for <name>.keras + <name>.json")
    p.add_argument("--name", default=name)
    p.add_argument("--version", default=None,
                   help="version written into the card (a new recipe of a shipped name: bump it; default 1, or the "
                        "card's own with --evaluate-only)")
    p.add_argument("--workdir", default=str(REPO.parent / "runs" / name), help="checkpoints/log/cache")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--width", type=int, default=16)
    p.add_argument("--convs-per-block", type=int, default=1)
    p.add_argument("--architecture", default="")
    p.add_argument("--seed", type=int, default=0, help="the validation split, and member 0's initialisation")
    p.add_argument("--members", type=int, default=1,
                   help="train this many networks on the same split (model seeds --seed, --seed+1, ...) and ship "
                        "their mean logit as one model (an ensemble; N times the training time)")
    p.add_argument("--val-fraction", type=float, default=0.2)
    p.add_argument("--no-augment", action="store_true")
    p.add_argument("--threads", type=int, default=2, help="TensorFlow intra-op threads")
    p.add_argument("--no-default", action="store_true", help="do not mark the card as the task default")
    p.add_argument("--evaluate-only", metavar="CARD", default="",
                   help="no training: re-run the validation evaluation of the model described by this card "
                        "(same split) and rewrite its calibration/threshold/ROC/metrics; weights unchanged")


def reproducing_command(argv: list[str]) -> str:
    """The command line that reproduces the shipped files: ``--out`` / ``--workdir`` only say where
    files go (they do not change the model), so they are left out and the default ``models/`` applies."""
    args, skip = [], False
    for a in argv[1:]:
        if skip:
            skip = False
            continue
        if a in ("--out", "--workdir"):
            skip = True
            continue
        if a == "--resume":  # where a stopped run goes on: not part of the recipe
            continue
        if a.startswith(("--out=", "--workdir=")):
            continue
        args.append(a)
    return "python " + " ".join(shlex.quote(a) for a in [os.path.relpath(argv[0], REPO), *args])


LIFTED = ("calibration", "threshold", "roc", "score_distribution")


def set_mirror_view(card: dict, mirror: bool) -> None:
    """Set a whole-print card's ``input.mirror`` (and the preprocessing note that says it)."""
    from fpstation.ml.classifiers.tasks import MIRROR_NOTE

    inp = card.setdefault("input", {})
    pre = str(inp.get("preprocessing", "")).replace(MIRROR_NOTE, "")
    if mirror:
        inp["mirror"] = True
        pre += MIRROR_NOTE
    else:
        inp.pop("mirror", None)
    inp["preprocessing"] = pre


def refresh_evaluation(task, hyper, data: Path, card_path: Path, version: str = "") -> dict:
    """Re-evaluate a shipped model on its own validation split and rewrite the evaluation parts
    of its card (the weights file, its sha256 and the training record stay as they are).

    With ``hyper.extra["mirror"]`` (``--mirror yes|auto``) the view is set anew and the card's
    ``input.mirror`` follows; otherwise the card's own view is kept. ``version`` (when given)
    replaces the card's version: the same weights at another view or threshold are another model."""
    import keras

    from fpstation.ml.registry import sha256_file

    card = json.loads(card_path.read_text(encoding="utf-8"))
    if card.get("split", {}).get("cross_fit"):
        raise SystemExit(f"{card_path} is cross-fitted: its threshold comes from every network's out-of-fold scores, "
                         "which --evaluate-only cannot recompute; train it again with its card's command")
    weights = card_path.parent / card["file"]
    if sha256_file(weights) != card["sha256"]:
        raise SystemExit(f"{weights} does not match its card's sha256")
    h = card.get("hyper", {})
    hyper.seed = card.get("split", {}).get("seed", hyper.seed)
    hyper.val_fraction = card.get("split", {}).get("val_fraction", hyper.val_fraction)
    hyper.architecture = card.get("architecture", hyper.architecture)
    hyper.extra.update(width=h.get("width", hyper.extra.get("width")),
                       convs_per_block=h.get("convs_per_block", 1))
    was_mirror = bool(card.get("input", {}).get("mirror"))
    asked = hyper.extra.get("mirror")  # --mirror yes|auto: set (or choose) the view anew
    if asked is None and was_mirror:  # the card's view, kept: its threshold is for that view
        hyper.extra["mirror"] = True
    scan = task.scan(data, hyper)
    if sorted(scan.val_subjects) != sorted(card["split"]["val_subjects"]):
        raise SystemExit("the validation subjects differ from the card's: not the same split")
    model = keras.models.load_model(weights, compile=False)
    ev = task.evaluate(model, scan, hyper)
    card["metrics"] = {k: v for k, v in ev.items() if k not in LIFTED}
    card.update({k: ev[k] for k in LIFTED if k in ev})
    card["evaluation_refreshed"] = {"command": reproducing_command(sys.argv),
                                    "at": datetime.now(UTC).isoformat(timespec="seconds")}
    mirror = hyper.extra.get("mirror") is True
    if mirror != was_mirror:  # the view changed: the card says which one its threshold is for
        set_mirror_view(card, mirror)
        card["evaluation_refreshed"]["view"] = f"{'mirror' if was_mirror else 'plain'} -> {'mirror' if mirror else 'plain'}"
    if version:
        card["version"] = str(version)
    card_path.write_text(json.dumps(card, indent=2), encoding="utf-8")
    print(json.dumps(card["metrics"], indent=2), flush=True)
    print(f"rewrote the evaluation in {card_path}")
    return card


def parse_weights(specs: list[str]) -> dict[str, float]:
    """["z-cut/Easy=3", ...] -> {"z-cut/Easy": 3.0, ...}."""
    out = {}
    for spec in specs:
        key, sep, w = spec.rpartition("=")
        try:
            out[key] = float(w)
        except ValueError:
            key = ""
        if not sep or not key or out.get(key, 0) <= 0:
            raise SystemExit(f"--attack-weight {spec!r}: expected TYPE[/LEVEL]=W with W > 0, e.g. z-cut/Easy=3")
    return out


def copy_weights_by_name(src, dst) -> None:
    """``dst``'s weights from ``src``'s layers of the same names: the shipped one-logit model from
    a trained model that also had an ``alter_map`` output (a training-only head, left out);
    every layer of ``dst`` must be found in ``src``."""
    names = {layer.name for layer in src.layers}
    missing = [layer.name for layer in dst.layers if layer.weights and layer.name not in names]
    if missing:
        raise ValueError(f"layers {missing} of the exported model are not in the trained one")
    for layer in dst.layers:
        if layer.weights:
            layer.set_weights(src.get_layer(layer.name).get_weights())


def stop_token():
    """A CancelToken that SIGTERM / Ctrl-C set (= Stop: the fit ends after the current batch)."""
    from fpstation.core.jobs import CancelToken

    token = CancelToken()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: token.cancel())
    return token


def on_epoch(e) -> None:
    """One line per finished epoch: its number, seconds and logs."""
    logs = " ".join(f"{k}={v:.4f}" for k, v in e.logs.items())
    print(f"epoch {e.epoch + 1}/{e.epochs} {e.seconds:.1f}s {logs}", flush=True)


def compile_classifier(model, lr: float, steps: int, map_weight: float = 1.0) -> None:
    """Adam with cosine decay from ``lr`` to 0 over ``steps``, binary cross-entropy, AUC and accuracy
    on logits (+ the alteration-map loss weighted ``map_weight`` when the model has that output):
    how every classifier of training/ is compiled (train_pad.py, train_pad_cv.py)."""
    import keras

    from fpstation.ml.architectures import compile_print_cnn

    compile_print_cnn(model, keras.optimizers.schedules.CosineDecay(lr, steps), map_weight=map_weight)


def run(task_name: str, args: argparse.Namespace, extra: dict | None = None) -> dict:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    keras.utils.set_random_seed(args.seed)

    from fpstation import __version__
    from fpstation.ml.architectures import CLASSIFIER_BUILDERS, mean_logit_ensemble
    from fpstation.ml.registry import sha256_file
    from fpstation.ml.tasks import get_task
    from fpstation.ml.training import fit_keras

    if not args.data:
        raise SystemExit("no --data and ../shared/data is absent")
    task = get_task(task_name)
    hyper = task.default_hyper()
    hyper.epochs, hyper.batch_size, hyper.learning_rate = args.epochs, args.batch_size, args.lr
    hyper.seed, hyper.val_fraction, hyper.augment = args.seed, args.val_fraction, not args.no_augment
    hyper.architecture = args.architecture or hyper.architecture
    hyper.extra.update(width=args.width, convs_per_block=args.convs_per_block, cache_dir=str(Path(args.workdir).parent / "cache"), **(extra or {}))
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)

    t0 = time.time()
    if args.evaluate_only:
        return refresh_evaluation(task, hyper, Path(args.data), Path(args.evaluate_only),
                                  version=args.version or "")
    if int(getattr(args, "cross_fit", 0) or 0):
        return run_crossfit(task, hyper, args, t0)
    scan = task.scan(Path(args.data), hyper)
    print("\n".join(scan.summary()), flush=True)
    # SIGTERM / Ctrl-C = Stop: the fit ends after the current batch, the best checkpoint is kept,
    # evaluated and exported; the card then says "stopped": true.
    token = stop_token()

    # --members N: N networks on the same split, each with its own initialisation, shuffling and
    # augmentation (model seed --seed + i; the split above keeps --seed), shipped as one graph whose
    # logit is their mean (mean_logit_ensemble). Member 0 is exactly the one-member recipe.
    n_members = max(1, int(getattr(args, "members", 1) or 1))
    h, w = task.input_shape(hyper)
    kwargs = {"compile": False}
    if hyper.architecture != "reference_gender_cnn":
        kwargs["width"] = hyper.extra["width"]
        kwargs["convs_per_block"] = hyper.extra.get("convs_per_block", 1)
    exports, fits, dropped = [], [], None
    for m in range(n_members):
        model_seed = args.seed + m
        if m:
            keras.utils.set_random_seed(model_seed)
        hyper.seed = model_seed  # this member's shuffling and augmentation
        model = task.build_model(hyper)
        ds = task.datasets(scan, hyper)
        if m == 0:
            print(f"parameters: {model.count_params()}" + (f" per member, {n_members} members" if n_members > 1 else ""),
                  flush=True)
            print(f"data ready in {time.time() - t0:.1f}s; class weights {ds['class_weight']}", flush=True)
        # Cosine decay over the whole run: short CPU trainings end at a low learning rate, so the
        # best-by-validation epoch is not just a lucky spike of a noisy high-rate phase.
        compile_classifier(model, hyper.learning_rate, int(math.ceil(len(scan.train_items) / hyper.batch_size)) * hyper.epochs,
                           map_weight=float(hyper.extra.get("alter_map") or 1.0))
        if n_members > 1:
            print(f"member {m + 1}/{n_members} (model seed {model_seed})", flush=True)
        res = fit_keras(model, ds["train"], ds["val"], epochs=hyper.epochs,
                        checkpoint=work / ("best.keras" if m == 0 else f"best{m}.keras"),
                        monitor=ds.get("monitor", task.monitor), mode=task.monitor_mode, class_weight=ds["class_weight"],
                        on_epoch=on_epoch, cancel=token)
        print(f"best epoch {res.best_epoch} {res.monitor}={res.best_value}", flush=True)
        if res.stopped and exports:  # a member cut short would weaken the finished ones: left out
            dropped = {"member": m, "model_seed": model_seed, "epochs_run": res.epochs_run}
            break
        best = keras.models.load_model(res.checkpoint, compile=False)
        # Export an uncompiled copy: no optimizer state in the shipped file (smaller, deterministic).
        export = CLASSIFIER_BUILDERS[hyper.architecture]((h, w, 1), **kwargs)
        copy_weights_by_name(best, export)
        exports.append(export)
        fits.append((model_seed, res))
        if res.stopped:
            break
    hyper.seed = args.seed  # the split's seed, as the card records it
    res = fits[0][1]
    export = mean_logit_ensemble(exports)
    ev = task.evaluate(export, scan, hyper)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    weights = out / f"{args.name}.keras"
    export.save(weights)

    card = {"name": args.name, "task": task_name, "version": str(getattr(args, "version", None) or "1"), "file": weights.name,
            "sha256": sha256_file(weights), "default": not args.no_default,
            "created": datetime.now(UTC).isoformat(timespec="seconds"), "fpstation_version": __version__,
            "parameters": int(export.count_params())}
    card.update(task.card_fields(scan, hyper))
    card["metrics"] = {k: v for k, v in ev.items() if k not in LIFTED}
    card.update({k: ev[k] for k in LIFTED if k in ev})
    card["data"]["root"] = os.path.relpath(card["data"]["root"], REPO)
    card["training"] = {
        "command": reproducing_command(sys.argv),
        "epochs_run": res.epochs_run, "stopped": res.stopped, "lr_schedule": "cosine decay from --lr to 0", "best_epoch": None if res.best_epoch is None else res.best_epoch + 1,
        "monitor": res.monitor, "best_value": res.best_value, "history": res.history,
        "seconds": round(time.time() - t0, 1)}
    if n_members > 1:
        card["training"]["stopped"] = any(r.stopped for _, r in fits) or dropped is not None
        from fpstation.ml.training import ensemble_card

        card["ensemble"] = ensemble_card(fits, n_members)
        if dropped:
            card["ensemble"]["left_out"] = {**dropped, "why": "stopped before its fit finished"}
    (out / f"{args.name}.json").write_text(json.dumps(card, indent=2), encoding="utf-8")
    (work / "metrics.json").write_text(json.dumps(ev, indent=2), encoding="utf-8")
    print(json.dumps(card["metrics"], indent=2), flush=True)
    print(f"wrote {weights} ({weights.stat().st_size / 1e6:.2f} MB) and its card", flush=True)
    return card


def run_crossfit(task, hyper, args: argparse.Namespace, t0: float) -> dict:
    """``--cross-fit K`` (pad, whole-print CNN; docs/adr/0267, :mod:`fpstation.ml.crossfit`): the
    subjects are cut in K parts; network j trains on the other K-1 parts, keeps its best epoch by part
    j's validation AUC and is Platt-calibrated on part j (in the card's view). Every subject is so
    scored once by a network that never saw them; those calibrated scores, pooled, set the threshold
    (lowest with BPCER <= --max-bpcer) and the card's figures. The shipped model is one graph whose
    logit is the mean of the K calibrated logits, its calibration the identity.
    Stop (SIGTERM / Ctrl-C) keeps the networks already finished: the threshold then comes from their
    parts only, and the card says so. Each finished network is kept under --workdir
    (``xfit<j>.final.keras`` + ``.json``); ``--resume`` skips those and trains the rest."""
    import dataclasses
    from types import SimpleNamespace

    import keras

    from fpstation import __version__
    from fpstation.core.errors import DatasetError
    from fpstation.ml import crossfit
    from fpstation.ml.architectures import CLASSIFIER_BUILDERS
    from fpstation.ml.registry import sha256_file
    from fpstation.ml.training import _jsonable, ensemble_card, fit_keras

    k = int(args.cross_fit)
    try:  # what cross-fitting cannot do is refused before the folder is scanned
        crossfit.check(task, dataclasses.replace(hyper, extra={**hyper.extra, "members": args.members}), k)
        base = task.scan(Path(args.data), hyper)
        cut = crossfit.parts(base, k, args.seed)
    except DatasetError as exc:
        raise SystemExit(f"--cross-fit {k}: {exc}") from None
    print("\n".join(base.summary()[:2]), flush=True)
    print(f"cross-fitting: {k} parts of {sum(map(len, cut))} subjects ({', '.join(str(len(p)) for p in cut)})",
          flush=True)
    token = stop_token()
    h, w = task.input_shape(hyper)
    kwargs = {"compile": False, "width": hyper.extra["width"], "convs_per_block": hyper.extra.get("convs_per_block", 1)}
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    nets, fits, scored, net_seconds = [], [], [], []
    for j in range(k):
        scan = crossfit.part_scan(base, cut, j)
        model_seed = args.seed + j
        done_f, done_j = work / f"xfit{j}.final.keras", work / f"xfit{j}.json"
        stamp = {"part": j, "of": k, "seed": args.seed, "val_subjects": sorted(cut[j]),
                 "command": [a for a in sys.argv[1:] if a != "--resume"]}
        if getattr(args, "resume", False) and done_f.is_file() and done_j.is_file():
            rec = json.loads(done_j.read_text(encoding="utf-8"))
            if rec.get("stamp") != stamp:
                raise SystemExit(f"{done_j} was made by another command or split: remove {work} or drop --resume")
            print(f"network {j + 1}/{k}: finished before, kept ({done_f})", flush=True)
            net = keras.models.load_model(done_f, compile=False)
            res = SimpleNamespace(**rec["fit"])
            net_seconds.append(rec.get("seconds"))
        else:
            t_net = time.time()
            keras.utils.set_random_seed(model_seed)
            hyper.seed = model_seed
            model = task.build_model(hyper)
            ds = task.datasets(scan, hyper)
            compile_classifier(model, hyper.learning_rate,
                               int(math.ceil(len(scan.train_items) / hyper.batch_size)) * hyper.epochs,
                               map_weight=float(hyper.extra.get("alter_map") or 1.0))
            print(f"network {j + 1}/{k}: trains on {len(scan.train_subjects)} subjects, validated on part {j} "
                  f"({len(cut[j])} subjects; model seed {model_seed})", flush=True)
            res = fit_keras(model, ds["train"], ds["val"], epochs=hyper.epochs, checkpoint=work / f"xfit{j}.keras",
                            monitor=ds.get("monitor", task.monitor), mode=task.monitor_mode,
                            class_weight=ds["class_weight"], on_epoch=on_epoch, cancel=token)
            print(f"best epoch {res.best_epoch} {res.monitor}={res.best_value}", flush=True)
            if res.stopped and res.epochs_run < hyper.epochs:  # cut short: a weaker network and a part unscored
                print(f"network {j + 1} stopped before its last epoch: left out (--resume trains it again)", flush=True)
                break
            best = keras.models.load_model(res.checkpoint, compile=False)
            net = CLASSIFIER_BUILDERS[hyper.architecture]((h, w, 1), **kwargs)
            copy_weights_by_name(best, net)
            net.save(done_f)
            fit = {a: getattr(res, a) for a in ("best_epoch", "best_value", "monitor", "stopped", "epochs_run",
                                                 "history")}
            net_seconds.append(round(time.time() - t_net, 1))
            done_j.write_text(json.dumps({"stamp": stamp, "fit": _jsonable(fit), "seconds": net_seconds[-1]}, indent=1),
                              encoding="utf-8")
        hyper.seed = args.seed
        try:
            scored.append(crossfit.score_part(task, net, scan, hyper))
        except DatasetError as exc:
            raise SystemExit(str(exc)) from None
        nets.append(net)
        fits.append((model_seed, res))
        if token.cancelled:
            break
    if not nets:
        raise SystemExit("stopped before the first network finished: nothing to ship")
    ev = crossfit.evaluation(scored, hyper)
    export = crossfit.ensemble(nets, scored)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    weights = out / f"{args.name}.keras"
    export.save(weights)
    card = {"name": args.name, "task": task.name, "version": str(getattr(args, "version", None) or "1"),
            "file": weights.name, "sha256": sha256_file(weights), "default": not args.no_default,
            "created": datetime.now(UTC).isoformat(timespec="seconds"), "fpstation_version": __version__,
            "parameters": int(export.count_params())}
    card.update(task.card_fields(base, hyper))
    card["split"] = crossfit.card_split(cut, scored, args.seed, len(base.items))
    card["metrics"] = {k_: v for k_, v in ev.items() if k_ not in LIFTED}
    card.update({k_: ev[k_] for k_ in LIFTED if k_ in ev})
    card["data"]["root"] = os.path.relpath(card["data"]["root"], REPO)
    card["training"] = {"command": reproducing_command(sys.argv), "lr_schedule": "cosine decay from --lr to 0",
                        "stopped": len(nets) < k, "seconds": round(time.time() - t0, 1),
                        "network_seconds": net_seconds[: len(nets)],
                        "note": "seconds: this run's; network_seconds: each network's fit, also when an earlier "
                                "run (--resume) trained it (null: not recorded)"}
    card["ensemble"] = crossfit.card_ensemble(ensemble_card(fits, k, _jsonable), k, scored)
    (out / f"{args.name}.json").write_text(json.dumps(card, indent=2), encoding="utf-8")
    print(json.dumps(card["metrics"], indent=2, default=float)[:3000], flush=True)
    print(f"wrote {weights} ({weights.stat().st_size / 1e6:.2f} MB) and its card", flush=True)
    return card

