"""The flat row of a stored print or bad file: the columns of the batch table, the CSV/JSON export
and the report's header, in one place. ``fpstation.core.store`` re-exports these names."""

from __future__ import annotations

from typing import Any

#: the columns of a flat row, in table/CSV order
ROW_COLUMNS = [
    "status", "path", "index", "sha256", "format", "width", "height", "dpi", "dpi_source", "dpi_note", "size", "nfiq2",
    "pad_verdict", "pad_score", "pad_threshold", "pad_models", "gender", "p_female", "restoration",
    "pad_model", "gender_model", "restoration_model", "seconds", "error", "decision", "decision_time",
    "print_id", "analysis_id", "analysed_at", "analysis_origin", "restorer",
]


def _model_text(r: dict[str, Any] | None) -> str:
    if not r or not r.get("model_name"):
        return ""
    v = f" v{r['model_version']}" if r.get("model_version") else ""
    return f"{r['model_name']}{v}"


def flat_row(p: dict[str, Any], res: dict[str, dict[str, Any]], last_decision: dict[str, Any] | None,
             status: str = "", analysis: dict[str, Any] | None = None) -> dict[str, Any]:
    """Build the flat row of a stored print from its ``prints`` row, one analysis of it (its dpi and
    inputs win over what the print first recorded) and that analysis's results keyed by step."""
    if analysis is not None:
        p = {**p, "dpi": analysis.get("dpi"), "dpi_source": analysis.get("dpi_source"),
             "dpi_note": analysis.get("dpi_note")}
    pad, gen, rst, qual = res.get("pad"), res.get("gender"), res.get("restoration"), res.get("quality")
    errors = [f"{s}: {r['error']}" for s, r in res.items() if r.get("error")]
    secs = [r["seconds"] for r in res.values() if r.get("seconds") is not None]
    return {
        "status": status or ("done" if not errors else "partial" if len(errors) < len(res) else "error"),
        "path": p["path"], "index": p["idx"], "sha256": p["sha256"], "format": p["format"] or "",
        "width": p["width"], "height": p["height"], "dpi": p["dpi"],
        "dpi_source": p.get("dpi_source") or ("" if p["dpi"] is None else "file"),
        "dpi_note": p.get("dpi_note") or "", "size": p["size"],
        "nfiq2": int(qual["score"]) if qual and not qual.get("error") and qual.get("score") is not None else None,
        "pad_models": pad_models_text((pad.get("payload") or {}).get("models")) if pad and not pad.get("error")
        else "",
        "pad_verdict": (pad or {}).get("verdict") if pad and not pad.get("error") else "",
        "pad_score": pad["score"] if pad and not pad.get("error") else None,
        "pad_threshold": (pad.get("payload") or {}).get("threshold") if pad and not pad.get("error") else None,
        "gender": gen["verdict"] if gen and not gen.get("error") else "",
        "p_female": gen["score"] if gen and not gen.get("error") else None,
        "restoration": rst["verdict"] if rst and not rst.get("error") else "",
        "pad_model": _model_text(pad), "gender_model": _model_text(gen), "restoration_model": _model_text(rst),
        "seconds": round(sum(secs), 4) if secs else None,
        "error": "; ".join(errors),
        "decision": last_decision["decision"] if last_decision else "",
        "decision_time": last_decision["created"] if last_decision else "",
        "print_id": p["id"],
        "analysis_id": (analysis or {}).get("id"), "analysed_at": (analysis or {}).get("created") or "",
        "analysis_origin": (analysis or {}).get("origin") or "", "restorer": (analysis or {}).get("restorer") or "",
    }


def pad_models_text(models: list[dict[str, Any]] | None) -> str:
    """One cell for every PAD model's own verdict: "pad-socofing LIVE 0.02; pad-livdet ATTACK 0.97"
    (a model outside its domain: "pad-livdet UNCERTAIN 0.40 (outside domain)")."""
    parts = []
    for m in models or []:
        extra = "" if m.get("in_domain", True) else " (outside domain)"
        parts.append(f"{m.get('model', '?')} {m.get('verdict', '')} {float(m.get('attack_score', 0)):.2f}{extra}")
    return "; ".join(parts)


def flat_error_row(e: dict[str, Any]) -> dict[str, Any]:
    """Flat row of a file that could not be read."""
    row = dict.fromkeys(ROW_COLUMNS, None)
    row.update(status="bad file", path=e["path"], sha256=e["sha256"], size=e["size"], index=None,
               error=f"{e['error_type']}: {e['message']}", pad_verdict="", gender="", restoration="",
               format="", dpi_note="", pad_model="", gender_model="", restoration_model="", decision="",
               decision_time="", dpi_source="", pad_models="", analysed_at="", analysis_origin="", restorer="")
    return row
