"""Trained restorers (U-Net, reference encoder-decoder): any image size, same size and alignment out.

``restore_with_model(image, "unet")`` picks the shipped default card of that architecture;
any other key is a registry key (``restore-unet@v3`` for a user-trained version).

Inference is fully convolutional: the print is reflect-padded (a small context margin plus a
round-up to a multiple of ``2**levels``), run through onnxruntime when the model card lists an ONNX
export of the weights (ml/restoration/onnx_export.py; the shipped U-Net has one), else through a
``tf.function`` traced once for any size (never ``model.predict``: ~60 ms overhead per call), and
cropped back. Large prints (longest side > :data:`TILE_ABOVE`) are cut into overlapping tiles
whose centres are stitched, so memory stays bounded. Prints with a known dpi other than the model's are resampled to it and back.
TensorFlow/Keras are imported lazily (this module is imported from ml/inference.py).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from fpstation.core.errors import ModelNotFoundError
from fpstation.core.types import FingerprintImage, ModelRef, RestorationResult
from fpstation.ml.restoration.guidance import n_channels

#: prints whose longest side exceeds this are processed in tiles
TILE_ABOVE = 1024
#: tile side (output pixels kept per tile = TILE - 2 * TILE_MARGIN)
TILE = 512
#: context kept around each tile and discarded after inference (≥ the U-Net's useful receptive field)
TILE_MARGIN = 48
#: reflect padding added on every side before inference (avoids border artefacts)
CONTEXT = 8
#: display names used in messages
_ARCH_NAMES = {"unet": "U-Net", "autoencoder": "encoder-decoder"}

_lock = threading.RLock()
_fns: dict[str, tuple[Callable[[np.ndarray], np.ndarray], int, str]] = {}


def find_card(method_or_key: str, registry: Any = None) -> Any:
    """The model card for ``"unet"``/``"autoencoder"`` (shipped default of that architecture) or a key.

    Raises
    ------
    ModelNotFoundError
        No matching restorer is installed.
    """
    from fpstation.ml.registry import get_registry

    reg = registry or get_registry()
    if method_or_key in _ARCH_NAMES:
        cards = [c for c in reg.cards("restoration") if c.architecture == method_or_key]
        shipped = [c for c in cards if c.shipped]
        pick = next((c for c in shipped if c.default), shipped[0] if shipped else None)
        if pick is None:
            raise ModelNotFoundError(
                f"No trained {_ARCH_NAMES[method_or_key]} restorer is installed (no model card with task "
                f"“restoration” and architecture “{method_or_key}” in {reg.shipped_dir}). Reinstall the "
                "application, train one (Tools → Train model…), or choose the classical restorer.")
        return pick
    card = reg.card(method_or_key)
    if card.task != "restoration":
        raise ModelNotFoundError(f"The model “{method_or_key}” is not a restoration model (task “{card.task}”).")
    return card


def card_levels(card: Any) -> int:
    """Downsamplings of a restorer (input sizes must be multiples of ``2**levels``)."""
    d = card.data
    if "levels" in d:
        return int(d["levels"])
    return 2 if card.architecture == "autoencoder" else int((d.get("hyper") or {}).get("levels", 3))


def card_guidance(card: Any) -> tuple[str, ...]:
    """Guidance channels a restorer takes after the print (``input.guidance`` in its card; none for
    v1/v2). See :mod:`fpstation.ml.restoration.guidance`."""
    return card.input.guidance


def card_min_size(card: Any) -> int:
    """Smallest side a restorer was trained on: the fixed input side of a model with a fixed input
    shape in its card (the reference encoder-decoder: 224, trained on white-padded 224 px patches),
    else 0. Smaller prints are padded with white to it at inference, as in training."""
    sides = [int(v) for v in (card.input.shape or ())[:2] if v]
    return min(sides) if len(sides) == 2 else 0


def _size_agnostic(model: Any, card: Any) -> Any:
    """A model that accepts any H×W: the reference encoder-decoder is trained at 224×224, so its
    weights are copied into the same architecture built with ``(None, None, 1)`` input."""
    shape = tuple(model.input_shape)
    if shape[1] is None and shape[2] is None:
        return model
    if card.architecture == "autoencoder":
        from fpstation.ml.architectures import build_autoencoder

        flex = build_autoencoder((None, None, 1), compile=False)
    else:
        from fpstation.ml.architectures import build_unet

        hyper = card.data.get("hyper") or {}
        # cards written before v2 have no "residual"/"upsampling": those models were sigmoid + bilinear
        flex = build_unet((None, None, 1 + n_channels(card_guidance(card))), base=int(hyper.get("base", 16)),
                          levels=card_levels(card), residual=bool(hyper.get("residual", False)),
                          upsampling=str(hyper.get("upsampling", "bilinear")),
                          dilations=tuple(hyper.get("dilations") or ()), compile=False)
    flex.set_weights(model.get_weights())
    return flex


def model_fn(model: Any) -> Callable[[np.ndarray], np.ndarray]:
    """Wrap a Keras model as ``f(float32 array N×H×W×1) -> array``.

    Never ``model.predict`` (~60 ms overhead per call). The model runs as one ``tf.function``
    traced once for unknown N, H and W, so every print size reuses the same graph. A model that
    cannot be traced that way (restore-unet v1: Keras' bilinear ``UpSampling2D`` needs a known size)
    is called eagerly instead, which costs a few ms more per call.
    """
    import tensorflow as tf

    def eager(x: np.ndarray) -> np.ndarray:
        return model(tf.convert_to_tensor(x, tf.float32), training=False).numpy()

    channels = int(model.inputs[0].shape[-1] or 1)
    graph = tf.function(lambda t: model(t, training=False), reduce_retracing=True,
                        input_signature=[tf.TensorSpec([None, None, None, channels], tf.float32)])
    try:
        graph.get_concrete_function()
    except Exception:  # noqa: BLE001 — any tracing failure means: run eagerly
        return eager
    return lambda x: graph(tf.convert_to_tensor(x, tf.float32)).numpy()


#: inference back-ends, in the order "auto" tries them
RUNTIMES = ("onnx", "tf")


def _get_fn(card: Any, registry: Any = None, runtime: str = "auto"
            ) -> tuple[Callable[[np.ndarray], np.ndarray], int, str]:
    """The wrapped model of ``card``, its levels, and the runtime that runs it.

    ``runtime``: "onnx" (onnxruntime on the card's verified ONNX export), "tf" (the Keras weights as
    a ``tf.function``) or "auto": onnx when the card lists an export and onnxruntime imports, else tf.
    Both compute the same function (tests/ml/test_onnx_export.py compares them); onnx is faster.
    """
    from fpstation.ml.registry import get_registry

    if runtime not in ("auto", *RUNTIMES):
        raise ValueError(f"unknown runtime {runtime!r}; choose auto, onnx or tf")
    reg = registry or get_registry()
    cache_key = f"{id(reg)}:{card.key}:{card.sha256}:{runtime}"
    with _lock:
        if cache_key not in _fns:
            _fns[cache_key] = _build_fn(card, reg, runtime)
        return _fns[cache_key]


def _build_fn(card: Any, reg: Any, runtime: str) -> tuple[Callable[[np.ndarray], np.ndarray], int, str]:
    fn, levels, used = _build_model_fn(card, reg, runtime)
    names = card_guidance(card)
    if names:  # the model takes print + guidance: compute the guidance on what it is given
        from fpstation.ml.restoration.guidance import with_guidance

        fn = with_guidance(fn, names)
    return fn, levels, used


def _build_model_fn(card: Any, reg: Any, runtime: str) -> tuple[Callable[[np.ndarray], np.ndarray], int, str]:
    if runtime in ("auto", "onnx"):
        onnx_path = reg.onnx_file(card)  # verifies its sha256; None when the card lists no export
        if onnx_path is None and runtime == "onnx":
            raise ModelNotFoundError(f"Model “{card.name}” has no ONNX export; use the TensorFlow runtime.")
        if onnx_path is not None:
            try:
                from fpstation.ml.restoration import onnx_export

                sess = onnx_export.session(str(onnx_path))
            except ImportError:
                if runtime == "onnx":
                    raise
            else:
                return onnx_export.session_fn(sess), card_levels(card), "onnx"
    model = _size_agnostic(reg.load(card.key), card)  # load() verifies the sha256
    return model_fn(model), card_levels(card), "tf"


def clear_cache() -> None:
    """Forget the wrapped models (tests; after models are replaced)."""
    with _lock:
        _fns.clear()


def _run_padded(fn: Callable[[np.ndarray], np.ndarray], x: np.ndarray, multiple: int) -> np.ndarray:
    """Reflect-pad ``x`` (H×W float) by CONTEXT and up to ``multiple``, run ``fn``, crop back."""
    h, w = x.shape
    ph = (-(h + 2 * CONTEXT)) % multiple
    pw = (-(w + 2 * CONTEXT)) % multiple
    top, left = CONTEXT + ph // 2, CONTEXT + pw // 2
    bottom, right = CONTEXT + ph - ph // 2, CONTEXT + pw - pw // 2
    # "symmetric" copes with pads larger than the image (tiny inputs), unlike "reflect"
    xp = np.pad(x, ((top, bottom), (left, right)), mode="symmetric")
    y = fn(xp[None, :, :, None])[0, :, :, 0]
    return y[top:top + h, left:left + w]


def restore_array(fn: Callable[[np.ndarray], np.ndarray], x: np.ndarray, levels: int, *,
                  tile_above: int = TILE_ABOVE, tile: int = TILE, margin: int = TILE_MARGIN,
                  min_size: int = 0) -> np.ndarray:
    """Restore an H×W float image in [0, 1] at the model's resolution; same shape out.

    Parameters
    ----------
    fn : wrapped model (see :func:`model_fn`).
    x : H×W float32 in [0, 1].
    levels : the model's downsamplings (sizes are padded to multiples of ``2**levels``).
    tile_above, tile, margin : tiling when ``max(H, W) > tile_above``: tiles of ``tile`` pixels whose
        outer ``margin`` is discarded (it only gives context), so the stitched result has no seams
        beyond floating-point noise.
    min_size : a print smaller than this on either side is first padded with white background
        (bottom and right) to that size, as the model's training patches were (the reference
        encoder-decoder: 224), and the result cropped back.
    """
    x = np.asarray(x, np.float32)
    multiple = 2 ** levels
    h, w = x.shape
    if min_size and (h < min_size or w < min_size):
        xp = np.pad(x, ((0, max(0, min_size - h)), (0, max(0, min_size - w))), constant_values=1.0)
        return restore_array(fn, xp, levels, tile_above=tile_above, tile=tile, margin=margin)[:h, :w]
    if max(h, w) <= tile_above:
        return _run_padded(fn, x, multiple)
    step = tile - 2 * margin
    out = np.empty_like(x)
    for ty in range(0, h, step):
        for tx in range(0, w, step):
            ey, ex = min(ty + step, h), min(tx + step, w)
            y0, x0 = max(0, ty - margin), max(0, tx - margin)
            y1, x1 = min(h, ey + margin), min(w, ex + margin)
            res = _run_padded(fn, x[y0:y1, x0:x1], multiple)
            out[ty:ey, tx:ex] = res[ty - y0:ey - y0, tx - x0:ex - x0]
    return out


def restore_pixels(fn: Callable[[np.ndarray], np.ndarray], pixels: np.ndarray, levels: int,
                   dpi: float | None, model_dpi: float | None = 500.0, **tiling: int) -> np.ndarray:
    """uint8 H×W print -> uint8 restored print of the same size; resamples to ``model_dpi`` and
    back when ``dpi`` is known and differs by more than 2 %."""
    import cv2

    from fpstation.ml.restoration.degrade import to_float, to_uint8

    x = to_float(pixels)
    h, w = x.shape
    factor = 1.0
    if dpi and model_dpi and abs(dpi / model_dpi - 1.0) > 0.02:
        factor = model_dpi / dpi
    if factor != 1.0:
        size = (max(8, round(w * factor)), max(8, round(h * factor)))
        x = cv2.resize(x, size, interpolation=cv2.INTER_AREA if factor < 1 else cv2.INTER_CUBIC)
    y = restore_array(fn, x, levels, **tiling)
    if factor != 1.0:
        y = cv2.resize(y, (w, h), interpolation=cv2.INTER_CUBIC if factor < 1 else cv2.INTER_AREA)
    return to_uint8(y)


def restore_with_model(image: FingerprintImage, method_or_key: str, *, registry: Any = None,
                       runtime: str = "auto") -> RestorationResult:
    """Restore one print with a trained restorer.

    Parameters
    ----------
    image : the print (uint8 H×W).
    method_or_key : "unet" or "autoencoder" (the shipped default of that architecture) or a registry
        key of a user-trained restoration model.
    registry : a :class:`~fpstation.ml.registry.Registry` (default: the application's).
    runtime : "auto" (onnxruntime when the card has an ONNX export, else TensorFlow), "onnx" or "tf".

    Returns
    -------
    RestorationResult
        uint8 pixels of the input's size; ``extras`` holds the dpi used, the runtime (with the ONNX
        file's sha256 when it ran on onnxruntime) and, when the print's dpi is unknown, a ``note``
        saying 500 dpi was assumed.

    Raises
    ------
    ModelNotFoundError
        The restorer is not installed.
    ModelIntegrityError
        The weights file does not match its card's sha256.
    """
    card = find_card(method_or_key, registry)
    fn, levels, used = _get_fn(card, registry, runtime)
    model_dpi = float(card.input.dpi or 500)
    extras: dict[str, Any] = {"model_dpi": model_dpi, "runtime": used}
    if used == "onnx":  # the file that computed the result (the ModelRef names the Keras weights)
        extras["onnx_sha256"] = card.onnx.sha256
    if image.dpi is None:
        extras["note"] = (f"The print's resolution is unknown; {model_dpi:g} dpi (the restorer's training "
                          "resolution) was assumed.")
    t0 = time.perf_counter()
    out = restore_pixels(fn, image.pixels, levels, image.dpi, model_dpi, min_size=card_min_size(card))
    extras["resampled"] = bool(image.dpi and abs(image.dpi / model_dpi - 1.0) > 0.02)
    method = method_or_key if method_or_key in _ARCH_NAMES else (card.architecture or method_or_key)
    return RestorationResult(pixels=out, method=method, model=ModelRef(card.name, card.version, card.sha256),
                             seconds=time.perf_counter() - t0, extras=extras)


def image_metrics(pred: np.ndarray, clean: np.ndarray) -> dict[str, float]:
    """SSIM (7×7 window, data range 1), PSNR (dB) and MAE of one image pair, both scaled to [0, 1].

    The same function scores cards, ``fpstation evaluate restoration`` and the benchmarks.
    """
    from skimage.metrics import structural_similarity

    from fpstation.ml.restoration.degrade import to_float

    a, b = to_float(pred).astype(np.float64), to_float(clean).astype(np.float64)
    mse = float(np.mean((a - b) ** 2))
    return {"ssim": float(structural_similarity(a, b, data_range=1.0, win_size=7)),
            "psnr": float(10 * np.log10(1.0 / max(mse, 1e-10))), "mae": float(np.mean(np.abs(a - b)))}
