"""Keras restorer -> ONNX graph, so inference runs in onnxruntime (ADR 0090).

onnxruntime runs the shipped U-Net about 20 % faster than TensorFlow's ``tf.function`` on this
class of CPU (bench/results/restoration.json has both). The translator is the shared one,
:mod:`fpstation.ml.onnx_export` (it lists the layers it translates); a restorer's graph names its
input ``degraded`` (N×C×H×W, C = 1 or 1 + guidance channels) and its output ``clean`` (N×1×H×W),
with H, W symbolic, so one file serves every print size (multiples of ``2**levels``, as inference pads).
``training/export_onnx.py`` writes the file and records it in the model card.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fpstation.ml.onnx_export import OPSET, UnsupportedLayerError, session
from fpstation.ml.onnx_export import keras_to_onnx as _keras_to_onnx

__all__ = ["OPSET", "UnsupportedLayerError", "keras_to_onnx", "session", "session_fn"]


def keras_to_onnx(model: Any) -> bytes:
    """A restorer's ONNX model: input ``degraded`` N×C×H×W, output ``clean`` N×1×H×W, float32.

    Raises
    ------
    UnsupportedLayerError
        A layer kind, option or activation the exporter does not translate.
    """
    return _keras_to_onnx(model, "degraded", "clean", producer="fpstation.ml.restoration.onnx_export")


def session_fn(sess: Any) -> Any:
    """Wrap a session as ``f(float32 N×H×W×1) -> N×H×W×1``, the interface of ``restoration.model_fn``.

    With one channel, N×H×W×1 and N×1×H×W share the same memory layout, so both conversions are
    reshapes, not copies. A guided model's N×H×W×C input is transposed to N×C×H×W.
    """
    name_in = sess.get_inputs()[0].name

    def run(x: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(x, np.float32)
        n, h, w, c = x.shape
        xin = x.reshape(n, 1, h, w) if c == 1 else np.ascontiguousarray(np.transpose(x, (0, 3, 1, 2)))
        return sess.run(None, {name_in: xin})[0].reshape(n, h, w, 1)

    return run
