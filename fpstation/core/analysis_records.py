"""What the case store records of an analysis, without the store: the flattened step results
(:class:`StepRecord`) and the inputs that make two analyses of a print the same or different
(:class:`AnalysisInputs`; schema 3, docs/adr/0150). ``fpstation.core.store`` re-exports them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from fpstation.core.types import AnalysisResult, ModelRef


@dataclass(frozen=True)
class StepRecord:
    """One analysis step's outcome, flattened for the store (no pixels)."""

    step: str
    model: ModelRef | None = None
    score: float | None = None
    verdict: str | None = None
    payload: dict[str, Any] | None = None
    seconds: float | None = None
    error: str | None = None


#: origin of an analysis upgraded from a case written before schema 3
LEGACY_ORIGIN = "recorded before analysis records"
ORIGIN_WORDS = {"batch": "folder batch", "desk": "scanner desk", "window": "print view", "cli": "command line",
                LEGACY_ORIGIN: LEGACY_ORIGIN}


@dataclass(frozen=True)
class AnalysisInputs:
    """What an analysis was asked to use besides the print's bytes.

    ``stated_dpi``: the resolution the user stated (``None`` = each file's own, a function of its
    bytes); ``restorer``: the restorer asked for ("" = no restoration asked for); ``settings``: the
    other settings that change a result (PAD models, threshold, gender model); ``origin``: where it ran
    (not part of the key: the same inputs give the same result wherever they ran).
    """

    stated_dpi: float | None = None
    restorer: str = ""
    settings: tuple[tuple[str, str], ...] = ()
    origin: str = "batch"

    def key(self) -> str:
        return json.dumps({"dpi": None if not self.stated_dpi else float(self.stated_dpi),
                           "restorer": self.restorer, "settings": dict(self.settings)}, sort_keys=True)

    def with_origin(self, origin: str) -> AnalysisInputs:
        from dataclasses import replace

        return replace(self, origin=origin)


def analysis_inputs(settings: Any = None, *, stated_dpi: float | None = None, origin: str = "batch",
                    restoration: bool = True) -> AnalysisInputs:
    """The :class:`AnalysisInputs` of an analysis run with ``settings`` (a ``fpstation.settings.Settings``
    or anything with its attributes; ``None`` = defaults) at ``stated_dpi``."""
    g = (lambda k, d="": getattr(settings, k, d)) if settings is not None else (lambda k, d="": d)
    pads = g("pad_models", ()) or ()
    extra = (("pad_model", str(g("pad_model") or "")), ("pad_models", ",".join(map(str, pads))),
             ("pad_threshold", "" if g("pad_threshold", None) is None else f"{float(g('pad_threshold')):g}"),
             ("uncertain_band", f"{float(g('uncertain_band', 0.1) or 0):g}"),
             ("gender_model", str(g("gender_model") or "")))
    return AnalysisInputs(float(stated_dpi) if stated_dpi else None,
                          str(g("restorer") or "") if restoration else "", extra, origin)


#: the inputs of callers that state none (tests, old scripts): file dpi, no named restorer
DEFAULT_INPUTS = AnalysisInputs()


def _key(inputs: AnalysisInputs | None) -> str:
    return (inputs or DEFAULT_INPUTS).key()


def _jsonable(value: Any) -> Any:
    """Best-effort conversion of extras (numpy scalars, tuples) into JSON-safe values."""
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        pass
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item") and getattr(value, "size", 2) == 1:
        return value.item()
    if hasattr(value, "shape"):  # arrays (e.g. a heat map): keep the shape, not the pixels
        return {"array_shape": list(value.shape)}
    return str(value)


def step_records(result: AnalysisResult) -> list[StepRecord]:
    """Flatten an :class:`AnalysisResult` into one record per step that ran (or failed)."""
    out: list[StepRecord] = []
    t = result.timings
    r = result.restoration
    if r is not None:
        out.append(StepRecord("restoration", r.model, None, r.method,
                              {"method": r.method, "extras": _jsonable(dict(r.extras))},
                              t.get("restoration", r.seconds)))
    p = result.pad
    if p is not None:
        from fpstation.core.pad import pad_dict

        payload: dict[str, Any] = {"threshold": float(p.threshold), "attack_types_seen": list(p.attack_types_seen),
                                   "in_domain": bool(p.in_domain), "domain_reason": p.domain_reason}
        if len(result.pad_models) > 1 or (result.pad_models and result.pad_models[0] is not p):
            payload["models"] = [pad_dict(m) for m in result.pad_models]
        out.append(StepRecord("pad", p.model, float(p.attack_score), p.verdict, payload, t.get("pad", p.seconds)))
    q = result.quality
    if q is not None:
        out.append(StepRecord("quality", ModelRef(q.name, q.version), float(q.score), str(q.score),
                              {"actionable": _jsonable(dict(q.actionable)), "note": q.note},
                              t.get("quality")))
    g = result.gender
    if g is not None:
        # outside the model's validated domain the probability is no figure to keep or show
        inside = bool(g.in_domain)
        out.append(StepRecord("gender", g.model, float(g.p_female) if inside else None, g.label,
                              {"p_female": float(g.p_female) if inside else None,
                               "p_male": float(g.p_male) if inside else None,
                               "in_domain": inside, "domain_reason": g.domain_reason},
                              t.get("gender", g.seconds)))
    for step, msg in result.errors.items():
        out.append(StepRecord(step, None, error=msg, seconds=t.get(step)))
    return out
