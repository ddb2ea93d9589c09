"""The cylinder comparison kernel, run by onnxruntime (integer GEMM), for 1:N search.

One small ONNX graph takes a block of gallery cylinders (unpacked bits, uint8 0/1), the probe's
cylinders (transposed, same form) and both sides' bit counts, and returns, for every template of
the block, each probe cylinder's best Dice similarity and which gallery cylinder gave it, and each
gallery cylinder's best:

    Y   = MatMulInteger(G, Pᵀ)               |a & b| of every pair, exact int32
    S   = 2 Y / max(|a| + |b|, 1)             Dice, float32 (padding rows: 0)
    BP  = max over the template's cylinders   (B, p)
    AP  = argmax over them                    (B, p)
    BG  = max over the probe's cylinders      (B, M)

onnxruntime's integer GEMM is about 2.5 times faster here than numpy's float32 BLAS, and the bit
counts are integers, so the result does not depend on how the gallery is cut into blocks or
shards. The graph is stored below as bytes (onnx is not needed at run time); ``build_model``
makes it again and the test suite checks the two agree.
"""

from __future__ import annotations

import base64
import threading

import numpy as np

OPSET = 18
_lock = threading.Lock()
_session = None


def build_model() -> bytes:
    """The kernel's ONNX model (needs the ``onnx`` package: the [train]/[dev] extras)."""
    from onnx import TensorProto as T
    from onnx import helper

    vi = helper.make_tensor_value_info
    nodes = [
        helper.make_node("MatMulInteger", ["G", "PT"], ["Y"]),
        helper.make_node("Cast", ["Y"], ["Yf"], to=T.FLOAT),
        helper.make_node("Mul", ["Yf", "two"], ["Y2"]),
        helper.make_node("Add", ["GC", "PC"], ["D"]),
        helper.make_node("Max", ["D", "one"], ["D1"]),
        helper.make_node("Div", ["Y2", "D1"], ["S"]),
        helper.make_node("Reshape", ["S", "shape"], ["S3"]),
        helper.make_node("ReduceMax", ["S3", "ax1"], ["BP"], keepdims=0),
        helper.make_node("ArgMax", ["S3"], ["AP"], axis=1, keepdims=0),
        helper.make_node("ReduceMax", ["S3", "ax2"], ["BG"], keepdims=0),
    ]
    init = [helper.make_tensor("two", T.FLOAT, [], [2.0]), helper.make_tensor("one", T.FLOAT, [], [1.0]),
            helper.make_tensor("ax1", T.INT64, [1], [1]), helper.make_tensor("ax2", T.INT64, [1], [2])]
    graph = helper.make_graph(
        nodes, "fpstation_cylinder_kernel",
        [vi("G", T.UINT8, ["BM", "bits"]), vi("PT", T.UINT8, ["bits", "p"]), vi("GC", T.FLOAT, ["BM", 1]),
         vi("PC", T.FLOAT, [1, "p"]), vi("shape", T.INT64, [3])],
        [vi("BP", T.FLOAT, ["B", "p"]), vi("AP", T.INT64, ["B", "p"]), vi("BG", T.FLOAT, ["B", "M"])], init)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="fpstation")
    model.ir_version = 8
    return model.SerializeToString()


#: ``build_model()`` as stored (base64); tests/unit/test_packed_search.py checks it is current
MODEL_B64 = (
    "CAgSCWZwc3RhdGlvbjq2BAoZCgFHCgJQVBIBWSINTWF0TXVsSW50ZWdlcgoYCgFZEgJZZiIEQ2FzdCoJCgJ0bxgBoAECChIK"
    "AllmCgN0d28SAlkyIgNNdWwKEAoCR0MKAlBDEgFEIgNBZGQKEQoBRAoDb25lEgJEMSIDTWF4ChAKAlkyCgJEMRIBUyIDRGl2"
    "ChcKAVMKBXNoYXBlEgJTMyIHUmVzaGFwZQopCgJTMwoDYXgxEgJCUCIJUmVkdWNlTWF4Kg8KCGtlZXBkaW1zGACgAQIKLgoC"
    "UzMSAkFQIgZBcmdNYXgqCwoEYXhpcxgBoAECKg8KCGtlZXBkaW1zGACgAQIKKQoCUzMKA2F4MhICQkciCVJlZHVjZU1heCoP"
    "CghrZWVwZGltcxgAoAECEhlmcHN0YXRpb25fY3lsaW5kZXJfa2VybmVsKg0QASIEAAAAQEIDdHdvKg0QASIEAACAP0IDb25l"
    "KgwIARAHOgEBQgNheDEqDAgBEAc6AQJCA2F4MloZCgFHEhQKEggCEg4KBBICQk0KBhIEYml0c1oZCgJQVBITChEIAhINCgYS"
    "BGJpdHMKAxIBcFoWCgJHQxIQCg4IARIKCgQSAkJNCgIIAVoVCgJQQxIPCg0IARIJCgIIAQoDEgFwWhMKBXNoYXBlEgoKCAgH"
    "EgQKAggDYhYKAkJQEhAKDggBEgoKAxIBQgoDEgFwYhYKAkFQEhAKDggHEgoKAxIBQgoDEgFwYhYKAkJHEhAKDggBEgoKAxIB"
    "QgoDEgFNQgQKABAS"
)


def _get_session():
    global _session
    with _lock:
        if _session is None:
            import onnxruntime as ort

            so = ort.SessionOptions()
            # one thread per run: the search runs several blocks at once on its own threads
            so.intra_op_num_threads = 1
            so.inter_op_num_threads = 1
            _session = ort.InferenceSession(base64.b64decode(MODEL_B64), so, providers=["CPUExecutionProvider"])
        return _session


def best_matches(g_bits: np.ndarray, g_counts: np.ndarray, p_bits: np.ndarray, p_counts: np.ndarray, nbits: int
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(BP (B, p), AP (B, p), BG (B, M))`` for packed gallery bits ``(B, M, NBYTES)`` with counts
    ``(B, M)`` and packed probe bits ``(p, NBYTES)`` with counts ``(p,)`` (see the module docstring)."""
    B, M, nb = g_bits.shape
    G = np.unpackbits(g_bits.reshape(B * M, nb), axis=1, count=nbits)
    PT = np.ascontiguousarray(np.unpackbits(p_bits, axis=1, count=nbits).T)
    out = _get_session().run(None, {"G": G, "PT": PT, "GC": g_counts.reshape(B * M, 1).astype(np.float32),
                                    "PC": p_counts.reshape(1, -1).astype(np.float32),
                                    "shape": np.array([B, M, len(p_counts)], np.int64)})
    return out[0], out[1], out[2]


def best_matches_numpy(g_bits: np.ndarray, g_counts: np.ndarray, p_bits: np.ndarray, p_counts: np.ndarray,
                       nbits: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The same as :func:`best_matches` in numpy (the reference the kernel is tested against)."""
    B, M, nb = g_bits.shape
    G = np.unpackbits(g_bits.reshape(B * M, nb), axis=1, count=nbits).astype(np.float32)
    P = np.unpackbits(p_bits, axis=1, count=nbits).astype(np.float32)
    Y = (G @ P.T).astype(np.int32).astype(np.float32)
    D = np.maximum(g_counts.reshape(B * M, 1).astype(np.float32) + p_counts.reshape(1, -1).astype(np.float32),
                   np.float32(1.0))
    S = ((Y * np.float32(2.0)) / D).reshape(B, M, len(p_counts))
    return S.max(axis=1), S.argmax(axis=1), S.max(axis=2)
