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
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fpstation import __version__
from fpstation.core.errors import FpError
from fpstation.core.store import ROW_COLUMNS, CaseStore, now_iso
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


def print_record(store: CaseStore, print_id: int) -> dict[str, Any]:
    """Everything the case knows about one print: file facts, every result, every decision."""
    p = store.get_print(print_id)
    if p is None:
        from fpstation.core.errors import CaseStoreError

        raise CaseStoreError(f"There is no print {print_id} in this case.")
    return {"print": p, "results": store.results(print_id), "decisions": store.decisions(print_id)}


def export_json(store: CaseStore, path: str | Path) -> int:
    """The whole case as JSON (prints with all results and decisions, plus bad files); returns prints."""
    n = 0
    with _open_out(path) as fh:
        # written incrementally so a 10k-print case never sits in memory as one object
        head = {"fpstation": __version__, "case": store.name, "exported": now_iso(), "counts": store.counts()}
        fh.write("{\n" + ",\n".join(f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in head.items()))
        fh.write(',\n  "prints": [')
        for pid in store.iter_print_ids():
            fh.write(("," if n else "") + "\n    " + json.dumps(print_record(store, pid), default=str))
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
            return im, ""
    return None, f"The file no longer holds print #{p['idx']}."


_CSS = """body{font-family:system-ui,Segoe UI,Arial,sans-serif;margin:24px;color:#222}
h1{font-size:20px}h2{font-size:16px;margin-top:24px}table{border-collapse:collapse;margin:8px 0}
td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;font-size:13px;vertical-align:top}
th{background:#f3f3f3}.imgs{display:flex;gap:24px}.imgs figure{margin:0}
.imgs img{max-width:420px;image-rendering:pixelated;border:1px solid #999}
.verdict{font-size:28px;font-weight:bold}.ATTACK{color:#b00020}.LIVE{color:#1b7d2a}.UNCERTAIN{color:#a66b00}
.note{color:#a00}code{font-size:12px;word-break:break-all}"""


def _e(v: Any) -> str:
    return "" if v is None else html.escape(str(v))


def print_report_html(store: CaseStore, print_id: int, out: str | Path, *, restore: Restorer | None = None,
                      reader: Callable[[str], list[FingerprintImage]] | None = None) -> Path:
    """Write a self-contained HTML report of one print.

    Parameters
    ----------
    store, print_id : the case and the print (see :meth:`CaseStore.find_prints`).
    out : the .html file to write.
    restore : restoration step used to recompute the restored image (``None`` = original only).
    reader : file → prints (default ``core.imageio.read_prints``).

    Returns
    -------
    Path of the written report. Missing images are explained in the report, never fatal.
    """
    if reader is None:
        from fpstation.core.imageio import read_prints as reader
    rec = print_record(store, print_id)
    p = rec["print"]
    image, note = _load_original(p, reader)
    notes = [note] if note else []
    orig_b64 = rest_b64 = ""
    rest_caption = ""
    if image is not None:
        orig_b64 = png_base64(image.pixels)
        if restore is not None:
            try:
                r = restore(image)
                rest_b64 = png_base64(r.pixels)
                m = r.model
                rest_caption = f"{r.method}" + (f" — {m.name} v{m.version}" if m else "")
            except FpError as exc:
                notes.append(f"The restored image could not be produced: {exc.user_message}")
            except Exception as exc:  # noqa: BLE001
                notes.append(f"The restored image could not be produced ({type(exc).__name__}: {exc}).")
    pad = next((r for r in rec["results"] if r["step"] == "pad" and not r["error"]), None)
    title = f"Print report — {Path(p['path']).name}" + (f" #{p['idx']}" if p["idx"] else "")
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{_e(title)}</title>",
             f"<style>{_CSS}</style></head><body><h1>{_e(title)}</h1>"]
    if pad:
        parts.append(f"<p>Presentation-attack verdict: <span class='verdict {_e(pad['verdict'])}'>{_e(pad['verdict'])}"
                     f"</span> (attack score {pad['score']:.3f})</p>")
    qual = next((r for r in rec["results"] if r["step"] == "quality" and not r["error"]), None)
    if qual and qual["score"] is not None:
        parts.append(f"<p>Print quality: <b>{_e(qual['model_name'])} {int(qual['score'])}</b> (0–100, higher is "
                     "better)</p>")
    for n in notes:
        parts.append(f"<p class='note'>{_e(n)}</p>")
    parts.append("<div class='imgs'>")
    if orig_b64:
        parts.append(f"<figure><img alt='original' src='data:image/png;base64,{orig_b64}'>"
                     "<figcaption>Original</figcaption></figure>")
    if rest_b64:
        parts.append(f"<figure><img alt='restored' src='data:image/png;base64,{rest_b64}'>"
                     f"<figcaption>Restored ({_e(rest_caption)}, recomputed at export)</figcaption></figure>")
    parts.append("</div><h2>File</h2><table>")
    for k, label in (("path", "Path"), ("sha256", "SHA-256 of the file"), ("idx", "Print index"),
                     ("format", "Format"), ("size", "Size (bytes)"), ("width", "Width"), ("height", "Height"),
                     ("dpi", "dpi"), ("record", "Record"), ("finger_position", "Finger position"),
                     ("first_seen", "First analysed (UTC)")):
        if p.get(k) not in (None, ""):
            val = f"<code>{_e(p[k])}</code>" if k == "sha256" else _e(p[k])
            parts.append(f"<tr><th>{label}</th><td>{val}</td></tr>")
    parts.append("</table><h2>Results</h2><table><tr><th>Step</th><th>Verdict</th><th>Score</th>"
                 "<th>Model</th><th>Model version</th><th>Model SHA-256</th><th>Time (s)</th><th>Error</th>"
                 "<th>Details</th><th>When (UTC)</th></tr>")
    for r in rec["results"]:
        score = "" if r["score"] is None else f"{r['score']:.4f}"
        secs = "" if r["seconds"] is None else f"{r['seconds']:.3f}"
        parts.append(f"<tr><td>{_e(r['step'])}</td><td>{_e(r['verdict'])}</td><td>{score}</td>"
                     f"<td>{_e(r['model_name'])}</td><td>{_e(r['model_version'])}</td>"
                     f"<td><code>{_e(r['model_sha256'])}</code></td><td>{secs}</td><td>{_e(r['error'])}</td>"
                     f"<td><code>{_e(json.dumps(r['payload']) if r['payload'] else '')}</code></td>"
                     f"<td>{_e(r['created'])}</td></tr>")
    parts.append("</table><h2>Operator decisions</h2>")
    if rec["decisions"]:
        parts.append("<table><tr><th>When (UTC)</th><th>Decision</th><th>Operator</th><th>Note</th>"
                     "<th>PAD verdict at the time</th><th>Score</th></tr>")
        for d in rec["decisions"]:
            sc = "" if d["pad_score"] is None else f"{d['pad_score']:.3f}"
            parts.append(f"<tr><td>{_e(d['created'])}</td><td>{_e(d['decision'])}</td><td>{_e(d['operator'])}</td>"
                         f"<td>{_e(d['note'])}</td><td>{_e(d['pad_verdict'])}</td><td>{sc}</td></tr>")
        parts.append("</table>")
    else:
        parts.append("<p>No decision recorded.</p>")
    parts.append(f"<p style='color:#777;font-size:12px'>Case “{_e(store.name)}” · generated {now_iso()} "
                 f"by fpstation {__version__}</p></body></html>")
    with _open_out(out) as fh:
        fh.write("\n".join(parts))
    return Path(out)
