"""PAD and gender classifiers: latency per print per model + honest evaluation -> bench/results/classifiers.json.

Latency: the shipped default models (models/*.json via the registry), SOCOFing prints decoded
once, then ``pad_predict`` / ``gender_predict`` per print (the GUI's call: preprocessing + a cached
``tf.function``), ``gender_combined`` over 10 prints, and ``pad_explain`` (occlusion, the GUI default, and Grad-CAM). The first call
(model load + trace) is reported separately; medians/p90 are over ``--repeat`` rounds of all prints.
TensorFlow runs with ``--threads`` intra-op threads (the GUI's inference pool is one thread).

Evaluation: ``fpstation.ml.classifiers.eval`` on ../shared/data/socofing with ``subjects="val"``,
i.e. only the model cards' validation subjects (the training subjects are never scored).

    nice -n 10 .venv/bin/python bench/classifier_bench.py [--n 200] [--repeat 3] [--threads 2]

Targets (issue 4): ≤ 20 ms per print per model; gender balanced accuracy ≥ 0.80 and AUC ≥ 0.88;
PAD APCER_max ≤ 2 % at BPCER ≤ 1 %.
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


def _stats(ms: list[float]) -> dict[str, float]:
    import numpy as np

    a = np.asarray(ms)
    return {"median_ms": round(float(np.median(a)), 3), "p90_ms": round(float(np.percentile(a, 90)), 3),
            "mean_ms": round(float(a.mean()), 3), "max_ms": round(float(a.max()), 3), "calls": int(a.size)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=200, help="prints timed per round")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--no-eval", action="store_true")
    p.add_argument("--out", default=str(ROOT / "bench" / "results" / "classifiers.json"))
    args = p.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)

    from fpstation.core.imageio import read_print
    from fpstation.ml import classifiers as clf
    from fpstation.ml.classifiers.eval import evaluate_gender_folder, evaluate_pad_folder
    from fpstation.ml.registry import get_registry
    from fpstation.paths import shared_data_dir

    sd = shared_data_dir()
    if sd is None:
        raise SystemExit("../shared/data is absent")
    soco = sd / "socofing"
    files = sorted((soco / "Real").glob("*.BMP"))[: args.n]
    images = [read_print(f) for f in files]
    reg = get_registry()
    out: dict = {"created": datetime.now(UTC).isoformat(timespec="seconds"),
                 "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "tf": tf.__version__,
                             "intra_op_threads": args.threads,
                             "load_avg_at_start": list(os.getloadavg())},
                 "prints": {"source": "SOCOFing Real (first N by name)", "n": len(images),
                            "size": list(images[0].pixels.shape)},
                 "models": {}, "latency": {}, "evaluation": {}}
    for task in ("pad", "gender"):
        c = reg.default(task)
        out["models"][task] = None if c is None else {"name": c.name, "version": c.version, "sha256": c.sha256,
                                                      "file_mb": round(c.file.stat().st_size / 1e6, 3)}

    def timed(name: str, fn, items) -> None:
        t0 = time.perf_counter()
        fn(items[0])
        first = (time.perf_counter() - t0) * 1000
        ms = []
        for _ in range(args.repeat):
            for it in items:
                t = time.perf_counter()
                fn(it)
                ms.append((time.perf_counter() - t) * 1000)
        out["latency"][name] = {"first_call_ms": round(first, 1), **_stats(ms)}
        print(name, out["latency"][name], flush=True)

    timed("pad_predict", clf.pad_predict, images)
    timed("gender_predict", clf.gender_predict, images)
    groups = [images[i:i + 10] for i in range(0, len(images) - 9, 10)]
    timed("gender_combined_10_prints", clf.gender_combined, groups)
    timed("pad_explain_occlusion", clf.pad_explain, images[: max(10, args.n // 10)])
    timed("pad_explain_gradcam", lambda im: clf.pad_explain(im, method="gradcam"), images[: max(10, args.n // 10)])
    out["latency"]["target_ms_per_print_per_model"] = 20
    out["latency"]["met"] = all(out["latency"][k]["median_ms"] <= 20 for k in ("pad_predict", "gender_predict"))

    if not args.no_eval:
        pcard = clf.load_classifier("pad").card.data
        if (pcard.get("split") or {}).get("val_subjects"):
            pad, _ = evaluate_pad_folder(soco, subjects="val")
            psum = {k: pad[k] for k in ("n", "n_subjects", "n_attack", "n_bona_fide", "threshold", "apcer",
                                        "apcer_max", "apcer_pooled", "bpcer", "bpcer20", "bpcer100", "auc")}
        else:  # a cross-fitted card is trained on every subject: its figures are out of fold (its card)
            m = pcard["metrics"]
            psum = {"source": "model card, out of fold (training/train_pad.py --cross-fit)", "n": m["val_n"],
                    "threshold": pcard["threshold"]["value"],
                    **{k: m[k] for k in ("apcer", "apcer_max", "apcer_pooled", "bpcer", "bpcer20", "bpcer100", "auc")},
                    "note": "the threshold was set on these same out-of-fold scores (BPCER 1 % by construction): "
                            "optimistic; the target below is judged on the nested cross-validation (card's "
                            "cross_validation.targets) where the card has one"}
            cv = pcard.get("cross_validation") or {}
            nested = next(iter((cv.get("targets") or {}).values()), None)
            if nested:
                psum["nested"] = {"apcer_max": nested["apcer_max"], "bpcer": nested["bpcer"], "source": cv.get("results")}
        gcard = clf.load_classifier("gender").card.data
        if (gcard.get("split") or {}).get("val_subjects"):
            gender, _ = evaluate_gender_folder(soco, subjects="val")
            gsum = {k: gender[k] for k in ("n", "n_female", "n_male", "balanced_accuracy", "auc", "accuracy",
                                           "recall_male", "recall_female", "decided_fraction",
                                           "balanced_accuracy_decided", "per_subject")}
        else:  # gender v2 is fitted on every shared subject: its figures are cross-validated (its card)
            cv = gcard["metrics"]
            gsum = {"source": "model card, out-of-fold (training/train_gender_v2.py)",
                    "balanced_accuracy": cv["per_print"]["balanced_accuracy"]["value"],
                    "auc": cv["per_print"]["auc"]["value"], "cross_validated": {
                        k: cv[k] for k in ("per_print", "per_subject")}}
        out["evaluation"] = {
            "data": "../shared/data/socofing, only the model cards' validation subjects (--subjects val)",
            "pad": psum,
            "gender": gsum,
        }
        e = out["evaluation"]
        pad_fig = e["pad"].get("nested") or e["pad"]  # a cross-fitted card: its nested CV, not its in-sample threshold
        out["targets"] = {
            "gender_balanced_accuracy>=0.80": e["gender"]["balanced_accuracy"] >= 0.80,
            "gender_auc>=0.88": e["gender"]["auc"] >= 0.88,
            "pad_apcer_max<=0.02_at_bpcer<=0.01": pad_fig["apcer_max"] <= 0.02 and pad_fig["bpcer"] <= 0.01,
            "latency<=20ms": out["latency"]["met"],
        }
        print(json.dumps(out["evaluation"], indent=1), flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2), encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
