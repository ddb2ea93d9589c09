"""``fpstation enroll [DIR|FILE...] --case CASE [--extractor X]``: enrol prints into a case's gallery.

Without DIR, every print the case already holds (e.g. from ``batch --case``) is enrolled from the
path where it was seen.

Templates are stored in the case with the extractor's name and version; prints already enrolled
with the same version are skipped, so an interrupted enrolment (Ctrl-C) resumes on the next run.
Unreadable files are listed and the enrolment goes on (exit code 2 if any failed).
"""

from __future__ import annotations

import json
from pathlib import Path


def add_parser(sub) -> None:
    from fpstation.core.matching import DEFAULT_EXTRACTOR, EXTRACTORS

    p = sub.add_parser("enroll", help="enrol a folder of prints into a case's gallery (resumable)",
                       description=__doc__)
    p.add_argument("inputs", metavar="DIR", nargs="*", type=Path,
                   help="folders (searched recursively) or files; none = the prints already in the case")
    p.add_argument("--case", required=True, type=Path, help="case file (.fpcase / .sqlite); created if missing")
    p.add_argument("--extractor", choices=list(EXTRACTORS), default=DEFAULT_EXTRACTOR)
    p.add_argument("--dpi", type=float, default=None, help="resolution of prints whose files do not state one")
    p.add_argument("--json", metavar="OUT", help="write the enrolment report as JSON")
    p.set_defaults(func=run)


def _files(inputs: list[Path]) -> list[Path]:
    from fpstation.core.errors import FileAccessError
    from fpstation.core.imageio import iter_image_files

    out: list[Path] = []
    for p in inputs:
        if p.is_dir():
            out.extend(iter_image_files(p, recursive=True))
        elif p.is_file():
            out.append(p)
        else:
            raise FileAccessError(f"“{p}” does not exist.", path=str(p))
    return out


def run(args) -> int:
    from fpstation.cli import TextProgress
    from fpstation.core.matching.gallery import enroll
    from fpstation.core.store import CaseStore

    with CaseStore(args.case) as store:
        if args.inputs:
            files = _files(args.inputs)
        else:
            files = list(dict.fromkeys(Path(store.get_print(i)["path"]) for i in store.iter_print_ids()))
            if not files:
                print(f"The case {args.case} holds no prints yet: give a folder to enrol.")
                return 2
        rep = enroll(store, files, args.extractor, dpi=args.dpi, progress=TextProgress())
    print(f"enrolled {rep.enrolled}, already enrolled {rep.skipped}, failed {len(rep.failed)} "
          f"({rep.seconds:.1f} s) into {args.case}")
    for path, err in rep.failed:
        print(f"  failed: {path}: {err}")
    if args.json:
        Path(args.json).write_text(json.dumps(rep.to_dict(), indent=2), encoding="utf-8")
    return 2 if rep.failed else 0
