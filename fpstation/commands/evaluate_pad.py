"""``fpstation evaluate pad --data DIR --json OUT``: APCER/BPCER of a PAD model on a labelled folder.

DIR is SOCOFing-layout (``Real/`` = bona fide, ``Altered/**`` = attacks typed by the ``_CR`` /
``_Obl`` / ``_Zcut`` suffix), LivDet-layout (``Live/`` + ``Fake|Spoof/<material>/``) or one folder
per class. Figures are at the model's shipped operating threshold unless ``--threshold`` is given.
A model whose card has a transaction rule (pad-livdet) also gets each attempt's three-way verdict
at its band and simulated transactions of up to 3 attempts of the same finger (ISO/IEC 30107-3:
APCER and BPCER per transaction, mean attempts of live users).
By default the subjects the model was trained on are excluded (``--subjects heldout``); ``val``
keeps only the card's validation subjects; ``all`` keeps everything (leaky on the training data).
Writes OUT plus ``<OUT stem>_roc.png``, ``_det.png``, ``_scores.png`` and ``_confusion.png`` beside it.
"""

from __future__ import annotations

import json
from pathlib import Path


def add_parser(tsub) -> None:
    p = tsub.add_parser("pad", help="presentation-attack model: APCER per attack type, BPCER, plots",
                        description=__doc__)
    from fpstation.commands.evaluate import add_common_arguments

    add_common_arguments(p, "SOCOFing-, LivDet- or class-folder layout", "PAD")
    p.add_argument("--threshold", type=float, default=None, help="override the model's operating threshold")
    from fpstation.commands import add_dpi_argument

    add_dpi_argument(p)
    p.set_defaults(func=run)


def run(args) -> int:
    import numpy as np

    from fpstation.cli import TextProgress
    from fpstation.commands.plots import confusion_plot, histogram_plot, roc_plot
    from fpstation.ml.classifiers import metrics as cm
    from fpstation.ml.classifiers.eval import evaluate_pad_folder

    report, cur = evaluate_pad_folder(args.data, args.model, args.subjects, args.threshold, progress=TextProgress(),
                                      dpi=getattr(args, "dpi", None))
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    stem = out.with_suffix("")
    s, y, types = cur["scores"], cur["labels"], cur["types"]
    thr = report["threshold"]
    plots = {}
    roc = cm.roc_points(s, y, max_points=400)
    # attack = positive: x = BPCER, y = 1 - APCER
    plots["roc"] = str(roc_plot(f"{stem}_roc.png", {"all attacks": (roc["fpr"], roc["tpr"])},
                                f"PAD ROC  AUC={report['auc']:.4f}  n={report['n']}", "BPCER", "1 - APCER",
                                point=(report["bpcer"], 1 - report["apcer_pooled"], f"t={thr:.3f}")))
    curves = {}
    for t in sorted(report["apcer"]):
        m = (y == 0) | np.array([tt == t for tt in types])
        r = cm.roc_points(s[m], y[m], max_points=300)
        curves[t] = (r["fpr"], [1 - v for v in r["tpr"]])  # DET-style (linear axes): APCER vs BPCER
    plots["det"] = str(roc_plot(f"{stem}_det.png", curves, "DET: APCER vs BPCER per attack type (log)",
                                "BPCER", "APCER", point=(report["bpcer"], report["apcer_max"], "operating point"),
                                log_axes=True))
    bins = np.linspace(0, 1, 51)
    plots["scores"] = str(histogram_plot(f"{stem}_scores.png", bins,
                                         {"bona fide": np.histogram(s[y == 0], bins)[0],
                                          "attack": np.histogram(s[y == 1], bins)[0]},
                                         "attack score distribution", threshold=thr))
    plots["confusion"] = str(confusion_plot(f"{stem}_confusion.png",
                                            report["confusion_matrix"]["rows_truth_cols_predicted"],
                                            ["bona fide", "attack"], f"PAD at threshold {thr:.3f}"))
    report["plots"] = plots
    out.write_text(json.dumps(report, indent=2), encoding="utf-8")
    print(f"n={report['n']}  APCER max={report['apcer_max']:.4f} {report['apcer']}  BPCER={report['bpcer']:.4f}  "
          f"BPCER20={report['bpcer20']:.4f}  BPCER100={report['bpcer100']:.4f}  ({report['subjects_note']})")
    tx = report.get("per_transaction")
    if tx:
        print(f"per transaction (up to {tx['rule']['max_attempts']} attempts of the same finger, the card's rule): "
              f"APCER {tx['apcer']['errors']}/{tx['apcer']['n']}  BPCER {tx['bpcer']['errors']}/{tx['bpcer']['n']}  "
              f"mean attempts of live users {tx['mean_attempts_live'] or 0:.2f}  not checked {tx['not_checked']}")
    if report.get("skipped_files"):
        sk = report["skipped_files"]
        print(f"{len(sk)} file(s) could not be read and were left out: "
              + "; ".join(f"{Path(f['path']).name} ({f['reason']})" for f in sk[:5]) + (" …" if len(sk) > 5 else ""))
    if report.get("attack_types_unseen"):
        print(f"attack types the model never saw in training: {', '.join(report['attack_types_unseen'])}")
    print(f"wrote {out}")
    return 0
