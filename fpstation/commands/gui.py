"""``fpstation gui``: open the main window (same as running ``fpstation`` / main.py)."""

from __future__ import annotations


def add_parser(sub) -> None:
    p = sub.add_parser("gui", help="open the workstation window")
    p.add_argument("files", nargs="*", help="prints to open")
    p.set_defaults(func=run)


def run(args) -> int:
    from fpstation.app import main

    return main(list(args.files))
