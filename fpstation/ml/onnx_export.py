"""Keras model -> ONNX graph, so every shipped model runs on onnxruntime without TensorFlow (ADR 0090, 0230).

Inference needs only onnxruntime; the export needs the ``onnx`` package (extras ``train`` and ``dev``).
:func:`fpstation.ml.export.export_checked` writes the file after checking it against Keras
(``training/export_onnx.py`` for shipped models, :func:`fpstation.ml.training.train` at registration).

Only the layers our models are built from are translated, each checked against its configuration:

- ``Conv2D`` (any kernel, stride and dilation; "same" or "valid"; with or without bias),
  ``DepthwiseConv2D``, 2×2 stride-2 ``Conv2DTranspose``;
- ``BatchNormalization`` (inference: moving statistics), ``Dense``;
- ``MaxPooling2D`` / ``AveragePooling2D``, ``GlobalAveragePooling2D`` / ``GlobalMaxPooling2D``;
- nearest-neighbour ``UpSampling2D``, ``Flatten``, ``Concatenate``, ``Add``, ``Multiply``;
- activations linear, ReLU (and ReLU6 / ``ReLU(max_value)``), sigmoid, tanh, softmax;
- layers that are the identity at inference: ``Dropout`` and the ``Random*`` augmentation layers.

Anything else raises :class:`UnsupportedLayerError` rather than exporting a graph that computes
something else. The graph takes N×C×H×W (H, W symbolic when the Keras input leaves them open, so one
file serves every print size) and returns N×C×H×W for an image output, N×K for a vector output.
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: ONNX operator set written (every op used exists unchanged since opset 13)
OPSET = 17

#: layers that compute the identity at inference (training-time noise and augmentation)
IDENTITY_AT_INFERENCE = frozenset({
    "Dropout", "SpatialDropout1D", "SpatialDropout2D", "GaussianNoise", "GaussianDropout", "AlphaDropout",
    "RandomFlip", "RandomTranslation", "RandomRotation", "RandomContrast", "RandomZoom", "RandomBrightness",
})  # not RandomCrop: it changes the size at inference

_ACTIVATIONS = {"relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh"}


class UnsupportedLayerError(ValueError):
    """The model holds a layer this exporter does not translate."""


def _conv_kernel(layer: Any, cfg: dict[str, Any]) -> tuple[np.ndarray, np.ndarray | None]:
    if cfg.get("data_format", "channels_last") != "channels_last":
        raise UnsupportedLayerError(f"{layer.name}: only channels_last convolutions are exported")
    if cfg.get("groups", 1) != 1:
        raise UnsupportedLayerError(f"{layer.name}: grouped convolutions are not exported")
    weights = layer.get_weights()
    kernel, bias = weights[0], (weights[1] if cfg.get("use_bias", True) else None)
    # Keras Conv2D kernel: (kh, kw, in, out) -> ONNX Conv W: (out, in, kh, kw).
    # Keras Conv2DTranspose kernel: (kh, kw, out, in) -> ONNX ConvTranspose W: (in, out, kh, kw).
    # Both are the same axis permutation.
    w = np.ascontiguousarray(np.transpose(kernel, (3, 2, 0, 1)), np.float32)
    return w, None if bias is None else bias.astype(np.float32)


def _pair(v: Any) -> tuple[int, int]:
    return (int(v), int(v)) if isinstance(v, int) else (int(v[0]), int(v[1]))


def keras_to_onnx(model: Any, input_name: str = "input", output_name: str = "output",
                  producer: str = "fpstation.ml.onnx_export") -> bytes:
    """Translate a functional Keras model (single input, single output) into a serialized ONNX model.

    Parameters
    ----------
    model : keras.Model of the layer kinds listed in the module docstring; image input N×H×W×C.
    input_name, output_name : names of the graph's input and output.

    Returns
    -------
    bytes
        The ONNX ``ModelProto``; input N×C×H×W float32, output N×C×H×W (image) or N×K (vector).

    Raises
    ------
    UnsupportedLayerError
        A layer kind, option or activation the exporter does not translate.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes: list[Any] = []
    inits: list[Any] = []
    # Keras layer name -> (ONNX tensor holding its output, rank); image tensors are NCHW
    produced: dict[str, tuple[str, int]] = {}

    def const(name: str, value: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def act(layer: Any, pre: str, name: str | None = None) -> str:
        a = layer.get_config().get("activation", "linear")
        if a == "linear":
            return pre
        out = name or f"{layer.name}/out"
        if a == "softmax":
            nodes.append(helper.make_node("Softmax", [pre], [out], axis=-1))
        elif a == "relu6":
            nodes.append(helper.make_node("Clip", [pre, const(f"{layer.name}/lo", np.float32(0)),
                                                   const(f"{layer.name}/hi", np.float32(6))], [out]))
        elif a in _ACTIVATIONS:
            nodes.append(helper.make_node(_ACTIVATIONS[a], [pre], [out]))
        else:
            raise UnsupportedLayerError(f"{layer.name}: activation {a!r} is not exported")
        return out

    def pads_for(layer: Any, cfg: dict[str, Any], kh: int, kw: int) -> dict[str, Any]:
        strides = _pair(cfg.get("strides", (1, 1)))
        dh, dw = _pair(cfg.get("dilation_rate", (1, 1)))
        if cfg["padding"] == "valid":
            return {"pads": [0, 0, 0, 0]}
        if cfg["padding"] != "same":
            raise UnsupportedLayerError(f"{layer.name}: padding {cfg['padding']!r} is not exported")
        if strides == (1, 1) and kh % 2 == 1 and kw % 2 == 1:
            ph, pw = dh * (kh // 2), dw * (kw // 2)  # "same" padding of a dilated odd kernel
            return {"pads": [ph, pw, ph, pw]}
        return {"auto_pad": "SAME_UPPER"}  # TensorFlow's "same": the odd pixel of padding at the end

    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise UnsupportedLayerError("only single-input, single-output models are exported")
    for layer in model.layers:
        kind = type(layer).__name__
        if kind == "InputLayer":
            produced[layer.name] = (input_name, 4)
            continue
        try:
            srcs = [produced[t._keras_history[0].name] for t in layer._inbound_nodes[0].input_tensors]
        except (AttributeError, IndexError, KeyError) as exc:
            raise UnsupportedLayerError(f"{layer.name}: cannot follow its inputs ({exc})") from exc
        sources = [s for s, _ in srcs]
        rank = srcs[0][1]
        out = f"{layer.name}/out"
        cfg = layer.get_config()
        if kind in ("Conv2D", "Conv2DTranspose"):
            w, b = _conv_kernel(layer, cfg)
            kh, kw = w.shape[2:]
            ins = [sources[0], const(f"{layer.name}/W", w)] + ([const(f"{layer.name}/B", b)] if b is not None else [])
            pre = f"{layer.name}/pre"
            if kind == "Conv2DTranspose":
                if _pair(cfg.get("dilation_rate", (1, 1))) != (1, 1):
                    raise UnsupportedLayerError(f"{layer.name}: dilated transposed convolutions are not exported")
                if (kh, kw) != (2, 2) or _pair(cfg["strides"]) != (2, 2):
                    raise UnsupportedLayerError(f"{layer.name}: only 2×2 stride-2 transposed convolutions")
                nodes.append(helper.make_node("ConvTranspose", ins, [pre], kernel_shape=[2, 2], strides=[2, 2]))
            else:
                nodes.append(helper.make_node("Conv", ins, [pre], kernel_shape=[kh, kw],
                                              strides=list(_pair(cfg.get("strides", (1, 1)))),
                                              dilations=list(_pair(cfg.get("dilation_rate", (1, 1)))),
                                              **pads_for(layer, cfg, kh, kw)))
            produced[layer.name] = (act(layer, pre), 4)
        elif kind == "DepthwiseConv2D":
            if cfg.get("data_format", "channels_last") != "channels_last":
                raise UnsupportedLayerError(f"{layer.name}: only channels_last convolutions are exported")
            weights = layer.get_weights()
            kernel = weights[0]  # (kh, kw, in, multiplier)
            kh, kw, cin, mult = kernel.shape
            # ONNX grouped Conv (group = in): output channel o = c·mult + m reads input channel c
            w = np.ascontiguousarray(np.transpose(kernel, (2, 3, 0, 1)).reshape(cin * mult, 1, kh, kw), np.float32)
            ins = [sources[0], const(f"{layer.name}/W", w)]
            if cfg.get("use_bias", True):
                ins.append(const(f"{layer.name}/B", weights[1].astype(np.float32)))
            pre = f"{layer.name}/pre"
            nodes.append(helper.make_node("Conv", ins, [pre], kernel_shape=[kh, kw], group=cin,
                                          strides=list(_pair(cfg.get("strides", (1, 1)))),
                                          dilations=list(_pair(cfg.get("dilation_rate", (1, 1)))),
                                          **pads_for(layer, cfg, kh, kw)))
            produced[layer.name] = (act(layer, pre), 4)
        elif kind == "BatchNormalization":
            axis = cfg.get("axis", -1)
            axis = axis[0] if isinstance(axis, (list, tuple)) and len(axis) == 1 else axis
            if axis not in (-1, rank - 1):
                raise UnsupportedLayerError(f"{layer.name}: only channel-axis batch normalisation")
            weights = list(layer.get_weights())
            n = weights[-1].shape[0]
            gamma = weights.pop(0) if cfg.get("scale", True) else np.ones(n, np.float32)
            beta = weights.pop(0) if cfg.get("center", True) else np.zeros(n, np.float32)
            mean, var = weights
            nodes.append(helper.make_node(
                "BatchNormalization",
                [sources[0], const(f"{layer.name}/gamma", gamma.astype(np.float32)),
                 const(f"{layer.name}/beta", beta.astype(np.float32)),
                 const(f"{layer.name}/mean", mean.astype(np.float32)),
                 const(f"{layer.name}/var", var.astype(np.float32))],
                [out], epsilon=float(cfg.get("epsilon", 1e-3))))
            produced[layer.name] = (out, rank)
        elif kind == "Activation":
            produced[layer.name] = (act(layer, sources[0]), rank)
        elif kind == "ReLU":
            if cfg.get("negative_slope", 0.0) or cfg.get("threshold", 0.0):
                raise UnsupportedLayerError(f"{layer.name}: only plain ReLU (no slope or threshold)")
            if cfg.get("max_value") is None:
                nodes.append(helper.make_node("Relu", sources, [out]))
            else:
                nodes.append(helper.make_node("Clip", [sources[0], const(f"{layer.name}/lo", np.float32(0)),
                                                       const(f"{layer.name}/hi", np.float32(cfg["max_value"]))],
                                              [out]))
            produced[layer.name] = (out, rank)
        elif kind in ("MaxPooling2D", "AveragePooling2D"):
            pool = _pair(cfg["pool_size"])
            strides = _pair(cfg.get("strides") or pool)
            pad = {"auto_pad": "SAME_UPPER"} if cfg.get("padding") == "same" else {}
            extra = {"count_include_pad": 0} if kind == "AveragePooling2D" else {}
            nodes.append(helper.make_node("MaxPool" if kind == "MaxPooling2D" else "AveragePool", sources, [out],
                                          kernel_shape=list(pool), strides=list(strides), **pad, **extra))
            produced[layer.name] = (out, 4)
        elif kind in ("GlobalAveragePooling2D", "GlobalMaxPooling2D"):
            op = "GlobalAveragePool" if kind == "GlobalAveragePooling2D" else "GlobalMaxPool"
            if cfg.get("keepdims", False):
                nodes.append(helper.make_node(op, sources, [out]))
                produced[layer.name] = (out, 4)
            else:
                nodes.append(helper.make_node(op, sources, [f"{layer.name}/pool"]))
                nodes.append(helper.make_node("Flatten", [f"{layer.name}/pool"], [out], axis=1))
                produced[layer.name] = (out, 2)
        elif kind == "UpSampling2D":
            if cfg.get("interpolation", "nearest") != "nearest":
                raise UnsupportedLayerError(f"{layer.name}: layer kind UpSampling2D with "
                                            f"{cfg.get('interpolation')!r} interpolation is not exported")
            sh, sw = _pair(cfg["size"])
            nodes.append(helper.make_node(
                "Resize", [sources[0], "", const(f"{layer.name}/scales", np.array([1, 1, sh, sw], np.float32))],
                [out], mode="nearest", coordinate_transformation_mode="asymmetric", nearest_mode="floor"))
            produced[layer.name] = (out, 4)
        elif kind == "Flatten":
            if rank == 4:  # Keras flattens H, W, C in that order: back to NHWC first
                nodes.append(helper.make_node("Transpose", sources, [f"{layer.name}/nhwc"], perm=[0, 2, 3, 1]))
                sources = [f"{layer.name}/nhwc"]
            nodes.append(helper.make_node("Flatten", sources, [out], axis=1))
            produced[layer.name] = (out, 2)
        elif kind == "Dense":
            if rank != 2:
                raise UnsupportedLayerError(f"{layer.name}: Dense only on vectors (flatten or pool first)")
            weights = layer.get_weights()
            ins = [sources[0], const(f"{layer.name}/W", weights[0].astype(np.float32))]
            if cfg.get("use_bias", True):
                ins.append(const(f"{layer.name}/B", weights[1].astype(np.float32)))
            pre = f"{layer.name}/pre"
            nodes.append(helper.make_node("Gemm", ins, [pre]))
            produced[layer.name] = (act(layer, pre), 2)
        elif kind == "Concatenate":
            if cfg.get("axis", -1) not in (-1, rank - 1):
                raise UnsupportedLayerError(f"{layer.name}: only channel concatenation")
            nodes.append(helper.make_node("Concat", sources, [out], axis=1))
            produced[layer.name] = (out, rank)
        elif kind in ("Add", "Multiply"):
            op = {"Add": ("Add", "Sum"), "Multiply": ("Mul", None)}[kind]
            if len(sources) > 2 and op[1] is None:
                raise UnsupportedLayerError(f"{layer.name}: only two-input {kind}")
            nodes.append(helper.make_node(op[1] if len(sources) > 2 else op[0], sources, [out]))
            produced[layer.name] = (out, rank)
        elif kind in IDENTITY_AT_INFERENCE:
            produced[layer.name] = srcs[0]
        else:
            raise UnsupportedLayerError(f"{layer.name}: layer kind {kind} is not exported")

    last, out_rank = produced[model.outputs[0]._keras_history[0].name]
    nodes.append(helper.make_node("Identity", [last], [output_name]))
    in_shape = tuple(model.inputs[0].shape)  # (N, H, W, C)
    in_dims = ["n", int(in_shape[3] or 1), in_shape[1] or "h", in_shape[2] or "w"]
    out_shape = tuple(model.outputs[0].shape)
    if out_rank == 4:
        out_dims: list[Any] = ["n", int(out_shape[3] or 1), out_shape[1] or "h", out_shape[2] or "w"]
    else:
        out_dims = ["n", int(out_shape[-1])]
    graph = helper.make_graph(nodes, model.name,
                              [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, in_dims)],
                              [helper.make_tensor_value_info(output_name, TensorProto.FLOAT, out_dims)], inits)
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name=producer)
    proto.ir_version = 8  # readable by every onnxruntime since 1.10
    onnx.checker.check_model(proto)
    return proto.SerializeToString()


