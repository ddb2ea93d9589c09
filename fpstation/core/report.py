"""Exports of a case: CSV and JSON of the whole case, and a self-contained one-print HTML report.

The HTML report embeds both images (original, re-read from its file through core/imageio and checked
against the stored SHA-256; restored, recomputed at export time because the case keeps no pixels) as
base64 PNG, so it can be mailed or archived as a single file. Everything else in it comes from the
case store: verdicts, scores, model names/versions/sha256, timings, file hash, and the operator's
decisions with their timestamps.
"""

from __future__ import annotations

import base64
import csv
import html
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fpstation import __version__
from fpstation.core.errors import FpError
from fpstation.core.store import ORIGIN_WORDS, ROW_COLUMNS, CaseStore, last_operator_decision, now_iso
from fpstation.core.types import FingerprintImage, RestorationResult

Restorer = Callable[[FingerprintImage], RestorationResult]


def _open_out(path: str | Path, newline: str | None = None):
    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        return open(path, "w", encoding="utf-8", newline=newline)
    except OSError as exc:
        raise FpError(f"“{path}” cannot be written: {exc.strerror or exc}.", path=str(path)) from exc


def case_rows(store: CaseStore):
    """Every row of a case (prints, then files that could not be read), as flat dicts."""
    for pid in store.iter_print_ids():
        yield store.print_row(pid)
    for e in store.file_errors():
        yield store.error_row(e["id"])


def write_csv_rows(rows, path: str | Path) -> int:
    """Write flat rows (``ROW_COLUMNS``) to a CSV file; returns the number of rows."""
    n = 0
    with _open_out(path, newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=ROW_COLUMNS, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in ROW_COLUMNS})
            n += 1
    return n


def export_csv(store: CaseStore, path: str | Path) -> int:
    """The whole case as CSV (one row per print or unreadable file); returns the row count."""
    return write_csv_rows(case_rows(store), path)


def print_record(store: CaseStore, print_id: int, analysis_id: int | None = None) -> dict[str, Any]:
    """Everything the case knows about one print: file facts, the analysis reported on (default: the
    newest) with its results, every analysis of it, every decision."""
    from fpstation.core.errors import CaseStoreError

    p = store.get_print(print_id)
    if p is None:
        raise CaseStoreError(f"There is no print {print_id} in this case.")
    aid = analysis_id if analysis_id is not None else store.analysis_id(print_id, any_inputs=True)
    a = store.get_analysis(aid) if aid is not None else None
    if analysis_id is not None and (a is None or a["print_id"] != print_id):
        raise CaseStoreError(f"Analysis {analysis_id} is not one of print {print_id} in this case.")
    return {"print": p, "analysis": a, "analyses": store.analyses(print_id),
            "results": store.results(print_id, aid), "decisions": store.decisions(print_id)}


def export_json(store: CaseStore, path: str | Path) -> int:
    """The whole case as JSON (prints with all results and decisions, plus bad files); returns prints."""
    n = 0
    with _open_out(path) as fh:
        # written incrementally so a 10k-print case never sits in memory as one object
        head = {"fpstation": __version__, "case": store.name, "exported": now_iso(), "counts": store.counts()}
        fh.write("{\n" + ",\n".join(f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in head.items()))
        fh.write(',\n  "prints": [')
        for pid in store.iter_print_ids():
            rec = print_record(store, pid)  # "results": the newest analysis; "analyses": every one, each with its own
            rec["analyses"] = [dict(a, results=store.results(pid, a["id"])) for a in rec["analyses"]]
            fh.write(("," if n else "") + "\n    " + json.dumps(rec, default=str))
            n += 1
        fh.write('\n  ],\n  "file_errors": ' + json.dumps(store.file_errors()) + "\n}\n")
    return n


def export_case(store: CaseStore, path: str | Path) -> int:
    """CSV or JSON chosen by the file extension."""
    if str(path).lower().endswith(".json"):
        return export_json(store, path)
    return export_csv(store, path)


# -- one-print HTML report ---------------------------------------------------------------------------
def png_base64(pixels) -> str:
    """Encode an H×W uint8 image as base64 PNG through core/imageio (the only module encoding images)."""
    from fpstation.core.imageio import encode_image

    return base64.b64encode(encode_image(pixels, "PNG")).decode("ascii")


