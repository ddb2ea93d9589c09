"""``fpstation evaluate face --gallery DIR --probes DIR [--model NAME] --json OUT``.

Both folders: one sub-folder per person. Writes rank1, rank5, n (mated probes), the CMC curve and
the open-set FNIR / FPIR at the model's shipped threshold (probes of people with no gallery
sub-folder are the non-mated searches), plus ``<OUT stem>_cmc.png`` and ``_scores.png`` beside OUT.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def add_parser(tsub) -> None:
    p = tsub.add_parser("face", help="face identification: rank-1/5, CMC, open-set FNIR/FPIR, plots",
                        description=__doc__)
    p.add_argument("--gallery", required=True, type=Path, help="gallery folder (one sub-folder per person)")
    p.add_argument("--probes", required=True, type=Path, help="probe folder (one sub-folder per person)")
    p.add_argument("--model", default="", help="face model registry key (default: the shipped default)")
    p.add_argument("--json", required=True, type=Path, help="output JSON (plots are written beside it)")
    p.set_defaults(func=run)


def run(args) -> int:
    from fpstation.cli import TextProgress
    from fpstation.commands.plots import histogram_plot, roc_plot
    from fpstation.ml.face.evaluate import evaluate_folders

    report, cur = evaluate_folders(args.gallery, args.probes, args.model, progress=TextProgress())
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    stem = out.with_suffix("")
    plots = {}
    curve = cur["cmc"]
    if curve:
        k = len(curve)
        xs = [i / max(k - 1, 1) for i in range(k)]
        plots["cmc"] = str(roc_plot(f"{stem}_cmc.png", {report["model"]: (xs, curve)},
                                    f"CMC rank-1={report['rank1']:.3f}  n={report['n']}",
                                    xlabel=f"rank 1 ... {k}", ylabel="identification rate"))
    scores = [s for s in (cur["mate_scores"], cur["nonmated_best"]) if len(s)]
    if scores:
        allv = np.concatenate(scores)
        bins = np.linspace(float(allv.min()) - 1e-3, float(allv.max()) + 1e-3, 41)
        series = {"mated (mate's score)": np.histogram(cur["mate_scores"], bins)[0].tolist()}
        if len(cur["nonmated_best"]):
            series["not in gallery (best score)"] = np.histogram(cur["nonmated_best"], bins)[0].tolist()
        plots["scores"] = str(histogram_plot(f"{stem}_scores.png", bins.tolist(), series,
                                             "face similarity", threshold=cur["threshold"]))
    report["plots"] = plots
    out.write_text(json.dumps(report, indent=2), encoding="utf-8")
    os_ = report["open_set"]
    fnir = "n/a" if os_.get("fnir") is None else f"{os_['fnir']:.4f}"
    fpir = "n/a" if os_.get("fpir") is None else f"{os_['fpir']:.4f}"
    print(f"n={report['n']}  rank1={report['rank1']:.4f}  rank5={report['rank5']:.4f}  |  open set at threshold "
          f"{os_.get('threshold')}: FNIR={fnir} (n={os_.get('n_mated', 0)})  FPIR={fpir} "
          f"(n={os_.get('n_nonmated', 0)})")
    for s in report["skipped"][:10]:
        print(f"skipped {s['path']}: {s['reason']}")
    print(f"wrote {out}")
    return 0
