"""Headless command line: ``python -m fpstation COMMAND ...`` (no QApplication, no display).

Each command lives in ``fpstation/commands/<name>.py`` exposing ``add_parser(subparsers)`` which
registers the sub-parser and sets ``func=run`` on it. ``run(args) -> int`` returns the exit code.
Expected failures (:class:`~fpstation.core.errors.FpError`) print one clear line and exit 2;
``--debug`` adds the traceback. Unexpected errors print a short message and exit 1.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
import traceback

from fpstation import __version__

#: command modules, in the order shown by --help
COMMANDS = ["analyze", "batch", "report", "watch", "compare", "enroll", "search", "evaluate", "train", "face",
            "selftest", "gui"]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="fpstation", description="fpstation fingerprint workstation (headless CLI)")
    p.add_argument("--version", action="version", version=f"fpstation {__version__}")
    p.add_argument("--debug", action="store_true", help="show tracebacks and debug logging")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            mod = importlib.import_module(f"fpstation.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"fpstation.commands.{name}":
                continue  # command not built yet
            raise
        mod.add_parser(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    from fpstation.core.errors import FpError
    from fpstation.core.jobs import Cancelled

    try:
        return int(args.func(args) or 0)
    except FpError as exc:
        print(f"error: {exc.user_message}", file=sys.stderr)
        if args.debug:
            traceback.print_exc()
            if exc.detail:
                print(exc.detail, file=sys.stderr)
        return 2
    except (KeyboardInterrupt, Cancelled):
        print("cancelled", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001
        print(f"error: unexpected failure: {type(exc).__name__}: {exc}", file=sys.stderr)
        if args.debug:
            traceback.print_exc()
        else:
            print("(run with --debug for details)", file=sys.stderr)
        return 1


class TextProgress:
    """A one-line text progress bar for the CLI (a Progress callable)."""

    def __init__(self, stream=None, width: int = 30, enabled: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        self.width = width
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self._last = ""

    def __call__(self, fraction: float, message: str = "") -> None:
        fraction = min(max(fraction, 0.0), 1.0)
        filled = int(round(self.width * fraction))
        line = f"[{'#' * filled}{'.' * (self.width - filled)}] {fraction * 100:5.1f}% {message}"
        if line == self._last:
            return
        self._last = line
        if self.enabled:
            self.stream.write("\r" + line[:120].ljust(120))
            if fraction >= 1.0:
                self.stream.write("\n")
        else:
            self.stream.write(line + "\n")
        self.stream.flush()


if __name__ == "__main__":
    raise SystemExit(main())
