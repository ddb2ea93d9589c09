"""PAD (presentation attack) and gender classifiers: preprocessing, calibrated inference, heat maps.

The models are small CNNs that output one logit (ml/architectures.py). Their model cards hold

- ``input``: ``{"shape": [H, W, 1], "dpi": <dpi the model expects, or null>}``;
- ``calibration``: ``{"a", "b"}``: calibrated logit = a·logit + b (Platt scaling on validation);
- PAD only: ``threshold`` (operating point on the calibrated attack score), the validation ROC
  (``roc``: threshold / tpr = 1-APCER / fpr = BPCER) so any operator threshold can be shown with
  the APCER/BPCER it gives, and ``attack_types_seen``.

Inference calls a cached ``tf.function`` per model (never ``model.predict`` per image: that costs
~60 ms of overhead). TensorFlow is imported lazily: importing this module is cheap.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from fpstation.core.domain import OUTSIDE, DomainCheck, check_domain
from fpstation.core.errors import ModelError, ModelNotFoundError
from fpstation.core.types import FingerprintImage, GenderResult, ModelRef, PadResult
from fpstation.ml.classifiers.metrics import apply_calibration, combine_logits, sigmoid

DEFAULT_SHAPE = (104, 96)


# ---------------------------------------------------------------------------------- preprocessing
def fit_to_input(pixels: np.ndarray, shape: Sequence[int] = DEFAULT_SHAPE, scale: float | None = None) -> np.ndarray:
    """Bring a whole print to the model's input size, keeping its aspect ratio.

    Parameters
    ----------
    pixels : uint8 H×W print.
    shape : (H, W) of the model input.
    scale : resampling factor applied first (model dpi / image dpi when both are known).

    Returns
    -------
    float32 array (H, W) in [0, 1]: the print, shrunk (area interpolation) only when it does not
    fit, centred, the margin filled by replicating the edge (no artificial frame a model could
    learn from).
    """
    import cv2

    img = np.asarray(pixels)
    if img.ndim == 3:
        img = img[..., 0]
    img = img.astype(np.uint8, copy=False)
    th, tw = int(shape[0]), int(shape[1])
    if scale is not None and abs(scale - 1.0) > 0.02:
        h, w = img.shape
        img = cv2.resize(img, (max(1, round(w * scale)), max(1, round(h * scale))),
                         interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    h, w = img.shape
    if h > th or w > tw:
        f = min(th / h, tw / w)
        img = cv2.resize(img, (max(1, min(tw, round(w * f))), max(1, min(th, round(h * f)))),
                         interpolation=cv2.INTER_AREA)
        h, w = img.shape
    top, left = (th - h) // 2, (tw - w) // 2
    if (h, w) != (th, tw):
        img = cv2.copyMakeBorder(img, top, th - h - top, left, tw - w - left, cv2.BORDER_REPLICATE)
    return img.astype(np.float32) / 255.0


def _card_shape(card_data: dict) -> tuple[int, int]:
    shape = (card_data.get("input") or {}).get("shape") or [*DEFAULT_SHAPE, 1]
    return int(shape[0]), int(shape[1])


def _scale_for(image: FingerprintImage, card_data: dict) -> float | None:
    model_dpi = (card_data.get("input") or {}).get("dpi")
    if model_dpi and image.dpi:
        return float(model_dpi) / float(image.dpi)
    return None  # unknown dpi: the whole print is fitted to the input, as in training


def prepare(image: FingerprintImage, card_data: dict) -> np.ndarray:
    """(1, H, W, 1) float32 input for the model described by ``card_data``."""
    x = fit_to_input(image.pixels, _card_shape(card_data), _scale_for(image, card_data))
    return x[None, :, :, None]


# ---------------------------------------------------------------------------------- models
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


def is_patch_model(card_data: dict) -> bool:
    """True for a texture-patch model (``input.patches``): print logit = mean patch logit."""
    return bool((card_data.get("input") or {}).get("patches"))


def is_texture_model(card_data: dict) -> bool:
    """True for the classical texture model (LBP/LPQ/WLD histograms + a linear model, .npz weights)."""
    return card_data.get("architecture") == "pad_texture_linear"


def _texture_logits(loaded: Any, images: Sequence[FingerprintImage]) -> np.ndarray:
    from fpstation.ml.classifiers.patches import texture_features

    model_dpi = (loaded.card.data.get("input") or {}).get("dpi")
    nominal = ((loaded.card.data.get("domain") or {}).get("dpi") or {}).get("nominal") or model_dpi
    x = np.stack([texture_features(im.pixels, im.dpi or nominal, model_dpi) for im in images])
    return loaded.logits(x)


def print_patches(image: FingerprintImage, card_data: dict) -> Any:
    """The patches a patch model scores for ``image`` (resampled by the image's dpi, file or stated)."""
    from fpstation.ml.classifiers.patches import extract_patches

    inp = card_data.get("input") or {}
    model_dpi = inp.get("dpi")
    # unknown dpi: the card's domain says what to assume (the nominal training dpi)
    dpi = image.dpi or ((card_data.get("domain") or {}).get("dpi") or {}).get("nominal") or model_dpi
    return extract_patches(image.pixels, dpi, model_dpi, _card_shape(card_data)[0])


def _patch_logits(loaded: _Loaded, image: FingerprintImage) -> tuple[np.ndarray, Any]:
    pt = print_patches(image, loaded.card.data)
    x = pt.pixels.astype(np.float32)[..., None] / 255.0
    return loaded.logits(x), pt


def _model_logits(loaded: _Loaded, images: Sequence[FingerprintImage]) -> np.ndarray:
    if is_texture_model(loaded.card.data):
        return _texture_logits(loaded, images)
    if is_patch_model(loaded.card.data):
        from fpstation.ml.classifiers.patches import fuse_logits

        return np.array([fuse_logits(_patch_logits(loaded, im)[0]) for im in images])
    x = np.concatenate([prepare(im, loaded.card.data) for im in images], axis=0)
    return loaded.logits(x)


def domain_check(image: FingerprintImage, card_data: dict) -> Any:
    """:func:`fpstation.core.domain.check_domain` for a classifier card (after its resampling)."""
    return check_domain(card_data.get("domain"), image, model_dpi=(card_data.get("input") or {}).get("dpi"))


# ---------------------------------------------------------------------------------- PAD
def pad_verdict(score: float, threshold: float, uncertain_band: float = 0.1) -> str:
    """"ATTACK" above ``threshold + band/2``, "LIVE" below ``threshold - band/2``, else "UNCERTAIN".

    ``uncertain_band`` is the full width of the band, centred on the threshold.
    """
    half = max(0.0, float(uncertain_band)) / 2
    if score >= threshold + half:
        return "ATTACK"
    if score < threshold - half:
        return "LIVE"
    return "UNCERTAIN"


def pad_scores(images: Sequence[FingerprintImage], model_key: str = "", registry: Any | None = None,
               ) -> tuple[np.ndarray, _Loaded]:
    """Calibrated attack scores in [0, 1] for several prints (one batched call)."""
    loaded = load_classifier("pad", model_key, registry)
    z = apply_calibration(_model_logits(loaded, images), loaded.card.data.get("calibration"))
    return sigmoid(z), loaded


def pad_predict(image: FingerprintImage, model_key: str = "", threshold: float | None = None,
                uncertain_band: float = 0.1, registry: Any | None = None) -> PadResult:
    """Presentation-attack score and verdict for one print.

    Parameters
    ----------
    threshold : operator threshold on the calibrated attack score; ``None`` = the card's
        operating threshold (chosen on validation, see the card's ``threshold`` entry).
    uncertain_band : full width of the UNCERTAIN band around the threshold.
    """
    t0 = time.perf_counter()
    scores, loaded = pad_scores([image], model_key, registry)
    score = float(scores[0])
    thr = float(threshold) if threshold is not None else float(
        (loaded.card.data.get("threshold") or {}).get("value", 0.5))
    dom = domain_check(image, loaded.card.data)
    verdict = pad_verdict(score, thr, uncertain_band) if dom.in_domain else "UNCERTAIN"
    reason = f"outside the sensor/resolution it was validated on: {dom.reason}" if not dom.in_domain else ""
    return PadResult(attack_score=score, threshold=thr, verdict=verdict,
                     model=loaded.ref, seconds=time.perf_counter() - t0,
                     attack_types_seen=tuple(loaded.card.data.get("attack_types_seen", ())),
                     in_domain=dom.in_domain, domain_reason=reason)


def pad_model_keys(registry: Any | None = None) -> list[str]:
    """Registry keys of the shipped PAD models that run side by side (the default first)."""
    reg = _registry(registry)
    cards = [c for c in reg.cards("pad") if c.shipped]
    default = reg.default("pad")
    cards.sort(key=lambda c: (c is not default and c.key != getattr(default, "key", None), c.key))
    return [c.key for c in cards]


def pad_predict_all(image: FingerprintImage, model_keys: Sequence[str] = (), primary: str = "",
                    threshold: float | None = None, uncertain_band: float = 0.1,
                    registry: Any | None = None) -> tuple[PadResult, ...]:
    """Every PAD model's result for one print (``model_keys``; empty = all shipped PAD models).

    ``primary`` (the user's chosen PAD model, "" = the default) replaces the default model in the
    list, and the operator's ``threshold`` applies to it only; the others use their card's
    operating threshold. A model that fails gives no result here (the pipeline reports the error).
    """
    keys = list(model_keys) or pad_model_keys(registry)
    if not keys and not primary:
        raise ModelNotFoundError("No pad model is installed (models/ holds no pad model card).")
    reg = _registry(registry)
    default = reg.default("pad")
    if primary:
        keys = [primary] + [k for k in keys if k != primary and not (default is not None and k == default.key)]
    first = keys[0] if keys else ""
    out = []
    for k in keys:
        out.append(pad_predict(image, k, threshold if k == first else None, uncertain_band, registry))
    return tuple(out)


def pad_rates_at(card_data: dict, threshold: float) -> dict[str, Any] | None:
    """APCER / BPCER on the card's validation set for any threshold (from its stored ROC).

    Returns None when the card has no ROC. Uses the nearest stored ROC point at or above the
    threshold (the ROC is stored densely enough for a slider). ``apcer`` is pooled over attack
    types; ``apcer_by_type`` / ``apcer_max`` are added when the card stores per-type curves.
    """
    roc = card_data.get("roc") or (card_data.get("metrics") or {}).get("roc")
    if not roc or not roc.get("threshold"):
        return None
    thr = np.asarray(roc["threshold"], np.float64)
    # thresholds are descending; choose the smallest stored threshold >= requested one
    idx = np.nonzero(thr >= threshold)[0]
    i = int(idx[-1]) if len(idx) else 0
    out: dict[str, Any] = {"threshold": float(thr[i]), "apcer": 1.0 - float(roc["tpr"][i]),
                           "bpcer": float(roc["fpr"][i])}
    by_type = roc.get("apcer_by_type")
    if by_type:
        out["apcer_by_type"] = {t: float(v[i]) for t, v in by_type.items()}
        out["apcer_max"] = max(out["apcer_by_type"].values())
    return out


def _to_image_space(heat: np.ndarray, image: FingerprintImage, card_data: dict) -> np.ndarray:
    """Map an input-space (H_in×W_in) map back onto the print: undo fit_to_input, normalise to [0, 1]."""
    import cv2

    th, tw = _card_shape(card_data)
    heat = cv2.resize(heat.astype(np.float32), (tw, th), interpolation=cv2.INTER_LINEAR)
    h, w = image.pixels.shape[:2]
    scale = _scale_for(image, card_data) or 1.0
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
    if is_texture_model(loaded.card.data):
        # the classical model applied to each 96 px patch's own texture histograms
        from fpstation.ml.classifiers.patches import (
            PATCH_SIZE,
            extract_patches,
            patch_heatmap,
            texture_features,
        )

        inp = loaded.card.data.get("input") or {}
        dpi = image.dpi or ((loaded.card.data.get("domain") or {}).get("dpi") or {}).get("nominal")
        pt = extract_patches(image.pixels, dpi, inp.get("dpi"), PATCH_SIZE)
        x = np.stack([texture_features(p, None, None) for p in pt.pixels])
        prob = sigmoid(apply_calibration(loaded.logits(x), loaded.card.data.get("calibration")))
        return patch_heatmap(pt, prob)
    if is_patch_model(loaded.card.data):
        # a patch model's own evidence: each patch's calibrated attack probability, painted
        # over the area it covers (0 outside the scored patches)
        from fpstation.ml.classifiers.patches import patch_heatmap

        z, pt = _patch_logits(loaded, image)
        p = sigmoid(apply_calibration(z, loaded.card.data.get("calibration")))
        return patch_heatmap(pt, p)
    x = prepare(image, loaded.card.data)
    if method == "occlusion":
        th, tw = x.shape[1], x.shape[2]
        base = float(loaded.logits(x)[0])
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
        drops = base - np.concatenate([loaded.logits(batch[i:i + 128]) for i in range(0, len(batch), 128)])
        heat = np.zeros((th, tw), np.float64)
        count = np.zeros((th, tw), np.float64)
        for d, (y, x0) in zip(drops, boxes, strict=True):
            heat[y:y + patch, x0:x0 + patch] += max(float(d), 0.0)
            count[y:y + patch, x0:x0 + patch] += 1
        return _to_image_space(heat / np.maximum(count, 1), image, loaded.card.data)
    if method != "gradcam":
        raise ValueError(f"unknown explanation method {method!r}")
    import keras
    import tensorflow as tf

    model = loaded.model
    layer = next((lyr for lyr in model.layers if lyr.name == "last_conv_relu"), None)
    if layer is None:  # a user model from another builder: the last layer with a 4-D output
        for lyr in reversed(model.layers):
            try:
                if len(lyr.output.shape) == 4:
                    layer = lyr
                    break
            except (AttributeError, ValueError):
                continue
    if layer is None:
        raise ModelError(f"Model “{loaded.card.name}” has no convolutional layer for Grad-CAM.")
    if loaded.cam_fn is None:  # built once per model
        sub = keras.Model(model.inputs, [layer.output, model.outputs[0]])

        def _cam(t):
            with tf.GradientTape() as tape:
                feats, logit = sub(t, training=False)
                target = tf.reduce_sum(logit)
            grads = tape.gradient(target, feats)
            weights = tf.reduce_mean(grads, axis=(1, 2), keepdims=True)
            return tf.nn.relu(tf.reduce_sum(weights * feats, axis=-1))

        loaded.cam_fn = _cam
    cam = np.asarray(loaded.cam_fn(tf.constant(x)))[0].astype(np.float32)
    return _to_image_space(cam, image, loaded.card.data)


# ---------------------------------------------------------------------------------- gender
def gender_label(p_female: float, uncertain_band: float = 0.1) -> str:
    """"female" / "male" outside the band ``0.5 ± uncertain_band/2``, else "uncertain"."""
    half = max(0.0, float(uncertain_band)) / 2
    if p_female >= 0.5 + half:
        return "female"
    if p_female <= 0.5 - half:
        return "male"
    return "uncertain"


def _cv_ba(card_data: dict, combined: bool, finger_known: bool = False) -> tuple[float, ...]:
    """(value, ci95 low, ci95 high) of the card's cross-validated balanced accuracy, or ().

    One print whose finger is known (and a card that measured that case) gets that figure."""
    metrics = card_data.get("metrics") or {}
    level = "per_subject" if combined else "per_print"
    if not combined and finger_known and "per_print_finger_known" in metrics:
        level = "per_print_finger_known"
    m = metrics.get(level) or {}
    ba = m.get("balanced_accuracy")
    if isinstance(ba, dict) and ba.get("ci95"):
        return (float(ba["value"]), float(ba["ci95"][0]), float(ba["ci95"][1]))
    return ()


def gender_scores(images: Sequence[FingerprintImage], model_key: str = "", registry: Any | None = None,
                  ) -> tuple[np.ndarray, np.ndarray, list[DomainCheck], Any]:
    """Calibrated logits of "female" for several prints, with the members' logits and domain checks.

    Returns
    -------
    z : (N,) calibrated logits.
    members : (N, M) calibrated logits of the model's members (M = 1 for a single CNN).
    checks : one :class:`DomainCheck` per print against the card's ``domain`` entry (a feature
        model also tests its standardised inputs with the card's Mahalanobis statistic).
    loaded : the loaded model (``.card``, ``.ref``).
    """
    loaded = load_classifier("gender", model_key, registry)
    data = loaded.card.data
    domain = data.get("domain")
    model_dpi = (data.get("input") or {}).get("dpi")
    if isinstance(loaded, _FeatureLoaded):
        from fpstation.ml.classifiers.gender_features import features, finger_code

        # dpi and size first: a print that fails them gets no features (a 1000×1000 print would
        # cost ~50× a SOCOFing one) and a neutral logit that is never reported
        pre = [domain_check(im, data) for im in images]
        members = np.zeros((len(images), loaded.model.coef.shape[0]))
        checks = list(pre)
        todo = [i for i, c in enumerate(pre) if c.in_domain]
        if todo:
            fingers = [finger_code(images[i]) for i in todo]
            f = np.stack([features(images[i].pixels, k) for i, k in zip(todo, fingers, strict=True)])
            members[todo] = loaded.model.member_logits(f)
            for i, x in zip(todo, loaded.model.image_inputs(f), strict=True):
                checks[i] = check_domain(domain, images[i], x, model_dpi=model_dpi)
    else:
        z = apply_calibration(_model_logits(loaded, images), data.get("calibration"))
        members = np.asarray(z, np.float64).reshape(-1, 1)
        checks = [domain_check(im, data) for im in images]
    return members.mean(axis=1), members, checks, loaded


def gender_logits(images: Sequence[FingerprintImage], model_key: str = "", registry: Any | None = None,
                  ) -> tuple[np.ndarray, Any]:
    """Calibrated logits of "female" for several prints (no domain check; see :func:`gender_scores`)."""
    z, _, _, loaded = gender_scores(images, model_key, registry)
    return z, loaded


def _gender_result(z: float, members: np.ndarray, reasons: Sequence[str], loaded: Any, n: int,
                   uncertain_band: float | None, t0: float, finger_known: bool = False,
                   prints: np.ndarray | None = None) -> GenderResult:
    """``prints``: (n, M) calibrated member logits of the prints combined (inside the domain): the
    estimate is then :func:`fpstation.core.gender_person.combine_person`'s."""
    from fpstation.core.gender_person import combine_person

    data = loaded.card.data
    key = "uncertain_band_combined" if n > 1 else "uncertain_band"
    band = float(uncertain_band) if uncertain_band is not None else float(data.get(key, data.get(
        "uncertain_band", 0.1)))
    p = float(sigmoid(z))
    pm = sigmoid(np.asarray(members, np.float64).reshape(-1))
    p_range = (float(np.percentile(pm, 10)), float(np.percentile(pm, 90))) if pm.size > 1 else ()
    common = dict(model=loaded.ref, seconds=time.perf_counter() - t0, p_range=p_range, n_prints=n,
                  cv_balanced_accuracy=_cv_ba(data, n > 1, finger_known))
    if reasons:
        return GenderResult(p_female=p, label="uncertain", in_domain=False,
                            domain_reason=f"{OUTSIDE}: " + "; ".join(reasons), **common)
    person = combine_person(prints if prints is not None else np.atleast_2d(members), data)
    p = person.p_female
    return GenderResult(p_female=p, label=gender_label(p, band), interval=person.interval,
                        evidence=person.evidence, **common)


def gender_predict(image: FingerprintImage, model_key: str = "", uncertain_band: float | None = None,
                   registry: Any | None = None) -> GenderResult:
    """Calibrated P(female) for one print (P(male) = 1 - P(female)); label "uncertain" near 0.5.

    The print is first checked against the model card's domain: outside it, the label is
    "uncertain", ``in_domain`` is False and ``domain_reason`` says why (the probability is then
    not a validated figure and is not to be shown as one). ``uncertain_band`` ``None`` = the band
    the card chose out of fold. The calibration is fitted with class-balanced weights (see the
    card), i.e. the probability for equal priors of women and men; 0.5 is the balanced decision point.
    """
    t0 = time.perf_counter()
    z, members, checks, loaded = gender_scores([image], model_key, registry)
    known = False
    if isinstance(loaded, _FeatureLoaded):
        from fpstation.ml.classifiers.gender_features import finger_code

        known = finger_code(image) > 0
    return _gender_result(float(z[0]), members[0], checks[0].reasons, loaded, 1, uncertain_band, t0, known)


def gender_combined(images: Sequence[FingerprintImage], model_key: str = "", uncertain_band: float | None = None,
                    registry: Any | None = None) -> GenderResult:
    """One estimate from several prints of the same person: mean of their calibrated logits.

    Prints outside the model's domain are left out; when none is left the result is "uncertain"
    and out of domain. The members' spread is combined the same way (mean over prints per member).
    """
    if not images:
        raise ValueError("gender_combined needs at least one print")
    t0 = time.perf_counter()
    _, members, checks, loaded = gender_scores(list(images), model_key, registry)
    ok = np.array([c.in_domain for c in checks])
    if not ok.any():
        reasons = sorted({r for c in checks for r in c.reasons})
        return _gender_result(float(combine_logits(members.mean(axis=1))), members.mean(axis=0), reasons,
                              loaded, len(images), uncertain_band, t0)
    mem = members[ok].mean(axis=0)
    return _gender_result(float(mem.mean()), mem, (), loaded, int(ok.sum()), uncertain_band, t0, prints=members[ok])
