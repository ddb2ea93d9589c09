"""Several PAD models side by side: one combined verdict for the operator (no Qt, no TensorFlow).

Each PAD model covers the attack kinds it has seen (``pad-socofing``: synthetic alterations;
``pad-livdet``: gelatine spoofs on one optical sensor). The combined verdict (docs/adr/0101):

- ATTACK when any model inside its domain says ATTACK;
- UNCERTAIN when any model inside its domain is UNCERTAIN, or when no model is inside its domain
  (nobody could check the print);
- LIVE otherwise: every model that could check the print says LIVE. Models outside their domain
  are listed as "not checked" so the operator sees which attack kinds were not looked at.
"""

from __future__ import annotations

from collections.abc import Sequence

from fpstation.core.types import ModelRef, PadResult

COMBINED = "combined"


def combine_pad(results: Sequence[PadResult]) -> PadResult | None:
    """The combined :class:`PadResult` of several models' results (``None`` when there are none).

    Its ``attack_score``/``threshold`` are those of the model that decided the verdict (the most
    attack-like in-domain model), its ``attack_types_seen`` the union over in-domain models, its
    ``model`` names every model, and ``domain_reason`` says which models did not check the print.
    """
    results = [r for r in results if r is not None]
    if not results:
        return None
    if len(results) == 1:
        return results[0]
    inside = [r for r in results if r.in_domain]
    outside = [r for r in results if not r.in_domain]

    def margin(r: PadResult) -> float:
        return r.attack_score - r.threshold

    if not inside:
        verdict, decider = "UNCERTAIN", max(results, key=margin)
    elif any(r.verdict == "ATTACK" for r in inside):
        verdict, decider = "ATTACK", max((r for r in inside if r.verdict == "ATTACK"), key=margin)
    elif any(r.verdict == "UNCERTAIN" for r in inside):
        verdict, decider = "UNCERTAIN", max((r for r in inside if r.verdict == "UNCERTAIN"), key=margin)
    else:
        verdict, decider = "LIVE", max(inside, key=margin)
    seen: list[str] = []
    for r in inside:
        seen += [t for t in r.attack_types_seen if t not in seen]
    reason = ""
    if outside:
        names = ", ".join(_name(r) for r in outside)
        kinds = sorted({t for r in outside for t in r.attack_types_seen})
        reason = (f"not checked by {names} (outside the sensor/resolution it was validated on)"
                  + (f": {', '.join(kinds)} not looked for" if kinds else ""))
        if not inside:
            reason = "no PAD model was validated on prints like this one; " + reason
    name = " + ".join(_name(r) for r in results)
    return PadResult(attack_score=decider.attack_score, threshold=decider.threshold, verdict=verdict,
                     model=ModelRef(f"{COMBINED}: {name}"), seconds=sum(r.seconds for r in results),
                     attack_types_seen=tuple(seen), in_domain=bool(inside), domain_reason=reason)


def _name(r: PadResult) -> str:
    return r.model.name if r.model is not None else "?"


def pad_dict(r: PadResult) -> dict:
    """JSON form of one PAD result (CLI, batch JSON, case store, report)."""
    return {"model": _name(r), "version": r.model.version if r.model else "", "verdict": r.verdict,
            "attack_score": round(float(r.attack_score), 6), "threshold": round(float(r.threshold), 6),
            "attack_types_seen": list(r.attack_types_seen), "in_domain": r.in_domain,
            "domain_reason": r.domain_reason, "seconds": round(float(r.seconds), 4)}


def pad_from_dict(d: dict) -> PadResult:
    """Inverse of :func:`pad_dict` (reading a stored case)."""
    return PadResult(attack_score=float(d.get("attack_score", 0.0)), threshold=float(d.get("threshold", 0.5)),
                     verdict=str(d.get("verdict", "UNCERTAIN")), model=ModelRef(str(d.get("model", "")),
                                                                                 str(d.get("version", ""))),
                     seconds=float(d.get("seconds", 0.0)), attack_types_seen=tuple(d.get("attack_types_seen", ())),
                     in_domain=bool(d.get("in_domain", True)), domain_reason=str(d.get("domain_reason", "")))