#: a command-line hint written into results by older versions ("state it with --dpi / the dpi field")
_CLI_HINT = re.compile(r"\s*\((?:state it with )?--[a-z-]+[^)]*\)")


def no_cli_hints(text: Any) -> str:
    """``text`` without command-line hints: a forensic document speaks of the print, not of flags."""
    return _CLI_HINT.sub("", "" if text is None else str(text))


def _load_original(p: dict[str, Any], reader) -> tuple[FingerprintImage | None, str]:
    try:
        prints = reader(p["path"])
    except FpError as exc:
        return None, f"The original file cannot be read now: {exc.user_message}"
    except Exception as exc:  # noqa: BLE001 - the report is still produced, without the image
        return None, f"The original file cannot be read now ({type(exc).__name__}: {exc})."
    for im in prints:
        if im.index == p["idx"]:
            if im.sha256 != p["sha256"]:
                return None, ("The file at the recorded path has changed since it was analysed "
                              "(SHA-256 differs); its image is not shown.")
            if p.get("dpi_source") == "stated" and p.get("dpi"):
                im = im.with_stated_dpi(p["dpi"])  # recomputed as it was analysed
            return im, ""
    return None, f"The file no longer holds print #{p['idx']}."


_CSS = """body{font-family:system-ui,Segoe UI,Arial,sans-serif;margin:24px;color:#222;max-width:1000px}
h1{font-size:20px;margin-bottom:4px}h2{font-size:16px;margin-top:22px;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:8px 0}
td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;font-size:13px;vertical-align:top}
th{background:#f3f3f3;width:190px}table.imgs td{border:none;padding:0 24px 0 0}
.imgs img{image-rendering:pixelated;border:1px solid #999}.cap{font-size:12px;color:#555}
.verdict{font-size:26px;font-weight:bold}.ATTACK{color:#b00020}.LIVE{color:#1b7d2a}.UNCERTAIN{color:#a66b00}
.note{color:#a00}.caveat{color:#6a4a00}.meta{color:#555;font-size:12px}code{font-size:12px;word-break:break-all}"""

#: prints narrower than this are shown enlarged (whole-pixel factor, at most ×4) so ridges can be seen
VIEW_MIN_PX = 360


def _e(v: Any) -> str:
    return "" if v is None else html.escape(no_cli_hints(v))


def _view_width(width: int, max_width: int | None = None) -> tuple[int, float]:
    """(display width in px, display scale) for an image ``width`` pixels wide: enlarged by a whole
    factor (at most ×4) when small, reduced to ``max_width`` (a PDF page's half) when large."""
    k = 1
    while width * k < VIEW_MIN_PX and k < 4:
        k += 1
    vw = width * k
    if max_width and vw > max_width:
        return max_width, max_width / width
    return vw, float(k)


def scale_bar_html(dpi: float | None, scale: float) -> str:
    """A 5 mm scale bar for an image of ``dpi`` shown at ``scale`` display px per image px, as an
    embedded PNG with its length in words ("" when the resolution is unknown: no scale is invented)."""
    import numpy as np

    if not dpi:
        return "<span class='cap'>No scale: the resolution is unknown.</span>"
    mm = 5.0
    length = int(round(mm / 25.4 * float(dpi) * scale))
    bar = np.full((8, length + 2), 255, np.uint8)
    bar[1:7, 1:-1] = 0
    return (f"<img alt='scale bar' width='{length + 2}' height='8' src='data:image/png;base64,{png_base64(bar)}'>"
            f" <span class='cap'>{mm:g} mm</span>")


def dpi_words(p: dict[str, Any]) -> str:
    """The resolution line of a stored print: "500 dpi (from the file)", "unknown (96 dpi in the
    file, not plausible)"."""
    note = p.get("dpi_note") or ""
    if p.get("dpi") and p.get("dpi_source") == "stated":
        return f"{p['dpi']:g} dpi (stated)" + (f" — {note}" if note else "")
    if p.get("dpi"):
        return f"{p['dpi']:g} dpi" + (f" ({note})" if note else "")
    return "unknown" + (f" ({note})" if note else "") + "; no resolution was assumed"


def _model_line(r: dict[str, Any]) -> str:
    if not r.get("model_name"):
        return ""
    ver = str(r.get("model_version") or "")
    v = f" v{ver}" if ver[:1].isdigit() else (f" {ver}" if ver else "")
    sha = f", weights SHA-256 {r['model_sha256']}" if r.get("model_sha256") else ""
    return f"{r['model_name']}{v}{sha}"


