"""Export a model's Keras weights to ONNX and record the export in its model card.

    python training/export_onnx.py models/pad-socofing.json [models/face-mobilenet.json ...]

Writes ``<weights stem>.onnx`` beside the weights and adds to the card::

    "onnx": {"file": ..., "sha256": ..., "opset": 17, "max_abs_diff_vs_keras": ..., "checked_inputs": [...],
             "size_bytes": ..., "command": "python training/export_onnx.py models/pad-socofing.json"}

The graph exported is the one inference runs (:func:`fpstation.ml.export.inference_graph`: a
restorer rebuilt for any size, a face model cut at its ``embedding`` layer). Before writing, it is
run in onnxruntime and compared with the Keras model on random inputs; the export is refused when
any output differs by more than ``--tolerance``, or when the file would exceed ``--max-mb``.
Needs TensorFlow/Keras and the ``onnx`` package (extra ``train``). See ADR 0090 and 0230.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def export(card_path: Path, tolerance: float, max_mb: float) -> int:
    from fpstation.ml.export import ExportMismatchError, export_checked
    from fpstation.ml.onnx_export import UnsupportedLayerError
    from fpstation.ml.registry import Registry

    card_path = card_path.resolve()
    data = json.loads(card_path.read_text(encoding="utf-8"))
    reg = Registry(shipped_dir=card_path.parent, user_dir=card_path.parent / "_none")
    card = next((c for c in reg.cards() if c.file == (card_path.parent / str(data.get("file"))).resolve()), None)
    if card is None or card.file.suffix != ".keras":
        print(f"{card_path.name}: not the card of a Keras model", file=sys.stderr)
        return 2
    try:
        command = f"python training/export_onnx.py {card_path.relative_to(ROOT)}"
    except ValueError:
        command = f"python training/export_onnx.py {card_path}"
    out = card.file.with_suffix(".onnx")
    try:
        entry = export_checked(card.task, data, reg.load(card.key), out, tolerance, command)  # load() checks sha256
    except (UnsupportedLayerError, ExportMismatchError) as exc:
        print(f"{card_path.name}: refused: {exc}", file=sys.stderr)
        return 1
    if entry["size_bytes"] > max_mb * 1e6:
        out.unlink()
        print(f"{card_path.name}: refused: {entry['size_bytes'] / 1e6:.1f} MB > {max_mb:g} MB", file=sys.stderr)
        return 1
    data["onnx"] = entry
    card_path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"{card_path.name}: wrote {out.name} ({entry['size_bytes'] / 1e6:.2f} MB), "
          f"max |onnx - keras| = {entry['max_abs_diff_vs_keras']:.2e}")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("cards", type=Path, nargs="+", help="model cards (JSON) of Keras models")
    ap.add_argument("--tolerance", type=float, default=1e-4, help="largest allowed |onnx - keras| (default 1e-4)")
    ap.add_argument("--max-mb", type=float, default=20.0, help="largest allowed ONNX file (default 20 MB)")
    args = ap.parse_args(argv)
    return max(export(p, args.tolerance, args.max_mb) for p in args.cards)


if __name__ == "__main__":
    raise SystemExit(main())
