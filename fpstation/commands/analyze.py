"""``fpstation analyze FILE... [--json OUT] [--restorer unet|autoencoder|classical] [--no-restore] [--no-quality] [--subject NAME|auto] ...``

Reads each file (every print of a NIST file), runs :func:`fpstation.core.pipeline.analyse` with
the analysers from :func:`fpstation.ml.inference.default_analyzers`, prints one table row per
print and, with ``--json``, writes every detail (``-`` = stdout instead of the table). With
``--subject NAME`` the files are prints of one person: a line (and ``persons`` in the JSON) gives their
combined gender estimate, the fingers used, its interval and how strong the evidence is
(:mod:`fpstation.commands.person`); ``--subject auto`` gives one per person found (SOCOFing subject
id, else the folder).

A file that cannot be read becomes an error entry and the others go on; a step that fails (for
example a model that is not installed) becomes an entry in that print's ``errors``.
Exit code: 0 when every file was read (even if some analysis step failed), 2 when any file could
not be read. No tracebacks unless ``--debug``.
"""

from __future__ import annotations

import json
import sys
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESTORERS = ("unet", "autoencoder", "classical")


def add_parser(sub) -> None:
    p = sub.add_parser("analyze", help="analyse prints: size, dpi, sha256, restoration, PAD, gender",
                       description="Analyse one or more print files (NIST files: every print). "
                                   "Exit code 0 if every file was read, 2 if any could not be read.")
    p.add_argument("files", metavar="FILE", nargs="+", help="print files (PNG, BMP, TIFF, JPEG, PGM, WSQ, NIST)")
    p.add_argument("--json", metavar="OUT", help="write the full results as JSON to OUT ('-' = stdout)")
    p.add_argument("--restorer", choices=RESTORERS, help="restoration method (default: the saved setting)")
    p.add_argument("--no-restore", action="store_true", help="skip restoration")
    p.add_argument("--no-pad", action="store_true", help="skip presentation-attack detection")
    p.add_argument("--no-gender", action="store_true", help="skip gender estimation")
    p.add_argument("--no-quality", action="store_true", help="skip NFIQ 2")
    p.add_argument("--subject", metavar="NAME",
                   help="the files are prints of one person NAME: add their combined gender estimate (one row); "
                        "'auto' = one row per person found (SOCOFing subject id, else the folder)")
    from fpstation.commands import add_dpi_argument

    add_dpi_argument(p)
    p.set_defaults(func=run)


def _missing_module_guard(step: str, fn: Callable | None) -> Callable | None:
    """Turn "the model's code is not installed" into a clear step error instead of an import error."""
    if fn is None:
        return None

    def guarded(image):
        try:
            return fn(image)
        except ModuleNotFoundError as exc:
            from fpstation.core.errors import ModelNotFoundError

            if (exc.name or "").startswith("fpstation"):
                raise ModelNotFoundError(f"{step} is not available in this installation "
                                         f"(component {exc.name} is missing).") from exc
            raise ModelNotFoundError(f"{step} needs the Python package “{exc.name}”, which is not "
                                     "installed.") from exc

    return guarded


def _model_dict(model) -> dict[str, str] | None:
    if model is None:
        return None
    return {"name": model.name, "version": model.version, "sha256": model.sha256}


