"""``fpstation train TASK --data DIR --epochs N [--out DIR] ...``: the training dialog, headless.

Runs :func:`fpstation.ml.training.train` — the same function the dialog runs — with a text
progress bar; prints the scan summary, one line per epoch and the registered model card's path.
Ctrl-C stops the fit after the current batch and, like the dialog's Stop, keeps and registers the
best checkpoint so far.
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path


def add_parser(sub) -> None:
    from fpstation.ml.tasks import TASKS

    p = sub.add_parser("train", help="train a model on your own data and register it as a new version",
                       description="Train a model on a dataset folder (layout auto-detected); the result is "
                                   "registered in the user models folder as a new version with its model card.")
    p.add_argument("task", metavar="TASK", help=f"what to train: {', '.join(TASKS)}")
    p.add_argument("--data", required=True, type=Path, help="dataset folder")
    p.add_argument("--epochs", type=int, help="number of epochs (default: the task's)")
    p.add_argument("--out", type=Path, help="also copy model.keras + card.json into this folder")
    p.add_argument("--batch-size", type=int, help="batch size (default: the task's)")
    p.add_argument("--lr", type=float, help="learning rate (default: the task's)")
    p.add_argument("--arch", help="architecture (default: the task's first)")
    p.add_argument("--input-size", type=int, help="input size in pixels (default: the task's)")
    p.add_argument("--seed", type=int, help="split/shuffle seed (default 0)")
    p.add_argument("--val-fraction", type=float, help="share of subjects held out for validation")
    p.add_argument("--no-augment", action="store_true", help="switch data augmentation off")
    p.add_argument("--name", help="model name in the registry (default: <task>-<architecture>)")
    p.add_argument("--alter-map", type=float, metavar="W",
                   help="pad (whole print): also learn where each print is altered, from SOCOFing-style "
                        "real/altered pairs of the same finger; W = that loss's weight (the shipped recipe: 1)")
    p.add_argument("--mirror", choices=["no", "yes", "auto"],
                   help="pad (whole print): score a print with its mirror image too (yes: the pad-socofing "
                        "recipe, docs/adr/0266; auto: only if validation prefers it)")
    p.add_argument("--members", type=int, metavar="N",
                   help="pad/gender print CNN: train N networks on the same split (model seeds seed, seed+1, ...) "
                        "and register their mean logit as one model, an ensemble (N times the training time)")
    p.add_argument("--cross-fit", type=int, metavar="K",
                   help="pad (whole print): cut the subjects in K parts, train one network per part (each "
                        "validated and calibrated on the part it did not see) and register the mean of their "
                        "calibrated logits, its threshold set on every subject's out-of-fold score (the "
                        "pad-socofing v4 recipe with K=5, docs/adr/0267; K times the training time)")
    from fpstation.commands import add_dpi_argument

    add_dpi_argument(p)
    p.epilog = ("pad with --dpi (and no --arch) trains the texture-patch model (pad_patch_cnn: patches at "
                "1000 dpi from the print's foreground), the one for material spoofs such as LivDet data.")
    p.set_defaults(func=run)


def hyper_from_args(task, args):
    """The task's default :class:`~fpstation.ml.tasks.Hyper` with the command-line overrides."""
    h = task.default_hyper()
    dpi = getattr(args, "dpi", None)
    if dpi is not None:
        h.extra = dict(h.extra, dpi=dpi)
        if getattr(task, "name", "") == "pad" and not args.arch and hasattr(task, "patch_hyper"):
            h = task.patch_hyper(h)
    for attr, val in (("epochs", args.epochs), ("batch_size", args.batch_size), ("learning_rate", args.lr),
                      ("architecture", args.arch), ("input_size", args.input_size), ("seed", args.seed),
                      ("val_fraction", args.val_fraction)):
        if val is not None:
            setattr(h, attr, val)
    if args.no_augment:
        h.augment = False
    if args.name:
        h.extra = dict(h.extra, name=args.name)
    if getattr(args, "alter_map", None):
        h.extra = dict(h.extra, alter_map=float(args.alter_map))
    mirror = getattr(args, "mirror", None)
    if mirror and mirror != "no":
        h.extra = dict(h.extra, mirror=True if mirror == "yes" else "auto")
    if (getattr(args, "members", None) or 1) > 1:
        h.extra = dict(h.extra, members=int(args.members))
    if getattr(args, "cross_fit", None):
        h.extra = dict(h.extra, cross_fit=int(args.cross_fit))
    return h


def run(args) -> int:
    from fpstation.cli import TextProgress
    from fpstation.core.jobs import CancelToken
    from fpstation.ml.training import load_task, train

    task = load_task(args.task)
    hyper = hyper_from_args(task, args)
    token = CancelToken()
    bar = TextProgress()
    out = sys.stdout
    last = {"f": -1.0, "m": None}

    def progress(fraction: float, message: str = "") -> None:
        # Per-batch updates would print thousands of lines when stderr is not a terminal.
        if fraction - last["f"] >= 0.005 or message != last["m"] or fraction >= 1.0:
            last["f"], last["m"] = fraction, message
            bar(fraction, message)

    def on_scan(scan) -> None:
        print("Dataset:", file=out)
        for line in scan.summary():
            print("  " + line, file=out)
        for path, why in scan.unreadable[:10]:
            print(f"  unreadable: {path} ({why})", file=out)
        if len(scan.unreadable) > 10:
            print(f"  ... and {len(scan.unreadable) - 10} more unreadable files", file=out)
        print(f"Training {task.title}: {hyper.architecture}, {hyper.epochs} epochs, batch {hyper.batch_size}, "
              f"lr {hyper.learning_rate:g}, input {hyper.input_size}", file=out, flush=True)

    def on_epoch(e) -> None:
        vals = "  ".join(f"{k} {v:.4g}" for k, v in e.logs.items())
        if bar.enabled:
            bar.stream.write("\n")
        print(f"epoch {e.epoch + 1}/{e.epochs}  {vals}  ({e.seconds:.1f} s, ETA {e.eta_seconds:.0f} s)",
              file=out, flush=True)

    # First Ctrl-C = Stop (keep the best checkpoint); a second one interrupts for real.
    def on_sigint(signum, frame) -> None:
        if token.cancelled:
            raise KeyboardInterrupt
        token.cancel()
        print("\nstopping after this batch (Ctrl-C again to abort)...", file=sys.stderr, flush=True)

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        outcome = train(args.task, args.data, hyper, progress, token, on_epoch=on_epoch, on_scan=on_scan,
                        out_dir=args.out)
    finally:
        signal.signal(signal.SIGINT, previous)
    if outcome.stopped:
        print(f"Stopped after {outcome.fit.epochs_run} epoch(s); the best checkpoint was kept.", file=out)
    print("Validation: " + ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                                     for k, v in outcome.metrics.items() if not isinstance(v, dict | list)),
          file=out)
    print(f"Registered {outcome.card.key}", file=out)
    print(f"Model card: {outcome.card_path}", file=out)
    if outcome.out_dir is not None:
        print(f"Copied to: {outcome.out_dir}", file=out)
    return 0
