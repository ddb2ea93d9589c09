"""``fpstation evaluate {restoration,gender,pad,face} ...``: each target registers itself here."""

from __future__ import annotations

import importlib
from pathlib import Path

TARGETS = ["restoration", "gender", "pad", "face", "matching"]


def add_common_arguments(p, data_help: str, model_word: str) -> None:
    """--data/--json/--model/--subjects, shared by ``evaluate gender`` and ``evaluate pad``."""
    p.add_argument("--data", required=True, type=Path, help=data_help)
    p.add_argument("--json", required=True, type=Path, help="output JSON (plots are written beside it)")
    p.add_argument("--model", default="", help=f"registry key (default: the shipped default {model_word} model)")
    p.add_argument("--subjects", choices=["heldout", "val", "all"], default="heldout",
                   help="heldout (default): exclude the model's training subjects; val: only its validation "
                        "subjects; all: everything (leaky if the folder overlaps the training data)")


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
