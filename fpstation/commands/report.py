"""``fpstation report --case CASE.db --out FILE [--print SHA256[:INDEX]] [--no-restore]``

Without ``--print``: export the whole case as CSV or JSON (by ``--out``'s extension).
With ``--print``: a self-contained one-print HTML report (original and restored image embedded,
verdicts, scores, model versions and hashes, file hash, operator decisions). A unique hash prefix is
enough to name the print.
"""

from __future__ import annotations

from pathlib import Path


def add_parser(sub) -> None:
    p = sub.add_parser("report", help="export a case (CSV/JSON) or write a one-print HTML report")
    p.add_argument("--case", required=True, type=Path, metavar="CASE.db", help="the case store")
    p.add_argument("--out", required=True, type=Path, metavar="FILE", help=".html (with --print), .csv or .json")
    p.add_argument("--print", dest="print_key", metavar="SHA256[:INDEX]",
                   help="file hash (or unique prefix) of the print to report on")
    p.add_argument("--analysis", type=int, metavar="ID",
                   help="which analysis of the print to report on (default: its newest; the report names it "
                        "and lists the others)")
    p.add_argument("--no-restore", action="store_true", help="do not recompute the restored image")
    p.set_defaults(func=run)


def run(args) -> int:
    from fpstation.core.errors import CaseStoreError, FileAccessError
    from fpstation.core.report import export_case, print_report_html
    from fpstation.core.store import CaseStore

    if not args.case.is_file():
        raise FileAccessError(f"The case “{args.case}” does not exist.", path=str(args.case))
    with CaseStore(args.case) as store:
        if not args.print_key:
            n = export_case(store, args.out)
            print(f"{n} {'prints' if str(args.out).lower().endswith('.json') else 'rows'} written to {args.out}")
            return 0
        found = store.find_prints(args.print_key)
        if not found:
            raise CaseStoreError(f"No print with hash “{args.print_key}” in this case.")
        if len(found) > 1:
            keys = ", ".join(f"{f['sha256'][:12]}:{f['idx']}" for f in found[:5])
            raise CaseStoreError(f"“{args.print_key}” matches {len(found)} prints ({keys}…); give more of the "
                                 "hash or add :INDEX.")
        pid = found[0]["id"]
        aid = args.analysis if args.analysis is not None else store.analysis_id(pid, any_inputs=True)
        a = store.get_analysis(aid) if aid is not None else None
        if args.analysis is not None and (a is None or a["print_id"] != pid):
            ids = ", ".join(f"#{x['id']}" for x in store.analyses(pid)) or "none"
            raise CaseStoreError(f"Analysis {args.analysis} is not one of this print's (its analyses: {ids}).")
        restore = None
        if not args.no_restore:
            from fpstation.ml.inference import default_analyzers, restorer_settings
            from fpstation.settings import Settings

            s = restorer_settings(Settings.load(), (a or {}).get("restorer"))
            restore = default_analyzers(s, pad_=False, gender_=False).restore
        from fpstation.ml.registry import cards_by_name

        out = print_report_html(store, pid, args.out, restore=restore, cards=cards_by_name(), analysis_id=aid)
        print(f"report written to {out}")
        return 0
