"""Export a restorer's Keras weights to ONNX and record the export in its model card.

    python training/export_onnx.py models/restore-unet.json

Writes ``<weights stem>.onnx`` beside the weights and adds to the card::

    "onnx": {"file": ..., "sha256": ..., "opset": 17, "max_abs_diff_vs_keras": ..., "checked_sizes": [...],
             "command": "python training/export_onnx.py models/restore-unet.json"}

Before writing, the ONNX graph is run in onnxruntime and compared with the Keras model on random
inputs of several sizes; the export is refused when any output differs by more than
``--tolerance``. Needs the ``onnx`` package (in the ``dev`` extra: ``pip install -e .[dev]``). See ADR 0090.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

#: (H, W) checked; multiples of 8 as inference pads to (levels = 3)
CHECK_SIZES = [(96, 96), (120, 152), (408, 392)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("card", type=Path, help="the model card (JSON) of a restoration model")
    ap.add_argument("--tolerance", type=float, default=1e-4, help="largest allowed |onnx - keras| (default 1e-4)")
    args = ap.parse_args(argv)

    from fpstation.ml.registry import Registry, sha256_file
    from fpstation.ml.restoration import _size_agnostic, card_levels, onnx_export

    card_path = args.card.resolve()
    data = json.loads(card_path.read_text(encoding="utf-8"))
    if data.get("task") != "restoration":
        print(f"{card_path.name}: not a restoration model card", file=sys.stderr)
        return 2
    reg = Registry(shipped_dir=card_path.parent, user_dir=card_path.parent / "_none")
    card = next(c for c in reg.cards("restoration") if c.file == (card_path.parent / data["file"]).resolve())
    model = _size_agnostic(reg.load(card.key), card)  # verifies the weights' sha256
    blob = onnx_export.keras_to_onnx(model)

    sess = onnx_export.session(blob)
    run = onnx_export.session_fn(sess)
    rng = np.random.default_rng(0)
    multiple = 2 ** card_levels(card)
    worst = 0.0
    for h, w in CHECK_SIZES:
        h, w = -(-h // multiple) * multiple, -(-w // multiple) * multiple
        x = rng.random((2, h, w, int(model.inputs[0].shape[-1] or 1)), dtype=np.float32)  # print + guidance
        diff = float(np.abs(run(x) - model(x, training=False).numpy()).max())
        print(f"{h}×{w}: max |onnx - keras| = {diff:.2e}")
        worst = max(worst, diff)
    if worst > args.tolerance:
        print(f"refused: outputs differ by {worst:.2e} > {args.tolerance:g}", file=sys.stderr)
        return 1

    out = card.file.with_suffix(".onnx")
    out.write_bytes(blob)
    try:
        command = f"python training/export_onnx.py {card_path.relative_to(ROOT)}"
    except ValueError:
        command = f"python training/export_onnx.py {card_path}"
    data["onnx"] = {"file": out.name, "sha256": sha256_file(out), "opset": onnx_export.OPSET,
                    "max_abs_diff_vs_keras": float(f"{worst:.3g}"), "checked_sizes": CHECK_SIZES,
                    "command": command}
    card_path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB) and updated {card_path.name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
