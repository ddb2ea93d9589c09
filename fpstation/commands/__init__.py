"""CLI sub-commands; see fpstation/cli.py for the contract."""


def add_dpi_argument(p) -> None:
    """``--dpi N``: the resolution of prints whose files carry none (or a wrong one), shared by
    analyze, batch, watch, train and evaluate. Shown as "N dpi (stated)", never as file metadata."""

    def dpi_value(text: str) -> float:
        import argparse

        try:
            v = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number of dots per inch") from None
        if not 50 <= v <= 5000:
            raise argparse.ArgumentTypeError(f"{v:g} dpi is not a plausible scanner resolution (50–5000)")
        return v

    p.add_argument("--dpi", type=dpi_value, metavar="N",
                   help="resolution of the prints in dots per inch, for files that carry none (e.g. LivDet "
                        "PNGs at 1000); overrides the file's value and is recorded as stated. State the scanner's true "
                        "dpi: the texture models take it as given")
