"""Presentation-attack detection: calibrated attack scores, verdicts and the card's APCER/BPCER."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from fpstation.core.errors import ModelNotFoundError
from fpstation.core.types import FingerprintImage, PadResult
from fpstation.ml.cards import ModelCard, card_of
from fpstation.ml.classifiers.loading import Loaded, load_classifier, model_logits, registry_or_default
from fpstation.ml.classifiers.metrics import sigmoid
from fpstation.ml.classifiers.preprocess import domain_check


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
               ) -> tuple[np.ndarray, Loaded]:
    """Calibrated attack scores in [0, 1] for several prints (one batched call)."""
    loaded = load_classifier("pad", model_key, registry)
    z = loaded.card.calibrate(model_logits(loaded, images))
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
    card = loaded.card
    thr = float(threshold) if threshold is not None else (card.threshold if card.threshold is not None else 0.5)
    dom = domain_check(image, card)
    if not dom.in_domain:
        verdict = "UNCERTAIN"
    elif card.data.get("transaction"):  # the card's out-of-fold band (docs/adr/0102)
        from fpstation.core.pad_transaction import TransactionRule

        verdict = TransactionRule.from_card(card.data, threshold).attempt_verdict(score)
    else:
        verdict = pad_verdict(score, thr, uncertain_band)
    reason = f"outside the sensor/resolution it was validated on: {dom.reason}" if not dom.in_domain else ""
    return PadResult(attack_score=score, threshold=thr, verdict=verdict,
                     model=loaded.ref, seconds=time.perf_counter() - t0,
                     attack_types_seen=card.attack_types_seen,
                     in_domain=dom.in_domain, domain_reason=reason)


def pad_model_keys(registry: Any | None = None) -> list[str]:
    """Registry keys of the shipped PAD models that run side by side (the default first)."""
    reg = registry_or_default(registry)
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
    reg = registry_or_default(registry)
    default = reg.default("pad")
    if primary:
        keys = [primary] + [k for k in keys if k != primary and not (default is not None and k == default.key)]
    first = keys[0] if keys else ""
    out = []
    for k in keys:
        out.append(pad_predict(image, k, threshold if k == first else None, uncertain_band, registry))
    return tuple(out)


def pad_rates_at(card: ModelCard | Mapping[str, Any], threshold: float) -> dict[str, Any] | None:
    """APCER / BPCER on the card's validation set for any threshold (from its stored ROC).

    Returns None when the card has no ROC. Uses the nearest stored ROC point at or above the
    threshold (the ROC is stored densely enough for a slider). ``apcer`` is pooled over attack
    types; ``apcer_by_type`` / ``apcer_max`` are added when the card stores per-type curves.
    """
    roc = card_of(card).roc
    if roc is None:
        return None
    thr = roc.threshold
    # thresholds are descending; choose the smallest stored threshold >= requested one
    idx = np.nonzero(thr >= threshold)[0]
    i = int(idx[-1]) if len(idx) else 0
    out: dict[str, Any] = {"threshold": float(thr[i]), "apcer": 1.0 - float(roc.tpr[i]),
                           "bpcer": float(roc.fpr[i])}
    if roc.apcer_by_type:
        out["apcer_by_type"] = {t: float(v[i]) for t, v in roc.apcer_by_type.items()}
        out["apcer_max"] = max(out["apcer_by_type"].values())
    return out
