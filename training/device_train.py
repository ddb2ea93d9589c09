"""Train the restoration U-Net on a lent GPU machine (any Keras 3 backend: JAX there, TensorFlow here).

Runs on the *device* through ``training/device_train.sh``; it needs numpy, opencv, Keras 3 and a
backend, never TensorFlow and never ../shared/data: it reads the pack written here by
``training/device_pack.py`` (clean sources + validation patches), degrades the sources itself with
the project's recipe (``fpstation.ml.restoration.degrade``, seeds from file paths, a fresh tag per
round, in a process pool), and trains for a fixed wall-clock budget with a cosine learning rate
over that time. Every ``--checkpoint-minutes`` and at the end it writes to ``--out``:

- ``restore-unet-device.weights.h5`` (last) and ``restore-unet-device.best.weights.h5`` (best val SSIM),
- ``device_run.json``: backend, devices, hyper-parameters, pack manifest hash, history, compute.

Back here ``python training/train_restoration.py --from-weights OUT/restore-unet-device.best.weights.h5
--device-run OUT/device_run.json ...`` evaluates it, exports ONNX and writes the card.

    KERAS_BACKEND=jax python training/device_train.py --pack training/device/pack --out $OUT --minutes 8
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def load_sources(pack: Path):
    from fpstation.ml.restoration import data as rd

    manifest = json.loads((pack / "sources.json").read_text(encoding="utf-8"))
    out = [rd.Source(rel=e["rel"], clean=str(pack / e["clean"]), subject=e["subject"], kind=e["kind"],
                     dpi=float(e["dpi"]), degraded=str(pack / e["degraded"]) if e.get("degraded") else "")
           for e in manifest["sources"]]
    return out, manifest


def _read_png(path) -> np.ndarray:
    """The pack is plain 8-bit PNG: decode it with OpenCV (the device has no wsq/nistitl, which
    core/imageio needs for its other formats)."""
    import cv2

    img = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if img is None:
        raise OSError(f"cannot read {path}")
    return img


def _patch_job(job):
    sources, tag, per_image, recipe = job
    from fpstation.ml.restoration import data as rd

    rd.read_gray = _read_png  # in this worker process only
    return rd.make_patches(sources, 96, tag=tag, per_image=per_image, recipe=recipe)


def round_recipe(recipe: str, r: int) -> str:
    """The generator of round ``r``: ``mixed`` alternates wide (even rounds) and v2 (odd rounds)."""
    if recipe == "mixed":
        return "wide" if r % 2 == 0 else "v2"
    return recipe


def make_training_patches(sources, rounds: int, per_image: dict, recipe: str, workers: int):
    """``rounds`` independent degradations of every source (tags device0, device1, ...), in a pool."""
    chunks = max(1, workers * 2)
    jobs = [(sources[i::chunks], f"device{r}", per_image, round_recipe(recipe, r))
            for r in range(rounds) for i in range(chunks)]
    jobs = [j for j in jobs if j[0]]
    if workers > 1:
        import multiprocessing as mp

        with mp.get_context("spawn").Pool(workers) as pool:
            parts = pool.map(_patch_job, jobs)
    else:
        parts = [_patch_job(j) for j in jobs]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def add_identity_pairs(x: np.ndarray, y: np.ndarray, share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Clean->clean pairs as ``share`` of the patches (``ml/restoration/data.with_identity_pairs``)."""
    from fpstation.ml.restoration import data as rd

    return rd.with_identity_pairs(x, y, share, seed)


