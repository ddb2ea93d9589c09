"""Choose a face model's open-set threshold on validation people and write it into its card.

Subject-disjoint: ORL's 40 people are partitioned once (fpstation.ml.face.protocol.people_partition):
the threshold is chosen on the ``threshold`` people (plus the CNN's ``train`` people for a model
that never saw them, i.e. the pretrained dlib embedding: ``--people train+threshold``), and the
card's figures are measured on the ``report`` people only. On each side, random splits leave a
quarter of the people out of the gallery (their probes are non-mated searches); the others are
enrolled with their first 5 images and probed with the rest. The threshold is the one with the
lowest FPIR among those with FNIR ≤ 5 % on the pooled validation searches.

    python training/face_threshold.py --data ../shared/data/orl_faces --card models/face-dlib-resnet.json \
        --people train+threshold
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
from pathlib import Path

import numpy as np


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, type=Path)
    ap.add_argument("--card", required=True, type=Path, help="model card JSON to update (its model is used)")
    ap.add_argument("--people", choices=["threshold", "train+threshold"], default="threshold")
    ap.add_argument("--gallery-images", type=int, default=5)
    ap.add_argument("--left-out", type=float, default=0.25, help="share of people left out of the gallery")
    ap.add_argument("--splits", type=int, default=50)
    ap.add_argument("--max-fnir", type=float, default=0.05)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    from fpstation.cli import TextProgress
    from fpstation.ml.face import metrics as fm
    from fpstation.ml.face.embed import get_embedder
    from fpstation.ml.face.protocol import embed_people, people_partition, pooled
    from fpstation.ml.registry import Registry

    card_path = args.card.resolve()
    card = json.loads(card_path.read_text(encoding="utf-8"))
    reg = Registry(shipped_dir=card_path.parent) if card_path.name != "card.json" else None
    key = card["name"] if card_path.name != "card.json" else None
    if reg is None:  # a user-trained version: <user models>/<name>/v<N>/card.json
        from fpstation.ml.registry import get_registry

        reg = get_registry()
        key = f"{card['name']}@v{card['version']}"
    emb = get_embedder(key, reg)
    e = embed_people(args.data, emb, progress=TextProgress())
    part = people_partition(sorted(set(e.people)), seed=args.seed)
    val_people = part["threshold"] + (part["train"] if args.people == "train+threshold" else [])
    rep_people = part["report"]

    def run(people: list[str], seed: int) -> dict:
        n_out = max(1, round(len(people) * args.left_out))
        return pooled(e, people, n_out, args.gallery_images, args.splits, seed)

    v = run(val_people, args.seed)
    chosen = fm.choose_threshold(v["mate_scores"], v["ranks"], v["nonmated_best"], args.max_fnir)
    r = run(rep_people, args.seed + 1)
    rep = fm.open_set(r["mate_scores"], r["ranks"], r["nonmated_best"], chosen["threshold"])
    rank1 = float(np.mean(r["ranks"] <= 1))
    rank5 = float(np.mean(r["ranks"] <= 5))
    cmd = "python training/face_threshold.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    card["threshold"] = {
        "similarity": round(chosen["threshold"], 6),
        "metric": "cosine similarity of L2-normalised embeddings; identity score = best of its templates",
        "rule": chosen["rule"],
        "chosen_on_people": val_people,
        "validation": {k: chosen[k] for k in ("fnir", "fpir", "n_mated", "n_nonmated")},
        "protocol": {"gallery_images": args.gallery_images, "left_out_share": args.left_out,
                     "splits": args.splits, "seed": args.seed, "max_fnir": args.max_fnir},
        "command": cmd,
    }
    card.setdefault("metrics", {})
    card["metrics"]["orl_report_people"] = {
        "people": rep_people, "rank1": rank1, "rank5": rank5, "n_mated_searches": int(len(r["ranks"])),
        "fnir": rep["fnir"], "fpir": rep["fpir"], "n_nonmated_searches": rep["n_nonmated"],
        "note": f"pooled over {args.splits} random splits of the report people; each probe is searched once "
                "per split, so searches are not independent (intervals: bench/results/face.json)",
        "whole_image_faces": e.whole_image, "images": len(e.people),
    }
    card["data"] = card.get("data") or {}
    card["data"].update({"threshold_data": str(args.data), "threshold_images": len(e.people)})
    card_path.write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({"threshold": card["threshold"], "report": card["metrics"]["orl_report_people"]},
                     indent=1, default=lambda o: None if isinstance(o, float) and math.isnan(o) else str(o))[:3000])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
