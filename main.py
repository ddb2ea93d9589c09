import multiprocessing

from fpstation.app import main

if __name__ == "__main__":
    # The training dialog runs fits in a 'spawn' child: a frozen bundle must let multiprocessing
    # take over here (the child is this executable), and the guard keeps children from opening a window.
    multiprocessing.freeze_support()
    raise SystemExit(main())
