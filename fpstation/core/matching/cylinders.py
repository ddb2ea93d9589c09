"""``cylinder``: a fast, fixed-length local-structure matcher for 1:N search (numpy + BLAS only).

Each minutia gets a binary *cylinder* in the spirit of the Minutia Cylinder-Code (Cappelli, Ferrara
and Maltoni, IEEE TPAMI 2010): the disc of radius :data:`RADIUS` around the minutia, turned to its
direction, is cut into ``NS x NS`` cells (those whose centre lies inside the disc are kept) and
:data:`ND` direction bins; a bit is set when a neighbouring minutia lies near the cell's centre with
a direction (relative to the centre minutia's) in that bin. The descriptor is invariant to
rotation and translation, and a few pixels of distortion move a neighbour's weight between
adjacent cells rather than out of the descriptor.

Two cylinders are compared by the Dice coefficient of their bits, ``2 |a & b| / (|a| + |b|)``.
With the bits as 0/1 bytes the ``|a & b|`` of *every* pair of cylinders of a probe and a whole
block of the gallery is one integer matrix product (:mod:`.kernel`, onnxruntime), so the cost of
1:N search is a GEMM's, not Python's.

A template's score has two levels, both vectorised over a block of the gallery:

- *local* (the cheap first stage of search): for each probe cylinder its best gallery cylinder and
  for each gallery cylinder its best probe cylinder; the ``n_P`` best of each side are averaged
  (``n_P`` grows with the smaller template's size, as MCC's local similarity sort), and the two
  sides averaged;
- *consistent* (the 1:1 score, and the second stage of search): the :data:`MAX_NP` best
  (probe cylinder, its best gallery cylinder) pairs are checked against each other, as in MCC's
  relaxation but in one step: two pairs agree when they imply the same rotation, keep the distance
  between their minutiae and the bearing of one from the other. Each pair's similarity is weighted
  by the share of the other pairs that agree with it, and the ``n_P`` best are averaged.

Candidates ranked first are re-scored by the ``consensus`` matcher (see :mod:`.packed`).

Packed form (what a gallery stores, see :mod:`.packed`): a template is at most :data:`MAX_CYL`
cylinders (the best-quality minutiae with a valid cylinder), each :data:`NBYTES` bytes of packed
bits (312 bits: 52 cells x 6 directions, 39 bytes), plus the bit count of each (uint16): 40 x 39 +
40 x 2 = 1,640 bytes per template at most.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fpstation.core.matching.template import Template

#: radius of the disc (pixels at 500 dpi)
RADIUS = 70.0
#: cells per side of the square around the disc, and direction bins
NS, ND = 8, 6
#: spatial / directional spread of a neighbour's contribution
SIGMA_S = 0.5 * (2 * RADIUS / NS)
SIGMA_D = np.pi / ND
#: a bit is set when the summed contribution reaches this
BIT_THRESHOLD = 0.3
#: a cylinder needs this many neighbours (within the disc and a margin) to be kept
MIN_NEIGHBOURS = 2
#: share of the cell centres that must lie inside the print's minutiae hull (plus a margin)
MIN_VALID = 0.3
HULL_MARGIN = 40.0
#: cylinders per template (best quality first)
MAX_CYL = 40
#: local similarity sort: n_P = MIN_NP + round(sigmoid(min(nA, nB)) * (MAX_NP - MIN_NP))
MIN_NP, MAX_NP, MU_P, TAU_P = 4, 12, 20.0, 0.4

_step = 2 * RADIUS / NS
_c = (np.arange(NS) + 0.5) * _step - RADIUS
_cx, _cy = np.meshgrid(_c, _c, indexing="xy")
_inside = np.hypot(_cx, _cy) <= RADIUS
#: cell centres kept (inside the disc), in the minutia's frame (x along its direction)
CELLS = np.column_stack([_cx[_inside], _cy[_inside]])
NCELLS = int(CELLS.shape[0])
NBITS = NCELLS * ND
NBYTES = (NBITS + 7) // 8
_CELLS32 = CELLS.astype(np.float32)
_BIN_CENTRES = ((np.arange(ND) + 0.5) * (2 * np.pi / ND) - np.pi).astype(np.float32)


def _hull_ok(xy: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Whether each of ``pts (..., 2)`` lies inside the convex hull of ``xy`` grown by the margin."""
    import cv2

    if len(xy) < 3:
        return np.ones(pts.shape[:-1], bool)
    hull = cv2.convexHull(xy.astype(np.float32)).reshape(-1, 2).astype(np.float64)
    if len(hull) < 3:
        return np.ones(pts.shape[:-1], bool)
    a, b = hull, np.roll(hull, -1, axis=0)
    e = b - a
    ln = np.maximum(np.hypot(e[:, 0], e[:, 1]), 1e-9)
    rel = pts[..., None, :] - a  # (..., E, 2)
    cross = e[:, 0] * rel[..., 1] - e[:, 1] * rel[..., 0]
    # the hull from OpenCV may run either way round: inside means the same side of every edge
    sign = 1.0 if np.sum(e[:, 0] * np.roll(e[:, 1], -1) - e[:, 1] * np.roll(e[:, 0], -1)) >= 0 else -1.0
    return np.all(sign * cross / ln >= -HULL_MARGIN, axis=-1)


