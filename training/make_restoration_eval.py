"""Write the restoration validation pairs as a paired folder: ``OUT/degraded/NAME.png`` + ``OUT/clean/NAME.png``.

Only validation fingers/subjects (the split of training/train_restoration.py: subject_split,
val_fraction 0.2, seed 0) are used: every FVC validation impression and deterministic samples of
SOCOFing Real (synthetic degradation) and Altered→Real pairs, with the same seeds the model cards'
metrics were measured with. Images are 500 dpi (FVC2002 DB2 resampled from 569 dpi).

    python training/make_restoration_eval.py --out /tmp/restoration-eval
    python -m fpstation evaluate restoration --degraded /tmp/restoration-eval/degraded \
        --clean /tmp/restoration-eval/clean --model all --json /tmp/restoration-eval.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fpstation import paths  # noqa: E402
from fpstation.core.imageio import write_image  # noqa: E402
from fpstation.ml.restoration import data as rd  # noqa: E402
from fpstation.ml.restoration.degrade import to_uint8  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--data", default=None, help="shared data root (default ../shared/data)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--val-fraction", type=float, default=0.2)
    ap.add_argument("--kinds", default="fvc,socofing,altered", help="comma list of fvc, socofing, altered")
    args = ap.parse_args(argv)
    data = Path(args.data) if args.data else paths.shared_data_dir()
    if data is None or not data.is_dir():
        print("shared data not found (../shared/data)", file=sys.stderr)
        return 2
    _train, val, _ts, vs = rd.split_sources(rd.collect_sources(data), args.val_fraction, args.seed)
    kinds = set(args.kinds.split(","))
    chosen = [s for s in rd.select_eval(val) if s.kind in kinds]
    (args.out / "degraded").mkdir(parents=True, exist_ok=True)
    (args.out / "clean").mkdir(parents=True, exist_ok=True)
    index = []
    for s in chosen:
        d, c = rd.make_pair(s, "eval")
        name = rd.eval_name(s)
        write_image(args.out / "degraded" / name, to_uint8(d), dpi=rd.MODEL_DPI)
        write_image(args.out / "clean" / name, to_uint8(c), dpi=rd.MODEL_DPI)
        index.append({"name": name, "source": s.rel, "subject": s.subject, "kind": s.kind})
    (args.out / "index.json").write_text(json.dumps({"validation_subjects": len(vs), "pairs": index}, indent=2),
                                         encoding="utf-8")
    print(f"wrote {len(index)} pairs to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