def _print_entry(path: str, image, result, load_s: float, skipped: list[str]) -> dict[str, Any]:
    computed: dict[str, Any] = {}
    r = result.restoration
    if r is not None:
        safe: dict[str, Any] = {k: v for k, v in (r.extras or {}).items() if isinstance(v, (str, int, float, bool))}
        stages = (r.extras or {}).get("timings")
        if isinstance(stages, dict):  # per-stage seconds (classical: load, segmentation, ...)
            safe["stage_seconds"] = {k: round(float(v), 4) for k, v in stages.items()
                                     if isinstance(v, (int, float))}
        computed["restoration"] = {"method": r.method, "model": _model_dict(r.model), "seconds": round(r.seconds, 4),
                                   "width": int(r.pixels.shape[1]), "height": int(r.pixels.shape[0]), **safe}
    if result.pad is not None:
        from fpstation.core.pad import pad_dict

        pd = result.pad
        # "pad" = the combined verdict over every PAD model; "models" = each model's own result
        computed["pad"] = {"attack_score": round(float(pd.attack_score), 6), "threshold": float(pd.threshold),
                           "verdict": pd.verdict, "model": _model_dict(pd.model),
                           "attack_types_seen": list(pd.attack_types_seen), "in_domain": pd.in_domain,
                           "domain_reason": pd.domain_reason,
                           "models": [pad_dict(m) for m in (result.pad_models or (pd,))]}
    if result.quality is not None:
        q = result.quality
        computed["quality"] = {"nfiq2": int(q.score), "name": q.name, "version": q.version,
                               "actionable": {k: round(float(v), 4) for k, v in q.actionable.items()},
                               **({"note": q.note} if q.note else {})}
    if result.gender is not None:
        g = result.gender
        # outside the validated domain the probability is no validated figure: it is not reported
        inside = bool(g.in_domain)
        computed["gender"] = {"p_female": round(float(g.p_female), 6) if inside else None,
                              "p_male": round(float(g.p_male), 6) if inside else None,
                              "p_female_range": [round(float(v), 6) for v in g.p_range] if inside and g.p_range
                              else None,
                              "label": g.label, "in_domain": inside, "domain_reason": g.domain_reason,
                              "cv_balanced_accuracy": list(g.cv_balanced_accuracy) or None,
                              "model": _model_dict(g.model)}
    timings = {"load": round(load_s, 4)}
    timings.update({k: round(v, 4) for k, v in result.timings.items()})
    return {"path": path, "index": image.index, "record": image.record or None,
            "finger_position": image.finger_position, "sha256": image.sha256, "width": image.width,
            "height": image.height, "dpi": image.dpi, "dpi_source": image.dpi_source, "dpi_text": image.dpi_text,
            "file_dpi": image.file_dpi, "format": image.format, "notes": list(image.notes),
            "computed": computed, "errors": dict(result.errors), "skipped": skipped, "timings": timings}


def _cell(entry: dict[str, Any], step: str) -> str:
    if step in entry.get("skipped", []):
        return "-"
    if step in entry["errors"]:
        return "ERROR"
    c = entry["computed"].get(step)
    if c is None and step != "pad models":
        return "-"
    if step == "restoration":
        return f"{c['method']} {c['seconds'] * 1000:.0f}ms"
    if step == "pad":
        return f"{c['verdict']} {c['attack_score']:.2f}"
    if step == "quality":
        return str(c["nfiq2"])
    if step == "pad models":
        c = entry["computed"].get("pad")
        return " | ".join(f"{m['model']}: {m['verdict']} {m['attack_score']:.2f}" + ("" if m["in_domain"] else " (out)")
                          for m in c.get("models", [])) if c else "-"
    if not c.get("in_domain", True):
        return "outside domain"
    return f"{c['label']} {c['p_female']:.2f}"


def format_table(entries: list[dict[str, Any]]) -> str:
    """The human-readable table printed by ``analyze`` (one row per print, then the errors)."""
    head = ("file", "size", "dpi", "format", "nfiq2", "restoration", "pad", "pad models", "gender", "time")
    rows = []
    notes = []
    for e in entries:
        name = Path(e["path"]).name
        if "error" in e:
            rows.append((name, "", "", "", "", "UNREADABLE", "", "", "", ""))
            notes.append(f"{name}: {e['error']}")
            continue
        if e.get("record"):
            name += f" [{e['record']} #{e['index']}" + (f" f{e['finger_position']}" if e["finger_position"] else "") + "]"
        total = sum(e["timings"].values())
        dpi = "unknown" if e["dpi"] is None else f"{e['dpi']:g}" + (" (stated)" if e.get("dpi_source") == "stated" else "")
        rows.append((name, f"{e['width']}x{e['height']}", dpi, e["format"], _cell(e, "quality"), _cell(e, "restoration"),
                     _cell(e, "pad"), _cell(e, "pad models") if "pad" in e["computed"] else "-", _cell(e, "gender"),
                     f"{total:.2f}s"))
        pad = e["computed"].get("pad") or {}
        notes.extend(f"{name}: {m['model']}: {m['domain_reason']}" for m in pad.get("models", [])
                     if not m.get("in_domain", True) and m.get("domain_reason"))
        notes.extend(f"{name}: {step}: {msg}" for step, msg in e["errors"].items())
        notes.extend(f"{name}: note: {n}" for n in e["notes"])
        extra = e["computed"].get("restoration", {}).get("note")
        if extra:
            notes.append(f"{name}: restoration: {extra}")
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in [head, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines + ([""] + notes if notes else []))


