"""``fpstation evaluate restoration --degraded DIR --clean DIR [--model NAME|all] --json OUT``
or ``fpstation evaluate restoration --heldout-scanners DATA_ROOT [--model NAME|all] --json OUT``.

Pairs images by identical file name, restores each degraded image with the chosen model(s) and
scores it against its clean file: SSIM (7×7 window), PSNR (dB) and MAE, images scaled to [0, 1].
``--model all`` compares identity (the degraded input itself), pyfing's classical enhancement and
every shipped restorer (U-Net, reference encoder-decoder) in the same run.

``--heldout-scanners DATA_ROOT`` scores per FVC database (one sensor each) instead, on the training
generator's recipe and on an independent held-out recipe, with 95 % bootstrap intervals over
fingers (fpstation.ml.restoration.heldout_eval; bench/restoration_loso.py is the benchmark). A
model's card says which databases it was trained on; the shipped U-Net v2 saw all of them.
"""

from __future__ import annotations

import json
from pathlib import Path


def add_parser(tsub) -> None:
    p = tsub.add_parser("restoration", help="restorers on a paired folder: SSIM, PSNR, MAE", description=__doc__)
    p.add_argument("--degraded", type=Path, help="folder of degraded images")
    p.add_argument("--clean", type=Path, help="folder of clean images (same file names)")
    p.add_argument("--heldout-scanners", type=Path, metavar="DATA_ROOT",
                   help="score per FVC database under DATA_ROOT on two recipes (instead of --degraded/--clean)")
    p.add_argument("--per-finger", type=int, default=3, help="with --heldout-scanners: impressions per finger")
    p.add_argument("--model", default="unet",
                   help="unet (default), autoencoder, classical, identity, a registry key, or all")
    p.add_argument("--json", required=True, type=Path, help="output JSON")
    p.add_argument("--limit", type=int, default=0, help="use only the first N pairs (0 = all)")
    p.set_defaults(func=run)


def _run_heldout(args) -> int:
    from fpstation.cli import TextProgress
    from fpstation.core.errors import DatasetError
    from fpstation.core.types import FingerprintImage
    from fpstation.ml.restoration import data as rd
    from fpstation.ml.restoration.eval import all_models, restorer
    from fpstation.ml.restoration.heldout_eval import held_out_for, score_heldout, table

    root = args.heldout_scanners
    dbs = [db for db in sorted(rd.FVC_DPI) if (root / db / "images").is_dir()]
    if not dbs:
        raise DatasetError(f"No FVC database folder (fvc2002-db1b/images …) under “{root}”.", path=str(root))
    names = all_models() if args.model == "all" else [args.model]
    fns = {}
    for name in names:
        if name == "identity":
            continue
        f = restorer(name)
        fns[name] = lambda p, f=f: f(FingerprintImage(pixels=p, dpi=500.0, source="heldout.png", sha256=""))
    results = score_heldout(fns, root, dbs, per_finger=args.per_finger, progress=TextProgress())
    cards = {}
    for name in names:
        if name not in ("identity", "classical"):
            from fpstation.ml.restoration import find_card

            cards[name] = find_card(name).data
    report = {"data_root": str(root), "per_finger": args.per_finger, "results": results,
              "held_out": {m: {db: held_out_for(c, db) for db in dbs} for m, c in cards.items()}}
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2), encoding="utf-8")
    print(table(results))
    seen = [m for m, per in report["held_out"].items() if any(v is False for v in per.values())]
    if seen:
        print(f"note: {', '.join(seen)} saw some of these scanners in training (see held_out in the JSON)")
    print(f"wrote {out}")
    return 0


def run(args) -> int:
    from fpstation.cli import TextProgress
    from fpstation.ml.restoration.eval import all_models, evaluate_pairs, pair_files, table

    if args.heldout_scanners is not None:
        return _run_heldout(args)
    if args.degraded is None or args.clean is None:
        from fpstation.core.errors import DatasetError

        raise DatasetError("Give --degraded and --clean folders, or --heldout-scanners DATA_ROOT.")

    pairs, missing = pair_files(args.degraded, args.clean)
    if args.limit > 0:
        pairs = pairs[:args.limit]
    models = all_models() if args.model == "all" else [args.model]
    results = evaluate_pairs(pairs, models, progress=TextProgress())
    report = {"degraded": str(args.degraded), "clean": str(args.clean), "pairs": len(pairs),
              "unmatched": len(missing), "metrics": "mean over pairs; images scaled to [0,1]; SSIM 7x7 window "
              "(skimage), PSNR in dB", "models": results}
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2), encoding="utf-8")
    print(table(results))
    if missing:
        print(f"{len(missing)} degraded file(s) had no clean file of the same name (skipped)")
    print(f"wrote {out}")
    return 0