def _domain_words(card: dict[str, Any] | None, payload: dict[str, Any]) -> str:
    """The model's validated domain and whether this print is inside it, in words."""
    parts = []
    if payload.get("in_domain") is False:
        # the reason may restate "outside what this model was validated on:": said once, not twice
        reason = re.sub(r"^\s*outside (?:what|the domain)[^:]*:\s*", "", str(payload.get("domain_reason") or ""))
        parts.append("This print is OUTSIDE the domain the model was validated on"
                     + (f": {reason}" if reason else "")
                     + ". The result is reported as uncertain.")
    elif payload.get("in_domain") is True:
        parts.append("This print is within the domain the model was validated on.")
    dom = (card or {}).get("domain") or {}
    if dom:
        sensors = ", ".join(dom.get("sensors") or []) or "unstated sensors"
        d = dom.get("dpi") or {}
        res = (f" at {d['nominal']:g} dpi ({d.get('min', d['nominal']):g}–{d.get('max', d['nominal']):g})"
               if d.get("nominal") else "")
        parts.append(f"Validated on {sensors}{res}; prints from other sensors, resolutions or capture "
                     "conditions are outside what it was tested on.")
    elif card:
        data = card.get("data") or {}
        where = data.get("layout") or data.get("path") or data.get("root")
        if where:
            parts.append(f"Trained and validated on {where} only; other sensors or resolutions were not tested.")
    return " ".join(parts)


def _pad_words(r: dict[str, Any], card: dict[str, Any] | None) -> list[tuple[str, str]]:
    pl = r.get("payload") or {}
    rows = [("Verdict", f"<span class='verdict {_e(r['verdict'])}'>{_e(r['verdict'])}</span>")]
    thr = pl.get("threshold")
    t = (card or {}).get("threshold") or {}
    line = f"Attack score {r['score']:.3f}" if r.get("score") is not None else "No attack score"
    if thr is not None:
        line += f" against the threshold {thr:.3f}: at or above it the print is reported as an attack"
        if t.get("value") is not None and abs(float(t["value"]) - float(thr)) < 1e-9:
            line += f" (the model's operating point: {t.get('rule', 'chosen on validation')})"
        elif t.get("value") is not None:
            line += f" (set by the operator; the model's own is {float(t['value']):.3f})"
    rows.append(("Score and threshold", _e(line) + "."))
    if t.get("bpcer") is not None:
        per = ", ".join(f"{k} {v * 100:.1f} %" for k, v in (t.get("apcer") or {}).items())
        xfit = bool(((card or {}).get("split") or {}).get("cross_fit"))
        where = ("out of fold (each of its networks on the subjects it did not see)" if xfit
                 else "on held-out subjects")
        rows.append(("Out-of-fold error rates" if xfit else "Validation error rates", _e(
            f"At the model's threshold, {where}: BPCER {t['bpcer'] * 100:.1f} % (live prints "
            f"rejected); APCER (attacks passed as live) {per or '—'}.")))
    cv = ((card or {}).get("cross_validation") or {}).get("summary")
    if cv:
        rows.append(("On new people (cross-validated recipe)", _e(f"{cv}.")))
    seen = pl.get("attack_types_seen") or (card or {}).get("attack_types_seen") or []
    unseen = [k for k in ("gelatine", "latex", "silicone", "wood glue", "printed spoofs", "altered fingers")
              if not any(k.split()[0] in str(x).lower() for x in seen)]
    rows.append(("Attack kinds seen in training", _e(
        (", ".join(seen) if seen else "not stated")
        + f". Attacks of other kinds (e.g. {', '.join(unseen[:3])}) were never seen: the score "
          "says nothing reliable about them.")))
    dw = _domain_words(card, pl)
    if dw:
        rows.append(("Domain", f"<span class='caveat'>{_e(dw)}</span>"))
    return rows


