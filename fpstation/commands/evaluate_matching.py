"""``fpstation evaluate matching --data DIR [--extractor X] [--matcher Y] --json OUT``.

DIR is FVC-layout (``images/<finger>_<impression>.*`` or the images themselves). All pairs of
prints of the same finger are genuine comparisons, all pairs of different fingers impostor ones;
rank-1 uses impression 1 as the gallery and the others as probes. Writes OUT (eer, fmr100, fmr1000,
rank1, n_genuine, n_impostor, DET points) and ``<OUT stem>_det.png`` beside it. ``--restorer`` applies
a restorer to the probes (every impression but the first) before their minutiae are found:
restoration judged by what it does to matching. Templates are
cached in ``--cache`` (default: none) so a second run only compares.
"""

from __future__ import annotations

import json
from pathlib import Path


def add_parser(tsub) -> None:
    from fpstation.core.matching import DEFAULT_EXTRACTOR, DEFAULT_MATCHER, EXTRACTORS, MATCHERS

    p = tsub.add_parser("matching", help="minutiae + matcher: EER, FMR100, FMR1000, rank-1, DET plot",
                        description=__doc__)
    p.add_argument("--data", required=True, type=Path, help="FVC-layout folder")
    p.add_argument("--json", required=True, type=Path, help="output JSON (the DET plot is written beside it)")
    p.add_argument("--extractor", choices=list(EXTRACTORS), default=DEFAULT_EXTRACTOR)
    p.add_argument("--matcher", choices=list(MATCHERS), default=DEFAULT_MATCHER)
    p.add_argument("--restorer", choices=["none", "unet", "autoencoder", "classical"], default="none",
                   help="restore the probes (impressions 2..n) before extracting minutiae")
    p.add_argument("--cache", type=Path, default=None, help="folder to cache templates in between runs")
    p.set_defaults(func=run)


def _restorer(name: str):
    if name == "none":
        return None
    from fpstation.ml.inference import restore

    def prepare(image):
        from dataclasses import replace

        r = restore(image, name)
        return replace(image, pixels=r.pixels)

    return prepare


def run(args) -> int:
    from fpstation.cli import TextProgress
    from fpstation.commands.plots import roc_plot
    from fpstation.core.matching.evaluation import evaluate_folder

    rep = evaluate_folder(args.data, args.extractor, args.matcher, cache_dir=args.cache,
                          prepare=_restorer(args.restorer), prepare_tag="" if args.restorer == "none" else args.restorer,
                          progress=TextProgress())
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    det = rep["det"]
    rep["plots"] = {"det": str(roc_plot(f"{out.with_suffix('')}_det.png",
                                        {f"{args.extractor}+{args.matcher}": (det["fmr"], det["fnmr"])},
                                        f"DET  EER={100 * rep['eer']:.2f}%  n={rep['n_genuine']}+{rep['n_impostor']}",
                                        "FMR", "FNMR", log_axes=True))}
    out.write_text(json.dumps(rep, indent=2), encoding="utf-8")
    r1 = "—" if rep["rank1"] is None else f"{100 * rep['rank1']:.1f} %"
    print(f"{args.extractor}+{args.matcher}: EER {100 * rep['eer']:.2f} %  FMR100 {100 * rep['fmr100']:.2f} %  "
          f"FMR1000 {100 * rep['fmr1000']:.2f} %  rank-1 {r1}  ({rep['n_genuine']} genuine, "
          f"{rep['n_impostor']} impostor)")
    print(f"wrote {out}")
    return 0
