"""Is a print inside the domain a model was validated on? (sensor, resolution, size, statistics)

A model card may hold a ``domain`` entry::

    "domain": {
      "sensors": ["SOCOFing (Hamster Plus)"],           # words for the analyst
      "dpi": {"nominal": 500, "min": 450, "max": 550,    # after any resampling the model does
              "unknown": "assume"},                      # "assume" nominal | "outside"
      "size_px": {"height": [90, 110], "width": [85, 105]},  # at the model's dpi (after resampling)
      "stats": {"name": "...", "mean": [...], "inv_cov": [[...]], "max_distance": d}
                                                         # Mahalanobis OOD test on features of the
                                                         # input (e.g. an embedding), max_distance =
                                                         # a high quantile on training prints
    }

:func:`check_domain` answers with a :class:`DomainCheck`. A result outside the domain carries
``in_domain=False`` and the reason; the verdict must then be "UNCERTAIN"/"uncertain" and no
percentage is shown in large type. No Qt, no TensorFlow.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from fpstation.core.types import FingerprintImage


@dataclass(frozen=True)
class DomainCheck:
    in_domain: bool
    reasons: tuple[str, ...] = ()

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons)

    def to_dict(self) -> dict[str, Any]:
        return {"in_domain": self.in_domain, "domain_reason": self.reason}


OUTSIDE = "outside what this model was validated on"


def check_domain(domain: dict | None, image: FingerprintImage, features: np.ndarray | None = None,
                 model_dpi: float | None = None) -> DomainCheck:
    """Check ``image`` (and optional feature vector) against a card's ``domain`` entry.

    Parameters
    ----------
    domain : the card's ``domain`` dict; ``None`` or empty = no stated domain (in domain).
    image : the print, with its dpi (from the file or stated by the user).
    features : the model's input statistic for this print (e.g. an embedding) for the
        Mahalanobis test in ``domain["stats"]``; skipped when either is missing.
    model_dpi : the dpi the model resamples prints to before it sees them; the size range is
        checked after that resampling. ``None`` = no resampling.
    """
    if not domain:
        return DomainCheck(True)
    reasons: list[str] = []
    dpi_rule = domain.get("dpi") or {}
    dpi = image.dpi
    nominal = dpi_rule.get("nominal")
    if dpi is None:
        if dpi_rule.get("unknown") == "outside":
            reasons.append("the print's resolution is unknown (the scanner's dpi was not stated)")
        dpi_eff = nominal
    else:
        dpi_eff = float(dpi)
        lo, hi = dpi_rule.get("min"), dpi_rule.get("max")
        if (lo is not None and dpi_eff < lo) or (hi is not None and dpi_eff > hi):
            src = "stated" if image.dpi_source == "stated" else "from the file"
            reasons.append(f"{dpi_eff:g} dpi ({src}) is outside the {lo:g}–{hi:g} dpi it was validated on")
    size = domain.get("size_px") or {}
    if size:
        scale = 1.0
        if model_dpi and dpi_eff:
            scale = float(model_dpi) / float(dpi_eff)
        h, w = image.height * scale, image.width * scale
        for name, val in (("height", h), ("width", w)):
            rng = size.get(name)
            if rng and not (rng[0] <= val <= rng[1]):
                reasons.append(f"{name} {val:.0f} px (at the model's resolution) is outside the "
                               f"{rng[0]:g}–{rng[1]:g} px of its training prints")
    stats = domain.get("stats")
    if stats and features is not None:
        d = mahalanobis(np.asarray(features, np.float64).reshape(-1), stats)
        if d > float(stats["max_distance"]):
            reasons.append(f"its {stats.get('name', 'input statistics')} are unlike the training prints "
                           f"(distance {d:.1f} > {float(stats['max_distance']):.1f})")
    return DomainCheck(not reasons, tuple(reasons))


def mahalanobis(x: np.ndarray, stats: dict) -> float:
    """Mahalanobis distance of ``x`` from ``stats["mean"]`` under ``stats["inv_cov"]``."""
    mu = np.asarray(stats["mean"], np.float64)
    inv = np.asarray(stats["inv_cov"], np.float64)
    d = x - mu
    return float(np.sqrt(max(0.0, float(d @ inv @ d))))


def fit_stats(features: np.ndarray, name: str, quantile: float = 0.995, shrink: float = 0.1) -> dict:
    """A ``domain["stats"]`` entry from training features (N×D): mean, shrunk inverse covariance,
    and ``max_distance`` = the ``quantile`` of the training prints' own distances."""
    f = np.asarray(features, np.float64)
    mu = f.mean(axis=0)
    cov = np.cov(f, rowvar=False).reshape(f.shape[1], f.shape[1])
    cov = (1 - shrink) * cov + shrink * np.eye(len(mu)) * np.trace(cov) / len(mu)
    inv = np.linalg.pinv(cov)
    stats = {"name": name, "mean": mu.tolist(), "inv_cov": inv.tolist()}
    dists = np.array([mahalanobis(row, stats) for row in f])
    stats["max_distance"] = float(np.quantile(dists, quantile))
    return stats