def _gender_words(r: dict[str, Any], card: dict[str, Any] | None) -> list[tuple[str, str]]:
    pl = r.get("payload") or {}
    pf = r.get("score")
    word = {"female": "Female more likely", "male": "Male more likely",
            "uncertain": "Uncertain"}.get(str(r.get("verdict")), str(r.get("verdict")))
    rows = [("Estimate", _e(word + (f": P(female) {pf * 100:.0f} %, P(male) {(1 - pf) * 100:.0f} %"
                                    if pf is not None else "")))]
    rows.append(("How to read it", _e("Probabilities are calibrated for equal shares of women and men; a "
                                      "single print is weak evidence and never an identification.")))
    dw = _domain_words(card, pl)
    if dw:
        rows.append(("Domain", f"<span class='caveat'>{_e(dw)}</span>"))
    return rows


def analysis_words(a: dict[str, Any] | None, results: list[dict[str, Any]]) -> str:
    """Which analysis a document holds, in words: number, date, where it ran, its inputs, its models."""
    if a is None:
        return "No analysis of this print is recorded in the case."
    where = ORIGIN_WORDS.get(a.get("origin") or "", a.get("origin") or "")
    dpi = dpi_words(a)
    rst = a.get("restorer") or "none asked for"
    def named(r: dict[str, Any]) -> str:
        v = str(r.get("model_version") or "")
        return f"{r['model_name']} v{v}" if v[:1].isdigit() else f"{r['model_name']} {v}".strip()

    models = sorted({named(r) for r in results if r.get("model_name")})
    return (f"Analysis #{a['id']}, made {a['created']} (UTC) in the {where}: resolution {dpi}; restorer {rst}; "
            f"models {', '.join(models) or 'none'}.")


def _other_analyses(store: CaseStore, rec: dict[str, Any]) -> list[str]:
    """One line per other analysis of the print (newest first): what it concluded and with which inputs."""
    a = rec.get("analysis") or {}
    out = []
    for o in reversed(rec.get("analyses") or []):
        if o["id"] == a.get("id"):
            continue
        pad = next((r for r in store.results(o["print_id"], o["id"]) if r["step"] == "pad" and not r["error"]), None)
        verdict = f"liveness {pad['verdict']}" if pad else "no liveness verdict"
        where = ORIGIN_WORDS.get(o.get("origin") or "", o.get("origin") or "")
        out.append(f"#{o['id']}, {o['created']} in the {where}: {dpi_words(o)}, restorer "
                   f"{o.get('restorer') or 'none asked for'}, {verdict}")
    return out


STEP_TITLES = {"pad": "Presentation-attack detection (liveness)", "gender": "Gender estimate",
               "restoration": "Restoration", "quality": "Print quality (NFIQ 2)"}


def print_report_html(store: CaseStore, print_id: int, out: str | Path, *, restore: Restorer | None = None,
                      reader: Callable[[str], list[FingerprintImage]] | None = None,
                      cards: dict[str, dict[str, Any]] | None = None, analysis_id: int | None = None) -> Path:
    """Write a self-contained HTML report of one print, laid out as a forensic document.

    Parameters
    ----------
    store, print_id : the case and the print (see :meth:`CaseStore.find_prints`).
    analysis_id : the analysis of the print the report holds (default: its newest); the report says
        which one it is and lists the print's other analyses in the case.
    out : the .html file to write.
    restore : restoration step used to recompute the restored image (``None`` = original only).
    reader : file → prints (default ``core.imageio.read_prints``).
    cards : model cards by model name (``{name: card data}``), for thresholds, error rates and each
        model's validated domain in words; the GUI and the CLI pass the same registry's cards.

    Returns
    -------
    Path of the written report. Missing images are explained in the report, never fatal.
    """
    with _open_out(out) as fh:
        fh.write(print_report_text(store, print_id, restore=restore, reader=reader, cards=cards,
                                   analysis_id=analysis_id))
    return Path(out)


