"""``fpstation evaluate gender --data DIR --json OUT``: balanced accuracy / AUC of a gender model.

DIR is SOCOFing-layout (``Real/`` with names like ``12__F_Left_index_finger.BMP``) or ``Female/`` +
``Male/`` folders. Per print at P(female) = 0.5, plus per subject (mean calibrated logit of the
subject's prints). By default the subjects the model was trained on are excluded
(``--subjects heldout``); ``val`` keeps only the card's validation subjects; ``all`` keeps
everything (leaky on the training data). Prints outside the model's domain (other sensor, size,
dpi, unlike its training prints) are counted (``n_out_of_domain``) and left out. Each figure gets a
95 % interval (``ci95``, bootstrap over subjects). Writes OUT plus ``<OUT stem>_roc.png`` and
``_confusion.png`` beside it.
"""

from __future__ import annotations

import json
from pathlib import Path


def add_parser(tsub) -> None:
    p = tsub.add_parser("gender", help="gender model: balanced accuracy, AUC, confusion matrix, plots",
                        description=__doc__)
    from fpstation.commands.evaluate import add_common_arguments

    add_common_arguments(p, "SOCOFing-layout folder (or Female/ + Male/)", "gender")
    p.add_argument("--uncertain-band", type=float, default=None,
                   help="width of the uncertain band around 0.5 (default: the band in the model card)")
    p.set_defaults(func=run)


def run(args) -> int:
    from fpstation.cli import TextProgress
    from fpstation.commands.plots import confusion_plot, roc_plot
    from fpstation.ml.classifiers import metrics as cm
    from fpstation.ml.classifiers.eval import evaluate_gender_folder

    report, cur = evaluate_gender_folder(args.data, args.model, args.subjects, args.uncertain_band,
                                         progress=TextProgress())
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    stem = out.with_suffix("")
    roc = cm.roc_points(cur["p"], cur["labels"], max_points=400)
    plots = {
        "roc": str(roc_plot(f"{stem}_roc.png", {"female = positive": (roc["fpr"], roc["tpr"])},
                            f"gender ROC  AUC={report['auc']:.3f}  n={report['n']}",
                            "false female rate (men)", "true female rate (women)")),
        "confusion": str(confusion_plot(f"{stem}_confusion.png",
                                        report["confusion_matrix"]["rows_truth_cols_predicted"], ["male", "female"],
                                        f"gender per print (bal. acc {report['balanced_accuracy']:.3f})")),
        "confusion_per_subject": str(confusion_plot(
            f"{stem}_confusion_subject.png", report["per_subject"]["confusion_matrix"], ["male", "female"],
            f"gender per subject (bal. acc {report['per_subject']['balanced_accuracy']:.3f})")),
    }
    report["plots"] = plots
    out.write_text(json.dumps(report, indent=2), encoding="utf-8")
    ps = report["per_subject"]

    def ci(d: dict, key: str) -> str:
        lo, hi = d["ci95"][key]
        return f"{d[key]:.3f} (95 % CI {lo:.3f}–{hi:.3f})"

    print(f"n={report['n']}  balanced accuracy={ci(report, 'balanced_accuracy')}  AUC={ci(report, 'auc')}  "
          f"accuracy={report['accuracy']:.4f}  | per subject (n={ps['n']}): balanced accuracy="
          f"{ci(ps, 'balanced_accuracy')} AUC={ci(ps, 'auc')}  ({report['subjects_note']})")
    if report["n_out_of_domain"]:
        print(f"{report['n_out_of_domain']} of {report['n_scored']} prints are outside what the model was "
              "validated on: left out of the figures (the tool gives no estimate for them)")
    print(f"wrote {out}")
    return 0
