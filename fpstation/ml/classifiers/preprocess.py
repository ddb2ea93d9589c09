"""Classifier inputs: fitting a print to a model's input, its patches, and the card's domain check.

Everything here reads a model card's ``input`` entry (``shape``, ``dpi``, ``patches``), its
``architecture`` and its ``domain`` entry; nothing loads a model.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from fpstation.core.domain import check_domain
from fpstation.core.types import FingerprintImage

DEFAULT_SHAPE = (104, 96)


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


def is_patch_model(card_data: dict) -> bool:
    """True for a texture-patch model (``input.patches``): print logit = mean patch logit."""
    return bool((card_data.get("input") or {}).get("patches"))


def is_texture_model(card_data: dict) -> bool:
    """True for the classical texture model (LBP/LPQ/WLD histograms + a linear model, .npz weights)."""
    return card_data.get("architecture") == "pad_texture_linear"


def print_patches(image: FingerprintImage, card_data: dict) -> Any:
    """The patches a patch model scores for ``image`` (resampled by the image's dpi, file or stated)."""
    from fpstation.ml.classifiers.patches import extract_patches

    inp = card_data.get("input") or {}
    model_dpi = inp.get("dpi")
    # unknown dpi: the card's domain says what to assume (the nominal training dpi)
    dpi = image.dpi or ((card_data.get("domain") or {}).get("dpi") or {}).get("nominal") or model_dpi
    return extract_patches(image.pixels, dpi, model_dpi, _card_shape(card_data)[0])


def domain_check(image: FingerprintImage, card_data: dict) -> Any:
    """:func:`fpstation.core.domain.check_domain` for a classifier card (after its resampling)."""
    return check_domain(card_data.get("domain"), image, model_dpi=(card_data.get("input") or {}).get("dpi"))
