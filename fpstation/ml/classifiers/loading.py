"""Loading a PAD or gender model once (cached per registry and sha256) and computing its raw logits.

CNNs run through a cached ``tf.function`` per model (never ``model.predict`` per image: that costs
~60 ms of overhead). TensorFlow is imported lazily: importing this module is cheap.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from fpstation.core.errors import ModelError, ModelNotFoundError
from fpstation.core.types import FingerprintImage, ModelRef
from fpstation.ml.classifiers.preprocess import (
    _card_shape,
    is_patch_model,
    is_texture_model,
    prepare,
    print_patches,
)


class _Loaded:
    """A loaded model with its card and a compiled forward function."""

    def __init__(self, card: Any, model: Any) -> None:
        self.card = card
        self.model = model
        self.ref = ModelRef(card.name, card.version, card.sha256)
        self.cam_fn: Any = None  # Grad-CAM function, built on first use (pad_explain)
        if is_texture_model(card.data):  # classical texture features + linear model: no TensorFlow graph
            self.forward = None
            return
        import tensorflow as tf

        shape = _card_shape(card.data)
        # Fixed signature: one trace, then ~1 ms per call on a small CNN.
        self.forward = tf.function(lambda x: model(x, training=False), reduce_retracing=True,
                                   input_signature=[tf.TensorSpec([None, shape[0], shape[1], 1], tf.float32)])

    def logits(self, x: np.ndarray) -> np.ndarray:
        if self.forward is None:  # texture model: x = feature rows
            return np.asarray(self.model.decision(x), np.float64).reshape(-1)
        return np.asarray(self.forward(x.astype(np.float32))).reshape(-1)


class _FeatureLoaded:
    """A numpy feature model (gender_features.FeatureModel) with its card; no TensorFlow."""

    def __init__(self, card: Any, model: Any) -> None:
        self.card = card
        self.model = model
        self.ref = ModelRef(card.name, card.version, card.sha256)


_loaded: dict[tuple[int, str], Any] = {}
_lock = threading.RLock()


def _registry(registry: Any | None = None) -> Any:
    if registry is not None:
        return registry
    from fpstation.ml.registry import get_registry

    return get_registry()


def load_classifier(task: str, model_key: str = "", registry: Any | None = None) -> Any:
    """The model for ``task`` ("pad"/"gender"): ``model_key`` or the task's shipped default."""
    reg = _registry(registry)
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
            # .npz: gender's feature model, or the texture PAD model (_Loaded handles it without TensorFlow)
            cls = _FeatureLoaded if card.file.suffix == ".npz" and not is_texture_model(card.data) else _Loaded
            _loaded[cache_key] = cls(card, reg.load(card.key))
        return _loaded[cache_key]


def _texture_logits(loaded: Any, images: Sequence[FingerprintImage]) -> np.ndarray:
    from fpstation.ml.classifiers.patches import texture_features

    model_dpi = (loaded.card.data.get("input") or {}).get("dpi")
    nominal = ((loaded.card.data.get("domain") or {}).get("dpi") or {}).get("nominal") or model_dpi
    x = np.stack([texture_features(im.pixels, im.dpi or nominal, model_dpi) for im in images])
    return loaded.logits(x)


def _patch_logits(loaded: _Loaded, image: FingerprintImage) -> tuple[np.ndarray, Any]:
    pt = print_patches(image, loaded.card.data)
    x = pt.pixels.astype(np.float32)[..., None] / 255.0
    return loaded.logits(x), pt


def model_logits(loaded: _Loaded, images: Sequence[FingerprintImage]) -> np.ndarray:
    if is_texture_model(loaded.card.data):
        return _texture_logits(loaded, images)
    if is_patch_model(loaded.card.data):
        from fpstation.ml.classifiers.patches import fuse_logits

        return np.array([fuse_logits(_patch_logits(loaded, im)[0]) for im in images])
    x = np.concatenate([prepare(im, loaded.card.data) for im in images], axis=0)
    return loaded.logits(x)
