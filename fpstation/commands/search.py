"""``fpstation search PROBE --case CASE [--top 10] [--json OUT]``: 1:N search of a case's gallery.

The probe (a print or an ISO/IEC 19794-2 / Type-9 template) is compared with every template the
case holds for the extractor; candidates are listed best first with their scores and the
decision at the FMR 0.1 % threshold.
"""

from __future__ import annotations

import json
import time
from pathlib import Path


def add_parser(sub) -> None:
    from fpstation.core.matching import DEFAULT_EXTRACTOR, DEFAULT_MATCHER, EXTRACTORS, MATCHERS

    p = sub.add_parser("search", help="search a probe print against a case's gallery (top-k candidates)",
                       description=__doc__)
    p.add_argument("probe", metavar="PROBE", type=Path)
    p.add_argument("--case", required=True, type=Path)
    p.add_argument("--top", type=int, default=10)
    p.add_argument("--extractor", choices=list(EXTRACTORS), default=DEFAULT_EXTRACTOR)
    p.add_argument("--matcher", choices=list(MATCHERS), default=DEFAULT_MATCHER)
    p.add_argument("--dpi", type=float, default=None)
    p.add_argument("--json", metavar="OUT", help="write the candidates as JSON ('-' = stdout)")
    p.set_defaults(func=run)


def run(args) -> int:
    from fpstation.core.errors import CaseStoreError
    from fpstation.core.matching import load_template_or_print, operating_point
    from fpstation.core.matching.gallery import load_gallery
    from fpstation.core.store import CaseStore

    if not args.case.is_file():
        raise CaseStoreError(f"There is no case file “{args.case}”. Enrol prints first (fpstation enroll).",
                             path=str(args.case))
    if args.top < 1:
        raise SystemExit("--top must be at least 1")
    with CaseStore(args.case) as store:
        gallery = load_gallery(store, args.extractor)
    if len(gallery) == 0:
        raise CaseStoreError(f"The case “{args.case.name}” holds no {args.extractor} templates. "
                             f"Run: fpstation enroll DIR --case {args.case} --extractor {args.extractor}",
                             path=str(args.case))
    probe, _ = load_template_or_print(args.probe, args.extractor, args.dpi)
    t0 = time.perf_counter()
    cands = gallery.search(probe, top=args.top, matcher=args.matcher)
    dt = time.perf_counter() - t0
    op = operating_point(args.extractor, args.matcher)
    thr = op["threshold"] if op else None
    rows = [{**c.to_dict(), "rank": k + 1, "match": (c.score >= thr) if thr is not None else None}
            for k, c in enumerate(cands)]
    out = {"probe": str(args.probe), "case": str(args.case), "gallery_size": len(gallery),
           "extractor": args.extractor, "matcher": args.matcher, "threshold_fmr1000": thr,
           "search_seconds": dt, "candidates": rows}
    if args.json == "-":
        print(json.dumps(out, indent=2))
        return 0
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2), encoding="utf-8")
    print(f"{len(gallery)} templates searched in {dt:.3f} s; threshold (FMR 0.1 %) "
          f"{'—' if thr is None else f'{thr:.4g}'}")
    for r in rows:
        mark = "" if r["match"] is None else ("  MATCH" if r["match"] else "")
        print(f"{r['rank']:3d}  {r['score']:.4f}  print {r['print_id']}  {r['path']}{mark}")
    return 0
