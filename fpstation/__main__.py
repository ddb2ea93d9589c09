"""``python -m fpstation``: with no arguments it opens the window, as a user double-clicking expects;
with a command (``analyze``, ``batch``, ``report``, … ``--help``) it is the headless CLI."""

import sys


def _entry(argv: list[str]) -> int:
    if not argv:
        from fpstation.app import main as open_window

        return int(open_window([]) or 0)
    from fpstation.cli import main

    return main(argv)


raise SystemExit(_entry(sys.argv[1:]))
