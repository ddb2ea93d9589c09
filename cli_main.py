"""Entry script of the bundled console executable ``fpstation-cli`` (see build.spec)."""

import multiprocessing

from fpstation.cli import main

if __name__ == "__main__":
    # A frozen program that starts worker processes with "spawn" must hand control back to
    # multiprocessing here, before argument parsing sees the child's arguments.
    multiprocessing.freeze_support()
    raise SystemExit(main())
