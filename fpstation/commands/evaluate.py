"""``fpstation evaluate {restoration,gender,pad} ...``: each target registers itself here."""

from __future__ import annotations

import importlib

TARGETS = ["restoration", "gender", "pad"]


def add_parser(sub) -> None:
    p = sub.add_parser("evaluate", help="evaluate models on a labelled folder, write JSON (+ plots)")
    tsub = p.add_subparsers(dest="target", metavar="TARGET")
    for name in TARGETS:
        try:
            mod = importlib.import_module(f"fpstation.commands.evaluate_{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"fpstation.commands.evaluate_{name}":
                continue
            raise
        mod.add_parser(tsub)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])