@dataclass(frozen=True)
class Encoded:
    """A template's cylinders, best-quality minutiae first (at most :data:`MAX_CYL`): packed bits
    ``(n, NBYTES) uint8``, bit counts ``(n,) uint16``, and the centre minutiae's position
    ``(n, 2)`` (pixels at 500 dpi, y up) and direction ``(n,)`` (radians), for the consistency step."""

    bits: np.ndarray
    counts: np.ndarray
    xy: np.ndarray
    theta: np.ndarray

    @property
    def n(self) -> int:
        return int(len(self.counts))


def encode(t: Template) -> Encoded:
    """The template's cylinders (see :class:`Encoded`)."""
    m = t.minutiae
    empty = Encoded(np.zeros((0, NBYTES), np.uint8), np.zeros(0, np.uint16), np.zeros((0, 2), np.float32),
                    np.zeros(0, np.float32))
    if m.shape[0] < MIN_NEIGHBOURS + 1:
        return empty
    s = 500.0 / float(t.dpi or 500.0)
    xy = np.column_stack([m[:, 0] * s, -m[:, 1] * s]).astype(np.float32)  # y up, like the angles
    th = np.radians(m[:, 2]).astype(np.float32)
    order = np.argsort(-m[:, 4], kind="stable")
    c, sn = np.cos(th), np.sin(th)
    # cell centres of every minutia in image coordinates: (n, NCELLS, 2)
    centres = xy[:, None, :] + np.stack([c[:, None] * _CELLS32[:, 0] - sn[:, None] * _CELLS32[:, 1],
                                         sn[:, None] * _CELLS32[:, 0] + c[:, None] * _CELLS32[:, 1]], -1)
    valid = _hull_ok(xy, centres).mean(axis=1) >= MIN_VALID
    d = np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1))
    near = (d <= RADIUS + 3 * SIGMA_S) & ~np.eye(len(xy), dtype=bool)
    valid &= near.sum(axis=1) >= MIN_NEIGHBOURS
    keep = [int(i) for i in order if valid[i]][:MAX_CYL]
    if not keep:
        return empty
    kp = np.asarray(keep)
    # spatial weight of every neighbour at every cell centre of every kept minutia: (K, NCELLS, n)
    dd = np.hypot(centres[kp][:, :, None, 0] - xy[None, None, :, 0], centres[kp][:, :, None, 1] - xy[None, None, :, 1])
    ws = np.exp(np.float32(-0.5 / SIGMA_S ** 2) * dd * dd) * near[kp][:, None, :]
    # directional weight of every neighbour in every bin: (K, n, ND)
    rel = th[None, :] - th[kp][:, None]
    da = (rel[:, :, None] - _BIN_CENTRES[None, None, :] + np.float32(np.pi)) % np.float32(2 * np.pi) - np.float32(np.pi)
    wd = np.exp(np.float32(-0.5 / SIGMA_D ** 2) * da * da)
    bits = np.matmul(ws, wd) >= BIT_THRESHOLD
    flat = bits.reshape(len(keep), NBITS)
    return Encoded(np.packbits(flat, axis=1), flat.sum(axis=1).astype(np.uint16), xy[keep].astype(np.float32),
                   th[keep].astype(np.float32))


