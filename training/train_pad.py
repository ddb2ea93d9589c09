"""Train the shipped presentation-attack model (SOCOFing Real vs Altered, subject-disjoint).

    python training/train_pad.py                       # -> models/pad-socofing.keras + .json
    python training/train_pad.py --data LIVDET_DIR --name pad-livdet --no-default   # material spoofs

The same pipeline accepts LivDet-style folders (Live/ + Fake|Spoof/<material>/).
"""

from __future__ import annotations

import argparse

from classifier_common import common_args, parse_weights, run


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common_args(p, "pad-socofing")
    p.add_argument("--max-bpcer", type=float, default=0.01, help="operating point: validation BPCER limit")
    p.add_argument("--synth-alter", type=float, default=0.0,
                   help="synthetic flap alterations added per training bona fide print (0 = none)")
    p.add_argument("--alter-map", type=float, default=0.0,
                   help="also learn where each training print is altered (SOCOFing pairs), loss weight (0 = no)")
    p.add_argument("--attack-weight", nargs="*", default=[], metavar="TYPE[/LEVEL]=W",
                   help="within the attacks, weight these this much in the loss, e.g. z-cut/Easy=3")
    p.add_argument("--mirror", choices=["no", "yes", "auto"], default="no",
                   help="score the mean logit of a print and its mirror (auto: if validation APCER_max is lower)")
    p.add_argument("--cross-fit", type=int, default=0, metavar="K",
                   help="cut the subjects in K parts, train K networks (network j validated and calibrated on part "
                        "j), ship the mean of their calibrated logits with the threshold from every subject's "
                        "out-of-fold score (docs/adr/0267; K times the training time)")
    p.add_argument("--resume", action="store_true",
                   help="with --cross-fit: keep the networks a stopped run finished (under --workdir), train the rest")
    args = p.parse_args()
    extra = {"max_bpcer": args.max_bpcer}
    if args.synth_alter:
        extra["synth_alter"] = args.synth_alter
    if args.alter_map:
        extra["alter_map"] = args.alter_map
    if args.mirror != "no":
        extra["mirror"] = True if args.mirror == "yes" else "auto"
    if args.attack_weight:
        extra["attack_weights"] = parse_weights(args.attack_weight)
    run("pad", args, extra)


if __name__ == "__main__":
    main()
