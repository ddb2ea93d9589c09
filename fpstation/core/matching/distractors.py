"""Synthetic distractor templates for 1:N benchmarks: real templates mixed and perturbed.

No public set holds a million fingers, so large galleries are filled with templates made from real
ones (bench/search_scale.py). Each distractor is

1. **mixed**: the minutiae of a real template A on one side of a random line through its centre,
   and those of another finger's template B (turned by a random angle and moved onto A's centre)
   on the other side; so the ridge structure is real but belongs to no finger;
2. **perturbed**: every minutia moved by N(0, ``jitter`` px) and turned by N(0, ``turn`` deg); a
   share ``drop`` of them removed and a share ``spurious`` of random ones added inside the
   template's extent (as a different capture and extractor would);
3. turned and moved as a whole (which no matcher here should notice).

The sources must be fingers that are *not* the probes' (the benchmark takes them from other FVC
sets), and the benchmark checks that the probes' scores against distractors are distributed like
their scores against real non-mates.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from fpstation.core.matching.template import Template


def make_distractor(a: Template, b: Template, rng: np.random.Generator, *, jitter: float = 2.5, turn: float = 8.0,
                    drop: float = 0.1, spurious: float = 0.05) -> Template:
    """One distractor from two real templates of different fingers (see the module docstring)."""
    ma, mb = a.minutiae.copy(), b.minutiae.copy()
    sb = float(a.dpi or 500.0) / float(b.dpi or 500.0)
    mb[:, :2] *= sb
    ca = ma[:, :2].mean(axis=0) if len(ma) else np.array([a.width / 2, a.height / 2])
    cb = mb[:, :2].mean(axis=0) if len(mb) else ca
    # B turned by a random angle about its centre and moved onto A's centre
    phi = rng.uniform(-np.pi, np.pi)
    c, s = np.cos(phi), np.sin(phi)
    rel = mb[:, :2] - cb
    # image coordinates have y down: a counter-clockwise turn of the angles is (x, y) -> (c x + s y, -s x + c y)
    mb[:, :2] = np.column_stack([c * rel[:, 0] + s * rel[:, 1], -s * rel[:, 0] + c * rel[:, 1]]) + ca
    mb[:, 2] = np.mod(mb[:, 2] + np.degrees(phi), 360.0)
    # a random line through A's centre: A's minutiae on one side, B's on the other
    psi = rng.uniform(0, np.pi)
    nrm = np.array([np.cos(psi), np.sin(psi)])
    side_a = (ma[:, :2] - ca) @ nrm >= 0
    side_b = (mb[:, :2] - ca) @ nrm < 0
    m = np.concatenate([ma[side_a], mb[side_b]])
    if len(m):
        m = m[rng.random(len(m)) >= drop]
    if len(m):
        m[:, :2] += rng.normal(0, jitter, (len(m), 2))
        m[:, 2] = np.mod(m[:, 2] + rng.normal(0, turn, len(m)), 360.0)
        lo, hi = m[:, :2].min(axis=0), m[:, :2].max(axis=0)
        k = rng.binomial(len(m), spurious)
        if k:
            extra = np.column_stack([rng.uniform(lo[0], hi[0], k), rng.uniform(lo[1], hi[1], k),
                                     rng.uniform(0, 360, k), rng.integers(1, 3, k),
                                     rng.uniform(20, 60, k)])
            m = np.concatenate([m, extra])
        # the whole template turned (about its centre) and moved
        g = rng.uniform(-np.pi / 6, np.pi / 6)
        c, s = np.cos(g), np.sin(g)
        cen = m[:, :2].mean(axis=0)
        rel = m[:, :2] - cen
        m[:, :2] = np.column_stack([c * rel[:, 0] + s * rel[:, 1], -s * rel[:, 0] + c * rel[:, 1]]) + cen + \
            rng.uniform(-40, 40, 2)
        m[:, 2] = np.mod(m[:, 2] + np.degrees(g), 360.0)
    return Template(m, a.width, a.height, a.dpi, extractor=a.extractor, extractor_version=a.extractor_version)


def distractors(sources: Sequence[Template], fingers: Sequence[str], n: int, seed: int = 0,
                start: int = 0) -> Iterator[Template]:
    """Distractors ``start .. start + n - 1`` from ``sources`` (``fingers[k]`` names the finger of
    ``sources[k]``); the ``i``-th depends only on (``seed``, ``i``), so any range of them can be
    made on its own."""
    if len(set(fingers)) < 2:
        raise ValueError("distractors need source templates of at least two fingers")
    f = np.asarray(fingers)
    for i in range(start, start + n):
        rng = np.random.default_rng([seed, i])
        a = int(rng.integers(len(sources)))
        others = np.nonzero(f != f[a])[0]
        b = int(others[rng.integers(len(others))])
        yield make_distractor(sources[a], sources[b], rng)
