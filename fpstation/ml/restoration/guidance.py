"""Guidance channels: what classical fingerprint analysis knows, as extra restorer inputs (issue #17).

A restorer sees only a few dozen pixels of context; a stamp or a pen stroke spans far more.
pyfing's classical (non-network) estimators look at the whole print and say where the print is
(segmentation), which way the ridges run (orientation) and how far apart they are (ridge period).
Given as extra input channels, the network can learn when to trust them.

Channels, all in [0, 1] so they can be stored as uint8 with the degraded print:

- ``mask``: GMFS segmentation (1 = fingerprint area);
- ``orientation``: two channels, ``(1 + cos 2θ) / 2`` and ``(1 + sin 2θ) / 2`` from GBFOE, weighted by
  the orientation strength and set to 0.5 (no direction) outside the mask — the doubled angle
  makes θ and θ + 180° the same, as ridges are;
- ``frequency``: the XSFFE ridge period in pixels divided by :data:`PERIOD_SCALE` (0 outside the mask).

The fast classical estimators are used, not pyfing's networks (SUFS/SNFOE/SNFFE, several times
slower): the guidance runs on every training print and at every inference
(bench/restoration_guidance_latency.py measures it). Everything is computed at the model's 500 dpi.

Orientation channels are not invariant to the flips and quarter turns used as augmentation:
:func:`augment_guidance_tf` applies the matching change (a quarter turn adds 90° to θ: both
doubled-angle components change sign; a left-right flip maps θ to 180° − θ: sin 2θ changes sign).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

#: guidance names and how many channels each adds
CHANNELS = {"mask": 1, "orientation": 2, "frequency": 1}
#: ridge periods (pixels at 500 dpi) are divided by this; typical periods are 6-14 px
PERIOD_SCALE = 20.0

_algorithms: dict[str, Any] = {}


def check_names(names: Sequence[str]) -> tuple[str, ...]:
    """Validate guidance names; returns them in canonical order."""
    unknown = [n for n in names if n not in CHANNELS]
    if unknown:
        raise ValueError(f"unknown guidance channels {unknown}; choose from {', '.join(CHANNELS)}")
    return tuple(n for n in CHANNELS if n in names)


def n_channels(names: Sequence[str]) -> int:
    """Number of input channels the guidance ``names`` add."""
    return sum(CHANNELS[n] for n in check_names(names))


def _alg(name: str) -> Any:
    if name not in _algorithms:
        import pyfing

        _algorithms[name] = {"GMFS": pyfing.Gmfs, "GBFOE": pyfing.Gbfoe, "XSFFE": pyfing.Xsffe}[name]()
    return _algorithms[name]


def guidance_channels(x: np.ndarray, names: Sequence[str]) -> np.ndarray:
    """The guidance of one print.

    Parameters
    ----------
    x : H×W float print in [0, 1] (0 = ink) at 500 dpi, or uint8.
    names : any of :data:`CHANNELS`.

    Returns
    -------
    H×W×k float32 in [0, 1], k = :func:`n_channels` ``(names)``, channels in :data:`CHANNELS` order.
    """
    names = check_names(names)
    a = np.asarray(x)
    img = a if a.dtype == np.uint8 else np.clip(np.rint(a.astype(np.float32) * 255), 0, 255).astype(np.uint8)
    img = np.ascontiguousarray(img)
    h, w = img.shape
    if min(h, w) < 16:  # too small for any estimate: no guidance (everything "unknown")
        mask = np.ones((h, w), np.float32)
        theta = np.zeros((h, w), np.float32)
        strength = np.zeros((h, w), np.float32)
        period = np.zeros((h, w), np.float32)
    else:
        m = _alg("GMFS").run(img)
        if not np.any(m):  # an empty segmentation would leave the other estimators nothing
            m = np.full_like(m, 255)
        mask = (m > 0).astype(np.float32)
        theta, strength = (np.asarray(v, np.float32) for v in _alg("GBFOE").run(img, m, 500))
        period = np.asarray(_alg("XSFFE").run(img, m, theta, 500), np.float32) if "frequency" in names else None
    out = []
    if "mask" in names:
        out.append(mask)
    if "orientation" in names:
        s = np.clip(strength, 0, 1) * mask
        out += [0.5 + 0.5 * s * np.cos(2 * theta), 0.5 + 0.5 * s * np.sin(2 * theta)]
    if "frequency" in names:
        out.append(np.clip(np.nan_to_num(period) / PERIOD_SCALE, 0, 1) * mask)
    return np.dstack(out).astype(np.float32)


def with_guidance(fn: Callable[[np.ndarray], np.ndarray], names: Sequence[str]
                  ) -> Callable[[np.ndarray], np.ndarray]:
    """Wrap a model taking N×H×W×(1+k) so that it takes N×H×W×1: the guidance is computed here,
    on exactly the (padded) array the model sees, and appended after the print channel."""
    names = check_names(names)

    def run(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, np.float32)
        full = np.stack([np.dstack([x[i, :, :, 0], guidance_channels(x[i, :, :, 0], names)])
                         for i in range(x.shape[0])])
        return fn(full)

    return run


def augment_guidance_tf(x: Any, names: Sequence[str], quarter_turns: Any, flip: Any) -> Any:
    """Fix the orientation channels of a guided input tensor (H×W×C, channel 0 = print) after the
    image was flipped left-right (``flip``, bool tensor) and then turned ``quarter_turns`` times."""
    import tensorflow as tf

    names = check_names(names)
    if "orientation" not in names:
        return x
    c = 1 + (1 if "mask" in names else 0)  # index of the cos channel
    cos2, sin2 = x[..., c] - 0.5, x[..., c + 1] - 0.5
    sin2 = tf.where(flip, -sin2, sin2)
    odd = tf.math.floormod(quarter_turns, 2) == 1
    cos2, sin2 = tf.where(odd, -cos2, cos2), tf.where(odd, -sin2, sin2)
    parts = [x[..., :c], (cos2 + 0.5)[..., None], (sin2 + 0.5)[..., None], x[..., c + 2:]]
    return tf.concat(parts, -1)