def print_report_text(store: CaseStore, print_id: int, *, restore: Restorer | None = None,
                      reader: Callable[[str], list[FingerprintImage]] | None = None,
                      cards: dict[str, dict[str, Any]] | None = None, analysis_id: int | None = None,
                      max_image_width: int | None = None) -> str:
    """The HTML of :func:`print_report_html` as a string (the GUI also prints it to PDF, with
    ``max_image_width`` so that the two prints fit side by side on the page)."""
    if reader is None:
        from fpstation.core.imageio import read_prints as reader
    cards = cards or {}
    rec = print_record(store, print_id, analysis_id)
    p = dict(rec["print"])
    a = rec["analysis"]
    if a is not None:  # the resolution the reported analysis used, not the one first recorded
        p.update(dpi=a.get("dpi"), dpi_source=a.get("dpi_source"), dpi_note=a.get("dpi_note"))
    image, note = _load_original(p, reader)
    notes = [note] if note else []
    figs: list[str] = []
    if image is not None:
        vw, k = _view_width(image.width, max_image_width)
        vh = int(round(image.height * vw / image.width))
        shown = f", shown ×{k:g}" if k > 1 else ""
        bar = scale_bar_html(image.dpi, vw / image.width)
        figs.append(f"<td><img alt='original' width='{vw}' height='{vh}' "
                    f"src='data:image/png;base64,{png_base64(image.pixels)}'><br>{bar}"
                    f"<br><span class='cap'>Original, {image.width}×{image.height} px{shown}</span></td>")
        if restore is not None:
            try:
                r = restore(image)
                m = r.model
                cap = f"{r.method}" + (f" — {m.name} v{m.version}" if m else "")
                figs.append(f"<td><img alt='restored' width='{vw}' height='{vh}' "
                            f"src='data:image/png;base64,{png_base64(r.pixels)}'><br>{bar}"
                            f"<br><span class='cap'>Restored ({_e(cap)}, recomputed at export){shown}</span></td>")
            except FpError as exc:
                notes.append(f"The restored image could not be produced: {exc.user_message}")
            except Exception as exc:  # noqa: BLE001
                notes.append(f"The restored image could not be produced ({type(exc).__name__}: {exc}).")
    results = {r["step"]: r for r in rec["results"]}
    decisions = rec["decisions"]
    pad = results.get("pad") if results.get("pad") and not results["pad"]["error"] else None
    name = Path(p["path"]).name + (f" #{p['idx']}" if p["idx"] else "")
    title = f"Fingerprint examination report — {name}"
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{_e(title)}</title>",
             f"<style>{_CSS}</style></head><body><h1>{_e(title)}</h1>",
             f"<p class='meta'>Case “{_e(store.name)}” · report generated {now_iso()} (UTC) by fpstation "
             f"{__version__} · print first analysed {_e(p.get('first_seen'))}</p>",
             f"<p><b>This report holds {_e(analysis_words(a, rec['results']))}</b></p>"]
    others = _other_analyses(store, rec)
    if others:
        parts.append("<p class='meta'>Other analyses of this print in the case (not the subject of this report): "
                     + "; ".join(_e(o) for o in others) + ".</p>")
    # -- summary: the final state first (the operator's last decision), the model's verdict beside it
    parts.append("<h2>Summary</h2><table>")
    if pad:
        parts.append(f"<tr><th>Model verdict (liveness)</th><td><span class='verdict {_e(pad['verdict'])}'>"
                     f"{_e(pad['verdict'])}</span> (attack score {pad['score']:.3f})</td></tr>")
    d = last_operator_decision(decisions)
    if d is not None:
        parts.append(f"<tr><th>Operator's decision</th><td><b>{_e(d['decision'])}</b> by "
                     f"{_e(d['operator'] or '(operator not named)')} at {_e(d['created'])}</td></tr>")
    else:
        parts.append("<tr><th>Operator's decision</th><td>None recorded.</td></tr>")
    qual = results.get("quality") if results.get("quality") and not results["quality"]["error"] else None
    if qual and qual["score"] is not None:
        parts.append(f"<tr><th>Print quality</th><td><b>{_e(qual['model_name'])} {int(qual['score'])}</b> "
                     "(0–100, higher is better)</td></tr>")
    parts.append(f"<tr><th>Resolution</th><td>{_e(dpi_words(p))}</td></tr></table>")
    if figs:
        # right under the summary, a table (not CSS layout): browsers and the PDF page both put the
        # two prints side by side, each with its scale
        parts.append("<table class='imgs'><tr>" + "".join(figs) + "</tr></table>")
    models = ((pad or {}).get("payload") or {}).get("models") or []
    if models:  # every PAD model side by side (the verdict above is their combination, docs/adr/0101)
        parts.append("<table><tr><th>Liveness model</th><th>Verdict</th><th>Attack score</th><th>Threshold</th>"
                     "<th>Attack kinds it has seen</th><th>Domain</th></tr>")
        for m in models:
            reason = str(m.get("domain_reason") or "").strip()
            # the reason may already begin with "outside" ("outside the 450–550 dpi …"): never "outside: outside"
            dom = ("inside" if m.get("in_domain", True)
                   else reason if reason.lower().startswith("outside") else f"outside: {reason}".rstrip(": "))
            parts.append(f"<tr><td>{_e(m.get('model'))} v{_e(m.get('version'))}</td>"
                         f"<td class='{_e(m.get('verdict'))}'>{_e(m.get('verdict'))}</td>"
                         f"<td>{float(m.get('attack_score', 0)):.3f}</td><td>{float(m.get('threshold', 0)):.3f}</td>"
                         f"<td>{_e(', '.join(m.get('attack_types_seen') or []))}</td><td>{_e(dom)}</td></tr>")
        parts.append("</table>")
        reason = ((pad or {}).get("payload") or {}).get("domain_reason")
        if reason:
            parts.append(f"<p class='note'>{_e(reason)}</p>")
    for n in notes:
        parts.append(f"<p class='note'>{_e(n)}</p>")
    # -- the evidence
    parts.append("<h2>File</h2><table>")
    facts = [("Path", _e(p["path"])), ("SHA-256 of the file", f"<code>{_e(p['sha256'])}</code>"),
             ("Print index in the file", _e(p["idx"])), ("Format", _e(p.get("format"))),
             ("Size", f"{p['size']:,} bytes" if p.get("size") else ""),
             ("Dimensions", f"{p['width']} × {p['height']} px" if p.get("width") else ""),
             ("Resolution", _e(dpi_words(p))), ("NIST record", _e(p.get("record"))),
             ("Finger position", _e(p.get("finger_position")))]
    for label, val in facts:
        if val not in ("", "None"):
            parts.append(f"<tr><th>{label}</th><td>{val}</td></tr>")
    parts.append("</table>")
    # -- each step, in words
    order = [s for s in ("pad", "gender", "restoration") if s in results] + \
            [s for s in results if s not in ("pad", "gender", "restoration")]
    for step in order:
        r = results[step]
        parts.append(f"<h2>{_e(STEP_TITLES.get(step, step))}</h2><table>")
        card = cards.get(f"{r.get('model_name')}@{r.get('model_version') or ''}") or cards.get(r.get("model_name") or "")
        if r.get("error"):
            rows = [("Result", f"<span class='note'>Unavailable: {_e(r['error'])}</span>")]
        elif step == "pad":
            rows = _pad_words(r, card)
        elif step == "gender":
            rows = _gender_words(r, card)
        elif step == "restoration":
            rows = [("Method", _e(r.get("verdict")))]
        elif step == "quality":
            sc = r.get("score")
            rows = [("NFIQ 2 score", "—" if sc is None else f"<b>{int(round(sc))}</b> (0–100, higher is better)")]
        else:
            rows = [("Result", _e(r.get("verdict"))),
                    ("Score", "" if r.get("score") is None else f"{r['score']:.4g}")]
        ml = _model_line(r)
        if ml:
            rows.append(("Model", f"<code>{_e(ml)}</code>"))
        if r.get("seconds") is not None:
            rows.append(("Computed", f"{r['seconds']:.3f} s, at {_e(r['created'])}"))
        for label, val in rows:
            parts.append(f"<tr><th>{label}</th><td>{val}</td></tr>")
        parts.append("</table>")
    parts.append("<h2>Operator decisions (append-only record)</h2>")
    if decisions:
        parts.append("<table><tr><th>When (UTC)</th><th>Decision</th><th>Operator</th><th>Note</th>"
                     "<th>Liveness verdict it was made on</th></tr>")
        for d in decisions:
            sc = "" if d["pad_score"] is None else f" (score {d['pad_score']:.3f})"
            parts.append(f"<tr><td>{_e(d['created'])}</td><td>{_e(d['decision'])}</td>"
                         f"<td>{_e(d['operator'] or '(not named)')}</td><td>{_e(d['note'])}</td>"
                         f"<td>{_e(d['pad_verdict'])}{sc}"
                         + (f" (analysis #{d['analysis_id']})" if d.get("analysis_id") else "") + "</td></tr>")
        parts.append("</table>")
    else:
        parts.append("<p>No decision recorded.</p>")
    parts.append(f"<p class='meta'>Images are re-read from the file and checked against its SHA-256 when "
                 f"the report is made. Case “{_e(store.name)}”, print id {p['id']}"
                 + (f", analysis #{a['id']}" if a else "") + ".</p></body></html>")
    return "\n".join(parts)
