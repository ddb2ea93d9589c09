"""``python -m fpstation``: the headless CLI (``python -m fpstation gui`` opens the window)."""

from fpstation.cli import main

raise SystemExit(main())
