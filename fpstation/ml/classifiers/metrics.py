"""Calibration and error-rate math for the PAD and gender classifiers (numpy/scipy only).

Conventions
-----------
- Scores are *attack* scores for PAD (higher = more likely an attack) and P(female) for gender.
- ISO/IEC 30107-3: APCER = share of attack presentations (of one attack type) classified bona
  fide; BPCER = share of bona fide presentations classified as attacks. A presentation is
  classified as an attack when ``score >= threshold``.
- BPCER20 / BPCER100 = the BPCER at the threshold where the APCER (all attacks pooled, or the
  worst type when ``per_type``) is at most 5 % / 1 %.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import numpy as np


def sigmoid(z: np.ndarray | float) -> np.ndarray:
    z = np.asarray(z, dtype=np.float64)
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # overflow-free logistic


def platt_fit(logits: np.ndarray, labels: np.ndarray, *, balanced: bool = False,
              temperature_only: bool = False) -> dict[str, float]:
    """Fit ``p = sigmoid(a * logit + b)`` by minimising the (optionally class-balanced) log loss.

    Parameters
    ----------
    logits : raw model logits (N,).
    labels : 0/1 (N,).
    balanced : weight each class to half the total, so the calibrated probability is the one for
        equal class priors (used for gender: the decision at 0.5 is then the balanced one).
    temperature_only : fit ``a = 1/T`` only, ``b = 0`` (temperature scaling).

    Returns
    -------
    dict with "a", "b", "method" and the validation log loss before/after.
    """
    from scipy.optimize import minimize

    z = np.asarray(logits, np.float64).ravel()
    y = np.asarray(labels, np.float64).ravel()
    if z.size == 0 or len(np.unique(y)) < 2:
        raise ValueError("calibration needs both classes in the validation set")
    w = np.ones_like(y)
    if balanced:
        n1, n0 = y.sum(), (1 - y).sum()
        w = np.where(y == 1, 0.5 / n1, 0.5 / n0) * len(y)

    def nll(params: np.ndarray) -> float:
        a, b = (params[0], 0.0) if temperature_only else (params[0], params[1])
        t = a * z + b
        # log(1 + exp(-t)) for positives, log(1 + exp(t)) for negatives, stably
        return float(np.sum(w * (y * np.logaddexp(0, -t) + (1 - y) * np.logaddexp(0, t))) / np.sum(w))

    x0 = np.array([1.0]) if temperature_only else np.array([1.0, 0.0])
    res = minimize(nll, x0, method="Nelder-Mead", options={"xatol": 1e-6, "fatol": 1e-9, "maxiter": 4000})
    a = float(res.x[0])
    b = 0.0 if temperature_only else float(res.x[1])
    return {"method": "temperature" if temperature_only else "platt", "a": a, "b": b,
            "balanced": bool(balanced), "val_logloss_before": nll(np.array([1.0, 0.0][: len(x0)])),
            "val_logloss_after": float(res.fun)}


def apply_calibration(logits: np.ndarray | float, cal: dict | None) -> np.ndarray:
    """Calibrated logit ``a * logit + b`` (identity when ``cal`` is None)."""
    z = np.asarray(logits, np.float64)
    if not cal:
        return z
    return float(cal.get("a", 1.0)) * z + float(cal.get("b", 0.0))


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve (probability a positive outranks a negative; ties count half)."""
    from scipy.stats import rankdata

    s = np.asarray(scores, np.float64).ravel()
    y = np.asarray(labels).ravel().astype(bool)
    n1, n0 = int(y.sum()), int((~y).sum())
    if n1 == 0 or n0 == 0:
        return float("nan")
    r = rankdata(s)
    return float((r[y].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def roc_points(scores: np.ndarray, labels: np.ndarray, max_points: int = 200) -> dict[str, list[float]]:
    """ROC as lists: thresholds (descending), tpr, fpr, thinned to about ``max_points`` points.

    For PAD (label 1 = attack): tpr = 1 - APCER, fpr = BPCER at ``score >= threshold``.
    """
    s = np.asarray(scores, np.float64).ravel()
    y = np.asarray(labels).ravel().astype(bool)
    thr = np.unique(s)[::-1]
    thr = np.concatenate([[np.inf], thr])
    tpr = np.array([(s[y] >= t).mean() if y.any() else 0.0 for t in thr])
    fpr = np.array([(s[~y] >= t).mean() if (~y).any() else 0.0 for t in thr])
    if len(thr) > max_points:
        idx = np.unique(np.linspace(0, len(thr) - 1, max_points).round().astype(int))
        thr, tpr, fpr = thr[idx], tpr[idx], fpr[idx]
    thr = np.where(np.isinf(thr), 1.0 + 1e-9, thr)
    return {"threshold": [float(t) for t in thr], "tpr": [float(t) for t in tpr], "fpr": [float(f) for f in fpr]}


def pad_rates(scores: np.ndarray, is_attack: np.ndarray, attack_types: Sequence[str | None],
              threshold: float) -> dict:
    """APCER per attack type, APCER max / pooled, BPCER at ``score >= threshold`` = attack."""
    s = np.asarray(scores, np.float64).ravel()
    att = np.asarray(is_attack).ravel().astype(bool)
    types = np.asarray([t or "" for t in attack_types], dtype=object)
    apcer = {}
    for t in sorted({str(x) for x in types[att]}):
        m = att & (types == t)
        apcer[t] = float((s[m] < threshold).mean())
    bona = ~att
    return {"apcer": apcer, "apcer_max": max(apcer.values()) if apcer else float("nan"),
            "apcer_pooled": float((s[att] < threshold).mean()) if att.any() else float("nan"),
            "bpcer": float((s[bona] >= threshold).mean()) if bona.any() else float("nan"),
            "threshold": float(threshold), "n_attack": int(att.sum()), "n_bona_fide": int(bona.sum())}


def _candidate_thresholds(s: np.ndarray) -> np.ndarray:
    u = np.unique(s)
    # midpoints keep the chosen threshold away from any validation score (no ties at the boundary)
    mids = (u[:-1] + u[1:]) / 2 if len(u) > 1 else u
    return np.concatenate([[u[0] - 1e-6], mids, [u[-1] + 1e-6]])


def threshold_for_bpcer(scores: np.ndarray, is_attack: np.ndarray, max_bpcer: float = 0.01,
                        groups: Sequence[str] | None = None, max_group_bpcer: float = 0.02,
                        tie: str = "lowest") -> float:
    """Lowest threshold whose BPCER is at most ``max_bpcer`` (the lowest keeps APCER smallest).

    With ``groups`` (the subject of each score), the BPCER within every group must also be at most
    ``max_group_bpcer``: bona fide errors cluster by person (one dry or pale finger fails again and
    again), and a threshold that meets the pooled figure can still turn one person away on every
    try. Asking it of each subject of out-of-fold scores keeps the threshold clear of that spread.

    ``tie="margin"`` (docs/adr/0273): every threshold from the lowest one up to the lowest attack
    score above it has the same APCER and no higher BPCER on these scores; take the one in the
    middle of that gap instead of at its edge — halfway, in log-odds, between the highest bona fide
    score below that attack score and the attack score itself (scores are probabilities)."""
    s = np.asarray(scores, np.float64).ravel()
    bona = ~np.asarray(is_attack).ravel().astype(bool)
    sb = s[bona]
    per: list[np.ndarray] = []
    if groups is not None:
        gb = np.asarray([str(x) for x in groups], dtype=object)[bona]
        per = [sb[gb == u] for u in sorted(set(gb))]
    t0 = float(s.max() + 1e-6)
    for t in _candidate_thresholds(s):
        if np.mean(sb >= t) <= max_bpcer and all(np.mean(v >= t) <= max_group_bpcer for v in per):
            t0 = float(t)
            break
    if tie == "lowest":
        return t0
    if tie != "margin":
        raise ValueError(f"tie must be 'lowest' or 'margin', not {tie!r}")
    above = s[~bona][s[~bona] >= t0]
    if not above.size:
        return t0
    a_min = float(above.min())
    below = sb[sb < a_min]
    if not below.size:
        return t0

    def logit(p: float) -> float:
        p = min(max(p, 1e-12), 1 - 1e-12)
        return float(np.log(p / (1 - p)))

    mid = float(1 / (1 + np.exp(-(logit(float(below.max())) + logit(a_min)) / 2)))
    return max(t0, mid) if mid < a_min else t0


def bpcer_at_apcer(scores: np.ndarray, is_attack: np.ndarray, attack_types: Sequence[str | None],
                   max_apcer: float) -> float:
    """BPCER at the highest threshold where the worst attack type's APCER is ≤ ``max_apcer``
    (BPCER20: ``max_apcer=0.05``, BPCER100: ``0.01``), as in ISO/IEC 30107-3."""
    s = np.asarray(scores, np.float64).ravel()
    for t in _candidate_thresholds(s)[::-1]:
        r = pad_rates(s, is_attack, attack_types, t)
        if r["apcer_max"] <= max_apcer:
            return r["bpcer"]
    return 1.0


def binary_summary(p_pos: np.ndarray, labels: np.ndarray, threshold: float = 0.5) -> dict:
    """Accuracy, balanced accuracy, AUC and the confusion matrix (rows = truth 0/1, cols = predicted)."""
    p = np.asarray(p_pos, np.float64).ravel()
    y = np.asarray(labels).ravel().astype(int)
    pred = (p >= threshold).astype(int)
    cm = np.zeros((2, 2), int)
    for t, q in zip(y, pred, strict=True):
        cm[t, q] += 1
    recalls = [cm[k, k] / cm[k].sum() for k in (0, 1) if cm[k].sum()]
    return {"n": int(len(y)), "accuracy": float((pred == y).mean()) if len(y) else float("nan"),
            "balanced_accuracy": float(np.mean(recalls)) if recalls else float("nan"),
            "auc": roc_auc(p, y), "confusion_matrix": cm.tolist(),
            "recall_per_class": [float(cm[k, k] / cm[k].sum()) if cm[k].sum() else float("nan") for k in (0, 1)]}


def combine_logits(logits: Iterable[float]) -> float:
    """Per-subject combination of several prints' calibrated logits: their mean (a sum would
    treat the fingers of one person as independent evidence and be over-confident)."""
    z = np.asarray(list(logits), np.float64)
    if z.size == 0:
        raise ValueError("no logits to combine")
    return float(z.mean())


def apcer_by_type_at(scores: np.ndarray, is_attack: np.ndarray, attack_types: Sequence[str | None],
                     thresholds: Sequence[float]) -> dict[str, list[float]]:
    """APCER of each attack type at each threshold (aligned with :func:`roc_points` output)."""
    s = np.asarray(scores, np.float64).ravel()
    att = np.asarray(is_attack).ravel().astype(bool)
    types = np.asarray([t or "" for t in attack_types], dtype=object)
    out = {}
    for t in sorted({str(x) for x in types[att]}):
        st = np.sort(s[att & (types == t)])
        # share of this type's attacks scoring below each threshold
        out[t] = [float(np.searchsorted(st, thr, side="left") / len(st)) for thr in thresholds]
    return out


def subject_bootstrap(stat: Callable[[np.ndarray], float], groups: Sequence[str], n_boot: int = 1000,
                      seed: int = 0) -> list[float]:
    """95 % percentile interval of ``stat(rows)`` when whole subjects are resampled with replacement.

    ``groups`` names the subject of each row; ``stat`` gets the row indices of one resample (a
    subject drawn twice contributes its rows twice). Prints of one person are correlated, so
    resampling prints alone would give too narrow an interval.
    """
    g = np.asarray([str(x) for x in groups])
    uniq, inv = np.unique(g, return_inverse=True)
    rows = [np.nonzero(inv == k)[0] for k in range(len(uniq))]
    rng = np.random.default_rng(seed)
    vals = []
    for _ in range(n_boot):
        pick = rng.integers(0, len(uniq), len(uniq))
        v = stat(np.concatenate([rows[k] for k in pick]))
        if np.isfinite(v):
            vals.append(v)
    if not vals:
        return [float("nan"), float("nan")]
    return [float(np.percentile(vals, 2.5)), float(np.percentile(vals, 97.5))]
