"""Restoration benchmark -> bench/results/restoration.json.

1. Latency per image (median of warm calls, the application's inference path
   ``fpstation.ml.inference.restore``) for 96×103 (SOCOFing), 388×374 (FVC2002 DB1) and 640×480
   (an FVC2002 DB1 print padded with white: no 640×480 set is developer-visible) for each restorer,
   plus the U-Net on the TensorFlow runtime ("unet@tf") beside its default onnxruntime path.
2. Evaluation table on the full-size validation pairs (validation fingers/subjects only; the pairs
   training/make_restoration_eval.py writes): identity vs encoder-decoder vs classical vs U-Net.
   pyfing (classical) runs at ~1 s per print on this CPU, so by default every model is scored on
   the same deterministic subset (all FVC validation impressions + ``--soc`` SOCOFing + ``--alt``
   Altered pairs); the learned models are also scored on the whole set.

    python bench/restoration_bench.py [--soc 60 --alt 60] [--eval-dir /tmp/restoration-eval]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fpstation import paths  # noqa: E402
from fpstation.core.imageio import read_print  # noqa: E402
from fpstation.core.types import FingerprintImage  # noqa: E402


def latency(method: str, image: FingerprintImage, repeats: int) -> dict:
    """``method``: a restorer as the application names it, or "unet@tf" (the U-Net forced onto the
    TensorFlow runtime, for comparison with the default onnxruntime path)."""
    from fpstation.ml.inference import restore
    from fpstation.ml.restoration import restore_with_model

    if method.endswith("@tf"):
        def run():
            return restore_with_model(image, method.removesuffix("@tf"), runtime="tf")
    else:
        def run():
            return restore(image, method)

    run()  # warm-up: model load / first trace
    run()
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = run()
        ts.append(time.perf_counter() - t0)
    assert out.pixels.shape == image.pixels.shape
    return {"median_ms": round(1000 * statistics.median(ts), 1), "min_ms": round(1000 * min(ts), 1),
            "repeats": repeats, "runtime": (out.extras or {}).get("runtime")}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "restoration.json"))
    ap.add_argument("--eval-dir", default=None, help="where the validation pairs are written (default: temp)")
    ap.add_argument("--soc", type=int, default=60)
    ap.add_argument("--alt", type=int, default=60)
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--skip-latency", action="store_true")
    args = ap.parse_args(argv)

    import tempfile

    from fpstation.ml.registry import get_registry
    from fpstation.ml.restoration.eval import evaluate_pairs, pair_files, table

    data = paths.shared_data_dir()
    if data is None:
        print("shared data not found", file=sys.stderr)
        return 2
    reg = get_registry()
    learned = {c.data.get("architecture"): c.key for c in reg.cards("restoration") if c.shipped}
    result: dict = {"machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                                "loadavg_start": os.getloadavg()},
                    "models": {k: {"key": v, "sha256": reg.card(v).sha256} for k, v in learned.items()}}

    # -- 1. latency ----------------------------------------------------------------------------
    if not args.skip_latency:
        soc = read_print(data / "socofing" / "Real" / "101__M_Left_index_finger.BMP")
        fvc = read_print(data / "fvc2002-db1b" / "images" / "101_1.png")
        big = np.full((480, 640), 255, np.uint8)
        big[53:53 + 374, 126:126 + 388] = fvc.pixels
        sizes = {"96x103": FingerprintImage(soc.pixels, 500.0, soc.source, soc.sha256),
                 "388x374": FingerprintImage(fvc.pixels, 500.0, fvc.source, fvc.sha256),
                 "640x480": FingerprintImage(big, 500.0, "padded", "0" * 64)}
        lat: dict = {}
        for method in ["unet", "unet@tf", "autoencoder", "classical"]:
            if method != "classical" and method.removesuffix("@tf") not in learned:
                continue
            lat[method] = {}
            for size, im in sizes.items():
                reps = max(3, args.repeats // 3) if method == "classical" else args.repeats
                lat[method][size] = latency(method, im, reps)
                print(f"latency {method:12s} {size:8s} {lat[method][size]}", flush=True)
        result["latency"] = lat
        result["latency_note"] = ("median wall time of fpstation.ml.inference.restore(image, method) after two "
                                  "warm-up calls, dpi 500 (no resampling), default threads, 2-core CPU (other jobs: "
                                  "see loadavg). 'unet' is the application's path (onnxruntime on the card's "
                                  "ONNX export); 'unet@tf' the same weights as a tf.function; 'runtime' says "
                                  "which ran")

    # -- 2. evaluation table --------------------------------------------------------------------
    eval_dir = Path(args.eval_dir) if args.eval_dir else Path(tempfile.mkdtemp(prefix="restoration-eval-"))
    if not (eval_dir / "index.json").is_file():
        import subprocess

        subprocess.run([sys.executable, str(ROOT / "training" / "make_restoration_eval.py"), "--out", str(eval_dir)],
                       check=True)
    index = json.loads((eval_dir / "index.json").read_text())["pairs"]
    pairs, _ = pair_files(eval_dir / "degraded", eval_dir / "clean")
    kind = {p["name"]: p["kind"] for p in index}
    by_kind: dict[str, list] = {}
    for pr in pairs:
        by_kind.setdefault(kind[pr[0].name], []).append(pr)
    subset = by_kind.get("fvc", []) + by_kind.get("socofing", [])[:args.soc] + by_kind.get("altered", [])[:args.alt]
    learned_models = ["identity", *[learned[a] for a in ("autoencoder", "unet") if a in learned]]
    t0 = time.perf_counter()
    rows: dict = {}
    full_res = evaluate_pairs(pairs, learned_models, per_pair=rows)
    print(table(full_res), flush=True)
    cls_res = evaluate_pairs(subset, ["classical"])

    def agg(names: set) -> dict:
        out = {}
        for m in learned_models:
            r = [v for k, v in rows[m].items() if k in names]
            out[m] = {k: float(np.mean([x[k] for x in r])) for k in ("ssim", "psnr", "mae")}
            out[m]["n"] = len(r)
        return out

    sub_names = {p[0].name for p in subset}
    sub_res = {**agg(sub_names), **cls_res}
    for m in learned_models:
        sub_res[m]["seconds_per_image"] = full_res[m]["seconds_per_image"]
    print(table(sub_res), flush=True)
    per_kind = {k: agg({p[0].name for p in prs}) for k, prs in by_kind.items()}
    result["evaluation"] = {
        "pairs_folder": "training/make_restoration_eval.py (validation fingers/subjects only, deterministic seeds)",
        "all_pairs_learned": {"n": len(pairs), "models": full_res},
        "all_pairs_per_kind_learned": per_kind,
        "subset_with_classical": {"n": len(subset),
                                  "composition": {k: sum(1 for p in subset if p in v) for k, v in by_kind.items()},
                                  "models": sub_res,
                                  "note": "pyfing is ~1 s per print, so it is scored on this subset; the learned "
                                          "models' numbers here are the same per-pair scores restricted to it"},
        "seconds": round(time.perf_counter() - t0, 1)}
    # targets
    u, a = learned.get("unet"), learned.get("autoencoder")
    tg: dict = {}
    if u:
        tg["unet_ssim_all_pairs"] = full_res[u]["ssim"]
        tg["unet_ssim_ge_0.90"] = full_res[u]["ssim"] >= 0.90
        if a:
            tg["unet_minus_autoencoder_ssim"] = full_res[u]["ssim"] - full_res[a]["ssim"]
            tg["unet_ge_autoencoder_plus_0.15"] = tg["unet_minus_autoencoder_ssim"] >= 0.15
        if "latency" in result:
            tg["unet_388x374_ms"] = result["latency"]["unet"]["388x374"]["median_ms"]
            tg["unet_388x374_le_100ms"] = tg["unet_388x374_ms"] <= 100
    result["targets"] = tg
    result["machine"]["loadavg_end"] = os.getloadavg()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2), encoding="utf-8")
    print(json.dumps(tg, indent=2))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