def n_p(na: np.ndarray | int, nb: np.ndarray | int) -> np.ndarray:
    """How many best local similarities are averaged for templates of ``na`` and ``nb`` cylinders."""
    mn = np.minimum(na, nb)
    z = 1.0 / (1.0 + np.exp(-TAU_P * (mn - MU_P)))
    return np.minimum(MIN_NP + np.rint(z * (MAX_NP - MIN_NP)).astype(int), np.maximum(mn, 1))


def unpack(bits: np.ndarray) -> np.ndarray:
    """Packed cylinder bits ``(..., NBYTES)`` as 0/1 float32 ``(..., NBITS)``."""
    return np.unpackbits(bits, axis=-1, count=NBITS).astype(np.float32)


def _top_mean(v: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Mean of the ``k[g]`` largest values of each row ``v[g]`` (``k`` per row, at most v's width)."""
    w = v.shape[1]
    k = np.clip(k, 1, w)
    km = int(k.max())
    # only the km largest of each row matter: a partition is cheaper than sorting every row
    top = np.partition(v, w - km, axis=1)[:, w - km:] if km < w else v
    if (k == km).all():  # the usual case in a block (n_P is the same for most templates)
        return top.sum(axis=1) / np.float32(km)
    cs = np.cumsum(np.sort(top, axis=1)[:, ::-1], axis=1)
    return cs[np.arange(len(v)), k - 1] / k


#: consistency step: pairs agree when their rotations differ by at most ROT_TOL, the distances
#: between their minutiae by at most DIST_TOL pixels, and the bearings by at most ROT_TOL
ROT_TOL = np.radians(10)
DIST_TOL = 8.0
_COS_ROT = float(np.cos(ROT_TOL))


def _wrap(a: np.ndarray) -> np.ndarray:
    return (a + np.pi) % (2 * np.pi) - np.pi


def scores(probe: Encoded, gal_bits: np.ndarray, gal_counts: np.ndarray, gal_n: np.ndarray,
           gal_xy: np.ndarray | None = None, gal_theta: np.ndarray | None = None) -> np.ndarray:
    """Scores (0..1) of one probe against a block of the gallery.

    ``gal_bits (G, M, NBYTES)``, ``gal_counts (G, M)``, ``gal_n (G,)`` (cylinders in use per
    template; the rest of each row is padding, all zero) and, for the consistency step,
    ``gal_xy (G, M, 2)`` and ``gal_theta (G, M)``. Without the geometry the score is the local
    similarity assignment alone (the cheaper first stage of search).
    """
    p, g = probe.n, len(gal_n)
    if p == 0 or g == 0:
        return np.zeros(g, np.float32)
    from fpstation.core.matching import kernel

    k = n_p(p, gal_n.astype(int))
    gb, gc = np.ascontiguousarray(gal_bits), np.ascontiguousarray(gal_counts)
    if gal_xy is None or gal_theta is None:
        bv, best_gal = kernel.best_local(gb, gc, probe.bits, probe.counts, NBITS)
        return (0.5 * (_top_mean(bv, k) + _top_mean(best_gal, k))).astype(np.float32)
    # each probe cylinder's best in the template (and which), each gallery cylinder's best in the probe
    bv, arg, best_gal = kernel.best_matches(gb, gc, probe.bits, probe.counts, NBITS)
    kk = int(min(MAX_NP, p))
    top = np.argpartition(-bv, kk - 1, axis=1)[:, :kk] if kk < p else np.broadcast_to(np.arange(p), (g, p))
    v = np.take_along_axis(bv, top, 1)  # (g, kk) local similarities of the candidate pairs
    ja = np.take_along_axis(arg, top, 1)
    rows = np.arange(g)[:, None]
    xa, ta = probe.xy[top], probe.theta[top]  # (g, kk, 2), (g, kk)
    xb, tb = gal_xy[rows, ja], gal_theta[rows, ja]
    rot = tb - ta  # the rotation each pair implies
    cr, sr = np.cos(rot), np.sin(rot)
    # cos(rot_i - rot_j), from the pairs' own cosines and sines (no trigonometry on every pair of pairs)
    ok = cr[:, :, None] * cr[:, None, :] + sr[:, :, None] * sr[:, None, :] >= _COS_ROT
    da = xa[:, :, None, :] - xa[:, None, :, :]
    db = xb[:, :, None, :] - xb[:, None, :, :]
    la, lb = np.sqrt(np.sum(da * da, axis=-1)), np.sqrt(np.sum(db * db, axis=-1))
    ok &= np.abs(la - lb) <= DIST_TOL
    # the bearing of the other minutia, seen from this one, relative to this one's direction, must
    # agree: cos((angle(da) - ta_j) - (angle(db) - tb_j)) = cos(angle(da) - angle(db) + rot_j), with
    # cos and sin of angle(da) - angle(db) from the dot and cross products of da and db
    dot = da[..., 0] * db[..., 0] + da[..., 1] * db[..., 1]
    crs = da[..., 1] * db[..., 0] - da[..., 0] * db[..., 1]
    ok &= (dot * cr[:, None, :] - crs * sr[:, None, :] >= _COS_ROT * la * lb) | (la < DIST_TOL)
    ok &= ja[:, :, None] != ja[:, None, :]  # one gallery minutia cannot stand for two probe minutiae
    support = ok.sum(axis=2) / np.maximum(kk - 1, 1)  # share of the other pairs that agree
    valid = np.arange(kk)[None, :] < np.minimum(k, kk)[:, None]
    order = np.argsort(-v * support, axis=1)
    vs = np.take_along_axis(v * support, order, 1)
    # each pair's local similarity weighted by how many of the other pairs agree with it
    return (np.where(valid, vs, 0).sum(axis=1) / np.minimum(k, kk)).astype(np.float32)


@dataclass(frozen=True)
class Stack:
    """Several templates' cylinders in padded arrays, the gallery side of :func:`scores`:
    ``bits (N, MAX_CYL, NBYTES)``, ``counts (N, MAX_CYL)``, ``n (N,)``, ``xy (N, MAX_CYL, 2)``,
    ``theta (N, MAX_CYL)`` (rows past a template's ``n`` are zero)."""

    bits: np.ndarray
    counts: np.ndarray
    n: np.ndarray
    xy: np.ndarray
    theta: np.ndarray

    @classmethod
    def of(cls, encoded: list[Encoded]) -> Stack:
        k, m = len(encoded), MAX_CYL
        st = cls(np.zeros((k, m, NBYTES), np.uint8), np.zeros((k, m), np.uint16), np.zeros(k, np.int64),
                 np.zeros((k, m, 2), np.float32), np.zeros((k, m), np.float32))
        for i, e in enumerate(encoded):
            st.bits[i, :e.n], st.counts[i, :e.n], st.n[i] = e.bits, e.counts, e.n
            st.xy[i, :e.n], st.theta[i, :e.n] = e.xy, e.theta
        return st

    def __len__(self) -> int:
        return int(len(self.n))

    def scores(self, probe: Encoded, block: int = 256) -> np.ndarray:
        """``cylinder`` scores (with the consistency step) of ``probe`` against every template, ``block`` at a time."""
        out = np.zeros(len(self), np.float32)
        for s in range(0, len(self), block):
            sl = slice(s, s + block)
            out[sl] = scores(probe, self.bits[sl], self.counts[sl], self.n[sl], self.xy[sl], self.theta[sl])
        return out


def match(a: Template, b: Template) -> float:
    """1:1 score of two templates (0..1, higher = more alike)."""
    ea, eb = encode(a), encode(b)
    if ea.n == 0 or eb.n == 0:
        return 0.0
    return float(Stack.of([eb]).scores(ea)[0])
