"""``fpstation enroll [DIR|FILE...] --case CASE [--extractor X] [--engine local|ray]``: enrol prints into a
case's gallery.

Without DIR, every print the case already holds (e.g. from ``batch --case``) is enrolled from the
path where it was seen.

Extraction runs in parallel (``--workers``, default one per CPU; ``--engine ray``: one Ray actor per
CPU of a cluster) and this process alone writes the case, in batched transactions (``--commit-every``).
Templates are stored with the extractor's name and version; prints already enrolled with the same
version are skipped, so an interrupted enrolment (Ctrl-C, a crash, kill -9) resumes on the next run
and each print is enrolled once. Progress shows prints/s and the time left. Unreadable files are
listed and the enrolment goes on (exit code 2 if any failed).
"""

from __future__ import annotations

import json
from pathlib import Path


def add_parser(sub) -> None:
    from fpstation.core.matching import DEFAULT_EXTRACTOR, EXTRACTORS
    from fpstation.core.matching.enrolment import COMMIT_EVERY, ENGINES

    p = sub.add_parser("enroll", help="enrol a folder of prints into a case's gallery (parallel, resumable)",
                       description=__doc__)
    p.add_argument("inputs", metavar="DIR", nargs="*", type=Path,
                   help="folders (searched recursively) or files; none = the prints already in the case")
    p.add_argument("--case", required=True, type=Path, help="case file (.fpcase / .sqlite); created if missing")
    p.add_argument("--extractor", choices=list(EXTRACTORS), default=DEFAULT_EXTRACTOR)
    p.add_argument("--dpi", type=float, default=None, help="resolution of prints whose files do not state one")
    p.add_argument("--engine", choices=ENGINES, default="local",
                   help="local: threads on this machine (default); ray: Ray workers extract, this process writes")
    p.add_argument("--workers", type=int, default=None,
                   help="extraction threads (local) or Ray workers (ray); default: one per CPU")
    p.add_argument("--address", default=None,
                   help="Ray cluster to join (auto, ray://host:10001, host:6379); default: start a local Ray")
    p.add_argument("--transport", choices=("auto", "path", "bytes"), default="auto",
                   help="ray: workers open the paths (shared storage) or receive the bytes (default: auto)")
    p.add_argument("--commit-every", type=int, default=COMMIT_EVERY, metavar="N",
                   help=f"prints per transaction (default {COMMIT_EVERY}; also at least every 2 s)")
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
    from fpstation.core.errors import FpError
    from fpstation.core.matching.enrolment import enroll, enroll_ray
    from fpstation.core.store import CaseStore

    if args.workers is not None and args.workers < 1:
        raise FpError("--workers must be at least 1.")
    if args.commit_every < 1:
        raise FpError("--commit-every must be at least 1.")
    with CaseStore(args.case) as store:
        if args.inputs:
            files = _files(args.inputs)
        else:
            files = list(dict.fromkeys(Path(store.get_print(i)["path"]) for i in store.iter_print_ids()))
            if not files:
                print(f"The case {args.case} holds no prints yet: give a folder to enrol.")
                return 2
        kw = dict(dpi=args.dpi, progress=TextProgress(), workers=args.workers, commit_every=args.commit_every)
        if args.engine == "ray":
            rep = enroll_ray(store, files, args.extractor, address=args.address, transport=args.transport, **kw)
        else:
            rep = enroll(store, files, args.extractor, **kw)
    print(f"enrolled {rep.enrolled}, already enrolled {rep.skipped}, failed {len(rep.failed)} "
          f"({rep.seconds:.1f} s, {rep.prints_per_s:.1f} prints/s, {rep.workers} "
          f"{'Ray workers' if rep.engine == 'ray' else 'workers'}) into {args.case}")
    for path, err in rep.failed:
        print(f"  failed: {path}: {err}")
    if args.json:
        Path(args.json).write_text(json.dumps(rep.to_dict(), indent=2), encoding="utf-8")
    return 2 if rep.failed else 0
