"""``fpstation evaluate restoration --degraded DIR --clean DIR [--model NAME|all] --json OUT``.

Pairs images by identical file name, restores each degraded image with the chosen model(s) and
scores it against its clean file: SSIM (7×7 window), PSNR (dB) and MAE, images scaled to [0, 1].
``--model all`` compares identity (the degraded input itself), pyfing's classical enhancement and
every shipped restorer (U-Net, reference encoder-decoder) in the same run.
"""

from __future__ import annotations

import json
from pathlib import Path


def add_parser(tsub) -> None:
    p = tsub.add_parser("restoration", help="restorers on a paired folder: SSIM, PSNR, MAE", description=__doc__)
    p.add_argument("--degraded", required=True, type=Path, help="folder of degraded images")
    p.add_argument("--clean", required=True, type=Path, help="folder of clean images (same file names)")
    p.add_argument("--model", default="unet",
                   help="unet (default), autoencoder, classical, identity, a registry key, or all")
    p.add_argument("--json", required=True, type=Path, help="output JSON")
    p.add_argument("--limit", type=int, default=0, help="use only the first N pairs (0 = all)")
    p.set_defaults(func=run)


def run(args) -> int:
    from fpstation.cli import TextProgress
    from fpstation.ml.restoration.eval import all_models, evaluate_pairs, pair_files, table

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
