"""Classifier inputs: fitting a print to a model's input, its patches, and the card's domain check.

Everything here reads a model card's ``input`` entry (``shape``, ``dpi``, ``patches``), its
``architecture`` and its ``domain`` entry; nothing loads a model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from fpstation.core.domain import DomainCheck, check_domain
from fpstation.core.types import FingerprintImage
from fpstation.ml.cards import ModelCard, card_of

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


CardLike = ModelCard | Mapping[str, Any]  # a parsed card, or its JSON (parsed on the fly)


def card_shape(card: CardLike) -> tuple[int, int]:
    """(H, W) of the model's input (:data:`DEFAULT_SHAPE` when the card states none)."""
    return card_of(card).input.hw(DEFAULT_SHAPE)


def prepare(image: FingerprintImage, card: CardLike) -> np.ndarray:
    """(1, H, W, 1) float32 input for the model described by ``card``."""
    c = card_of(card)
    x = fit_to_input(image.pixels, c.input.hw(DEFAULT_SHAPE), c.scale_for(image))
    return x[None, :, :, None]


def is_patch_model(card: CardLike) -> bool:
    """True for a texture-patch model (``input.patches``): print logit = mean patch logit."""
    return card_of(card).input.patches


def is_texture_model(card: CardLike) -> bool:
    """True for the classical texture model (LBP/LPQ/WLD histograms + a linear model, .npz weights)."""
    return card_of(card).is_texture


def print_patches(image: FingerprintImage, card: CardLike, size: int | None = None) -> Any:
    """The patches a patch model scores for ``image`` (resampled by the image's dpi, file or stated;
    unknown: the card's nominal dpi, see :meth:`ModelCard.input_dpi_for`). ``size`` = patch side
    (default: the model's input height)."""
    from fpstation.ml.classifiers.patches import extract_patches

    c = card_of(card)
    return extract_patches(image.pixels, c.input_dpi_for(image), c.input.dpi,
                           size or c.input.hw(DEFAULT_SHAPE)[0])


def domain_check(image: FingerprintImage, card: CardLike) -> DomainCheck:
    """:func:`fpstation.core.domain.check_domain` for a classifier card (after its resampling)."""
    c = card_of(card)
    return check_domain(c.domain, image, model_dpi=c.input.dpi)
