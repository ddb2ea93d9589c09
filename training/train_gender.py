"""Train the shipped gender model (SOCOFing Real prints, subject-disjoint, class-balanced).

    python training/train_gender.py                    # -> models/gender-socofing.keras + .json
"""

from __future__ import annotations

import argparse

from classifier_common import common_args, run


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common_args(p, "gender-socofing")
    p.add_argument("--include-altered", action="store_true", help="also train on Altered prints")
    args = p.parse_args()
    run("gender", args, {"include_altered": args.include_altered})


if __name__ == "__main__":
    main()
