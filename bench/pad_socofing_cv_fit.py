"""Does pad-socofing's recipe miss the small z-cuts because it cannot fit them, or because they do not carry over?

    python bench/pad_socofing_cv_fit.py --work /work/padcv --folds 3 4

For each outer fold of ``training/train_pad_cv.py`` whose best weights are still in ``--work``
(``fold<k>.best.keras``; they are not committed), the fold's own model and operating point
(``plain``, from its committed record) are applied to the three parts of that fold: the prints it was
trained on, its inner validation prints and its outer test prints. Errors per alteration and level
-> ``--out`` (default bench/results/pad_socofing_cv_fit.json). If the training prints' Easy z-cuts are
missed about as often as the test ones, the gap is the fit (capacity, training), not generalisation.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "training"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "socofing"))
    ap.add_argument("--work", default="/work/padcv")
    ap.add_argument("--record", default=str(REPO / "training" / "checkpoints" / "pad-socofing-cv"))
    ap.add_argument("--folds", type=int, nargs="+", required=True)
    ap.add_argument("--out", default=str(REPO / "bench" / "results" / "pad_socofing_cv_fit.json"))
    args = ap.parse_args(argv)

    import keras
    import train_pad_cv as cv

    from fpstation.core.stats import rate
    from fpstation.ml.classifiers import metrics as cm
    from fpstation.ml.tasks import get_task

    task = get_task("pad")
    out: dict = {"command": "python bench/pad_socofing_cv_fit.py " + " ".join(argv if argv is not None else sys.argv[1:]),
                 "folds": {}}
    for k in args.folds:
        rec = json.loads((Path(args.record) / f"fold{k}.json").read_text())
        r = rec["recipe"]
        hyper = task.default_hyper()
        hyper.extra.update(width=r["width"], convs_per_block=r["convs_per_block"], cache_dir=str(Path(args.work) / "cache"))
        _, items, _ = task._items(Path(args.data), hyper)
        subjects = sorted({str(it["subject"]) for it in items}, key=lambda s: (len(s), s))
        fold_of = cv.outer_folds(subjects, r["folds"], r["seed"])
        test, rest, tr_s, va_s = cv.fold_parts(items, fold_of, k, r["val_fraction"], r["seed"])
        parts = {"train": [it for it in rest if str(it["subject"]) in tr_s],
                 "inner_val": [it for it in rest if str(it["subject"]) in va_s], "test": test}
        op = rec["operating_points"]["plain"]
        model = keras.models.load_model(Path(args.work) / f"fold{k}.best.keras", compile=False)
        fold: dict = {"threshold": op["threshold"]}
        for name, part in parts.items():
            x, y, kept = task.arrays(part, hyper)
            s = cm.sigmoid(cm.apply_calibration(task.logits(model, x), op["calibration"]))
            err: dict = defaultdict(lambda: [0, 0])
            for i, it in enumerate(kept):
                key = "bona fide" if not it["y"] else f"{it['attack_type']} / {it.get('level', '').split('-')[-1]}"
                err[key][0] += int((s[i] >= op["threshold"]) != bool(it["y"]))
                err[key][1] += 1
            fold[name] = {kk: rate(e, n) for kk, (e, n) in sorted(err.items())}
            print(k, name, {kk: f"{e}/{n}" for kk, (e, n) in sorted(err.items())}, flush=True)
        out["folds"][str(k)] = fold
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
