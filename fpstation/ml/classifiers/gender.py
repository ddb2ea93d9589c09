"""Gender estimate from prints: calibrated P(female), per print or combined over one person's prints."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from fpstation.core.domain import OUTSIDE, DomainCheck, check_domain
from fpstation.core.types import FingerprintImage, GenderResult
from fpstation.ml.cards import ModelCard
from fpstation.ml.classifiers.loading import FeatureLoaded, load_classifier, model_logits
from fpstation.ml.classifiers.metrics import combine_logits, sigmoid
from fpstation.ml.classifiers.preprocess import domain_check


def gender_label(p_female: float, uncertain_band: float = 0.1) -> str:
    """"female" / "male" outside the band ``0.5 ± uncertain_band/2``, else "uncertain"
    (:func:`fpstation.core.gender_person.label_for`, the one rule for a print and a person)."""
    from fpstation.core.gender_person import label_for

    return label_for(p_female, uncertain_band)


def _cv_ba(card: ModelCard, combined: bool, finger_known: bool = False) -> tuple[float, ...]:
    """(value, ci95 low, ci95 high) of the card's cross-validated balanced accuracy, or ().

    One print whose finger is known (and a card that measured that case) gets that figure."""
    level = "per_subject" if combined else "per_print"
    if not combined and finger_known and "per_print_finger_known" in card.cv_balanced_accuracy:
        level = "per_print_finger_known"
    return card.cv_balanced_accuracy.get(level, ())


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
    card = loaded.card
    if isinstance(loaded, FeatureLoaded):
        from fpstation.ml.classifiers.gender_features import features, finger_code

        # dpi and size first: a print that fails them gets no features (a 1000×1000 print would
        # cost ~50× a SOCOFing one) and a neutral logit that is never reported
        pre = [domain_check(im, card) for im in images]
        members = np.zeros((len(images), loaded.model.coef.shape[0]))
        checks = list(pre)
        todo = [i for i, c in enumerate(pre) if c.in_domain]
        if todo:
            fingers = [finger_code(images[i]) for i in todo]
            f = np.stack([features(images[i].pixels, k) for i, k in zip(todo, fingers, strict=True)])
            members[todo] = loaded.model.member_logits(f)
            for i, x in zip(todo, loaded.model.image_inputs(f), strict=True):
                checks[i] = check_domain(card.domain, images[i], x, model_dpi=card.input.dpi)
    else:
        z = card.calibrate(model_logits(loaded, images))
        members = np.asarray(z, np.float64).reshape(-1, 1)
        checks = [domain_check(im, card) for im in images]
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

    card = loaded.card
    card_band = card.uncertain_band_combined if n > 1 and card.uncertain_band_combined is not None \
        else card.uncertain_band
    band = float(uncertain_band) if uncertain_band is not None else (card_band if card_band is not None else 0.1)
    p = float(sigmoid(z))
    pm = sigmoid(np.asarray(members, np.float64).reshape(-1))
    p_range = (float(np.percentile(pm, 10)), float(np.percentile(pm, 90))) if pm.size > 1 else ()
    common = dict(model=loaded.ref, seconds=time.perf_counter() - t0, p_range=p_range, n_prints=n,
                  cv_balanced_accuracy=_cv_ba(card, n > 1, finger_known))
    if reasons:
        return GenderResult(p_female=p, label="uncertain", in_domain=False,
                            domain_reason=f"{OUTSIDE}: " + "; ".join(reasons), **common)
    person = combine_person(prints if prints is not None else np.atleast_2d(members), card.data)
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
    if isinstance(loaded, FeatureLoaded):
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
    return _gender_result(float(mem.mean()), mem, (), loaded, int(ok.sum()), uncertain_band, t0,
                          prints=members[ok])