def batches(x: np.ndarray, y: np.ndarray, batch: int, steps: int, seed: int, workers: int = 1):
    """A Keras ``PyDataset`` of ``steps`` random batches per epoch (numpy only, any backend), with
    the same flip / quarter turn on both sides; batch ``i`` of epoch ``e`` is seeded by (seed, e, i)."""
    import keras

    class Batches(keras.utils.PyDataset):
        def __init__(self) -> None:
            super().__init__(workers=workers)
            self.epoch = 0

        def __len__(self) -> int:
            return steps

        def on_epoch_end(self) -> None:
            self.epoch += 1

        def __getitem__(self, i: int):
            rng = np.random.default_rng([seed, self.epoch, i])
            idx = rng.integers(0, len(x), batch)
            a = x[idx].astype(np.float32) / 255.0
            b = y[idx].astype(np.float32) / 255.0
            if rng.random() < 0.5:
                a, b = a[:, :, ::-1], b[:, :, ::-1]
            k = int(rng.integers(0, 4))
            a, b = np.rot90(a, k, axes=(1, 2)), np.rot90(b, k, axes=(1, 2))
            return np.ascontiguousarray(a[..., None]), np.ascontiguousarray(b[..., None])

    return Batches()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pack", default=str(ROOT / "training" / "device" / "pack"))
    ap.add_argument("--out", required=True)
    ap.add_argument("--minutes", type=float, default=8.0, help="wall-clock budget of the fit")
    ap.add_argument("--rounds", type=int, default=3, help="independent degradations of every source")
    ap.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2) - 1))
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--steps-per-epoch", type=int, default=200)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--loss", default="l1_ssim")
    ap.add_argument("--recipe", choices=["pack", "v2", "wide", "mixed"], default="pack",
                    help="degradation generator: the pack's (default), v2, wide, or mixed (wide and v2 by round)")
    ap.add_argument("--identity", type=float, default=0.0,
                    help="share of clean->clean pairs added to the training patches (0 = none)")
    ap.add_argument("--base", type=int, default=16)
    ap.add_argument("--levels", type=int, default=3)
    ap.add_argument("--dilations", nargs="*", type=int, default=[2, 4, 8])
    ap.add_argument("--checkpoint-minutes", type=float, default=2.0)
    ap.add_argument("--init", default=None, help="start from these .weights.h5 (e.g. a CPU run's checkpoint)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    import keras

    from fpstation.ml.architectures import build_unet, restoration_loss, ssim_metric

    t0 = time.perf_counter()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    pack = Path(args.pack)
    if not (pack / "sources.json").is_file():
        print(f"no pack at {pack}: run training/device_pack.py here first", file=sys.stderr)
        return 2
    sources, manifest = load_sources(pack)
    per_image = {"fvc": (4, 6), "socofing": (1, 1), "altered": (1, 1)}
    backend = keras.backend.backend()
    devices: list[str] = []
    if backend == "jax":
        import jax

        devices = [str(d) for d in jax.devices()]
    elif backend == "torch":
        import torch

        devices = [torch.cuda.get_device_name(0)] if torch.cuda.is_available() else ["cpu"]
    log(f"backend {backend} on {devices or 'default device'}; {len(sources)} sources, {args.rounds} rounds, "
        f"{args.workers} workers")
    recipe = manifest.get("recipe", "wide") if args.recipe == "pack" else args.recipe
    xt, yt = make_training_patches(sources, args.rounds, per_image, recipe, args.workers)
    xt, yt = add_identity_pairs(xt, yt, args.identity, args.seed)
    val = np.load(pack / "val.npz")
    xv = val["x"].astype(np.float32)[..., None] / 255.0
    yv = val["y"].astype(np.float32)[..., None] / 255.0
    t_data = time.perf_counter() - t0
    log(f"patches: train {len(xt)}, val {len(xv)} ({t_data:.0f} s)")

    keras.utils.set_random_seed(args.seed)
    model = build_unet((None, None, 1), base=args.base, levels=args.levels, dilations=tuple(args.dilations),
                       compile=False)
    if args.init:
        model.load_weights(args.init)
        log(f"initialised from {args.init}")
    model.compile(optimizer=keras.optimizers.Adam(args.lr), loss=restoration_loss(args.loss),
                  metrics=["mae", ssim_metric])
    budget = args.minutes * 60.0
    history: list[dict] = []
    best = {"val_ssim": -1.0, "epoch": None}
    last = out / "restore-unet-device.weights.h5"
    best_path = out / "restore-unet-device.best.weights.h5"
    t_fit = time.perf_counter()
    state = {"last_ckpt": t_fit}

    def write_run(done: bool) -> None:
        run = {"what": "restoration U-Net trained by training/device_train.py", "backend": backend,
               "devices": devices, "done": done, "hyper": {**{k: v for k, v in vars(args).items() if k != "out"},
                                                          "per_image": per_image, "optimizer": "Adam, cosine over time",
                                                          "recipe_used": recipe},
               "pack": {k: manifest[k] for k in ("holdout_dbs", "recipe", "counts", "file_list_sha256", "tiny")},
               "train_patches": int(len(xt)), "val_patches": int(len(xv)), "data_seconds": round(t_data, 1),
               "fit_seconds": round(time.perf_counter() - t_fit, 1), "best": best, "history": history}
        tmp = out / "device_run.json.tmp"
        tmp.write_text(json.dumps(run, indent=1) + "\n", encoding="utf-8")
        os.replace(tmp, out / "device_run.json")

    class Clock(keras.callbacks.Callback):
        """Cosine learning rate over the wall-clock budget; checkpoints; stops when time is up."""

        def on_epoch_begin(self, epoch, logs=None):
            frac = min(1.0, (time.perf_counter() - t_fit) / budget)
            self.model.optimizer.learning_rate.assign(args.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * frac))))

        def on_epoch_end(self, epoch, logs=None):
            logs = {k: float(v) for k, v in (logs or {}).items()}
            logs["lr"] = float(np.asarray(self.model.optimizer.learning_rate))
            logs["seconds"] = round(time.perf_counter() - t_fit, 1)
            history.append(logs)
            log(f"epoch {epoch + 1} " + " ".join(f"{k}={v:.4f}" for k, v in sorted(logs.items())))
            if logs.get("val_ssim", -1) > best["val_ssim"]:
                best.update(val_ssim=logs["val_ssim"], epoch=epoch + 1)
                self.model.save_weights(best_path)
            now = time.perf_counter()
            if now - state["last_ckpt"] >= args.checkpoint_minutes * 60:
                self.model.save_weights(last)
                write_run(False)
                state["last_ckpt"] = now
            if now - t_fit >= budget:
                self.model.stop_training = True

    model.fit(batches(xt, yt, args.batch_size, args.steps_per_epoch, args.seed, workers=min(4, args.workers)),
              validation_data=(xv, yv), epochs=100000, callbacks=[Clock()], verbose=0)
    model.save_weights(last)
    write_run(True)
    log(f"done: {len(history)} epochs in {time.perf_counter() - t_fit:.0f} s; best val_ssim {best['val_ssim']:.4f} "
        f"at epoch {best['epoch']}; wrote {best_path} and {out / 'device_run.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