def analyze_files(files: list[str], analyzers, debug: bool = False,
                  log: Callable[[str], None] | None = None, dpi: float | None = None,
                  keep: list | None = None) -> tuple[list[dict[str, Any]], bool]:
    """Read and analyse every file; returns (entries, all files were read). ``dpi`` = the
    resolution stated by the user (replaces the files' own; recorded as stated). ``keep``: a list
    that receives (path, image) of every print read."""
    from fpstation.core.errors import FpError
    from fpstation.core.imageio import read_prints
    from fpstation.core.pipeline import analyse

    entries: list[dict[str, Any]] = []
    all_read = True
    from fpstation.core.steps import STEP_NAMES

    skipped = [n for n in STEP_NAMES if analyzers.step(n) is None]
    for path in files:
        t0 = time.perf_counter()
        try:
            prints = read_prints(path)
        except FpError as exc:
            all_read = False
            entries.append({"path": path, "error": exc.user_message, "error_type": type(exc).__name__})
            if log:
                log(f"error: {path}: {exc.user_message}")
            if debug:
                traceback.print_exc()
            continue
        except Exception as exc:  # noqa: BLE001 - one unexpected failure must not stop the other files
            all_read = False
            entries.append({"path": path, "error": f"unexpected failure: {type(exc).__name__}: {exc}",
                            "error_type": type(exc).__name__})
            if log:
                log(f"error: {path}: unexpected failure: {type(exc).__name__}: {exc}")
            if debug:
                traceback.print_exc()
            continue
        load_s = (time.perf_counter() - t0) / len(prints)
        for image in prints:
            image = image.with_stated_dpi(dpi)
            if keep is not None:
                keep.append((path, image))
            result = analyse(image, analyzers)
            entries.append(_print_entry(path, image, result, load_s, skipped))
    return entries, all_read


def run(args) -> int:
    from fpstation import __version__
    from fpstation.core.steps import STEPS
    from fpstation.ml.inference import default_analyzers
    from fpstation.settings import Settings

    settings = Settings.load()
    if args.restorer:
        settings.restorer = args.restorer
    base = default_analyzers(settings, restoration=not args.no_restore, pad_=not args.no_pad,
                             gender_=not args.no_gender, quality=not getattr(args, "no_quality", False))
    titles = {s.name: s.title for s in STEPS}
    analyzers = base.replace_steps(lambda name, fn: _missing_module_guard(titles[name], fn))
    debug = bool(getattr(args, "debug", False))
    subject = getattr(args, "subject", None)
    kept: list = []
    entries, all_read = analyze_files(list(args.files), analyzers, debug=debug,
                                      log=lambda m: print(m, file=sys.stderr), dpi=getattr(args, "dpi", None),
                                      keep=kept if subject else None)
    persons = _persons(subject, kept, settings.gender_model, args.no_gender)
    doc = {"fpstation": __version__, "created": datetime.now(UTC).isoformat(timespec="seconds"),
           "options": {"restorer": None if args.no_restore else settings.restorer,
                       "restore": not args.no_restore, "pad": not args.no_pad, "gender": not args.no_gender,
                       "dpi_stated": getattr(args, "dpi", None)},
           "results": entries}
    if subject:
        doc["persons"] = persons
    if args.json == "-":
        json.dump(doc, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(format_table(entries))
        if subject:
            from fpstation.commands.person import format_person

            print("\n" + "\n".join(format_person(e) for e in persons))
        if args.json:
            from fpstation.core.errors import FpError

            out = Path(args.json)
            try:
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_text(json.dumps(doc, indent=2), encoding="utf-8")
            except OSError as exc:
                raise FpError(f"The JSON output “{out}” cannot be written: {exc.strerror or exc}.") from exc
    return 0 if all_read else 2


def _persons(subject: str | None, kept: list, model_key: str, no_gender: bool) -> list[dict[str, Any]]:
    """Per-person gender entries: every print under ``subject``, or grouped by person ('auto')."""
    if not subject:
        return []
    from fpstation.commands.person import person_entry
    from fpstation.core.errors import FpError
    from fpstation.core.gender_person import person_key

    groups: dict[str, list] = {}
    for path, image in kept:
        name = person_key(path) if subject == "auto" else subject
        groups.setdefault(name, []).append(image)
    out = []
    for name, images in groups.items():
        if no_gender:
            out.append({"person": name, "prints": len(images), "error": "gender estimation was skipped (--no-gender)"})
            continue
        try:
            out.append(person_entry(name, images, model_key))
        except FpError as exc:
            out.append({"person": name, "prints": len(images), "error": exc.user_message})
    return out
