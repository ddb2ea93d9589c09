"""Evaluate an installed PAD or gender model on a labelled folder (used by ``fpstation evaluate``
and bench/classifier_bench.py).

Honest by default: ``subjects="heldout"`` drops every subject the model was *trained* on (the
card's ``split.train_subjects``), so evaluating the shipped model on the SOCOFing it came from
measures only its validation subjects plus any subjects it never saw. ``"val"`` keeps only the
card's validation subjects; ``"all"`` keeps everything (leaky when the folder overlaps training).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from fpstation.core.errors import DatasetError
from fpstation.core.jobs import NEVER_CANCELLED, CancelToken, Progress, null_progress, wrap_progress
from fpstation.core.stats import rate
from fpstation.ml.cards import ModelCard, card_of
from fpstation.ml.classifiers import metrics as cm
from fpstation.ml.classifiers.preprocess import DEFAULT_SHAPE

SUBJECT_MODES = ("heldout", "val", "all")


def _select(items: list[dict], card: ModelCard | Mapping[str, Any], mode: str, layout: str = "",
            ) -> tuple[list[dict], str]:
    split = card_of(card).split
    trained_layout = split.layout
    if mode != "all" and trained_layout and layout and layout != trained_layout:
        # subject ids of different datasets are different people even when the numbers collide
        return items, f"all subjects (the model was trained on a {trained_layout} folder, this is {layout})"
    train, val = split.train_subjects, split.val_subjects
    if mode == "all":
        note = "all subjects (includes the model's training subjects if the folder overlaps them: leaky)"
        return items, note
    if mode == "val":
        if not val:
            raise DatasetError("The model card lists no validation subjects; use --subjects heldout or all.")
        return [it for it in items if str(it["subject"]) in val], "only the model card's validation subjects"
    if mode == "heldout":
        if train is None:
            if not val:
                raise DatasetError("The model card does not say which subjects it was trained on; "
                                   "use --subjects all (and be aware it may include training subjects).")
            return ([it for it in items if str(it["subject"]) in val],
                    "the card lists only its validation subjects: evaluated on those")
        return ([it for it in items if str(it["subject"]) not in train],
                f"training subjects of the model excluded ({len(train)} listed in its card)")
    raise DatasetError(f"Unknown subject selection “{mode}”; choose one of {', '.join(SUBJECT_MODES)}.")


def _image_logits(loaded: Any, items: list[dict], dpi: float | None, progress: Progress, cancel: CancelToken,
                  ) -> tuple[np.ndarray, np.ndarray, list[dict], int, list[tuple[str, str]]]:
    """Per-print path (patch models, or a stated dpi): each file read as a FingerprintImage with
    the stated dpi, scored like inference does; also counts prints outside the model's domain and
    returns the unreadable files as (path, reason)."""
    from fpstation.core.imageio import read_print
    from fpstation.ml.classifiers import domain_check, model_logits

    z, keep, outside, bad = [], [], 0, []
    for i, it in enumerate(items):
        if i % 8 == 0:
            cancel.raise_if_cancelled()
            progress(i / max(len(items), 1), f"scoring {i}/{len(items)}")
        try:
            im = read_print(it["path"]).with_stated_dpi(dpi)
        except Exception as exc:  # noqa: BLE001 - a bad file is reported and skipped, as in load_array
            bad.append((str(it["path"]), str(exc) or type(exc).__name__))
            continue
        z.append(float(model_logits(loaded, [im])[0]))
        inside = domain_check(im, loaded.card).in_domain
        outside += int(not inside)
        keep.append({**it, "in_domain": bool(inside)})
    y = np.array([it["y"] for it in keep], np.int32)
    return np.array(z, np.float64), y, keep, outside, bad


def _logits(loaded: Any, task: Any, items: list[dict], progress: Progress, cancel: CancelToken,
            ) -> tuple[np.ndarray, np.ndarray, list[dict], list[tuple[str, str]]]:
    from fpstation.ml.classifiers.loading import image_logits
    from fpstation.ml.classifiers.tasks import load_array

    shape = loaded.card.input.hw(DEFAULT_SHAPE)
    x, bad = load_array(items, shape, None, progress, cancel)
    badset = {p for p, _ in bad}
    keep = [i for i, it in enumerate(items) if it["path"] not in badset]
    xs = x[keep].astype(np.float32)[..., None] / 255.0
    z = np.concatenate([image_logits(loaded, xs[i:i + 256]) for i in range(0, len(xs), 256)]) if len(xs) else np.zeros(0)
    y = np.array([items[i]["y"] for i in keep], np.int32)
    return z, y, [items[i] for i in keep], [(str(p), r) for p, r in bad]


def _score_folder(kind: str, task: Any, root: str | Path, model_key: str, subjects: str,
                  registry: Any | None, progress: Progress, cancel: CancelToken, dpi: float | None = None):
    """Load the model, list and select the folder's prints, and compute raw logits.

    Returns ``(loaded, layout, notes, sel_note, z, y, kept, skipped)``; ``skipped`` = the unreadable
    files as (path, reason), also counted in ``notes``. Shared by the PAD and gender reports.
    ``dpi`` = the folder's resolution stated by the user (files without dpi metadata).
    """
    from fpstation.ml.classifiers import load_classifier

    loaded = load_classifier(kind, model_key, registry)
    layout, items, notes = task._items(Path(root), task.default_hyper())
    if not items:  # say so plainly: the subject selection below is not what emptied the list
        raise DatasetError(f"No images found in “{root}”.", path=str(root))
    items, sel_note = _select(items, loaded.card, subjects, layout)
    if not items:
        raise DatasetError(f"No prints left to evaluate in “{root}” after selecting subjects ({sel_note}).")
    if dpi is not None or loaded.card.input.patches or loaded.card.is_texture:
        z, y, kept, outside, skipped = _image_logits(loaded, items, dpi, wrap_progress(progress, 0, 0.9), cancel)
        notes = list(notes) + [f"dpi: {f'{dpi:g} (stated)' if dpi else 'from the files'}"]
        if outside:
            notes.append(f"{outside} of {len(kept)} prints are outside the sensor/resolution/size the model was "
                         "validated on (at inference they would get UNCERTAIN); scored anyway here")
    else:
        z, y, kept, skipped = _logits(loaded, task, items, wrap_progress(progress, 0, 0.9), cancel)
    if skipped:
        notes = list(notes) + [f"{len(skipped)} unreadable file(s) skipped, not counted in any figure "
                               "(listed in skipped_files)"]
    if not kept:
        raise DatasetError(f"None of the {len(items)} selected files in “{root}” could be read as a print "
                           f"(first: {Path(skipped[0][0]).name}: {skipped[0][1]}).", path=str(root))
    return loaded, layout, notes, sel_note, z, y, kept, skipped


def evaluate_pad_folder(root: str | Path, model_key: str = "", subjects: str = "heldout",
                        threshold: float | None = None, registry: Any | None = None,
                        progress: Progress = null_progress, cancel: CancelToken = NEVER_CANCELLED,
                        dpi: float | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """PAD figures at the model's shipped threshold (or ``threshold``).

    Returns
    -------
    report : JSON-ready dict with apcer (per attack type), apcer_max, bpcer, bpcer20, bpcer100, n ...
    curves : {"scores", "labels", "types"} for plots.
    """
    from fpstation.ml.classifiers.tasks import PadTask

    loaded, layout, notes, sel_note, z, y, kept, skipped = _score_folder(
        "pad", PadTask(), root, model_key, subjects, registry, progress, cancel, dpi)
    s = cm.sigmoid(loaded.card.calibrate(z))
    types = [it["attack_type"] if it["y"] else None for it in kept]
    card_thr = loaded.card.threshold
    thr = float(threshold) if threshold is not None else (card_thr if card_thr is not None else 0.5)
    rates = cm.pad_rates(s, y, types, thr)
    pred = (s >= thr).astype(int)
    conf = [[int(((y == t) & (pred == q)).sum()) for q in (0, 1)] for t in (0, 1)]
    report = {
        "task": "pad", "model": {"name": loaded.card.name, "version": loaded.card.version,
                                 "sha256": loaded.card.sha256},
        "data": str(root), "layout": layout, "subjects": subjects, "subjects_note": sel_note,
        "dpi_stated": dpi,
        "n": int(len(y)), "n_attack": rates["n_attack"], "n_bona_fide": rates["n_bona_fide"],
        "n_subjects": len({str(it["subject"]) for it in kept}),
        "threshold": thr, "apcer": rates["apcer"], "apcer_max": rates["apcer_max"],
        "apcer_pooled": rates["apcer_pooled"], "bpcer": rates["bpcer"],
        "bpcer20": cm.bpcer_at_apcer(s, y, types, 0.05), "bpcer100": cm.bpcer_at_apcer(s, y, types, 0.01),
        "auc": cm.roc_auc(s, y),
        "confusion_matrix": {"labels": ["bona fide", "attack"], "rows_truth_cols_predicted": conf},
        "notes": notes,
        "skipped_files": [{"path": p, "reason": r} for p, r in skipped],
    }
    report["ci95"] = {"bpcer": rate(int(((s >= thr) & (y == 0)).sum()), int((y == 0).sum()))["ci95"],
                      "apcer": {t: rate(int(((s < thr) & (y == 1) & np.array([tt == t for tt in types])).sum()),
                                        int(sum(tt == t for tt in types)))["ci95"] for t in rates["apcer"]}}
    seen = set(loaded.card.attack_types_seen)
    report["attack_types_unseen"] = sorted(t for t in rates["apcer"] if seen and t not in seen)
    if loaded.card.data.get("transaction"):
        report.update(_attempts_and_transactions(loaded.card.data, threshold, s, y, types, kept))
    progress(1.0, "evaluated")
    return report, {"scores": s, "labels": y, "types": types}


def _attempts_and_transactions(card_data: Mapping[str, Any], threshold: float | None, s: np.ndarray,
                               y: np.ndarray, types: list, kept: list[dict]) -> dict[str, Any]:
    """ISO/IEC 30107-3 figures of a card with a transaction rule (docs/adr/0102): each attempt's
    three-way verdict at the card's band, and simulated transactions of up to 3 attempts of the
    same finger (each finger's impressions in cyclic order, LivDet names ``S_F_I``; a print named
    otherwise is a transaction of one attempt). An attempt outside the model's domain ends its
    transaction NOT CHECKED: never LIVE, and not counted as an ATTACK."""
    from fpstation.core.pad_transaction import (
        ATTACK,
        LIVE,
        NOT_CHECKED,
        TransactionRule,
        cyclic_sequences,
        finger_and_impression,
        run_sequence,
    )

    rule = TransactionRule.from_card(dict(card_data), threshold)
    dom = np.array([it.get("in_domain", True) for it in kept], bool)
    attempt = [NOT_CHECKED if not d else rule.attempt_verdict(float(v)) for v, d in zip(s, dom, strict=True)]
    three_way = {cls: {v: int(sum(1 for a, yy in zip(attempt, y, strict=True) if a == v and yy == k))
                       for v in (LIVE, "UNCERTAIN", ATTACK, NOT_CHECKED)}
                 for cls, k in (("bona_fide", 0), ("attack", 1))}
    groups: dict[tuple, list[tuple[int, int]]] = {}
    unnamed = 0
    for i, it in enumerate(kept):
        fi = finger_and_impression(it["path"])
        if fi is None:
            unnamed += 1
            groups[("print", it["path"])] = [(0, i)]
        else:
            groups.setdefault((int(y[i]), types[i] or "", str(it["subject"]), fi[1]), []).append((fi[2], i))
    seqs = cyclic_sequences(groups, rule.max_attempts)
    runs = [run_sequence([s[i] for i in q], rule, [dom[i] for i in q]) for q in seqs]
    live = [(v, n) for q, (v, n) in zip(seqs, runs, strict=True) if y[q[0]] == 0]
    att = [(v, n, types[q[0]]) for q, (v, n) in zip(seqs, runs, strict=True) if y[q[0]] == 1]
    hist: dict[str, int] = {}
    for _, n in live:
        hist[str(n)] = hist.get(str(n), 0) + 1
    by_type = {t: rate(sum(1 for v, _, tt in att if tt == t and v == LIVE), sum(1 for *_, tt in att if tt == t))
               for t in sorted({t for *_, t in att})}
    return {
        "per_attempt_at_band": {"lo": rule.lo, "hi": rule.hi, "verdicts": three_way,
                                "note": "LIVE below lo, ATTACK at or above hi, UNCERTAIN between (the desk asks "
                                        "for the same finger again); NOT CHECKED = outside the model's domain"},
        "per_transaction": {
            "rule": rule.to_dict(),
            "protocol": "each finger's impressions in cyclic order: every impression starts one transaction of up "
                        f"to {rule.max_attempts} attempts of the same finger (LivDet names S_F_I)"
                        + (f"; {unnamed} prints named otherwise are one-attempt transactions" if unnamed else ""),
            "apcer": rate(sum(1 for v, *_ in att if v == LIVE), len(att)), "apcer_by_type": by_type,
            "bpcer": rate(sum(1 for v, _ in live if v == ATTACK), len(live)),
            "not_checked": {"bona_fide": sum(1 for v, _ in live if v == NOT_CHECKED),
                            "attack": sum(1 for v, *_ in att if v == NOT_CHECKED)},
            "mean_attempts_live": float(np.mean([n for _, n in live])) if live else None,
            "attempts_live_histogram": hist},
    }


def _gender_folder_scores(loaded: Any, items: list[dict], registry: Any | None, progress: Progress,
                          cancel: CancelToken) -> tuple[np.ndarray, np.ndarray, list[dict], int]:
    """Calibrated logits and domain verdicts of every readable print (a bad file is skipped)."""
    from fpstation.core.imageio import read_print
    from fpstation.ml.classifiers import gender_scores

    zs, ok, kept, bad = [], [], [], 0
    chunk: list[tuple[dict, Any]] = []

    def flush() -> None:
        if not chunk:
            return
        z, _, checks, _ = gender_scores([im for _, im in chunk], loaded.card.key, registry)
        zs.extend(float(v) for v in z)
        ok.extend(c.in_domain for c in checks)
        kept.extend(it for it, _ in chunk)
        chunk.clear()

    for i, it in enumerate(items):
        if i % 32 == 0:
            cancel.raise_if_cancelled()
            progress(i / max(len(items), 1), f"scoring {i}/{len(items)}")
        try:
            chunk.append((it, read_print(it["path"])))
        except Exception:  # noqa: BLE001 - a bad file is counted and skipped, not fatal
            bad += 1
        if len(chunk) >= 64:
            flush()
    flush()
    return np.asarray(zs, np.float64), np.asarray(ok, bool), kept, bad


def evaluate_gender_folder(root: str | Path, model_key: str = "", subjects: str = "heldout",
                           uncertain_band: float | None = None, registry: Any | None = None,
                           progress: Progress = null_progress, cancel: CancelToken = NEVER_CANCELLED,
                           n_boot: int = 1000) -> tuple[dict[str, Any], dict[str, Any]]:
    """Gender figures at P(female) = 0.5, per print and per subject (mean calibrated logit).

    Every print is first checked against the model's domain (fpstation.core.domain); prints outside
    it are counted (``n_out_of_domain``) and left out of the figures, as the tool abstains on them.
    Each figure has a 95 % interval (``ci95``) from a bootstrap over subjects.
    """
    from fpstation.ml.classifiers import load_classifier
    from fpstation.ml.classifiers.tasks import GenderTask, gender_metrics

    task = GenderTask()
    loaded = load_classifier("gender", model_key, registry)
    layout, items, notes = task._items(Path(root), task.default_hyper())
    items, sel_note = _select(items, loaded.card, subjects, layout)
    if not items:
        raise DatasetError(f"No prints left to evaluate in “{root}” after selecting subjects ({sel_note}).")
    zc, ok, kept, n_bad = _gender_folder_scores(loaded, items, registry, wrap_progress(progress, 0, 0.9), cancel)
    if n_bad:
        notes = [*notes, f"{n_bad} unreadable file(s) skipped"]
    if not ok.any():
        raise DatasetError(f"None of the {len(kept)} prints in “{root}” is inside the domain the gender model "
                           "was validated on; there is nothing to evaluate.")
    card_band = loaded.card.uncertain_band
    band = float(uncertain_band) if uncertain_band is not None else (card_band if card_band is not None else 0.1)
    y_all = np.array([it["y"] for it in kept], np.int32)
    subj_all = [str(it["subject"]) for it in kept]
    z, y = zc[ok], y_all[ok]
    subj = [s for s, k in zip(subj_all, ok, strict=True) if k]
    m = gender_metrics(z, y, subj, band)
    sarr = np.asarray(subj)
    uniq, inv = np.unique(sarr, return_inverse=True)
    zs = np.bincount(inv, weights=z) / np.bincount(inv)
    ys = np.zeros(len(uniq), int)
    ys[inv] = y

    def ci(zz: np.ndarray, yy: np.ndarray, groups: Any) -> dict[str, list[float]]:
        return {"balanced_accuracy": cm.subject_bootstrap(
                    lambda i: cm.binary_summary(cm.sigmoid(zz[i]), yy[i])["balanced_accuracy"], groups, n_boot),
                "auc": cm.subject_bootstrap(lambda i: cm.roc_auc(zz[i], yy[i]), groups, n_boot)}

    report = {
        "task": "gender", "model": {"name": loaded.card.name, "version": loaded.card.version,
                                    "sha256": loaded.card.sha256},
        "data": str(root), "layout": layout, "subjects": subjects, "subjects_note": sel_note,
        "n": m["n"], "n_female": int(y.sum()), "n_male": int((1 - y).sum()),
        "n_scored": int(len(kept)), "n_out_of_domain": int((~ok).sum()),
        "out_of_domain_fraction": float((~ok).mean()),
        "balanced_accuracy": m["balanced_accuracy"], "auc": m["auc"], "accuracy": m["accuracy"],
        "ci95": ci(z, y, sarr),
        "ci95_method": "percentile bootstrap over subjects (whole subjects resampled), 1000 resamples"
                       if n_boot == 1000 else f"percentile bootstrap over subjects, {n_boot} resamples",
        "confusion_matrix": {"labels": ["male", "female"], "rows_truth_cols_predicted": m["confusion_matrix"]},
        "recall_male": m["recall_per_class"][0], "recall_female": m["recall_per_class"][1],
        "threshold": 0.5, "uncertain_band": band, "decided_fraction": m["decided_fraction"],
        "balanced_accuracy_decided": m["balanced_accuracy_decided"],
        "per_subject": {"n": m["per_subject"]["n"], "balanced_accuracy": m["per_subject"]["balanced_accuracy"],
                        "auc": m["per_subject"]["auc"], "accuracy": m["per_subject"]["accuracy"],
                        "ci95": ci(zs, ys, uniq),
                        "confusion_matrix": m["per_subject"]["confusion_matrix"],
                        "prints_per_subject_mean": m["per_subject"]["prints_per_subject_mean"],
                        "rule": "mean of the subject's calibrated logits (in-domain prints)"},
        "notes": notes,
    }
    progress(1.0, "evaluated")
    return report, {"p": cm.sigmoid(z), "labels": y}
