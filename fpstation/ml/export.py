"""Export a model to ONNX for inference, checked against its Keras outputs first (ADR 0230).

Used by ``training/export_onnx.py`` (shipped models) and by :func:`fpstation.ml.training.train`
when a model trained in the dialog is registered. The graph exported is the one inference runs
(:func:`inference_graph`); :func:`export_checked` refuses an export whose outputs differ from Keras
by more than the tolerance, and returns the card's ``onnx`` entry. Needs Keras and ``onnx`` (the
``train`` extra).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from fpstation.core.hashing import sha256_file
from fpstation.ml.onnx_export import OPSET, keras_to_onnx, nhwc_fn, session

#: (H, W) a size-agnostic restorer is checked at (rounded up to a multiple of 2**levels)
RESTORER_CHECK_SIZES = [(96, 96), (120, 152), (408, 392)]


class ExportMismatchError(ValueError):
    """The ONNX graph's outputs differ from the Keras model's by more than the tolerance."""


def inference_graph(task: str, card_data: dict[str, Any], model: Any) -> Any:
    """The Keras graph that inference runs for a model of ``task``: a restorer rebuilt for any
    H×W, a face model cut at its ``embedding`` layer, any other model as it is."""
    if task == "restoration":
        from fpstation.ml.cards import parse_card
        from fpstation.ml.restoration import _size_agnostic

        return _size_agnostic(model, parse_card(card_data, strict=False))
    if task == "face" and any(layer.name == "embedding" for layer in model.layers):
        import keras

        return keras.Model(model.inputs[0], model.get_layer("embedding").output)
    return model


def check_inputs(task: str, card_data: dict[str, Any], graph: Any, seed: int = 0) -> list[np.ndarray]:
    """Random float32 inputs in [0, 1] the export is compared on: a restorer at several sizes,
    any other model at its input size (8 at a time)."""
    rng = np.random.default_rng(seed)
    _, h, w, c = tuple(graph.inputs[0].shape)
    c = int(c or 1)
    if h and w:
        return [rng.random((8, int(h), int(w), c), dtype=np.float32)]
    from fpstation.ml.cards import parse_card
    from fpstation.ml.restoration import card_levels

    m = 2 ** card_levels(parse_card(card_data, strict=False)) if task == "restoration" else 8
    return [rng.random((2, -(-hh // m) * m, -(-ww // m) * m, c), dtype=np.float32)
            for hh, ww in RESTORER_CHECK_SIZES]


def export_checked(task: str, card_data: dict[str, Any], model: Any, out: Any, tolerance: float = 1e-4,
                   command: str = "") -> dict[str, Any]:
    """Export ``model``'s inference graph to ``out`` (.onnx) after checking it against Keras.

    Returns the card's ``onnx`` entry: ``file``, ``sha256``, ``opset``, ``max_abs_diff_vs_keras``
    (over :func:`check_inputs`), ``checked_inputs`` and ``command``.

    Raises
    ------
    UnsupportedLayerError
        The model holds a layer the exporter does not translate.
    ExportMismatchError
        The outputs differ by more than ``tolerance``; nothing is written.
    """
    graph = inference_graph(task, card_data, model)
    blob = keras_to_onnx(graph, *(("degraded", "clean") if task == "restoration" else ("input", "output")))
    run = nhwc_fn(session(blob))
    worst, shapes = 0.0, []
    for x in check_inputs(task, card_data, graph):
        ref = np.asarray(graph(x, training=False))
        worst = max(worst, float(np.abs(run(x) - ref).max()))
        shapes.append(list(x.shape))
    if not worst <= tolerance:  # also refuses NaN
        raise ExportMismatchError(f"the ONNX export differs from the Keras model by {worst:.2e} > {tolerance:g}")
    out = Path(out)
    out.write_bytes(blob)
    entry = {"file": out.name, "sha256": sha256_file(out), "opset": OPSET,
             "max_abs_diff_vs_keras": float(f"{worst:.3g}"), "checked_inputs": shapes,
             "size_bytes": out.stat().st_size}
    if command:
        entry["command"] = command
    return entry
