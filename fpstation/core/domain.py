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
      "resolution": {"ridge_period_mm": [0.27, 0.56],     # does the print have the dpi it is said to
                     "detail_min": 0.0001}                # have? (fpstation.core.resolution)
    }

:func:`check_domain` answers with a :class:`DomainCheck`. A result outside the domain carries
``in_domain=False`` and the reason; the verdict must then be "UNCERTAIN"/"uncertain" and no
percentage is shown in large type. No Qt, no TensorFlow.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from fpstation.core.errors import CardError
from fpstation.core.types import FingerprintImage


def number_field(value: Any, where: str, positive: bool = False) -> float | None:
    """A card's number entry (or None); :class:`CardError` naming ``where`` when it is not one."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise CardError(f"{where} must be a number, not {value!r}")
    if positive and value <= 0:
        raise CardError(f"{where} must be positive, not {value!r}")
    return float(value)


def object_field(value: Any, where: str) -> Mapping[str, Any]:
    """A card's object entry ({} when absent); :class:`CardError` naming ``where`` when it is not one."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise CardError(f"{where} must be an object, not {type(value).__name__}")
    return value


@dataclass(frozen=True)
class DpiRule:
    """``domain.dpi``: the resolution a model was validated on, and what an unknown dpi means."""

    nominal: float | None = None
    min: float | None = None
    max: float | None = None
    unknown: str = "assume"  # "assume" the nominal dpi, or count the print "outside"


@dataclass(frozen=True)
class DomainStats:
    """``domain.stats``: Mahalanobis test on the model's input statistics."""

    name: str
    mean: np.ndarray
    inv_cov: np.ndarray
    max_distance: float


@dataclass(frozen=True)
class ResolutionRule:
    """``domain.resolution``: does the print have the resolution it is said to have?
    (:mod:`fpstation.core.resolution`, measured at the model's dpi)."""

    period_mm: tuple[float, float]
    detail_min: float


@dataclass(frozen=True)
class CardDomain:
    """A card's ``domain`` entry, parsed once (see the module docstring for the JSON)."""

    sensors: tuple[str, ...] = ()
    dpi: DpiRule = DpiRule()
    height_px: tuple[float, float] | None = None
    width_px: tuple[float, float] | None = None
    stats: DomainStats | None = None
    resolution: ResolutionRule | None = None

    @property
    def stated(self) -> bool:
        """False for an empty entry (no rule: every print is in the domain)."""
        return self != CardDomain()

    @classmethod
    def parse(cls, value: Any, where: str = "domain") -> CardDomain:
        """Parse a card's ``domain`` entry; raises :class:`CardError` naming the bad field."""
        d = object_field(value, where)
        sensors = d.get("sensors") or ()
        if isinstance(sensors, str) or not all(isinstance(s, str) for s in sensors):
            raise CardError(f"{where}.sensors must be a list of words, not {sensors!r}")
        r = object_field(d.get("dpi"), f"{where}.dpi")
        unknown = r.get("unknown", "assume")
        if unknown not in ("assume", "outside"):
            raise CardError(f"{where}.dpi.unknown must be “assume” or “outside”, not {unknown!r}")
        dpi = DpiRule(number_field(r.get("nominal"), f"{where}.dpi.nominal", True),
                      number_field(r.get("min"), f"{where}.dpi.min", True),
                      number_field(r.get("max"), f"{where}.dpi.max", True), unknown)
        size = object_field(d.get("size_px"), f"{where}.size_px")
        ranges = []
        for name in ("height", "width"):
            rng = size.get(name)
            if rng is None:
                ranges.append(None)
                continue
            if not isinstance(rng, (list, tuple)) or len(rng) != 2:
                raise CardError(f"{where}.size_px.{name} must be [low, high], not {rng!r}")
            ranges.append((number_field(rng[0], f"{where}.size_px.{name}[0]"), number_field(rng[1], f"{where}.size_px.{name}[1]")))
        stats = None
        s = object_field(d.get("stats"), f"{where}.stats")
        if s:
            try:
                mean = np.asarray(s["mean"], np.float64).reshape(-1)
                inv = np.asarray(s["inv_cov"], np.float64)
                max_distance = float(s["max_distance"])
            except (KeyError, TypeError, ValueError) as exc:
                raise CardError(f"{where}.stats needs numeric mean, inv_cov and max_distance ({exc})") from exc
            if inv.shape != (len(mean), len(mean)):
                raise CardError(f"{where}.stats.inv_cov must be {len(mean)}×{len(mean)}, not {inv.shape}")
            stats = DomainStats(str(s.get("name", "input statistics")), mean, inv, max_distance)
        res = None
        rr = object_field(d.get("resolution"), f"{where}.resolution")
        if rr:
            per = rr.get("ridge_period_mm")
            if not isinstance(per, (list, tuple)) or len(per) != 2:
                raise CardError(f"{where}.resolution.ridge_period_mm must be [low, high], not {per!r}")
            lo_mm = number_field(per[0], f"{where}.resolution.ridge_period_mm[0]", True)
            hi_mm = number_field(per[1], f"{where}.resolution.ridge_period_mm[1]", True)
            detail = number_field(rr.get("detail_min"), f"{where}.resolution.detail_min", True)
            if detail is None:
                raise CardError(f"{where}.resolution needs detail_min")
            res = ResolutionRule((lo_mm, hi_mm), detail)
        return cls(tuple(sensors), dpi, ranges[0], ranges[1], stats, res)


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


