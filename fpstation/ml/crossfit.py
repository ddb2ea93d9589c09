"""Cross-fitted PAD ensembles: every subject scored by the network that did not see them (ADR 0267).

The subjects are cut in K parts (:func:`parts`); network j trains on the other K-1 parts, keeps its
best epoch by part j's validation AUC and is Platt-calibrated on part j (:func:`score_part`, in the
model's view: the print, or the mean with its mirror). Every subject is so scored once by a network
blind to them; pooled, those calibrated scores set the threshold (lowest with BPCER <= max_bpcer)
and the card's figures (:func:`evaluation`). The model is one graph whose logit is the mean of the
K calibrated logits (:func:`ensemble`), so inference, ONNX, the mirror view and Grad-CAM take it
like any one network; its card's calibration is the identity.

Used by ``training/train_pad.py --cross-fit K`` and by :func:`fpstation.ml.training.train`
(``hyper.extra["cross_fit"] = K``: ``fpstation train pad --cross-fit K``, the Training dialog).
No TensorFlow at import.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from fpstation.core.errors import DatasetError

#: how many parts a cross-fitted model may have
MIN_PARTS, MAX_PARTS = 2, 9


def check(task: Any, hyper: Any, k: int) -> None:
    """Refuse, in words, what cross-fitting cannot do."""
    if not MIN_PARTS <= int(k) <= MAX_PARTS:
        raise DatasetError(f"A cross-fitted model has {MIN_PARTS} to {MAX_PARTS} parts, not {k}.")
    if getattr(task, "name", "") != "pad" or getattr(task, "is_patch", lambda h: False)(hyper):
        raise DatasetError("Cross-fitting is for the whole-print presentation-attack CNN (pad_cnn).")
    if hyper.extra.get("mirror") == "auto":
        raise DatasetError("A cross-fitted model scores with the mirror view or without it: choose one "
                           "(the view is not chosen per network).")
    if int(hyper.extra.get("members") or 1) > 1:
        raise DatasetError("Members on one split and cross-fitting are two kinds of ensemble: choose one.")


def parts(scan: Any, k: int, seed: int) -> list[set[str]]:
    """The ``k`` parts of a scan's subjects (:func:`fpstation.ml.datasets.subject_parts`)."""
    from fpstation.ml.datasets import subject_parts

    subjects = sorted({str(it["subject"]) for it in scan.items})
    if len(subjects) < k:
        raise DatasetError(f"Cross-fitting in {k} parts needs at least {k} subjects; the folder has {len(subjects)}.")
    part = subject_parts(subjects, k, seed)
    return [{s for s in subjects if part[s] == j} for j in range(k)]


def part_scan(scan: Any, cut: list[set[str]], j: int) -> Any:
    """The scan network ``j`` trains on: every other part for training, part ``j`` for validation."""
    return dataclasses.replace(scan, train_subjects=set().union(*cut) - cut[j], val_subjects=set(cut[j]))


@dataclass
class PartScore:
    """Part j's subjects scored by network j: calibrated attack scores and that network's calibration."""

    scores: np.ndarray
    y: np.ndarray
    types: list[str | None]
    subjects: list[str]
    calibration: dict[str, Any]


def score_part(task: Any, net: Any, scan: Any, hyper: Any) -> PartScore:
    """Network ``net`` (one logit) on its validation part, in the model's view, Platt-calibrated there."""
    from fpstation.ml.classifiers import metrics as cm
    from fpstation.ml.classifiers.tasks import _calibrate

    xv, yv, items = task.arrays(scan.val_items, hyper)
    z = task.mirror_logits(net, xv) if hyper.extra.get("mirror") is True else task.logits(net, xv)
    cal = _calibrate(z, yv, balanced=False)
    if cal.get("method") == "none":
        raise DatasetError(f"A part of the subjects holds one class only ({cal.get('note')}): its network cannot "
                           "be calibrated. Use fewer parts, or a folder with both classes for more subjects.")
    return PartScore(cm.sigmoid(cm.apply_calibration(z, cal)), np.asarray(yv),
                     [it["attack_type"] if it["y"] else None for it in items],
                     sorted(scan.val_subjects), cal)


def evaluation(scored: list[PartScore], hyper: Any) -> dict[str, Any]:
    """The card's evaluation from every part's out-of-fold scores (identity calibration: each
    network's own is folded into the graph)."""
    from fpstation.ml.classifiers.tasks import pad_evaluation

    max_bpcer = float(hyper.extra.get("max_bpcer", 0.01))
    s = np.concatenate([p.scores for p in scored])
    y = np.concatenate([p.y for p in scored])
    identity = {"method": "platt", "a": 1.0, "b": 0.0,
                "note": "identity: each network's own Platt calibration is folded into the model's graph"}
    return pad_evaluation(
        s, y, [t for p in scored for t in p.types], max_bpcer, identity,
        note=f"out of fold: each of the {len(scored)} networks scored the part of the subjects it did not see, "
             "calibrated there; pooled, those scores set the threshold and these rates. They are single "
             "networks' rates; the mean of the networks is judged by a nested cross-validation of the recipe "
             "(a card's cross_validation entry)",
        rule=f"lowest threshold with BPCER <= {max_bpcer:g} over the out-of-fold scores of every scored subject "
             "(each by the network that did not see them)")


def ensemble(nets: list[Any], scored: list[PartScore]) -> Any:
    """One graph: the mean of the networks' calibrated logits."""
    from fpstation.ml.architectures import mean_logit_ensemble

    return mean_logit_ensemble(nets, affine=[(p.calibration["a"], p.calibration["b"]) for p in scored])


def card_split(cut: list[set[str]], scored: list[PartScore], seed: int, n_items: int) -> dict[str, Any]:
    """The card's ``split`` of a cross-fitted model."""
    def order(v: str) -> tuple:
        return (len(v), v)

    every = sorted(set().union(*cut), key=order)
    return {"rule": f"cross-fitted: fpstation.ml.datasets.subject_parts(K={len(cut)}, seed={seed}) over subject "
                    "ids; network j trains on the other parts and is validated and calibrated on part j",
            "cross_fit": len(cut), "seed": seed, "parts": [sorted(p, key=order) for p in cut],
            "train_subjects": every, "val_subjects": [],
            "out_of_fold_subjects": sorted({s for p in scored for s in p.subjects}, key=order),
            "n_train_subjects": len(every), "n_val_subjects": 0,
            "n_train": n_items, "n_val": 0, "n_out_of_fold": int(sum(len(p.y) for p in scored))}


def card_ensemble(entry: dict[str, Any], k: int, scored: list[PartScore]) -> dict[str, Any]:
    """``ensemble_card``'s entry, said for a cross-fitted model."""
    return {**entry, "cross_fit": k,
            "combine": "mean of the networks' calibrated logits, one graph (fpstation.ml.architectures."
                       "mean_logit_ensemble with each network's Platt calibration folded in); threshold from the "
                       "pooled out-of-fold scores (fpstation.ml.crossfit)",
            "calibrations": [{"a": p.calibration["a"], "b": p.calibration["b"]} for p in scored]}
