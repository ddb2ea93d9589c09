"""Restoration design pilot (loss, width, residual output) -> bench/results/restoration_pilot.json.

Every configuration trains for the same number of steps (batch 16, Adam 1e-3 with cosine decay, flips
and quarter turns) on the training patches of ``training/train_restoration.py`` (96 px, subject-disjoint
split, read from its ``--cache`` folder) and is scored on the first 1000 validation patches: SSIM
(:func:`fpstation.ml.architectures.ssim_per_image`, the evaluation's 7×7 uniform window), PSNR and MAE
of the prediction clipped to [0, 1]. Short runs rank designs; they do not predict the shipped model's
numbers.

    python training/train_restoration.py --cache /tmp/rcache --no-eval --epochs 1 --steps-per-epoch 1  # makes the cache
    python bench/restoration_pilot.py --cache /tmp/rcache --steps 700
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

#: (loss, base width, residual output) per configuration
CONFIGS = [("l1_ssim", 8, True), ("mse", 8, True), ("l1", 8, True), ("l1_ssim", 8, False), ("l1_ssim", 16, True)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", required=True, help="patch cache of training/train_restoration.py (unet_*_p96_s0_*.npy)")
    ap.add_argument("--steps", type=int, default=700)
    ap.add_argument("--configs", default=None, help="comma-separated indices into CONFIGS (default: all)")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "restoration_pilot.json"))
    args = ap.parse_args(argv)

    import keras
    import tensorflow as tf

    from fpstation.ml.architectures import build_unet, restoration_loss, ssim_per_image

    tf.config.threading.set_intra_op_parallelism_threads(2)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    c = Path(args.cache)
    xt, yt = np.load(c / "unet_train_p96_s0_x.npy"), np.load(c / "unet_train_p96_s0_y.npy")
    xv, yv = np.load(c / "unet_val_p96_s0_x.npy")[:1000], np.load(c / "unet_val_p96_s0_y.npy")[:1000]
    configs = CONFIGS if args.configs is None else [CONFIGS[int(i)] for i in args.configs.split(",")]

    def batch(rng: np.random.Generator, n: int = 16) -> tuple[np.ndarray, np.ndarray]:
        idx = rng.integers(0, len(xt), n)
        a, b = xt[idx].astype(np.float32) / 255, yt[idx].astype(np.float32) / 255
        k = int(rng.integers(0, 4))
        a, b = np.rot90(a, k, (1, 2)), np.rot90(b, k, (1, 2))
        if rng.random() < 0.5:
            a, b = a[:, :, ::-1], b[:, :, ::-1]
        return a[..., None].copy(), b[..., None].copy()

    def scores(pred_fn) -> dict:
        s, ps, ma = [], [], []
        for i in range(0, len(xv), 100):
            a = xv[i:i + 100, ..., None].astype(np.float32) / 255
            b = yv[i:i + 100, ..., None].astype(np.float32) / 255
            p = np.clip(pred_fn(a), 0, 1)
            s.append(np.asarray(ssim_per_image(b, p)))
            mse = ((p - b) ** 2).mean((1, 2, 3))
            ps.append(10 * np.log10(1 / np.maximum(mse, 1e-10)))
            ma.append(np.abs(p - b).mean((1, 2, 3)))
        return {k: float(np.concatenate(v).mean()) for k, v in (("ssim", s), ("psnr", ps), ("mae", ma))}

    result = {"protocol": __doc__.split("\n\n")[1].replace("\n", " "), "steps": args.steps,
              "identity": scores(lambda a: a), "runs": [], "loadavg_start": os.getloadavg()}
    print("identity", result["identity"], flush=True)
    for loss, base, residual in configs:
        keras.utils.set_random_seed(0)
        rng = np.random.default_rng(0)
        model = build_unet((None, None, 1), base=base, levels=3, residual=residual, compile=False)
        opt = keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(1e-3, args.steps, alpha=0.05))
        loss_fn = restoration_loss(loss)

        @tf.function
        def step(x, y, model=model, opt=opt, loss_fn=loss_fn):
            with tf.GradientTape() as tape:
                value = loss_fn(y, model(x, training=True))
            grads = tape.gradient(value, model.trainable_variables)
            opt.apply_gradients(zip(grads, model.trainable_variables, strict=True))
            return value

        t0 = time.perf_counter()
        for i in range(args.steps):
            value = float(step(*batch(rng)))
            if i % 100 == 0:
                print(f"  {loss} base {base} residual {residual}: step {i} loss {value:.4f}", flush=True)
        infer = tf.function(lambda a, model=model: model(a, training=False))
        run = {"loss": loss, "base": base, "residual": residual, "parameters": int(model.count_params()),
               "seconds": round(time.perf_counter() - t0), **scores(lambda a, f=infer: f(a).numpy())}
        print(json.dumps(run), flush=True)
        result["runs"].append(run)
    result["loadavg_end"] = os.getloadavg()
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
