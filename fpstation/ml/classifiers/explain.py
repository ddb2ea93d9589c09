"""Why a PAD model said ATTACK: heat maps (occlusion, Grad-CAM, per-patch probabilities)."""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from fpstation.core.errors import ModelError
from fpstation.core.types import FingerprintImage
from fpstation.ml.cards import ModelCard
from fpstation.ml.classifiers.loading import image_logits, load_classifier, patch_logits
from fpstation.ml.classifiers.metrics import sigmoid
from fpstation.ml.classifiers.preprocess import DEFAULT_SHAPE, prepare


def _to_image_space(heat: np.ndarray, image: FingerprintImage, card: ModelCard) -> np.ndarray:
    """Map an input-space (H_in×W_in) map back onto the print: undo fit_to_input, normalise to [0, 1]."""
    import cv2

    th, tw = card.input.hw(DEFAULT_SHAPE)
    heat = cv2.resize(heat.astype(np.float32), (tw, th), interpolation=cv2.INTER_LINEAR)
    h, w = image.pixels.shape[:2]
    scale = card.scale_for(image) or 1.0
    sh, sw = h * scale, w * scale
    if sh > th or sw > tw:
        f = min(th / sh, tw / sw)
        sh, sw = sh * f, sw * f
    ih, iw = max(1, min(th, round(sh))), max(1, min(tw, round(sw)))
    top, left = (th - ih) // 2, (tw - iw) // 2
    heat = cv2.resize(heat[top:top + ih, left:left + iw], (w, h), interpolation=cv2.INTER_LINEAR)
    heat = np.maximum(heat, 0)
    mx = float(heat.max())
    return (heat / mx if mx > 1e-12 else np.zeros_like(heat)).astype(np.float32)


def pad_explain(image: FingerprintImage, model_key: str = "", registry: Any | None = None,
                method: str = "occlusion", patch: int = 16, stride: int = 8) -> np.ndarray:
    """Heat map of the regions that drove the attack score, in [0, 1], with the image's H×W.

    Parameters
    ----------
    method : "occlusion" (default): each ``patch``×``patch`` window (step ``stride``) is replaced by
        the print's mean grey and the drop of the attack logit is credited to its pixels; all
        occluded copies go through the model's compiled forward function in one batch. "gradcam":
        gradients of the attack logit weight the last conv block's channels (Grad-CAM).

    Notes
    -----
    The GUI uses occlusion: in the GUI process, running the Grad-CAM gradient tape on a Qt pool
    thread segfaulted inside TensorFlow 2.21 (not reproducible in a plain thread); occlusion needs
    only the forward function that inference already uses there. Both maps are ReLU-ed: a bona fide
    print typically gives an empty map (nothing pushed the score towards ATTACK).
    """
    loaded = load_classifier("pad", model_key, registry)
    card = loaded.card
    if card.architecture == "pad_local_texture":
        from fpstation.ml.classifiers.pad_local import local_heatmap

        return local_heatmap(loaded.model, card.data, image.pixels, card.input_dpi_for(image))
    if card.is_texture:
        # the classical model applied to each 96 px patch's own texture histograms
        from fpstation.ml.classifiers.patches import PATCH_SIZE, patch_heatmap, texture_features
        from fpstation.ml.classifiers.preprocess import print_patches

        # the same dpi as the score: the print's, else the card's nominal, else the model's dpi
        pt = print_patches(image, card, PATCH_SIZE)
        x = np.stack([texture_features(p, None, None) for p in pt.pixels])
        prob = sigmoid(card.calibrate(loaded.logits(x)))
        return patch_heatmap(pt, prob)
    if card.input.patches:
        # a patch model's own evidence: each patch's calibrated attack probability, painted
        # over the area it covers (0 outside the scored patches)
        from fpstation.ml.classifiers.patches import patch_heatmap

        z, pt = patch_logits(loaded, image)
        p = sigmoid(card.calibrate(z))
        return patch_heatmap(pt, p)
    x = prepare(image, card)
    if method == "occlusion":
        th, tw = x.shape[1], x.shape[2]
        base = float(image_logits(loaded, x)[0])  # the card's view (print, or print + mirror), as scored
        fill = float(x.mean())
        ys = list(range(0, max(th - patch, 0) + 1, stride))
        xs = list(range(0, max(tw - patch, 0) + 1, stride))
        if ys[-1] + patch < th:
            ys.append(th - patch)
        if xs[-1] + patch < tw:
            xs.append(tw - patch)
        boxes = [(y, x0) for y in ys for x0 in xs]
        batch = np.repeat(x, len(boxes), axis=0)
        for i, (y, x0) in enumerate(boxes):
            batch[i, y:y + patch, x0:x0 + patch, 0] = fill
        drops = base - np.concatenate([image_logits(loaded, batch[i:i + 128]) for i in range(0, len(batch), 128)])
        heat = np.zeros((th, tw), np.float64)
        count = np.zeros((th, tw), np.float64)
        for d, (y, x0) in zip(drops, boxes, strict=True):
            heat[y:y + patch, x0:x0 + patch] += max(float(d), 0.0)
            count[y:y + patch, x0:x0 + patch] += 1
        return _to_image_space(heat / np.maximum(count, 1), image, card)
    if method != "gradcam":
        raise ValueError(f"unknown explanation method {method!r}")
    model = loaded.keras_model()  # Grad-CAM needs the Keras graph (and TensorFlow: the train extra)
    if loaded.cam_fn is None:  # built once per model
        loaded.cam_fn = gradcam_fn(model, card.name)
    import tensorflow as tf

    cam = np.asarray(loaded.cam_fn(tf.constant(x)))[0].astype(np.float32)
    if card.input.mirror:  # the card scores the mean with the mirror: its map, mirrored back, counts half
        flipped = np.asarray(loaded.cam_fn(tf.constant(np.ascontiguousarray(x[:, :, ::-1]))))[0]
        cam = 0.5 * (cam + flipped[:, ::-1].astype(np.float32))
    return _to_image_space(cam, image, card)


def gradcam_fn(model: Any, name: str = "") -> Any:
    """Grad-CAM of a one-logit Keras model: ``f(batch) -> (N, h, w)`` ReLU-ed class-activation maps.

    The conv block is ``last_conv_relu`` (the print CNNs); an ensemble
    (:func:`fpstation.ml.architectures.mean_logit_ensemble`) has one per member (``last_conv_relu``,
    ``m1_last_conv_relu``, ...) and its map is the sum of the members' maps, each weighted by the
    gradient of the ensemble logit, so a member counts as much as it moves the score. A model from
    another builder: its last layer with a 4-D output."""
    import keras
    import tensorflow as tf

    convs = [lyr for lyr in model.layers if re.fullmatch(r"(m\d+_)?last_conv_relu", lyr.name)]
    if not convs:
        for lyr in reversed(model.layers):
            try:
                if len(lyr.output.shape) == 4:
                    convs = [lyr]
                    break
            except (AttributeError, ValueError):
                continue
    if not convs:
        raise ModelError(f"Model “{name or model.name}” has no convolutional layer for Grad-CAM.")
    sub = keras.Model(model.inputs, [[c.output for c in convs], model.outputs[0]])

    def _cam(t):
        with tf.GradientTape() as tape:
            feats, logit = sub(t, training=False)
            target = tf.reduce_sum(logit)
        grads = tape.gradient(target, feats)
        total = 0.0
        for f, g in zip(feats, grads, strict=True):
            total += tf.reduce_sum(tf.reduce_mean(g, axis=(1, 2), keepdims=True) * f, axis=-1)
        return tf.nn.relu(total)

    return _cam