def session(model_bytes_or_path: bytes | str, threads: int = 0) -> Any:
    """An onnxruntime CPU session with full graph optimisation.

    ``threads``: intra-op threads (0 = onnxruntime's choice, one per physical core).
    """
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.inter_op_num_threads = 1
    if threads:
        opts.intra_op_num_threads = int(threads)
    opts.log_severity_level = 3  # errors only; onnxruntime's warnings are not for the analyst
    # No busy-waiting between runs: by default onnxruntime's idle threads spin, taking CPU from the
    # other models that run beside this one in the worker pool.
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(model_bytes_or_path, opts, providers=["CPUExecutionProvider"])


def nhwc_fn(sess: Any) -> Any:
    """Wrap a session as ``f(float32 N×H×W×C) -> output`` with Keras' layout: an image output comes
    back N×H×W×C, a vector output N×K. (With C = 1 both layout changes are reshapes, not copies.)"""
    name_in = sess.get_inputs()[0].name
    image_out = len(sess.get_outputs()[0].shape) == 4

    def run(x: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(x, np.float32)
        n, h, w, c = x.shape
        xin = x.reshape(n, 1, h, w) if c == 1 else np.ascontiguousarray(np.transpose(x, (0, 3, 1, 2)))
        y = sess.run(None, {name_in: xin})[0]
        if image_out:
            return y.reshape(n, y.shape[2], y.shape[3], 1) if y.shape[1] == 1 else np.transpose(y, (0, 2, 3, 1))
        return y

    return run
