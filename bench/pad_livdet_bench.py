"""Material-spoof PAD (pad-livdet) -> bench/results/pad_livdet.json.

1. Leave-one-subject-out figures of both approaches (patch CNN and the classical texture
   baseline), as measured by ``training/train_pad_livdet.py`` in the run that produced the shipped
   model (read from ``--loso``, default bench/results/pad_livdet_loso.json; that script is the only
   one that trains, so the figures are copied with its command, never re-typed).
2. Latency of ``pad_predict`` (patch extraction, the cached ``tf.function``, fusion, calibration,
   domain check) per print: 1000×1000 LivDet prints at a stated 1000 dpi, and 500×500 prints
   (the centre crop at 1000 dpi, and the whole print downsampled and stated at 500 dpi, which the
   model resamples back to 1000 dpi and reports as outside its domain). Also the classical
   baseline's features + linear model on the same prints, and the "Why?" heat map.
3. Batch throughput: ``core.batch.run_batch`` over ``--batch-n`` LivDet prints with both PAD
   models on (restoration and gender off), stated 1000 dpi.
4. The alteration model (pad-socofing) is unchanged: its validation figures recomputed with
   ``evaluate_pad_folder(subjects="val")`` on SOCOFing and compared with its card, plus the share of
   its validation prints inside its new ``domain`` entry.

    nice -n 5 .venv/bin/python bench/pad_livdet_bench.py [--n 30] [--threads 1]

Targets (issue 11): APCER(gelatine) <= 2 % at BPCER <= 1 % and accuracy >= 98 % (LOSO);
<= 60 ms per 1000×1000 print.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _stats(ms: list[float], cpu_ms: list[float] | None = None) -> dict[str, float]:
    """Wall-clock statistics, plus the process CPU time per call: on a CPU shared with other jobs
    the wall time includes waiting for a core, the CPU time is what one call costs on an idle one."""
    import numpy as np

    a = np.asarray(ms)
    out = {"median_ms": round(float(np.median(a)), 2), "p90_ms": round(float(np.percentile(a, 90)), 2),
           "mean_ms": round(float(a.mean()), 2), "calls": int(a.size)}
    if cpu_ms:
        out["cpu_median_ms"] = round(float(np.median(cpu_ms)), 2)
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=30, help="prints timed per size")
    p.add_argument("--batch-n", type=int, default=60, help="prints in the batch throughput run")
    p.add_argument("--threads", type=int, default=1, help="TensorFlow intra-op threads (the GUI's pool: 1)")
    p.add_argument("--loso", default=str(ROOT / "bench" / "results" / "pad_livdet_loso.json"))
    p.add_argument("--no-socofing", action="store_true", help="skip the pad-socofing re-evaluation")
    p.add_argument("--out", default=str(ROOT / "bench" / "results" / "pad_livdet.json"))
    args = p.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    import numpy as np

    from fpstation.core.batch import run_batch, stated_dpi_reader
    from fpstation.core.imageio import read_print
    from fpstation.core.pipeline import Analyzers
    from fpstation.core.store import CaseStore
    from fpstation.core.types import FingerprintImage
    from fpstation.ml import classifiers as clf
    from fpstation.ml.classifiers.patches import LinearModel, texture_features
    from fpstation.ml.registry import get_registry
    from fpstation.paths import shared_data_dir, shared_dataset

    sd = shared_data_dir()
    data = shared_dataset("livdet2015-hiscan")
    if data is None:
        print("needs the shared folder livdet2015-hiscan (../shared/data)", file=sys.stderr)
        return 2
    reg = get_registry()
    card = reg.card("pad-livdet")
    out: dict = {"created": datetime.now(UTC).isoformat(timespec="seconds"),
                 "command": "python " + " ".join(sys.argv), "machine": platform.platform(),
                 "cpu_count": os.cpu_count(), "tf_threads": args.threads,
                 "model": {"name": card.name, "version": card.version, "sha256": card.sha256,
                           "architecture": card.data.get("architecture")}}
    # 1. LOSO figures (from the training run)
    loso = json.loads(Path(args.loso).read_text())
    out["loso"] = {"source": str(Path(args.loso).relative_to(ROOT)), "command": loso["command"],
                   "protocol": loso["protocol"], "winner": loso["winner"],
                   "approaches": {a: {"pooled": r["pooled"],
                                      "per_fold": [{k: f[k] for k in ("test_subject", "val_subject", "threshold",
                                                                      "accuracy", "bpcer", "apcer", "n")}
                                                   for f in r["folds"]]}
                                  for a, r in loso["approaches"].items()}}

    # 2. latency
    files = sorted((data / "Live").glob("*.png"))[:: max(1, 350 // args.n)][: args.n // 2] + \
        sorted((data / "Fake").rglob("*.png"))[:: max(1, 160 // args.n)][: args.n - args.n // 2]
    prints = [read_print(f).with_stated_dpi(1000) for f in files]
    import cv2

    def crop(im: FingerprintImage) -> FingerprintImage:
        h, w = im.pixels.shape
        from dataclasses import replace

        return replace(im, pixels=np.ascontiguousarray(im.pixels[h // 4:h // 4 + 500, w // 4:w // 4 + 500]))

    def half(im: FingerprintImage) -> FingerprintImage:
        from dataclasses import replace

        small = cv2.resize(im.pixels, (500, 500), interpolation=cv2.INTER_AREA)
        return replace(im, pixels=small).with_stated_dpi(500)

    t0 = time.perf_counter()
    clf.pad_predict(prints[0], "pad-livdet")
    out["first_call_ms"] = round((time.perf_counter() - t0) * 1000, 1)
    lat: dict = {}
    for label, ims in (("1000x1000 @1000dpi", prints), ("500x500 crop @1000dpi", [crop(i) for i in prints]),
                       ("500x500 @500dpi (resampled, outside domain)", [half(i) for i in prints])):
        ms, cpu, n_patches, outside = [], [], [], 0
        for im in ims:
            t, c = time.perf_counter(), time.process_time()
            r = clf.pad_predict(im, "pad-livdet")
            ms.append((time.perf_counter() - t) * 1000)
            cpu.append((time.process_time() - c) * 1000)
            n_patches.append(len(clf.print_patches(im, card.data).pixels))
            outside += int(not r.in_domain)
        lat[label] = {**_stats(ms, cpu), "patches_mean": round(float(np.mean(n_patches)), 1),
                      "outside_domain": outside}
    ms, cpu = [], []
    for im in prints[:10]:
        t, c = time.perf_counter(), time.process_time()
        clf.pad_explain(im, "pad-livdet")
        ms.append((time.perf_counter() - t) * 1000)
        cpu.append((time.process_time() - c) * 1000)
    lat["why_heat_map 1000x1000"] = _stats(ms, cpu)
    # classical baseline on the same prints (features + a linear model of the right size)
    rng = np.random.default_rng(0)
    lin = LinearModel()
    lin.mean, lin.scale, lin.w, lin.b = np.zeros(350), np.ones(350), rng.normal(size=350), 0.0
    ms, cpu = [], []
    for im in prints:
        t, c = time.perf_counter(), time.process_time()
        lin.decision(texture_features(im.pixels, im.dpi)[None])
        ms.append((time.perf_counter() - t) * 1000)
        cpu.append((time.process_time() - c) * 1000)
    lat["classical features + linear only, 1000x1000"] = _stats(ms, cpu)
    out["latency"] = lat
    out["load_average_1min"] = os.getloadavg()[0]
    out["latency_target_ms"] = 60
    out["latency_met"] = lat["1000x1000 @1000dpi"]["median_ms"] <= 60
    out["latency_met_cpu_time"] = lat["1000x1000 @1000dpi"]["cpu_median_ms"] <= 60
    print(json.dumps(lat, indent=1), flush=True)

    # 3. batch throughput, both PAD models on
    import tempfile

    keys = clf.pad_model_keys(reg)
    batch_files = (sorted((data / "Live").glob("*.png"))[:: 7] + sorted((data / "Fake").rglob("*.png"))[:: 4])
    batch_files = batch_files[: args.batch_n]
    analyzers = Analyzers(pad=lambda im: clf.pad_predict_all(im, keys))
    with tempfile.TemporaryDirectory() as tmp, CaseStore(Path(tmp) / "c.db") as store:
        rows = []
        s = run_batch([str(f) for f in batch_files], store, analyzers, partial=rows.append,
                      reader=stated_dpi_reader(1000))
    verdicts: dict[str, int] = {}
    for it in rows:
        verdicts[it.row.get("pad_verdict") or "none"] = verdicts.get(it.row.get("pad_verdict") or "none", 0) + 1
    out["batch"] = {"prints": s.prints_analysed, "seconds": round(s.seconds, 2),
                    "prints_per_s": round(s.prints_per_s, 2), "pad_models": keys,
                    "steps": "PAD only (both models), restoration and gender off", "dpi": "1000 (stated)",
                    "combined_verdicts": verdicts,
                    "pad_models_example": rows[0].row.get("pad_models") if rows else ""}
    print(out["batch"], flush=True)

    # 4. the alteration model is unchanged
    soc = reg.card("pad-socofing")
    crossfit = not soc.data["split"].get("val_subjects")
    if crossfit:  # trained on every subject (train_pad.py --cross-fit): no subjects to re-evaluate it on
        out["pad_socofing_unchanged"] = {"skipped": "pad-socofing is cross-fitted (no validation subjects); its "
                                                    "figures are out of fold in its card"}
    if not args.no_socofing and not crossfit and sd and (sd / "socofing").is_dir():
        from fpstation.ml.classifiers.eval import evaluate_pad_folder

        rep, _ = evaluate_pad_folder(sd / "socofing", "pad-socofing", "val")
        m = soc.data["metrics"]
        out["pad_socofing_unchanged"] = {
            "card": {k: m.get(k) for k in ("val_n", "apcer", "apcer_max", "bpcer", "bpcer20", "bpcer100")},
            "recomputed": {"val_n": rep["n"], **{k: rep[k] for k in ("apcer", "apcer_max", "bpcer", "bpcer20",
                                                                      "bpcer100")}},
            "weights_sha256": soc.sha256,
        }
        vals = {str(v) for v in soc.data["split"]["val_subjects"]}
        from fpstation.ml.datasets import scan_socofing

        items = [it for it in scan_socofing(sd / "socofing") if str(it["subject"]) in vals]
        inside = sum(clf.domain_check(read_print(it["path"]), soc.data).in_domain for it in items)
        out["pad_socofing_unchanged"]["validation_prints_inside_domain"] = f"{inside}/{len(items)}"
        print(out["pad_socofing_unchanged"], flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2), encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
