"""A non-CNN gender baseline on the same subject-disjoint split: ridge-frequency spectrum + logistic
regression -> bench/results/classifiers/gender_spectral_baseline.json.

Female prints have a higher ridge density on average; the radially averaged log power spectrum of
the (Hann-windowed) print captures it. Class-balanced logistic regression on 39 spectrum bins,
trained on the training subjects, scored on the validation subjects of
``fpstation.ml.datasets.subject_split(val_fraction=0.2, seed=0)`` (the shipped model's split).
Shows how much of the CNN's figure a single hand-made cue explains.

    nice -n 10 .venv/bin/python bench/gender_spectral_baseline.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def spectrum_features(x: np.ndarray) -> np.ndarray:
    """(N, H, W) uint8 -> (N, 39) log radial power in bins of normalised frequency 0.02..0.5."""
    n, h, w = x.shape
    xf = x.astype(np.float32) / 255
    xf = xf - xf.mean((1, 2), keepdims=True)
    win = np.outer(np.hanning(h), np.hanning(w))
    f = np.abs(np.fft.fftshift(np.fft.fft2(xf * win), axes=(1, 2))) ** 2
    yy, xx = np.mgrid[0:h, 0:w]
    r = np.sqrt(((yy - h // 2) / h) ** 2 + ((xx - w // 2) / w) ** 2)
    bins = np.linspace(0.02, 0.5, 40)
    idx = np.digitize(r, bins)
    return np.stack([np.log(f[:, idx == k].mean(1) + 1e-8) for k in range(1, len(bins))], 1)


def main() -> int:
    from scipy.optimize import minimize

    from fpstation.ml.classifiers import metrics as cm
    from fpstation.ml.classifiers.tasks import GenderTask, gender_metrics, load_array
    from fpstation.paths import shared_data_dir

    sd = shared_data_dir()
    if sd is None:
        raise SystemExit("../shared/data is absent")
    task = GenderTask()
    hyper = task.default_hyper()
    scan = task.scan(sd / "socofing", hyper)
    x, _ = load_array(scan.items, task.input_shape(hyper))
    y = np.array([it["y"] for it in scan.items])
    subj = np.array([str(it["subject"]) for it in scan.items])
    val = np.array([s in scan.val_subjects for s in subj])
    feat = spectrum_features(x)
    mu, sd_ = feat[~val].mean(0), feat[~val].std(0)
    feat = (feat - mu) / sd_
    w = np.where(y == 1, 0.5 / y[~val].mean(), 0.5 / (1 - y[~val].mean()))
    xb = np.c_[feat, np.ones(len(feat))]

    def loss(b: np.ndarray) -> float:
        z = xb[~val] @ b
        yt, wt = y[~val], w[~val]
        nll = (wt * (yt * np.logaddexp(0, -z) + (1 - yt) * np.logaddexp(0, z))).sum() / wt.sum()
        return float(nll + (b[:-1] ** 2).sum() / (~val).sum())

    b = minimize(loss, np.zeros(xb.shape[1]), method="L-BFGS-B").x
    z = xb @ b
    m = gender_metrics(z[val], y[val], list(subj[val]))
    out = {"method": "radial log power spectrum (39 bins) + class-balanced L2 logistic regression",
           "split": "subject_split(val_fraction=0.2, seed=0) on SOCOFing Real (same as gender-socofing)",
           "train_balanced_accuracy": cm.binary_summary(cm.sigmoid(z[~val]), y[~val])["balanced_accuracy"],
           "val": {k: m[k] for k in ("n", "balanced_accuracy", "auc", "accuracy", "confusion_matrix")},
           "val_per_subject": {k: m["per_subject"][k] for k in ("n", "balanced_accuracy", "auc", "confusion_matrix")}}
    dest = ROOT / "bench" / "results" / "classifiers" / "gender_spectral_baseline.json"
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps(out, indent=2), encoding="utf-8")
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
