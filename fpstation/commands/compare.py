"""``fpstation compare A B [--extractor X] [--matcher Y] [--json OUT]``: 1:1 comparison of two prints.

A and B are print files (PNG, BMP, TIFF, JPEG, WSQ, NIST) or minutiae templates (ISO/IEC 19794-2,
ANSI/NIST Type-9). Prints the score, the decision at the threshold calibrated for a false match
rate of 0.1 % (``--fmr 1`` for 1 %), NFIQ 2 of each print and the number of paired minutiae.
Exit code 0 whatever the decision; 2 when a file cannot be read.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def add_parser(sub) -> None:
    from fpstation.core.matching import DEFAULT_EXTRACTOR, DEFAULT_MATCHER, EXTRACTORS, MATCHERS

    p = sub.add_parser("compare", help="1:1 comparison of two prints or templates: score and decision",
                       description=__doc__)
    p.add_argument("a", metavar="A", type=Path)
    p.add_argument("b", metavar="B", type=Path)
    p.add_argument("--extractor", choices=list(EXTRACTORS), default=DEFAULT_EXTRACTOR)
    p.add_argument("--matcher", choices=list(MATCHERS), default=DEFAULT_MATCHER)
    p.add_argument("--fmr", choices=["0.1", "1"], default="0.1", help="false match rate of the decision threshold, in %%")
    p.add_argument("--dpi", type=float, default=None, help="resolution of prints whose files do not state one")
    p.add_argument("--json", metavar="OUT", help="write the result as JSON ('-' = stdout)")
    p.set_defaults(func=run)


def run(args) -> int:
    from fpstation.core.matching import compare, decide, load_template_or_print
    from fpstation.core.matching.quality import nfiq2

    side = {}
    for key, path in (("a", args.a), ("b", args.b)):
        t, image = load_template_or_print(path, args.extractor, args.dpi)
        q = nfiq2(image) if image is not None else None
        side[key] = (t, q)
    (ta, qa), (tb, qb) = side["a"], side["b"]
    d = decide(compare(ta, tb, args.matcher), ta.extractor, "fmr1000" if args.fmr == "0.1" else "fmr100")
    out = {"a": {"path": str(args.a), "minutiae": ta.n, "extractor": ta.extractor,
                 "extractor_version": ta.extractor_version, "nfiq2": q.to_dict() if (q := qa) else None},
           "b": {"path": str(args.b), "minutiae": tb.n, "extractor": tb.extractor,
                 "extractor_version": tb.extractor_version, "nfiq2": qb.to_dict() if qb else None},
           **d.to_dict()}
    if args.json:
        text = json.dumps(out, indent=2)
        if args.json == "-":
            print(text)
            return 0
        Path(args.json).write_text(text, encoding="utf-8")
    thr = f"{d.threshold:.4g}" if d.threshold is not None else "—"
    for k, (t, q) in side.items():
        print(f"{k.upper()}: {out[k]['path']}  minutiae {t.n}  NFIQ 2 {q.score if q else '—'}")
    print(f"score {d.comparison.score:.4g} ({args.matcher})  threshold {thr}  -> {d.verdict}  "
          f"paired minutiae {len(d.comparison.pairs)}")
    if args.json:
        print(f"wrote {args.json}", file=sys.stderr)
    return 0
