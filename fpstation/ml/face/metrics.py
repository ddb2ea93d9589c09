"""Closed-set (rank-k, CMC) and open-set (FNIR/FPIR) identification metrics, threshold choice.

Definitions (as in NIST FRVT 1:N / ISO/IEC 19795-1):

- a *mated* search is a probe of a person in the gallery; a *non-mated* one of a person who is not;
- rank-k = share of mated searches whose mate is among the k best-scoring identities;
- FNIR(t) = share of mated searches whose mate is not returned at rank 1 with score ≥ t;
- FPIR(t) = share of non-mated searches whose best score is ≥ t (someone is wrongly named).
"""

from __future__ import annotations

from typing import Any

import numpy as np


def ranks_of_mates(scores: np.ndarray, identities: list[str], truth: list[str]) -> np.ndarray:
    """1-based rank of the true identity per probe (ties count against the probe)."""
    idx = {name: i for i, name in enumerate(identities)}
    out = np.empty(len(truth), np.int64)
    for p, t in enumerate(truth):
        mate = scores[p, idx[t]]
        out[p] = 1 + int(np.sum(np.delete(scores[p], idx[t]) >= mate))
    return out


def cmc(ranks: np.ndarray, max_rank: int) -> list[float]:
    return [float(np.mean(ranks <= k)) if len(ranks) else float("nan") for k in range(1, max_rank + 1)]


def open_set(mated_scores: np.ndarray, mated_ranks: np.ndarray, nonmated_best: np.ndarray,
             threshold: float) -> dict[str, Any]:
    """FNIR / FPIR at ``threshold``. ``mated_scores`` = each mated probe's score for its mate."""
    miss = (mated_ranks != 1) | (mated_scores < threshold)
    fa = nonmated_best >= threshold
    return {"threshold": float(threshold),
            "fnir": float(np.mean(miss)) if len(miss) else None, "n_mated": int(len(miss)),
            "fpir": float(np.mean(fa)) if len(fa) else None, "n_nonmated": int(len(fa))}


def choose_threshold(mated_scores: np.ndarray, mated_ranks: np.ndarray, nonmated_best: np.ndarray,
                     max_fnir: float = 0.05) -> dict[str, Any]:
    """The threshold with the lowest FPIR among those with FNIR ≤ ``max_fnir``; within the range of
    thresholds that reach that FPIR, the middle one (largest margin both ways)."""
    cands = np.unique(np.concatenate([mated_scores, nonmated_best, [-1.0, 1.0 + 1e-6]]))
    mids = np.concatenate([[cands[0] - 1e-6], (cands[:-1] + cands[1:]) / 2, [cands[-1] + 1e-6]])
    rows = [(t, open_set(mated_scores, mated_ranks, nonmated_best, t)) for t in mids]
    feasible = [(t, r) for t, r in rows if r["fnir"] is not None and r["fnir"] <= max_fnir]
    if not feasible:
        t, r = min(rows, key=lambda tr: tr[1]["fnir"])
        return {**r, "rule": f"no threshold reaches FNIR ≤ {max_fnir:g}: lowest FNIR"}
    best = min(r["fpir"] for _, r in feasible)
    ts = [t for t, r in feasible if r["fpir"] == best]
    t = float((min(ts) + max(ts)) / 2)
    return {**open_set(mated_scores, mated_ranks, nonmated_best, t),
            "rule": f"lowest FPIR with FNIR ≤ {max_fnir:g}; middle of the range [{min(ts):.4f}, {max(ts):.4f}]"}


def search_scores(gallery: Any, probe_vectors: np.ndarray, probe_labels: list[str]) -> dict[str, Any]:
    """Split probes into mated / non-mated and compute the arrays the metrics need."""
    s = gallery.scores(probe_vectors) if len(probe_vectors) else np.zeros((0, len(gallery)))
    known = set(gallery.identities)
    mated = [i for i, y in enumerate(probe_labels) if y in known]
    non = [i for i, y in enumerate(probe_labels) if y not in known]
    truth = [probe_labels[i] for i in mated]
    ranks = ranks_of_mates(s[mated], gallery.identities, truth) if mated else np.zeros(0, np.int64)
    idx = {name: i for i, name in enumerate(gallery.identities)}
    mate_scores = np.array([s[i, idx[probe_labels[i]]] for i in mated], np.float64)
    non_best = s[non].max(axis=1).astype(np.float64) if non and s.shape[1] else np.zeros(0)
    pred = [gallery.identities[int(j)] for j in s.argmax(axis=1)] if s.shape[1] else []
    return {"scores": s, "mated": mated, "nonmated": non, "ranks": ranks, "mate_scores": mate_scores,
            "nonmated_best": non_best, "predicted": pred}
