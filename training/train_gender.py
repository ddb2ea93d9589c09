"""Train a gender CNN (SOCOFing Real prints, one subject-disjoint validation split, class-balanced).

    python training/train_gender.py --out DIR          # -> DIR/gender-cnn-socofing.keras + .json

This was the shipped gender model up to v1. The shipped model is now gender-socofing v2, a feature
model judged by repeated subject-disjoint cross-validation: training/train_gender_v2.py. A CNN trained
here is not marked as the default gender model (its single validation split is optimistic, and its
card states no domain).
"""

from __future__ import annotations

import argparse

from classifier_common import common_args, run


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common_args(p, "gender-cnn-socofing")
    p.set_defaults(no_default=True)
    p.add_argument("--include-altered", action="store_true", help="also train on Altered prints")
    args = p.parse_args()
    run("gender", args, {"include_altered": args.include_altered})


if __name__ == "__main__":
    main()
