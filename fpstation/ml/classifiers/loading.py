"""Loading a PAD or gender model once (cached per registry and sha256) and computing its raw logits.

CNNs run on onnxruntime from the ONNX export their card lists (checked against the Keras weights
when it was written, see :mod:`fpstation.ml.onnx_export`): analysis never imports TensorFlow. A user
model without an export (trained before exports existed) runs its Keras weights as a cached
``tf.function``, which needs the ``train`` extra.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from fpstation.core.errors import ModelError, ModelNotFoundError
from fpstation.core.types import FingerprintImage, ModelRef
from fpstation.ml.cards import ModelCard
from fpstation.ml.classifiers.preprocess import card_shape, prepare, print_patches


class Loaded:
    """A loaded model with its card and a forward function (onnxruntime, or TensorFlow for a
    user model without an ONNX export)."""

    def __init__(self, card: ModelCard, registry: Any) -> None:
        self.card = card
        self.registry = registry
        self.ref = ModelRef(card.name, card.version, card.sha256)
        self.cam_fn: Any = None  # Grad-CAM function, built on first use (pad_explain)
        self._keras: Any = None
        self.model: Any = None  # the texture model (numpy); CNNs: see keras_model()
        self.forward: Any = None
        if card.is_texture:  # classical texture features + linear model
            self.model = registry.load(card.key)
            self.runtime = "numpy"
            return
        onnx_path = registry.onnx_file(card)  # verified against the card's sha256
        if onnx_path is not None:
            from fpstation.ml.onnx_export import nhwc_fn, session

            self.forward = nhwc_fn(session(str(onnx_path)))
            self.runtime = "onnx"
            return
        import tensorflow as tf

        model = self.keras_model()
        shape = card_shape(card)
        # Fixed signature: one trace, then ~1 ms per call on a small CNN.
        self.forward = tf.function(lambda x: model(x, training=False), reduce_retracing=True,
                                   input_signature=[tf.TensorSpec([None, shape[0], shape[1], 1], tf.float32)])
        self.runtime = "tf"

    def keras_model(self) -> Any:
        """The Keras weights (loaded on first use: only Grad-CAM and models without an ONNX export
        need them, and they need TensorFlow)."""
        if self._keras is None:
            self._keras = self.registry.load(self.card.key)
        return self._keras

    def logits(self, x: np.ndarray) -> np.ndarray:
        """Raw logits, (N,): image rows N×H×W×1 for a CNN, feature rows for the texture model."""
        if self.forward is None:  # texture model: x = feature rows
            return np.asarray(self.model.decision(x), np.float64).reshape(-1)
        return np.asarray(self.forward(x.astype(np.float32))).reshape(-1)


class FeatureLoaded:
    """A numpy feature model (gender_features.FeatureModel) with its card; no TensorFlow."""

    def __init__(self, card: ModelCard, model: Any) -> None:
        self.card = card
        self.model = model
        self.ref = ModelRef(card.name, card.version, card.sha256)


_loaded: dict[tuple[int, str], Any] = {}
_lock = threading.RLock()


def registry_or_default(registry: Any | None = None) -> Any:
    """``registry``, or the process's default registry when None."""
    if registry is not None:
        return registry
    from fpstation.ml.registry import get_registry

    return get_registry()


def load_classifier(task: str, model_key: str = "", registry: Any | None = None) -> Any:
    """The model for ``task`` ("pad"/"gender"): ``model_key`` or the task's shipped default."""
    reg = registry_or_default(registry)
    with _lock:
        if model_key:
            card = reg.card(model_key)
        else:
            card = reg.default(task)
            if card is None:
                raise ModelNotFoundError(f"No {task} model is installed (models/ holds no {task} model card).")
        if card.task != task:
            raise ModelError(f"Model “{card.name}” is a {card.task} model, not a {task} model.")
        cache_key = (id(reg), card.key + ":" + card.sha256)
        if cache_key not in _loaded:
            # .npz: gender's feature model, or the texture PAD model (Loaded handles it without TensorFlow)
            if card.file.suffix == ".npz" and not card.is_texture:
                _loaded[cache_key] = FeatureLoaded(card, reg.load(card.key))
            else:
                _loaded[cache_key] = Loaded(card, reg)
        return _loaded[cache_key]


def _texture_logits(loaded: Loaded, images: Sequence[FingerprintImage]) -> np.ndarray:
    from fpstation.ml.classifiers.patches import texture_features

    card = loaded.card
    if card.architecture == "pad_local_texture":
        from fpstation.ml.classifiers.pad_local import local_logits

        return np.array([local_logits(loaded.model, card.data, im.pixels, card.input_dpi_for(im))[0]
                         for im in images])
    x = np.stack([texture_features(im.pixels, card.input_dpi_for(im), card.input.dpi) for im in images])
    return loaded.logits(x)


def patch_logits(loaded: Loaded, image: FingerprintImage) -> tuple[np.ndarray, Any]:
    """Raw logits of a patch model's patches of ``image``, and the patches."""
    pt = print_patches(image, loaded.card)
    x = pt.pixels.astype(np.float32)[..., None] / 255.0
    return loaded.logits(x), pt


def model_logits(loaded: Loaded, images: Sequence[FingerprintImage]) -> np.ndarray:
    """Raw (uncalibrated) logits of a PAD or CNN gender model for several prints."""
    card = loaded.card
    if card.is_texture:
        return _texture_logits(loaded, images)
    if card.input.patches:
        from fpstation.ml.classifiers.patches import fuse_logits

        return np.array([fuse_logits(patch_logits(loaded, im)[0]) for im in images])
    x = np.concatenate([prepare(im, card) for im in images], axis=0)
    return image_logits(loaded, x)


def image_logits(loaded: Loaded, x: np.ndarray) -> np.ndarray:
    """A whole-print CNN's logits of prepared rows ``x`` (N×H×W×1) under its card's view: with
    ``input.mirror``, the mean of each print's logit and its left-right mirror's."""
    if loaded.card.input.mirror:
        return 0.5 * (loaded.logits(x) + loaded.logits(np.ascontiguousarray(x[:, :, ::-1])))
    return loaded.logits(x)
