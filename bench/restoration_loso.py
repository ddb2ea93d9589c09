"""Held-out restoration benchmark -> bench/results/restoration_loso.json (issue #17).

Per FVC database (one sensor each), on the training generator's recipe ("v2", new seeds) and on
the independent held-out recipe (ml/restoration/degrade_heldout.py), scores

- ``identity`` (the degraded input), ``classical`` (pyfing SUFS/SNFOE/SNFFE/GBFEN),
- the shipped default U-Net (``unet``),
- any extra restorers in ``--models DIR`` (folders of model cards, e.g. the short pilot's models),

with 95 % bootstrap intervals over fingers and paired differences from identity and classical.
Each model's entry says, per database, whether that database was held out of its training
(``held_out``, from its card): the shipped v2 was trained on every FVC B set, so for it no
database is held out and its figures here are NOT leave-one-scanner-out figures.

    python bench/restoration_loso.py [--per-finger 3] [--dbs fvc2002-db1b ...] [--models DIR ...]
    python bench/restoration_loso.py --dbs --no-classical --altered 200 --models DIR \
        --out bench/results/restoration_altered_heldout.json     # real damage: SOCOFing Altered->Real

``--altered N`` adds N SOCOFing Altered->Real pairs (real damage) of subjects that every scored
model's card lists as validation subjects, so none of them trained on those people.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fpstation import paths  # noqa: E402
from fpstation.core.types import FingerprintImage  # noqa: E402


def _image(pixels) -> FingerprintImage:
    return FingerprintImage(pixels=pixels, dpi=500.0, source="loso.png", sha256="0" * 64)


def main(argv: list[str] | None = None) -> int:
    from fpstation.ml.restoration import data as rd
    from fpstation.ml.restoration.heldout_eval import held_out_for, score_heldout, table

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=None)
    ap.add_argument("--dbs", nargs="*", default=sorted(rd.FVC_DPI))
    ap.add_argument("--per-finger", type=int, default=3)
    ap.add_argument("--models", nargs="*", default=[], help="folders holding extra restoration model cards")
    ap.add_argument("--no-classical", action="store_true")
    ap.add_argument("--no-shipped", action="store_true", help="skip the shipped U-Net")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "restoration_loso.json"))
    ap.add_argument("--altered", type=int, default=0,
                    help="also score this many SOCOFing Altered->Real pairs of subjects no scored model trained on")
    ap.add_argument("--label", default="", help="a line saying what this run is (e.g. a short pilot)")
    args = ap.parse_args(argv)

    data = Path(args.data) if args.data else paths.shared_data_dir()
    if data is None or not data.is_dir():
        print("shared data not found (../shared/data)", file=sys.stderr)
        return 2
    from fpstation.ml.registry import Registry, get_registry
    from fpstation.ml.restoration import find_card, restore_with_model

    restorers, cards, full_cards = {}, {}, {}
    if not args.no_classical:
        from fpstation.ml.classical import enhance

        restorers["classical"] = lambda p: enhance(_image(p)).pixels
    if not args.no_shipped:
        reg = get_registry()
        card = find_card("unet", reg)
        restorers["unet"] = lambda p, reg=reg: restore_with_model(_image(p), "unet", registry=reg).pixels
        cards["unet"] = {"key": card.key, "sha256": card.sha256, "data": card.data.get("data")}
        full_cards["unet"] = card.data
    for folder in args.models:
        reg = Registry(shipped_dir=Path(folder), user_dir=Path(folder) / "_user")
        for card in reg.cards("restoration"):
            restorers[card.name] = (lambda p, reg=reg, key=card.key:
                                    restore_with_model(_image(p), key, registry=reg).pixels)
            full_cards[card.name] = card.data
            cards[card.name] = {"key": card.key, "sha256": card.sha256, "data": card.data.get("data"),
                                "guidance": (card.data.get("input") or {}).get("guidance"),
                                "dilations": (card.data.get("hyper") or {}).get("dilations"),
                                "training": {k: (card.data.get("training") or {}).get(k)
                                             for k in ("command", "compute_seconds_total", "epochs_run")},
                                "last_epoch": ((card.data.get("training") or {}).get("history") or [None])[-1]}

    t0 = time.perf_counter()
    last = [0.0]

    def progress(f: float, msg: str) -> None:
        if time.perf_counter() - last[0] > 30:
            last[0] = time.perf_counter()
            print(f"[{time.strftime('%H:%M:%S')}] {f:.0%} {msg}", flush=True)

    results = score_heldout(restorers, data, args.dbs, per_finger=args.per_finger, progress=progress)
    altered = None
    if args.altered:
        from fpstation.ml.restoration.heldout_eval import score_altered

        # subjects every scored model kept out of training (the validation subjects in all their cards)
        val_sets = [set((c.get("split") or {}).get("validation_subjects") or []) for c in full_cards.values()]
        subjects = set.intersection(*val_sets) if val_sets else set()
        altered = score_altered({m: f for m, f in restorers.items() if m != "classical"}, data, subjects,
                                args.altered, progress=progress)
        altered["subjects_rule"] = "validation subjects of every scored model's card (none trained on them)"
    held = {m: {db: held_out_for({"data": c.get("data")}, db) for db in args.dbs} for m, c in cards.items()}
    doc = {
        **({"label": args.label} if args.label else {}),
        "what": "restorers per FVC database (one sensor each) on the training generator's recipe (v2, seeds "
                "tagged 'loso') and on the independent held-out recipe (ml/restoration/degrade_heldout.py); "
                "means with 95% bootstrap intervals over fingers; diff = paired per-print differences",
        "command": "python bench/restoration_loso.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "per_finger": args.per_finger, "models": cards, "held_out": held,
        "note": "held_out[model][db] is False for the shipped v2: it was trained on every FVC B set, so its "
                "per-database figures are not leave-one-scanner-out figures",
        "results": results, **({"socofing_altered": altered} if altered else {}), "seconds": round(time.perf_counter() - t0, 1),
        "machine": {"platform": platform.platform(), "python": platform.python_version()},
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    print(table(results))
    print(f"wrote {out} ({doc['seconds']} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
