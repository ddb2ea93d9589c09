"""Per-person gender rows shared by ``analyze --subject`` and ``batch`` (not a command itself).

A person's prints are combined by :func:`fpstation.ml.classifiers.gender_combined` (which leaves out
prints outside the model's domain and calls :func:`fpstation.core.gender_person.combine_person`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

#: columns a per-person row adds to the batch table (print rows carry ``person`` only)
PERSON_COLUMNS = ["person", "n_fingers", "p_female_low", "p_female_high", "evidence"]


def person_entry(name: str, images: Sequence[Any], model_key: str = "") -> dict[str, Any]:
    """The per-person estimate of ``images`` (prints of one person) as a plain dict."""
    from fpstation.ml.classifiers import gender_combined

    g = gender_combined(list(images), model_key)
    inside = bool(g.in_domain)
    return {"person": name, "prints": len(images), "n_fingers": int(g.n_prints) if inside else 0,
            "p_female": round(float(g.p_female), 6) if inside else None,
            "p_male": round(float(g.p_male), 6) if inside else None,
            "p_female_interval": [round(float(v), 6) for v in g.interval] if inside and g.interval else None,
            "label": g.label, "evidence": g.evidence if inside else "cannot tell",
            "in_domain": inside, "domain_reason": g.domain_reason,
            "cv_balanced_accuracy": list(g.cv_balanced_accuracy) or None,
            "model": {"name": g.model.name, "version": g.model.version, "sha256": g.model.sha256} if g.model else None}


def format_person(e: dict[str, Any]) -> str:
    """One line: ``person 12: female, P(female) 0.71 [0.55–0.84], 8 of 10 prints combined``."""
    if "error" in e:
        return f"person {e['person']}: gender not available: {e['error']}"
    if not e["in_domain"]:
        return f"person {e['person']}: cannot tell ({e['prints']} prints, none inside the model's domain: " \
               f"{e['domain_reason']})"
    iv = e["p_female_interval"]
    ivs = f" [{iv[0]:.2f}–{iv[1]:.2f}]" if iv else ""
    label = "cannot tell" if e["label"] == "uncertain" else e["label"]
    return (f"person {e['person']}: {label}, P(female) {e['p_female']:.2f}{ivs}, {e['n_fingers']} of {e['prints']} "
            f"prints combined — {e['evidence']}")


def person_row(e: dict[str, Any]) -> dict[str, Any]:
    """A batch-table row for a per-person entry (status ``person``)."""
    iv = e.get("p_female_interval") or [None, None]
    model = e.get("model") or {}
    return {"status": "person", "path": e["person"], "person": e["person"], "gender": e.get("label", ""),
            "p_female": e.get("p_female"), "n_fingers": e.get("n_fingers"), "p_female_low": iv[0],
            "p_female_high": iv[1], "evidence": e.get("evidence", ""),
            "gender_model": f"{model.get('name', '')} v{model.get('version', '')}" if model else "",
            "error": e.get("error", "") or ("" if e.get("in_domain", True) else e.get("domain_reason", ""))}


def person_entry_from_probabilities(name: str, p_female: Sequence[float | None], card: dict[str, Any],
                                    model_text: str = "") -> dict[str, Any]:
    """The per-person entry from the prints' calibrated P(female) as the batch rows hold them
    (None = outside the model's domain: not combined). The interval then covers which prints were
    taken (the members' spread is not in the rows)."""
    import math

    from fpstation.core.gender_person import combine_person

    inside = [float(p) for p in p_female if p is not None and p != ""]
    name_v = model_text.rsplit(" v", 1)
    model = {"name": name_v[0], "version": name_v[1] if len(name_v) > 1 else "", "sha256": ""} if model_text \
        else None
    if not inside:
        return {"person": name, "prints": len(p_female), "n_fingers": 0, "p_female": None, "p_male": None,
                "p_female_interval": None, "label": "uncertain", "evidence": "cannot tell", "in_domain": False,
                "domain_reason": "no print of this person is inside the model's domain", "model": model}
    eps = 1e-9
    z = [math.log(max(p, eps) / max(1 - p, eps)) for p in inside]
    g = combine_person(z, card)
    return {"person": name, "prints": len(p_female), "n_fingers": g.n_fingers, "p_female": round(g.p_female, 6),
            "p_male": round(g.p_male, 6), "p_female_interval": [round(v, 6) for v in g.interval] or None,
            "label": g.label, "evidence": g.evidence, "in_domain": True, "domain_reason": "", "model": model}
