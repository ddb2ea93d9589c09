"""Train the shipped restorers: ``models/restore-unet.*`` (default) and ``models/restore-autoencoder.*``.

Data: ../shared/data (FVC B sets + SOCOFing Real + SOCOFing Altered→Real pairs), split
subject-disjoint by ``fpstation.ml.datasets.subject_split`` (FVC finger "<db>/<finger>", SOCOFing
subject id). Clean prints are degraded deterministically by ``fpstation.ml.restoration.degrade.degrade`` with
seeds from the file paths, cut into patches, and cached as .npy (``--cache``).
The card's validation metrics are measured on full-size validation pairs (the same pairs
``training/make_restoration_eval.py`` writes), through the same inference path the application uses.

    python training/train_restoration.py --arch unet --epochs 10 --steps-per-epoch 200
    python training/train_restoration.py --arch unet --no-residual --upsampling bilinear   # v1's design
    python training/train_restoration.py --arch autoencoder --epochs 4 --steps-per-epoch 60

Issue #17 options: ``--recipe wide`` (domain-randomised degradations), ``--guidance mask orientation
frequency`` (pyfing guidance channels as extra inputs), ``--dilations 2 4 8`` (larger receptive
field), ``--holdout-dbs DB... | all-fvc`` (FVC sets left out of training and validation, for
held-out evaluation), ``--name`` (a model other than the shipped default). Training survives
sessions: a resume checkpoint is written every ``--checkpoint-minutes`` into ``--work``;
``--resume`` continues it, and the card states the total compute over all sessions.

A U-Net with transposed-convolution upsampling is then exported to ONNX
(``training/export_onnx.py``; the card gains an "onnx" entry) when the ``onnx`` package is installed.
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fpstation import __version__, paths  # noqa: E402
from fpstation.core.jobs import CancelToken, throttled  # noqa: E402
from fpstation.ml.restoration import data as rd  # noqa: E402

#: patches per source kind: (degradations, crops per degradation)
PER_IMAGE = {"unet": {"fvc": (4, 6), "socofing": (1, 1), "altered": (1, 1)},
             "autoencoder": {"fvc": (3, 2), "socofing": (1, 1), "altered": (1, 1)}}
VAL_PER_IMAGE = {"unet": {"fvc": (1, 4), "socofing": (1, 1), "altered": (1, 1)},
                 "autoencoder": {"fvc": (1, 2), "socofing": (1, 1), "altered": (1, 1)}}


class Deadline(CancelToken):
    """A cancel token that fires after ``seconds`` (fit_keras then keeps the best checkpoint)."""

    def __init__(self, seconds: float) -> None:
        super().__init__()
        self._end = time.monotonic() + seconds

    @property
    def cancelled(self) -> bool:
        return time.monotonic() > self._end or super().cancelled


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def patches(sources, patch: int, tag: str, per_image: dict, cache: Path | None, name: str, recipe: str = "v2",
            guidance: tuple[str, ...] = ()):
    if cache is not None:
        fx, fy = cache / f"{name}_x.npy", cache / f"{name}_y.npy"
        if fx.is_file() and fy.is_file():
            return np.load(fx), np.load(fy)
    x, y = rd.make_patches(sources, patch, tag=tag, per_image=per_image, recipe=recipe, guidance=guidance,
                           progress=throttled(lambda f, msg: log(msg), 60.0))
    if cache is not None:
        cache.mkdir(parents=True, exist_ok=True)
        np.save(fx, x)
        np.save(fy, y)
    return x, y


def tf_dataset(x: np.ndarray, y: np.ndarray, batch: int, train: bool, seed: int, guidance: tuple[str, ...] = ()):
    import tensorflow as tf

    from fpstation.ml.restoration.guidance import augment_guidance_tf

    ds = tf.data.Dataset.from_tensor_slices((x if x.ndim == 4 else x[..., None], y[..., None]))
    if train:
        ds = ds.shuffle(min(len(x), 20000), seed=seed, reshuffle_each_iteration=True).repeat()

    def prep(a, b):
        a = tf.cast(a, tf.float32) / 255.0
        b = tf.cast(b, tf.float32) / 255.0
        if train and guidance:  # same flip / quarter turn on all channels; orientation channels follow
            flip = tf.random.uniform([]) < 0.5
            k = tf.random.uniform([], 0, 4, tf.int32)
            ab = tf.concat([a, b], -1)
            ab = tf.cond(flip, lambda: tf.image.flip_left_right(ab), lambda: ab)
            ab = tf.image.rot90(ab, k)
            a, b = augment_guidance_tf(ab[..., :-1], guidance, k, flip), ab[..., -1:]
        elif train:  # the same flip / quarter turn on both sides (prints have no canonical pose here)
            ab = tf.concat([a, b], -1)
            ab = tf.image.random_flip_left_right(ab)
            ab = tf.image.rot90(ab, tf.random.uniform([], 0, 4, tf.int32))
            a, b = ab[..., :1], ab[..., 1:]
        return a, b

    return ds.map(prep, num_parallel_calls=2).batch(batch).prefetch(2)


def check_device_run(run: dict, args) -> None:
    """Refuse a device run whose held-out scanners differ from ``--holdout-dbs`` (the card would lie)."""
    if run and sorted(run.get("pack", {}).get("holdout_dbs", [])) != held_out_dbs(args):
        raise SystemExit(f"--device-run held out {run['pack'].get('holdout_dbs')} but --holdout-dbs is "
                         f"{held_out_dbs(args)}: the card would misstate which scanners are unseen")


def from_device_run(args, state: dict) -> tuple[dict, int]:
    """The card's training record for weights trained elsewhere (``training/device_train.py``)."""
    run = json.loads(Path(args.device_run).read_text(encoding="utf-8")) if args.device_run else {}
    check_device_run(run, args)
    best = run.get("best", {})
    info = {"trained_on": f"{run.get('backend', '?')} on {', '.join(run.get('devices', [])) or 'unknown device'}"
                          if run else "weights given with --from-weights (no run record)",
            "epochs_run": len(run.get("history", [])), "stopped": False, "best_epoch": best.get("epoch"),
            "monitor": "val_ssim", "best_value": best.get("val_ssim"),
            "compute_seconds_total": run.get("fit_seconds"), "data_seconds": run.get("data_seconds"),
            "sessions": state["sessions"], "device_hyper": run.get("hyper"), "device_pack": run.get("pack"),
            "history": run.get("history", [])}
    return info, int(run.get("train_patches", 0))


