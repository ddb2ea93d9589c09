"""Damage mask: where a restorer changed the print most (issue #17).

A restored print mixes what was captured with what the network reconstructed. For forensic use
the analyst must see which is which. The damage map is the absolute grey-level change
``|restored − original|``, averaged over about one ridge period (a Gaussian of
:data:`SIGMA` pixels) so that single-pixel cleaning does not light up, on a FIXED scale so the
colours mean the same on every print:

- below :data:`SHOWN_FROM` (mean change of 12 grey levels) nothing is drawn: the print is shown as
  restored, essentially unchanged there;
- the colour runs from :data:`SHOWN_FROM` to :data:`FULL_AT` (96 grey levels, more than a third of
  the range: ridges invented, removed or moved) and saturates above.

No Qt here: the GUI draws :attr:`DamageMap.heat` with its colour map and legend.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Gaussian smoothing in pixels (about one ridge period at 500 dpi is 9 px: sigma ≈ period / 2)
SIGMA = 4.0
#: mean absolute change (grey levels) below which nothing is drawn
SHOWN_FROM = 12.0
#: mean absolute change (grey levels) at which the colour saturates
FULL_AT = 96.0


@dataclass(frozen=True)
class DamageMap:
    """``heat``: H×W float32 in [0, 1] (NaN = below :data:`SHOWN_FROM`, not drawn); ``changed_fraction``:
    share of the print drawn; ``strong_fraction``: share at or above :data:`FULL_AT`; ``max_change``:
    the largest smoothed change in grey levels."""

    heat: np.ndarray
    changed_fraction: float
    strong_fraction: float
    max_change: float


def damage_map(original: np.ndarray, restored: np.ndarray, sigma: float = SIGMA) -> DamageMap:
    """The damage map of one restoration (both uint8 H×W, same shape).

    Raises
    ------
    ValueError
        The two images differ in shape or are not single-channel.
    """
    import cv2

    o = np.asarray(original)
    r = np.asarray(restored)
    if o.ndim != 2 or o.shape != r.shape:
        raise ValueError(f"damage map needs two grey images of the same size, got {o.shape} and {r.shape}")
    diff = np.abs(o.astype(np.float32) - r.astype(np.float32))
    smooth = cv2.GaussianBlur(diff, (0, 0), sigma, borderType=cv2.BORDER_REFLECT) if sigma > 0 else diff
    heat = np.clip((smooth - SHOWN_FROM) / (FULL_AT - SHOWN_FROM), 0.0, 1.0).astype(np.float32)
    shown = smooth >= SHOWN_FROM
    heat[~shown] = np.nan
    n = max(1, smooth.size)
    return DamageMap(heat=heat, changed_fraction=float(np.count_nonzero(shown)) / n,
                     strong_fraction=float(np.count_nonzero(smooth >= FULL_AT)) / n,
                     max_change=float(smooth.max()) if smooth.size else 0.0)
