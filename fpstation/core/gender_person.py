"""One gender estimate for one person from several of their prints (pure numpy, no model code).

Gender from a single print is weak evidence; the analyst's question is about a person. The model
scores each print (a calibrated logit of "female", one per ensemble member); this module combines a
person's prints into one estimate:

- the combined logit is the **mean** over the prints (a sum would treat the fingers of one person
  as independent evidence and be over-confident), then, for two or more prints, the model card's
  ``combined_calibration`` for that number of prints (balanced Platt ``a·z + b``, fitted out of fold on
  n-print subsets; absent in older cards = identity);
- the **interval** is the 5–95 % range of that estimate over the model's members and a bootstrap of
  the person's prints (which prints happened to be taken); with one print and one member there is
  no interval;
- the label uses the card's uncertain band for one print (``uncertain_band``) or for several
  (``uncertain_band_combined``); **evidence** says how much to trust it: "weak evidence" for a single
  print unless it lies beyond the card's ``confident_single`` level (the distance from 0.5 beyond which
  single prints were right ≥ 90 % of the time out of fold; no such level = never), "confident single
  print" when it does, "n fingers combined" otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

WEAK = "weak evidence"
CONFIDENT_SINGLE = "confident single print"


@dataclass(frozen=True)
class PersonGender:
    """The combined estimate for one person (P(male) = 1 - p_female)."""

    p_female: float
    label: str  # "female", "male" or "uncertain"
    n_fingers: int  # prints combined (inside the model's domain)
    interval: tuple[float, ...]  # (low, high) P(female), 5–95 %; () when none can be given
    evidence: str  # WEAK, CONFIDENT_SINGLE or "N fingers combined"
    band: float  # the uncertain band used (full width in P)

    @property
    def p_male(self) -> float:
        return 1.0 - self.p_female


def _sigmoid(z: np.ndarray | float) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(z, np.float64)))


def label_for(p_female: float, band: float) -> str:
    """"female" / "male" outside ``0.5 ± band/2``, else "uncertain"."""
    half = max(0.0, float(band)) / 2
    if p_female >= 0.5 + half:
        return "female"
    if p_female <= 0.5 - half:
        return "male"
    return "uncertain"


def combined_ab(card: Mapping[str, Any], n: int) -> tuple[float, float]:
    """The card's calibration (a, b) of the mean logit of ``n`` prints (nearest n it states); one
    print keeps its own calibration (identity)."""
    table = card.get("combined_calibration") or {}
    if not table or n <= 1:
        return 1.0, 0.0
    keys = sorted(int(k) for k in table)
    k = min(keys, key=lambda x: (abs(x - n), x))
    a, b = table[str(k)]
    return float(a), float(b)


def combine_person(logits: Sequence[float] | np.ndarray, card: Mapping[str, Any], *, n_boot: int = 400,
                   seed: int = 0) -> PersonGender:
    """Combine a person's prints into one estimate.

    ``logits``: calibrated logits of "female", shape (n,) — one per print — or (n, M) — per print and
    ensemble member; only prints inside the model's domain belong here. ``card``: the model card's
    data (``uncertain_band``, ``uncertain_band_combined``, ``combined_calibration``,
    ``confident_single``; each optional).
    """
    z = np.asarray(logits, np.float64)
    if z.ndim == 1:
        z = z[:, None]
    if z.ndim != 2 or z.shape[0] == 0:
        raise ValueError("combine_person needs at least one print's logits")
    if not np.isfinite(z).all():
        raise ValueError("combine_person got a logit that is not a finite number")
    n, m = z.shape
    a, b = combined_ab(card, n)
    p = float(_sigmoid(a * z.mean() + b))
    interval: tuple[float, ...] = ()
    if n > 1 or m > 1:
        rng = np.random.default_rng(seed)
        rows = rng.integers(0, n, (n_boot, n))
        cols = rng.integers(0, m, n_boot)
        draws = _sigmoid(a * z[rows, cols[:, None]].mean(axis=1) + b)
        interval = (float(np.percentile(draws, 5)), float(np.percentile(draws, 95)))
    key = "uncertain_band" if n == 1 else "uncertain_band_combined"
    band = float(card.get(key, card.get("uncertain_band", 0.1)))
    if n == 1:
        conf = card.get("confident_single")
        evidence = CONFIDENT_SINGLE if conf is not None and abs(p - 0.5) >= float(conf) else WEAK
    else:
        evidence = f"{n} fingers combined"
    return PersonGender(p_female=p, label=label_for(p, band), n_fingers=n, interval=interval, evidence=evidence,
                        band=band)


def person_key(path: str, root: str | None = None) -> str:
    """Which person a print file belongs to: its SOCOFing subject (``subject 12``) when the name says
    so, else its folder (relative to ``root`` when given; ``.`` = the root itself)."""
    import re
    from pathlib import PurePath

    pp = PurePath(str(path))
    m = re.match(r"^(\d+)__[MF]_(Left|Right)_", pp.name, re.IGNORECASE)
    if m:
        return f"subject {int(m.group(1))}"
    parent = pp.parent
    if root:
        try:
            return parent.relative_to(PurePath(str(root))).as_posix() or "."
        except ValueError:
            pass
    return parent.as_posix()