def check_domain(domain: CardDomain | Mapping | None, image: FingerprintImage, features: np.ndarray | None = None,
                 model_dpi: float | None = None) -> DomainCheck:
    """Check ``image`` (and optional feature vector) against a card's ``domain`` entry.

    Parameters
    ----------
    domain : the card's parsed ``domain`` entry (or its JSON dict); ``None`` or empty = no stated
        domain (in domain).
    image : the print, with its dpi (from the file or stated by the user).
    features : the model's input statistic for this print (e.g. an embedding) for the
        Mahalanobis test in ``domain["stats"]``; skipped when either is missing.
    model_dpi : the dpi the model resamples prints to before it sees them; the size range is
        checked after that resampling. ``None`` = no resampling.
    """
    dom = domain if isinstance(domain, CardDomain) else CardDomain.parse(domain)
    if not dom.stated:
        return DomainCheck(True)
    reasons: list[str] = []
    rule = dom.dpi
    dpi = image.dpi
    if dpi is None:
        if rule.unknown == "outside":
            reasons.append("the print's resolution is unknown (the scanner's dpi was not stated)")
        dpi_eff = rule.nominal
    else:
        dpi_eff = float(dpi)
        lo, hi = rule.min, rule.max
        if (lo is not None and dpi_eff < lo) or (hi is not None and dpi_eff > hi):
            src = "stated" if image.dpi_source == "stated" else "from the file"
            reasons.append(f"{dpi_eff:g} dpi ({src}) is outside the {lo or 0:g}–{hi or 0:g} dpi it was validated on")
    if dom.height_px or dom.width_px:
        scale = 1.0
        if model_dpi and dpi_eff:
            scale = float(model_dpi) / float(dpi_eff)
        h, w = image.height * scale, image.width * scale
        for name, val, rng in (("height", h, dom.height_px), ("width", w, dom.width_px)):
            if rng and not (rng[0] <= val <= rng[1]):
                reasons.append(f"{name} {val:.0f} px (at the model's resolution) is outside the "
                               f"{rng[0]:g}–{rng[1]:g} px of its training prints")
    if dom.resolution is not None and dpi_eff:
        reasons.extend(_resolution_reasons(dom.resolution, image, float(dpi_eff), model_dpi))
    stats = dom.stats
    if stats is not None and features is not None:
        d = _distance(np.asarray(features, np.float64).reshape(-1), stats.mean, stats.inv_cov)
        if d > stats.max_distance:
            reasons.append(f"its {stats.name} are unlike the training prints "
                           f"(distance {d:.1f} > {stats.max_distance:.1f})")
    return DomainCheck(not reasons, tuple(reasons))


def _resolution_reasons(rule: ResolutionRule, image: FingerprintImage, dpi: float,
                        model_dpi: float | None) -> list[str]:
    """Why the print's ridge spacing or fine detail does not fit its dpi ([] when they do)."""
    from fpstation.core.resolution import DETAIL_BAND, resample_to, ridge_spectrum

    at = float(model_dpi or dpi)
    sp = ridge_spectrum(resample_to(image.pixels, dpi, at), at)
    if sp.period_mm is None or sp.detail is None:
        return ["the print is too small to check that its resolution is right"]
    out = []
    lo, hi = rule.period_mm
    if not lo <= sp.period_mm <= hi:
        out.append(f"at {dpi:g} dpi its ridges repeat every {sp.period_mm:.2f} mm, outside the "
                   f"{lo:.2f}–{hi:.2f} mm of its training prints: is the resolution right?")
    if sp.detail < rule.detail_min:
        out.append(f"it holds almost no detail finer than {25.4 / at / (DETAIL_BAND[0] * 0.5):.2f} mm (ratio {sp.detail:.2g}, "
                   f"training prints ≥ {rule.detail_min:.2g}), as a print enlarged from a lower "
                   f"resolution does")
    return out


def mahalanobis(x: np.ndarray, stats: dict) -> float:
    """Mahalanobis distance of ``x`` from ``stats["mean"]`` under ``stats["inv_cov"]``."""
    return _distance(x, np.asarray(stats["mean"], np.float64), np.asarray(stats["inv_cov"], np.float64))


def _distance(x: np.ndarray, mu: np.ndarray, inv: np.ndarray) -> float:
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
