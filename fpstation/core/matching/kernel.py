"""The cylinder comparison kernel, run by onnxruntime (integer GEMM), for 1:N search.

One small ONNX graph takes a block of gallery cylinders (unpacked bits, uint8 0/1), the probe's
cylinders (transposed, int8 0/1) and both sides' bit counts, and returns, for every template of
the block, each probe cylinder's best Dice similarity and which gallery cylinder gave it, and each
gallery cylinder's best:

    Y   = MatMulInteger(G, Pᵀ)               |a & b| of every pair, exact int32 (uint8 x int8)
    S   = 2 Y / max(|a| + |b|, 1)             Dice, float32 (padding rows: 0)
    BP  = max over the template's cylinders   (B, p)
    AP  = argmax over them                    (B, p)
    BG  = max over the probe's cylinders      (B, M)

onnxruntime's integer GEMM is about twice as fast here as numpy's float32 BLAS (uint8 x int8 a
further 15 % faster than uint8 x uint8 on AVX2), and the bit counts are integers, so the result does not depend on how the gallery is cut into blocks or
shards. Stage 0 of search needs no ``AP``: a second graph (``local=True``) leaves the ArgMax out,
which saves about a fifth of its time. The graphs are stored below as bytes (onnx is not needed at
run time); ``build_model`` makes them again and the test suite checks they agree.
"""

from __future__ import annotations

import base64
import threading

import numpy as np

OPSET = 18
_lock = threading.Lock()
_sessions: dict[bool, object] = {}


def build_model(local: bool = False) -> bytes:
    """The kernel's ONNX model (needs the ``onnx`` package: the [train]/[dev] extras); ``local``:
    without ``AP`` (stage 0 of search)."""
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
        helper.make_node("ReduceMax", ["S3", "ax2"], ["BG"], keepdims=0),
    ]
    outputs = [vi("BP", T.FLOAT, ["B", "p"]), vi("BG", T.FLOAT, ["B", "M"])]
    if not local:
        nodes.insert(-1, helper.make_node("ArgMax", ["S3"], ["AP"], axis=1, keepdims=0))
        outputs.insert(1, vi("AP", T.INT64, ["B", "p"]))
    init = [helper.make_tensor("two", T.FLOAT, [], [2.0]), helper.make_tensor("one", T.FLOAT, [], [1.0]),
            helper.make_tensor("ax1", T.INT64, [1], [1]), helper.make_tensor("ax2", T.INT64, [1], [2])]
    graph = helper.make_graph(
        nodes, "fpstation_cylinder_kernel" + ("_local" if local else ""),
        [vi("G", T.UINT8, ["BM", "bits"]), vi("PT", T.INT8, ["bits", "p"]), vi("GC", T.FLOAT, ["BM", 1]),
         vi("PC", T.FLOAT, [1, "p"]), vi("shape", T.INT64, [3])], outputs, init)
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
    "KgwIARAHOgEBQgNheDEqDAgBEAc6AQJCA2F4MloZCgFHEhQKEggCEg4KBBICQk0KBhIEYml0c1oZCgJQVBITChEIAxINCgYS"
    "BGJpdHMKAxIBcFoWCgJHQxIQCg4IARIKCgQSAkJNCgIIAVoVCgJQQxIPCg0IARIJCgIIAQoDEgFwWhMKBXNoYXBlEgoKCAgH"
    "EgQKAggDYhYKAkJQEhAKDggBEgoKAxIBQgoDEgFwYhYKAkFQEhAKDggHEgoKAxIBQgoDEgFwYhYKAkJHEhAKDggBEgoKAxIB"
    "QgoDEgFNQgQKABAS"
)
#: ``build_model(local=True)`` as stored
MODEL_LOCAL_B64 = (
    "CAgSCWZwc3RhdGlvbjr0AwoZCgFHCgJQVBIBWSINTWF0TXVsSW50ZWdlcgoYCgFZEgJZZiIEQ2FzdCoJCgJ0bxgBoAECChIK"
    "AllmCgN0d28SAlkyIgNNdWwKEAoCR0MKAlBDEgFEIgNBZGQKEQoBRAoDb25lEgJEMSIDTWF4ChAKAlkyCgJEMRIBUyIDRGl2"
    "ChcKAVMKBXNoYXBlEgJTMyIHUmVzaGFwZQopCgJTMwoDYXgxEgJCUCIJUmVkdWNlTWF4Kg8KCGtlZXBkaW1zGACgAQIKKQoC"
    "UzMKA2F4MhICQkciCVJlZHVjZU1heCoPCghrZWVwZGltcxgAoAECEh9mcHN0YXRpb25fY3lsaW5kZXJfa2VybmVsX2xvY2Fs"
    "Kg0QASIEAAAAQEIDdHdvKg0QASIEAACAP0IDb25lKgwIARAHOgEBQgNheDEqDAgBEAc6AQJCA2F4MloZCgFHEhQKEggCEg4K"
    "BBICQk0KBhIEYml0c1oZCgJQVBITChEIAxINCgYSBGJpdHMKAxIBcFoWCgJHQxIQCg4IARIKCgQSAkJNCgIIAVoVCgJQQxIP"
    "Cg0IARIJCgIIAQoDEgFwWhMKBXNoYXBlEgoKCAgHEgQKAggDYhYKAkJQEhAKDggBEgoKAxIBQgoDEgFwYhYKAkJHEhAKDggB"
    "EgoKAxIBQgoDEgFNQgQKABAS"
)


def _get_session(local: bool = False):
    with _lock:
        if local not in _sessions:
            import onnxruntime as ort

            so = ort.SessionOptions()
            # one thread per run: the search runs several blocks at once on its own threads
            so.intra_op_num_threads = 1
            so.inter_op_num_threads = 1
            model = MODEL_LOCAL_B64 if local else MODEL_B64
            _sessions[local] = ort.InferenceSession(base64.b64decode(model), so, providers=["CPUExecutionProvider"])
        return _sessions[local]


def _feeds(g_bits: np.ndarray, g_counts: np.ndarray, p_bits: np.ndarray, p_counts: np.ndarray, nbits: int) -> dict:
    B, M, nb = g_bits.shape
    return {"G": np.unpackbits(g_bits.reshape(B * M, nb), axis=1, count=nbits),
            "PT": np.ascontiguousarray(np.unpackbits(p_bits, axis=1, count=nbits).T).view(np.int8),
            "GC": g_counts.reshape(B * M, 1).astype(np.float32), "PC": p_counts.reshape(1, -1).astype(np.float32),
            "shape": np.array([B, M, len(p_counts)], np.int64)}


def best_matches(g_bits: np.ndarray, g_counts: np.ndarray, p_bits: np.ndarray, p_counts: np.ndarray, nbits: int
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(BP (B, p), AP (B, p), BG (B, M))`` for packed gallery bits ``(B, M, NBYTES)`` with counts
    ``(B, M)`` and packed probe bits ``(p, NBYTES)`` with counts ``(p,)`` (see the module docstring)."""
    out = _get_session().run(None, _feeds(g_bits, g_counts, p_bits, p_counts, nbits))
    return out[0], out[1], out[2]


def best_local(g_bits: np.ndarray, g_counts: np.ndarray, p_bits: np.ndarray, p_counts: np.ndarray, nbits: int
               ) -> tuple[np.ndarray, np.ndarray]:
    """``(BP, BG)`` of :func:`best_matches`, without ``AP`` (stage 0 of search)."""
    out = _get_session(local=True).run(None, _feeds(g_bits, g_counts, p_bits, p_counts, nbits))
    return out[0], out[1]


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
