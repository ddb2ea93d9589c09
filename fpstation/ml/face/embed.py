"""Face embedders: an aligned face chip -> an L2-normalised vector; similarity = cosine.

``dlib-resnet`` (the shipped default) is dlib's ResNet-29 metric-learning network (128-d, trained
by dlib's author on about 3 million faces), run on the 150×150 chip from :mod:`.detect`. The
trainable alternative is the small MobileNet-style CNN of :mod:`.task` (a Keras model in the
registry, task ``face``); its embedding is the layer before its softmax.

Every image goes in as grey (replicated to three channels for dlib), so colour and grey probes are
treated alike (the ORL data is grey).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from fpstation.core.errors import ModelError
from fpstation.ml.face import dlib_models
from fpstation.ml.face.detect import AlignedFace, FaceBox, align

TASK = "face"
DLIB_RUNTIME = "dlib"


def l2n(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, np.float32)
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.maximum(n, 1e-12)


@dataclass
class Embedding:
    vector: np.ndarray  # (d,) float32, unit length
    face: AlignedFace
    seconds: float  # detect + align + embed


class Embedder:
    """Base: card-backed; subclasses implement :meth:`embed_chips`."""

    def __init__(self, card: Any) -> None:
        self.card = card
        self.key: str = card.key
        self.sha256: str = card.sha256
        self.threshold: float | None = card.similarity_threshold
        self.shape_sha256 = ((card.data.get("package") or {}).get("files") or {}).get(dlib_models.SHAPE_5)

    @property
    def dim(self) -> int:
        raise NotImplementedError

    def embed_chips(self, chips: np.ndarray) -> np.ndarray:
        """(N, 150, 150, 3) uint8 aligned chips -> (N, d) unit vectors."""
        raise NotImplementedError

    def embed(self, pixels: np.ndarray, box: FaceBox | None = None, *, allow_whole_image: bool = True) -> Embedding:
        t0 = time.perf_counter()
        face = align(pixels, box, allow_whole_image=allow_whole_image, shape_sha256=self.shape_sha256)
        v = self.embed_chips(face.chip[None])[0]
        return Embedding(v, face, time.perf_counter() - t0)


class DlibEmbedder(Embedder):
    def __init__(self, card: Any) -> None:
        super().__init__(card)
        self._net = dlib_models.resnet(card.sha256)
        self._lock = threading.Lock()  # one dlib net object; calls are serialised

    @property
    def dim(self) -> int:
        return 128

    @dlib_models.on_dlib_thread
    def embed_chips(self, chips: np.ndarray) -> np.ndarray:
        chips = np.ascontiguousarray(chips, np.uint8)
        with self._lock:
            if len(chips) == 1:
                out = [self._net.compute_face_descriptor(chips[0])]
            else:
                out = self._net.compute_face_descriptor([np.ascontiguousarray(c) for c in chips])
        return l2n(np.array(out, np.float32))


def chips_to_input(chips: np.ndarray, size: int) -> np.ndarray:
    """(N, 150, 150, 3) uint8 aligned chips -> (N, size, size, 1) float32 grey in [0, 1]."""
    import cv2

    chips = np.asarray(chips)
    out = np.empty((len(chips), size, size, 1), np.float32)
    for i, c in enumerate(chips):
        g = c.mean(axis=2) if c.ndim == 3 else c
        out[i, :, :, 0] = cv2.resize(g.astype(np.float32), (size, size), interpolation=cv2.INTER_AREA) / 255.0
    return out


class OnnxEmbedder(Embedder):
    """The small CNN trained here, run on onnxruntime from its card's ONNX export (the graph cut at
    the ``embedding`` layer, checked against Keras when exported): the chip, grey, resized to the
    model's input, to the embedding. No TensorFlow."""

    def __init__(self, card: Any, onnx_path: Any) -> None:
        super().__init__(card)
        from fpstation.ml.onnx_export import nhwc_fn, session

        sess = session(str(onnx_path))
        self._run = nhwc_fn(sess)
        self.size = int(card.input.hw((0, 0))[0] or sess.get_inputs()[0].shape[2])
        self._dim = int(sess.get_outputs()[0].shape[-1])

    @property
    def dim(self) -> int:
        return self._dim

    def embed_chips(self, chips: np.ndarray) -> np.ndarray:
        return l2n(self._run(chips_to_input(chips, self.size)))


class KerasEmbedder(Embedder):
    """The small CNN trained here: the chip, grey, resized to the model's input, through every layer
    up to the embedding (named ``embedding``)."""

    def __init__(self, card: Any, model: Any) -> None:
        super().__init__(card)
        import keras

        self._model = keras.Model(model.inputs[0], model.get_layer("embedding").output)
        shape = card.input.shape or model.input_shape[1:]
        self.size = int(shape[0])
        self._dim = int(self._model.output_shape[-1])

    @property
    def dim(self) -> int:
        return self._dim

    def embed_chips(self, chips: np.ndarray) -> np.ndarray:
        x = chips_to_input(chips, self.size)
        out = self._model(x, training=False)
        return l2n(np.asarray(out))


_embedders: dict[str, Embedder] = {}
_lock = threading.RLock()


def default_key(registry: Any = None) -> str:
    from fpstation.ml.registry import get_registry

    reg = registry or get_registry()
    card = reg.default(TASK)
    if card is None:
        raise ModelError("No face model is installed (models/face-dlib-resnet.json is missing).")
    return card.key


def get_embedder(key: str | None = None, registry: Any = None) -> Embedder:
    """The embedder of registry model ``key`` (default: the shipped default face model), cached."""
    from fpstation.ml.registry import get_registry

    reg = registry or get_registry()
    key = key or default_key(reg)
    with _lock:
        if key in _embedders:
            return _embedders[key]
        card = reg.card(key)
        if card.task != TASK:
            raise ModelError(f"“{key}” is a {card.task} model, not a face model.")
        if card.runtime == DLIB_RUNTIME:
            reg.verify(card)
            emb: Embedder = DlibEmbedder(card)
        elif card.onnx is not None:
            emb = OnnxEmbedder(card, reg.onnx_file(card))  # verifies the ONNX file's sha256
        else:  # a user model without an ONNX export: its Keras weights (the train extra)
            emb = KerasEmbedder(card, reg.load(key))
        _embedders[key] = emb
        return emb