def held_out_dbs(args) -> list[str]:
    """FVC sets left out of training and validation (``--holdout-dbs``; "all-fvc" = every one)."""
    if "all-fvc" in args.holdout_dbs:
        return sorted(rd.FVC_DPI)
    return sorted(args.holdout_dbs)


def data_sources(args) -> list[str]:
    kept = [db for db in sorted(rd.FVC_DPI) if db not in held_out_dbs(args)]
    return [*(f"FVC {db}" for db in kept), "SOCOFing Real", "SOCOFing Altered->Real pairs"]


def make_card(args, *, ship, weights: Path, name: str, sources: list, data: Path, train_subj: set, val_subj: set,
              n_train: int, n_val: int, patch: int, levels: int, loss_name: str, metrics: dict,
              fit_info: dict) -> dict:
    """The model card of a finished run (see models/restore-unet.json)."""
    from fpstation.ml.registry import sha256_file

    cmd = ["python", "training/train_restoration.py", "--arch", args.arch, "--epochs", str(args.epochs),
           "--steps-per-epoch", str(args.steps_per_epoch), "--batch-size", str(args.batch_size),
           "--lr", f"{args.lr:g}", "--seed", str(args.seed), "--val-fraction", f"{args.val_fraction:g}",
           "--threads", str(args.threads), "--version", args.version]
    if args.arch == "unet":
        cmd += ["--loss", args.loss, "--base", str(args.base), "--levels", str(args.levels),
                "--upsampling", args.upsampling]
        if not args.residual:
            cmd += ["--no-residual"]
    if args.max_minutes:
        cmd += ["--max-minutes", f"{args.max_minutes:g}"]
    if args.max_val_patches:
        cmd += ["--max-val-patches", str(args.max_val_patches)]
    if args.recipe != "v2":
        cmd += ["--recipe", args.recipe]
    if args.guidance:
        cmd += ["--guidance", *args.guidance]
    if args.dilations:
        cmd += ["--dilations", *map(str, args.dilations)]
    if args.holdout_dbs:
        cmd += ["--holdout-dbs", *args.holdout_dbs]
    if args.max_sources:
        cmd += ["--max-sources", str(args.max_sources)]
    if args.per_image:
        cmd += ["--per-image", *args.per_image]
    if args.checkpoint_minutes != 5.0:
        cmd += ["--checkpoint-minutes", f"{args.checkpoint_minutes:g}"]
    if args.clipnorm:
        cmd += ["--clipnorm", f"{args.clipnorm:g}"]
    if args.identity:
        cmd += ["--identity", f"{args.identity:g}"]
    if args.init_weights:
        cmd += ["--init-weights", args.init_weights]
    if name != f"restore-{args.arch}":
        cmd += ["--name", name]
    counts = {k: sum(1 for s in sources if s.kind == k) for k in ("fvc", "socofing", "altered")}
    card = {
        "name": name, "task": "restoration", "architecture": args.arch, "version": args.version,
        "file": weights.name, "sha256": sha256_file(weights),
        # only the U-Net is the default restorer (Registry.default() takes the first default card)
        "default": name == "restore-unet",
        "created": datetime.now(UTC).isoformat(timespec="seconds"), "fpstation_version": __version__,
        "parameters": int(ship.count_params()), "levels": levels,
        "input": {"shape": [None, None, 1] if args.arch == "unet" else [224, 224, 1], "dpi": rd.MODEL_DPI,
                  "guidance": list(args.guidance),
                  "preprocessing": "grey levels scaled to [0,1] (0 = ridge ink); resampled to 500 dpi when the "
                                   "print's dpi is known; reflect-padded to a multiple of 2**levels, tiled with "
                                   "overlap above 1024 px; output cropped back to the input's size"},
        "data": {"root": "../shared/data", "sources": data_sources(args),
                 "train_dbs": sorted({s.rel.split("/")[0] for s in sources if s.kind == "fvc"}),
                 "holdout_dbs": held_out_dbs(args), "recipe": args.recipe,
                 "counts": counts, "subjects": len(train_subj) + len(val_subj),
                 "file_list_sha256": rd.sources_sha256(sources, data),
                 "train_patches": int(n_train), "val_patches": int(n_val), "patch": patch,
                 "patches_per_image": args.per_image_used,
                 "identity_share": args.identity,
                 "degradation": f"fpstation.ml.restoration.degrade.degrade(clean, seed, profile="
                                f"{'v2 and wide, both' if args.recipe == 'mixed' else repr(args.recipe)}) with "
                                "seeds from the file path "
                                "(fpstation.ml.restoration.data.stable_seed); FVC2002 DB2 resampled 569->500 dpi; "
                                "SOCOFing Altered images (CR/Obl/Zcut) paired with their Real originals"},
        "split": {"rule": "fpstation.ml.datasets.subject_split(val_fraction, seed) over FVC '<db>/<finger>' and "
                          "'socofing/<subject id>'", "val_fraction": args.val_fraction, "seed": args.seed,
                  "validation_subjects": sorted(val_subj), "train_subjects": len(train_subj)},
        "hyper": {"epochs": args.epochs, "steps_per_epoch": args.steps_per_epoch, "batch_size": args.batch_size,
                  "learning_rate": args.lr, "optimizer": "Adam, cosine decay" if args.arch == "unet" else "RMSprop",
                  "clipnorm": args.clipnorm or None, "init_weights": args.init_weights,
                  "base": args.base if args.arch == "unet" else None, "levels": levels,
                  "residual": bool(args.residual) if args.arch == "unet" else False,
                  "upsampling": args.upsampling if args.arch == "unet" else "nearest",
                  "dilations": list(args.dilations),
                  "augment": "random flip + quarter turns (same on both sides)"},
        "loss": loss_name,
        "metrics": {"validation_pairs": "full-size pairs from training/make_restoration_eval.py (validation "
                                        "fingers/subjects only; FVC all, SOCOFing Real and Altered samples)",
                    **metrics},
        "training": {"command": " ".join(shlex.quote(c) for c in cmd), **fit_info, "threads": args.threads},
    }
    return card


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", choices=["unet", "autoencoder"], default="unet")
    ap.add_argument("--data", default=None, help="shared data root (default ../shared/data)")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--steps-per-epoch", type=int, default=200)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--clipnorm", type=float, default=0.0,
                    help="unet only: clip each gradient to this norm (0 = off, as v2 was trained)")
    ap.add_argument("--init-weights", default=None,
                    help="start the fit from these weights (a .keras/.weights.h5 of the same architecture)")
    ap.add_argument("--loss", default="l1_ssim", help="unet only: mse, l1, ssim, mse_ssim, l1_ssim")
    ap.add_argument("--identity", type=float, default=0.0,
                    help="share of clean->clean training pairs (teaches the net to leave good ridges alone)")
    ap.add_argument("--base", type=int, default=16)
    ap.add_argument("--levels", type=int, default=3)
    ap.add_argument("--no-residual", dest="residual", action="store_false",
                    help="unet only: sigmoid output instead of input + learned correction (v1's design)")
    ap.add_argument("--upsampling", choices=["transpose", "bilinear"], default="transpose", help="unet only")
    ap.add_argument("--version", default="2", help="version written into the model card")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--val-fraction", type=float, default=0.2)
    ap.add_argument("--max-minutes", type=float, default=0, help="stop the fit after this (0 = no limit)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--cache", default=None, help="folder for .npy patch caches (outside the repo)")
    ap.add_argument("--out", default=str(ROOT / "models"))
    ap.add_argument("--work", default=None, help="folder for the checkpoint (default: --cache or a temp dir)")
    ap.add_argument("--no-eval", action="store_true", help="skip the full-size validation evaluation")
    ap.add_argument("--max-val-patches", type=int, default=0,
                    help="validate each epoch on at most this many validation patches (0 = all)")
    ap.add_argument("--recipe", choices=["v2", "wide", "mixed"], default="v2",
                    help="degradation profile: v2 (restore-unet v2's), wide (domain randomisation) or mixed "
                         "(the patches of both, concatenated)")
    ap.add_argument("--guidance", nargs="*", default=[], choices=["mask", "orientation", "frequency"],
                    help="unet only: pyfing guidance channels as extra inputs")
    ap.add_argument("--dilations", nargs="*", type=int, default=[],
                    help="unet only: dilated bottleneck convolutions (larger receptive field), e.g. 2 4 8")
    ap.add_argument("--holdout-dbs", nargs="*", default=[],
                    help="FVC sets left out of training and validation ('all-fvc' = all of them)")
    ap.add_argument("--name", default=None, help="model name (default restore-<arch>, the shipped default)")
    ap.add_argument("--checkpoint-minutes", type=float, default=5.0,
                    help="write the resume checkpoint this often (and at every epoch end)")
    ap.add_argument("--resume", action="store_true", help="continue from the resume checkpoint in --work")
    ap.add_argument("--per-image", nargs="*", default=[], metavar="KIND=DEG,CROPS",
                    help="override training patches per source kind, e.g. socofing=3,1 (degradations, crops each)")
    ap.add_argument("--from-weights", default=None,
                    help="skip the fit: load these weights (e.g. $OUT/restore-unet-device.best.weights.h5 from a "
                         "lent GPU machine), then evaluate, export and write the card as usual")
    ap.add_argument("--finalize", action="store_true",
                    help="no more training: write the card (and ONNX) from the best checkpoint and the resume "
                         "record in --work of a run that was stopped (e.g. killed to free the CPU)")
    ap.add_argument("--device-run", default=None,
                    help="with --from-weights: the device_run.json written beside them (compute, history)")
    ap.add_argument("--max-sources", type=int, default=0,
                    help="use at most this many training sources (a deterministic sample by hash; 0 = all); "
                         "validation sources are cut in the same proportion")
    args = ap.parse_args(argv)
    from fpstation.ml.restoration.guidance import check_names

    args.guidance = list(check_names(args.guidance))
    if args.arch != "unet" and (args.guidance or args.dilations):
        ap.error("--guidance and --dilations are for --arch unet")
    unknown = [d for d in args.holdout_dbs if d != "all-fvc" and d not in rd.FVC_DPI]
    if unknown:
        ap.error(f"unknown FVC sets {unknown}; choose from {', '.join(sorted(rd.FVC_DPI))} or all-fvc")
    name = args.name or f"restore-{args.arch}"
    if args.device_run and not args.from_weights:
        ap.error("--device-run goes with --from-weights")
    if args.device_run:
        check_device_run(json.loads(Path(args.device_run).read_text(encoding="utf-8")), args)

    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # TensorFlow already started in this process (tests): keep its threads
        log(f"TensorFlow already initialised: --threads {args.threads} not applied")
    tf.keras.utils.set_random_seed(args.seed)
    import keras

    from fpstation.ml.architectures import build_autoencoder, build_unet, restoration_loss, ssim_metric
    from fpstation.ml.restoration import model_fn
    from fpstation.ml.restoration.eval import evaluate_sources
    from fpstation.ml.restoration.guidance import n_channels, with_guidance
    from fpstation.ml.restoration.resume import ResumeCheckpoint
    from fpstation.ml.training import fit_keras

    data = Path(args.data) if args.data else paths.shared_data_dir()
    if data is None or not data.is_dir():
        print("shared data not found (../shared/data)", file=sys.stderr)
        return 2
    t_start = time.perf_counter()
    sources = rd.collect_sources(data)
    held = held_out_dbs(args)
    if held:  # left out of training AND validation: only held-out evaluation sees them
        sources = [s for s in sources if not (s.kind == "fvc" and s.rel.split("/")[0] in held)]
        log(f"held out of training: {', '.join(held)}")
    train_src, val_src, train_subj, val_subj = rd.split_sources(sources, args.val_fraction, args.seed)
    if args.max_sources and len(train_src) > args.max_sources:  # short runs: a stable sample by hash
        keep_val = max(1, round(len(val_src) * args.max_sources / len(train_src)))
        train_src = sorted(train_src, key=lambda s: rd.stable_seed("subset", s.rel))[:args.max_sources]
        val_src = sorted(val_src, key=lambda s: rd.stable_seed("subset", s.rel))[:keep_val]
    log(f"sources: {len(sources)} (train {len(train_src)}, val {len(val_src)}); subjects train "
        f"{len(train_subj)} / val {len(val_subj)}")
    patch = 96 if args.arch == "unet" else 224
    cache = Path(args.cache) if args.cache else None
    guidance = tuple(args.guidance)
    per_image = dict(PER_IMAGE[args.arch])
    for item in args.per_image:
        kind, _, nums = item.partition("=")
        try:
            per_image[kind] = tuple(int(v) for v in nums.split(","))[:2]
        except ValueError:
            per_image[kind] = ()
        if kind not in ("fvc", "socofing", "altered") or len(per_image[kind]) != 2:
            ap.error(f"--per-image {item!r}: expected KIND=DEGRADATIONS,CROPS with KIND fvc, socofing or altered")
    args.per_image_used = per_image
    variant = "".join([f"_{args.recipe}" if args.recipe != "v2" else "", f"_g{'-'.join(guidance)}" if guidance else "",
                       f"_ho{'-'.join(held)}" if held else ""])
    if per_image != PER_IMAGE[args.arch]:
        variant += "_pi" + "-".join(f"{k}{a}x{b}" for k, (a, b) in sorted(per_image.items()))
    parts_t, parts_v = [], []
    for recipe in (("v2", "wide") if args.recipe == "mixed" else (args.recipe,)):
        var = variant.replace("_mixed", "" if recipe == "v2" else "_wide", 1) if args.recipe == "mixed" else variant
        parts_t.append(patches(train_src, patch, "train", per_image, cache,
                               f"{args.arch}_train_p{patch}_s{args.seed}{var}", recipe, guidance))
        parts_v.append(patches(val_src, patch, "val", VAL_PER_IMAGE[args.arch], cache,
                               f"{args.arch}_val_p{patch}_s{args.seed}{var}", recipe, guidance))
    xt, yt = (np.concatenate([p[i] for p in parts_t]) for i in (0, 1))
    xv, yv = (np.concatenate([p[i] for p in parts_v]) for i in (0, 1))
    xt, yt = rd.with_identity_pairs(xt, yt, args.identity, args.seed)
    if args.max_val_patches and len(xv) > args.max_val_patches:  # an evenly spaced, deterministic subset
        keep = np.linspace(0, len(xv) - 1, args.max_val_patches).astype(int)
        xv, yv = xv[keep], yv[keep]
    log(f"patches: train {len(xt)}, val {len(xv)} ({time.perf_counter() - t_start:.0f} s)")

    total = args.epochs * args.steps_per_epoch
    in_shape = (None, None, 1 + n_channels(guidance))
    if args.arch == "unet":
        model = build_unet(in_shape, base=args.base, levels=args.levels, residual=args.residual,
                           upsampling=args.upsampling, dilations=tuple(args.dilations), compile=False)
        sched = keras.optimizers.schedules.CosineDecay(args.lr, total, alpha=0.05)
        opt = keras.optimizers.Adam(sched, **({"clipnorm": args.clipnorm} if args.clipnorm > 0 else {}))
        model.compile(optimizer=opt, loss=restoration_loss(args.loss),
                      metrics=["mae", ssim_metric])
        levels, loss_name = args.levels, args.loss
    else:  # the reference as published: 224×224 input, RMSprop + MSE, constant learning rate
        model = build_autoencoder((224, 224, 1), learning_rate=args.lr)
        levels, loss_name = 2, "mse"
    if args.init_weights:
        model.load_weights(args.init_weights)
        log(f"initialised from {args.init_weights}")
    log(f"model {model.name}: {model.count_params()} parameters")
    work = Path(args.work or args.cache or ".")
    ckpt = work / f"ckpt-{name}.keras"
    resume = ResumeCheckpoint(work, name, every_s=args.checkpoint_minutes * 60)
    session = {"started": datetime.now(UTC).isoformat(timespec="seconds"), "seconds": 0.0}
    state = {"epoch": 0, "compute_seconds": 0.0, "sessions": [], "history": [], "best": None, "best_epoch": None,
             "name": name}
    if args.resume:
        if not resume.exists():
            print(f"--resume: no resume checkpoint {resume.json} (start without --resume)", file=sys.stderr)
            return 2
        state = resume.restore(model)
        log(f"resumed {name} at epoch {state['epoch'] + 1} after {state['compute_seconds']:.0f} s of compute "
            f"in {len(state['sessions'])} session(s)")
    state["sessions"].append(session)
    base_seconds = float(state["compute_seconds"])
    # a different shuffle per session, so a resumed run does not replay the first batches
    train_ds = tf_dataset(xt, yt, args.batch_size, True, args.seed + 1000 * (len(state["sessions"]) - 1), guidance)
    val_ds = tf_dataset(xv, yv, 64, False, args.seed, guidance)
    token = Deadline(args.max_minutes * 60) if args.max_minutes > 0 else CancelToken()

    def on_epoch(e) -> None:
        log(f"epoch {e.epoch + 1}/{e.epochs} {e.seconds:.0f}s " +
            " ".join(f"{k}={v:.4f}" for k, v in sorted(e.logs.items())))
        state["history"].append(e.logs)
        v = e.logs.get("val_loss", e.logs.get("loss"))
        if v is not None and (state["best"] is None or v < state["best"]):
            state["best"], state["best_epoch"] = v, e.epoch

    if args.finalize:
        if not (ckpt.is_file() and resume.json.is_file()):
            print(f"--finalize: no checkpoint {ckpt} or resume record {resume.json}", file=sys.stderr)
            return 2
        model.load_weights(ckpt)
        done = resume.state()
        n_trained = len(xt)
        fit_info = {"epochs_run": len(done["history"]), "stopped": True, "best_epoch": done.get("best_epoch"),
                    "monitor": "val_loss", "best_value": done.get("best"),
                    "compute_seconds_total": done.get("compute_seconds"), "sessions": done.get("sessions"),
                    "fit_seconds": 0.0, "history": done["history"],
                    "finalized": "the run was stopped and its best checkpoint taken (--finalize)"}
        log(f"finalizing {ckpt}: {fit_info['epochs_run']} epochs, best epoch {fit_info['best_epoch']}, "
            f"{fit_info['compute_seconds_total']} s of compute")
    elif args.from_weights:
        model.load_weights(args.from_weights)
        fit_info, n_trained = from_device_run(args, state)
        log(f"loaded {args.from_weights} (no fit here): {fit_info.get('compute_seconds_total')} s of compute "
            f"on {fit_info.get('trained_on')}")
    else:
        t_fit = time.perf_counter()
        periodic = resume.callback(state, t_fit, base_seconds)
        fit = fit_keras(model, train_ds, val_ds, epochs=args.epochs, checkpoint=ckpt, steps_per_epoch=args.steps_per_epoch,
                        cancel=token, on_epoch=on_epoch, initial_epoch=int(state["epoch"]), best=state["best"],
                        callbacks=[periodic])
        fit_s = time.perf_counter() - t_fit
        if fit.stopped:  # the deadline ended a partial epoch: save where we are, to resume from it
            state["epoch"] = max(int(state["epoch"]), fit.epochs_run - 1)
            state["compute_seconds"] = round(base_seconds + fit_s, 1)
            session["seconds"] = round(fit_s, 1)
            resume.save(model, state)
        log(f"fit done: epochs_run={fit.epochs_run} best_epoch={state['best_epoch']} best={state['best']} "
            f"stopped={fit.stopped} ({fit_s:.0f} s this session, {base_seconds + fit_s:.0f} s in all); "
            f"resume checkpoint {resume.json}")
        if fit.checkpoint is None:
            print("nothing was trained (stopped before the first batch)", file=sys.stderr)
            return 1
        model.load_weights(fit.checkpoint)
        n_trained = len(xt)
        fit_info = {"epochs_run": fit.epochs_run, "stopped": fit.stopped, "best_epoch": state["best_epoch"],
                    "monitor": fit.monitor, "best_value": state["best"],
                    "compute_seconds_total": round(base_seconds + fit_s, 1), "sessions": state["sessions"],
                    "fit_seconds": round(fit_s, 1), "history": state["history"]}

    # Ship weights only (no optimizer state): rebuild uncompiled and copy the weights.
    if args.arch == "unet":
        ship = build_unet(in_shape, base=args.base, levels=args.levels, residual=args.residual,
                          upsampling=args.upsampling, dilations=tuple(args.dilations), compile=False)
    else:
        ship = build_autoencoder((224, 224, 1), compile=False)
    ship.set_weights(model.get_weights())
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    weights = out / f"{name}.keras"
    ship.save(weights)

    metrics: dict = {}
    eval_src = rd.select_eval(val_src)
    if not args.no_eval:
        flex = ship if args.arch == "unet" else build_autoencoder((None, None, 1), compile=False)
        if flex is not ship:
            flex.set_weights(ship.get_weights())
        fn = with_guidance(model_fn(flex), guidance) if guidance else model_fn(flex)
        metrics = evaluate_sources(fn, levels, eval_src, min_size=0 if args.arch == "unet" else 224,
                                   progress=throttled(lambda f, msg: log(msg), 30.0))
        log(f"validation: {json.dumps({k: metrics[k] for k in ('n', 'ssim', 'psnr', 'mae')})} "
            f"identity {metrics['identity']}")

    card = make_card(args, ship=ship, weights=weights, name=name, sources=sources, data=data,
                     train_subj=train_subj, val_subj=val_subj, n_train=n_trained, n_val=len(xv), patch=patch,
                     levels=levels, loss_name=loss_name, metrics=metrics, fit_info=fit_info)
    (out / f"{name}.json").write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    log(f"wrote {weights} ({os.path.getsize(weights) / 1e6:.2f} MB) and {name}.json")
    if args.arch == "unet" and args.upsampling == "transpose":  # onnxruntime runs it faster (ADR 0090)
        try:
            import onnx  # noqa: F401
        except ImportError:
            log("onnx is not installed: no ONNX export (the model runs on TensorFlow); "
                f"pip install onnx, then python training/export_onnx.py {out / name}.json")
        else:
            from training import export_onnx

            return export_onnx.main([str(out / f"{name}.json")])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
