"""The v1 gender CNN against the v2 feature models on the same prints -> bench/results/classifiers/gender_cnn_compare.json.

A cross-validated CNN was not affordable here (one 20-epoch training took 1357 s on the shared CPU;
5 folds × repeats would take hours), so the comparison is made where both are honest: on the
89 validation subjects of the v1 CNN (never trained on by it; its threshold/calibration/epoch were
chosen on them, which flatters it), with the v2 figures from their out-of-fold scores
(training/train_gender_v2.py ``--oof``). 95 % intervals from a bootstrap over subjects.

    git show 2024f51:models/gender-socofing.keras > /tmp/gender-v1.keras
    git show 2024f51:models/gender-socofing.json > /tmp/gender-v1.json
    nice -n 5 .venv/bin/python bench/gender_cnn_compare.py --cnn /tmp/gender-v1.keras --card /tmp/gender-v1.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> int:
    from fpstation.ml.classifiers import metrics as cm
    from fpstation.ml.classifiers.tasks import load_array
    from fpstation.paths import shared_data_dir

    sd = shared_data_dir()
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cnn", required=True, help="the v1 CNN (.keras)")
    ap.add_argument("--card", required=True, help="its model card (.json)")
    ap.add_argument("--oof", default=str(ROOT.parent / "runs" / "gender-socofing" / "oof.npz"))
    ap.add_argument("--data", default=str(sd / "socofing") if sd else None)
    ap.add_argument("--bootstrap", type=int, default=1000)
    args = ap.parse_args()

    card = json.loads(Path(args.card).read_text(encoding="utf-8"))
    val = {str(s) for s in card["split"]["val_subjects"]}
    oof = np.load(args.oof)
    keep = np.array([s in val for s in oof["subject"]])
    paths = [str(Path(args.data) / p) for p in oof["path"][keep]]
    y, subj = oof["y"][keep], oof["subject"][keep]

    import keras

    model = keras.models.load_model(args.cnn, compile=False)
    shape = (int(card["input"]["shape"][0]), int(card["input"]["shape"][1]))
    x, bad = load_array([{"path": p} for p in paths], shape)
    assert not bad, bad
    raw = np.asarray(model.predict(x.astype(np.float32)[..., None] / 255.0, batch_size=256, verbose=0)).reshape(-1)
    scores = {"cnn_v1": cm.apply_calibration(raw, card.get("calibration"))}
    for k in oof.files:
        if k.startswith("oof_"):
            scores[f"v2_{k[4:]}_oof"] = oof[k][keep]

    def figs(z: np.ndarray) -> dict:
        uniq, inv = np.unique(subj, return_inverse=True)
        zs = np.bincount(inv, weights=z) / np.bincount(inv)
        ys = np.zeros(len(uniq), int)
        ys[inv] = y
        out = {}
        for lvl, zz, yy, g in (("per_print", z, y, subj), ("per_subject", zs, ys, uniq)):
            ba = cm.binary_summary(cm.sigmoid(zz), yy)["balanced_accuracy"]
            out[lvl] = {"n": int(len(yy)), "balanced_accuracy": float(ba), "auc": float(cm.roc_auc(zz, yy)),
                        "ci95": {"balanced_accuracy": cm.subject_bootstrap(
                            lambda i, zz=zz, yy=yy: cm.binary_summary(cm.sigmoid(zz[i]), yy[i])["balanced_accuracy"],
                            g, args.bootstrap),
                            "auc": cm.subject_bootstrap(lambda i, zz=zz, yy=yy: cm.roc_auc(zz[i], yy[i]), g,
                                                        args.bootstrap)}}
        return out

    res = {k: figs(np.asarray(v, np.float64)) for k, v in scores.items()}
    for k, v in res.items():
        print(f"{k:24s} print BA {v['per_print']['balanced_accuracy']:.3f} AUC {v['per_print']['auc']:.3f} | "
              f"subject BA {v['per_subject']['balanced_accuracy']:.3f} AUC {v['per_subject']['auc']:.3f}")
    out = {"subjects": f"the {len(set(subj))} validation subjects of the v1 CNN ({int(y.sum())} female prints of "
                       f"{len(y)}); the v1 CNN's calibration and epoch were chosen on them (optimistic for it)",
           "cnn_card_sha256": card["sha256"], "results": res,
           "command": "python bench/gender_cnn_compare.py --cnn <v1 .keras> --card <v1 .json>  (see docstring)"}
    dest = ROOT / "bench" / "results" / "classifiers" / "gender_cnn_compare.json"
    dest.write_text(json.dumps(out, indent=2), encoding="utf-8")
    print(f"wrote {dest}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
