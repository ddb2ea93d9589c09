"""Train the shipped small face CNN (MobileNet-style) on ORL, subject-disjoint.

Runs the same :func:`fpstation.ml.training.train` as the training dialog and ``fpstation train
face`` (task fpstation.ml.face.task.FaceTask), then copies the registered model into models/ as
``face-mobilenet.keras`` + ``face-mobilenet.json`` (not the default face model: the pretrained
dlib embedding is).

    python training/train_face.py --data ../shared/data/orl_faces            # defaults below
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, type=Path)
    ap.add_argument("--epochs", type=int, default=80)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--input-size", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--val-fraction", type=float, default=0.5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--name", default="face-mobilenet")
    ap.add_argument("--out", type=Path, default=REPO / "models")
    args = ap.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    keras.utils.set_random_seed(args.seed)

    from fpstation.ml.registry import Registry, sha256_file
    from fpstation.ml.tasks import get_task
    from fpstation.ml.training import train

    task = get_task("face")
    h = task.default_hyper()
    h.epochs, h.batch_size, h.learning_rate = args.epochs, args.batch_size, args.lr
    h.input_size, h.seed, h.val_fraction = args.input_size, args.seed, args.val_fraction

    def on_epoch(e):
        print(f"epoch {e.epoch + 1}/{e.epochs} {e.seconds:.1f}s "
              + " ".join(f"{k}={v:.4f}" for k, v in e.logs.items()), flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        reg = Registry(shipped_dir=Path(tmp) / "none", user_dir=Path(tmp) / "user")
        outcome = train("face", args.data, h, on_epoch=on_epoch, registry=reg)
        card = dict(outcome.card.data)
        args.out.mkdir(parents=True, exist_ok=True)
        weights = args.out / f"{args.name}.keras"
        shutil.copy2(outcome.checkpoint, weights)
    card.update(name=args.name, file=weights.name, sha256=sha256_file(weights), version="1", default=False)
    card["data"]["path"] = str(args.data)  # as given (relative to the repository root, like the other cards)
    card["training"]["command"] = "python training/train_face.py " + " ".join(
        shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    card["training"]["dialog_equivalent"] = outcome.command
    card["size_bytes"] = weights.stat().st_size
    (args.out / f"{args.name}.json").write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(card["metrics"], indent=1))
    print(f"wrote {weights} ({weights.stat().st_size / 1e6:.2f} MB) and its card")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
