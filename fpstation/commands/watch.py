"""``fpstation watch DIR --case case.db [--out rows.csv] [--interval 1] [--ext .png] ...``

The Scanner desk without a window: polls DIR and analyses each new file into the case once it is
completely written (size stable between two polls and it decodes; a file that stays undecodable for
``--undecodable-after`` seconds becomes an error row), in arrival order. One line per print on
stdout (time, file, PAD verdict and score); rows also go to ``--out`` (CSV/JSON) when given.
Runs until Ctrl-C (exit 130) or for ``--polls`` polls.
"""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path


def add_parser(sub) -> None:
    p = sub.add_parser("watch", help="analyse each new print dropped into a scanner folder into a case")
    p.add_argument("folder", metavar="DIR", type=Path, help="the scanner's output folder")
    p.add_argument("--case", required=True, type=Path, metavar="CASE.db", help="case store to write to")
    p.add_argument("--out", metavar="FILE", help="also stream rows to this CSV/JSON file")
    p.add_argument("--interval", type=float, default=1.0, help="seconds between polls (default 1)")
    p.add_argument("--undecodable-after", type=float, default=10.0,
                   help="seconds a stable file may stay undecodable before it is an error row (default 10)")
    p.add_argument("--ext", metavar=".bmp,.png", help="only these extensions")
    p.add_argument("--recursive", action="store_true", help="also watch sub-folders")
    p.add_argument("--polls", type=int, help="stop after this many polls (default: until Ctrl-C)")
    p.add_argument("--no-restore", action="store_true", help="skip restoration")
    p.add_argument("--no-pad", action="store_true", help="skip presentation-attack detection")
    p.add_argument("--no-gender", action="store_true", help="skip gender estimation")
    from fpstation.commands import add_dpi_argument

    add_dpi_argument(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from fpstation.commands.batch import RowWriter, cli_inputs, folder_and_analyzers
    from fpstation.core.store import CaseStore
    from fpstation.core.watch import watch_folder

    analyzers = folder_and_analyzers(args)
    writer = RowWriter(args.out, str(args.out or "").lower().endswith(".json")) if args.out else None

    def on_item(item) -> None:
        r = item.row
        verdict = r.get("pad_verdict") or r.get("status")
        score = f" {r['pad_score']:.3f}" if r.get("pad_score") is not None else ""
        if r.get("pad_models"):
            score += f"  [{r['pad_models']}]"
        err = f"  ({r['error']})" if r.get("error") else ""
        print(f"{datetime.now():%H:%M:%S}  {Path(r.get('path') or '').name}  {verdict}{score}{err}", flush=True)
        if writer is not None:
            writer(item)

    print(f"watching {args.folder} → {args.case} (Ctrl-C to stop)", file=sys.stderr, flush=True)
    try:
        with CaseStore(args.case) as store:
            s = watch_folder(args.folder, store, analyzers, partial=on_item, poll_interval=args.interval,
                             undecodable_after=args.undecodable_after, extensions=args.ext,
                             recursive=args.recursive, keep_images=False, max_polls=args.polls,
                             inputs=cli_inputs(args, "desk"))
    finally:
        if writer is not None:
            writer.close()
    print(f"{s.prints_analysed} prints analysed, {s.prints_skipped} already in the case, {s.bad_files} bad files",
          file=sys.stderr)
    return 0
