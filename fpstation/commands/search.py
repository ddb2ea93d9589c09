"""``fpstation search PROBE (--case CASE | --gallery G.fpg) [--top 10] [--engine local|ray] [--json OUT]``:
1:N search of a gallery.

The probe (a print or an ISO/IEC 19794-2 / Type-9 template) is searched in three stages: every
template of the gallery is pruned by a cheap cylinder comparison, the best share (0.5 %, and on
down to 10 % when none of those is a sure match: docs/adr/0241) is scored by the fast ``cylinder``
matcher, and the ``--rerank`` best of those by ``--matcher`` (``consensus`` by
default), which gives the order and the scores. Candidates are listed best first with the decision
at the FMR 0.1 % threshold of that matcher.

``--case``: the case's templates, packed into a memory-mapped folder beside the case file the first
time (with progress) and again whenever they change. ``--gallery``: a packed gallery folder made
before (``--pack-only``, or fpstation.core.matching.packed). ``--engine ray --workers N`` shards
the gallery over Ray workers (``--address`` joins a cluster; the folder must be readable by every
worker at the same path); the candidates are identical to a local search. ``--no-prune`` scores
every template with the fast matcher (slower; the reference the pruning is measured against).
"""

from __future__ import annotations

import json
from pathlib import Path


def add_parser(sub) -> None:
    from fpstation.core.matching import DEFAULT_EXTRACTOR, DEFAULT_MATCHER, EXTRACTORS, MATCHERS

    p = sub.add_parser("search", help="search a probe print against a case's gallery (top-k candidates)",
                       description=__doc__)
    p.add_argument("probe", metavar="PROBE", type=Path, nargs="?")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--case", type=Path)
    src.add_argument("--gallery", type=Path, help="a packed gallery folder (*.fpg)")
    p.add_argument("--top", type=int, default=10)
    p.add_argument("--extractor", choices=list(EXTRACTORS), default=DEFAULT_EXTRACTOR)
    p.add_argument("--matcher", choices=list(MATCHERS), default=DEFAULT_MATCHER)
    p.add_argument("--rerank", type=int, default=30, help="candidates the final matcher re-scores (default 30)")
    p.add_argument("--no-prune", action="store_true", help="the fast matcher on every template (no pruning stage)")
    p.add_argument("--engine", choices=["local", "ray"], default="local")
    p.add_argument("--workers", type=int, default=None, help="Ray workers (default: the cluster's CPUs)")
    p.add_argument("--address", default=None, help="Ray cluster to join (default: start one here)")
    p.add_argument("--pack-only", action="store_true", help="with --case: pack the case's gallery and stop")
    p.add_argument("--dpi", type=float, default=None)
    p.add_argument("--json", metavar="OUT", help="write the candidates as JSON ('-' = stdout)")
    p.set_defaults(func=run)


def _gallery(args, progress):
    from fpstation.core.errors import CaseStoreError
    from fpstation.core.matching.gallery import packed_for_case
    from fpstation.core.matching.packed import PackedGallery
    from fpstation.core.store import CaseStore

    if args.gallery is not None:
        return PackedGallery(args.gallery), None
    if not args.case.is_file():
        raise CaseStoreError(f"There is no case file “{args.case}”. Enrol prints first (fpstation enroll).",
                             path=str(args.case))
    store = CaseStore(args.case)
    g = packed_for_case(store, args.extractor, progress=progress)
    if len(g) == 0:
        store.close()
        raise CaseStoreError(f"The case “{args.case.name}” holds no {args.extractor} templates. "
                             f"Run: fpstation enroll DIR --case {args.case} --extractor {args.extractor}",
                             path=str(args.case))
    return g, store


def run(args) -> int:
    from fpstation.cli import TextProgress
    from fpstation.core.matching import load_template_or_print, operating_point

    if args.top < 1 or args.rerank < 1:
        raise SystemExit("--top and --rerank must be at least 1")
    if args.pack_only and args.case is None:
        raise SystemExit("--pack-only packs a case's gallery: give --case")
    if args.probe is None and not args.pack_only:
        raise SystemExit("give the PROBE print or template to search for (or --pack-only)")
    gallery, store = _gallery(args, TextProgress())
    try:
        if args.pack_only:
            print(f"{len(gallery)} templates packed in {gallery.folder}")
            return 0
        if gallery.extractor and gallery.extractor != args.extractor:
            args.extractor = gallery.extractor  # a packed gallery says which extractor made it
        probe, _ = load_template_or_print(args.probe, args.extractor, args.dpi)
        res = gallery.search(probe, top=args.top, rerank=args.rerank, matcher=args.matcher, engine=args.engine,
                             workers=args.workers, address=args.address, exhaustive=args.no_prune,
                             progress=TextProgress())
        op = operating_point(args.extractor, args.matcher)
        thr = op["threshold"] if op else None
        rows = []
        for k, h in enumerate(res.hits):
            pr = store.get_print(h.id) if store is not None else None
            rows.append({**h.to_dict(), "rank": k + 1, "print_id": h.id, "path": pr["path"] if pr else "",
                         "match": (h.score >= thr) if thr is not None else None})
    finally:
        if store is not None:
            store.close()
    out = {"probe": str(args.probe), "case": str(args.case) if args.case else None,
           "gallery": str(gallery.folder), "gallery_size": res.gallery_size, "extractor": args.extractor,
           "matcher": args.matcher, "engine": res.engine, "workers": res.workers, "rerank": args.rerank,
           "pruned": not args.no_prune, "stage1_templates": res.stage1_candidates,
           "stage1_went_further": res.expanded, "threshold_fmr1000": thr, "search_seconds": res.seconds["total"],
           "seconds": res.seconds, "candidates": rows}
    if args.json == "-":
        print(json.dumps(out, indent=2))
        return 0
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2), encoding="utf-8")
    further = " (no sure candidate among the first: it went further)" if res.expanded else ""
    print(f"{res.gallery_size:,} templates searched in {res.seconds['total']:.3f} s ({res.engine}); "
          f"{res.stage1_candidates:,} scored by the cylinder matcher{further}; threshold "
          f"(FMR 0.1 %) {'—' if thr is None else f'{thr:.4g}'}")
    for r in rows:
        mark = "" if r["match"] is None else ("  MATCH" if r["match"] else "")
        print(f"{r['rank']:3d}  {r['score']:.4f}  print {r['print_id']}  {r['path']}{mark}")
    return 0
