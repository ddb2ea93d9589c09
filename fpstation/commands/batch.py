"""``fpstation batch DIR --out results.csv [--case case.db] [--json] [--ext .bmp,.png] ...``

Runs :func:`fpstation.core.batch.run_batch` — the same job the GUI's "Analyse folder…" runs — with
a text progress bar. Rows are written to ``--out`` as they come (CSV, or JSON with ``--json`` or a
``.json`` name): the same columns as the GUI table. With ``--case`` the results also go to that case
store, and a re-run (even after the process was killed) resumes: prints already done are skipped
and appear as ``skipped`` rows with their stored results. With ``--persons`` the rows name their
person (``person``: SOCOFing subject id, else the sub-folder) and the table ends with one ``person``
row each: the prints' gender combined, the fingers used, its interval and the evidence.

Exit code 0 even when some files were bad (they are rows with status ``bad file``); 2 when the run
cannot proceed (missing folder, output or case not writable).
"""

from __future__ import annotations

import csv
import json
import os
import sys
import tempfile
from pathlib import Path


def add_parser(sub) -> None:
    p = sub.add_parser("batch", help="analyse every print in a folder into a CSV/JSON table (and a case)",
                       description="Analyse every print under DIR (recursively). Bad files become rows with "
                                   "their error; the run goes on.")
    p.add_argument("folder", metavar="DIR", type=Path, help="folder of prints")
    p.add_argument("--out", metavar="FILE", help="result rows: .csv (default) or .json; '-' = stdout")
    p.add_argument("--case", metavar="CASE.db", type=Path,
                   help="case store (SQLite) to write to and resume from (default: a temporary one)")
    p.add_argument("--json", action="store_true", help="write JSON rows instead of CSV")
    p.add_argument("--ext", metavar=".bmp,.png", help="only these extensions (default: every readable format)")
    p.add_argument("--no-recursive", action="store_true", help="do not descend into sub-folders")
    p.add_argument("--no-restore", action="store_true", help="skip restoration")
    p.add_argument("--no-pad", action="store_true", help="skip presentation-attack detection")
    p.add_argument("--no-gender", action="store_true", help="skip gender estimation")
    p.add_argument("--no-quality", action="store_true", help="skip NFIQ 2")
    p.add_argument("--persons", action="store_true",
                   help="add a 'person' column and, after the print rows, one gender row per person (SOCOFing "
                        "subject id, else the sub-folder) combining that person's prints")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    from fpstation.commands import add_dpi_argument

    add_dpi_argument(p)
    g = p.add_argument_group("engine", "where the analysis runs (the rows and the case are the same)")
    g.add_argument("--engine", choices=("local", "ray"), default="local",
                   help="local: this process (default); ray: Ray workers, this process writes the case "
                        "(needs the [cluster] extra)")
    g.add_argument("--address", metavar="ADDR",
                   help="Ray cluster to join: auto, ray://HOST:10001 or HOST:6379 (default: start a local Ray)")
    g.add_argument("--workers", metavar="N", type=int, help="Ray workers (default: every CPU of the cluster)")
    g.add_argument("--transport", choices=("auto", "path", "bytes"), default="auto",
                   help="how files reach Ray workers: path (shared storage), bytes (sent by this process), "
                        "auto: path when every worker sees the folder (default)")
    p.set_defaults(func=run)


class RowWriter:
    """Streams rows to CSV or JSON as they arrive (nothing accumulates in memory)."""

    def __init__(self, target: str | None, as_json: bool, person_root: str | Path | None = None) -> None:
        """``person_root``: the batch folder; print rows then name their person (``person`` column,
        :func:`fpstation.core.gender_person.person_key`) and :func:`person_rows` can follow."""
        from fpstation.core.errors import FpError
        from fpstation.core.store import ROW_COLUMNS

        self.columns = list(ROW_COLUMNS)
        self.person_root = None if person_root is None else str(person_root)
        if self.person_root is not None:
            from fpstation.commands.person import PERSON_COLUMNS

            self.columns += PERSON_COLUMNS
        #: person -> [(calibrated P(female) or None when outside the domain, gender model)] of the
        #: prints that got a gender result
        self.gendered: dict[str, list[tuple[float | None, str]]] = {}
        self.as_json = as_json
        self.n = 0
        if target in (None, "-"):
            self.fh, self.close_fh = sys.stdout, False
        else:
            try:
                Path(target).parent.mkdir(parents=True, exist_ok=True)
                self.fh, self.close_fh = open(target, "w", encoding="utf-8", newline=""), True
            except OSError as exc:
                raise FpError(f"The output “{target}” cannot be written: {exc.strerror or exc}.") from exc
        if as_json:
            self.fh.write("[")
        else:
            self.csv = csv.DictWriter(self.fh, fieldnames=self.columns, extrasaction="ignore")
            self.csv.writeheader()

    def __call__(self, item) -> None:
        row = {k: item.row.get(k) for k in self.columns}
        if self.person_root is not None and row.get("status") != "bad file" and row.get("path"):
            from fpstation.core.gender_person import person_key

            row["person"] = person_key(row["path"], self.person_root)
            if row.get("gender"):
                p = row.get("p_female")
                self.gendered.setdefault(row["person"], []).append(
                    (None if p in (None, "") else float(p), str(row.get("gender_model") or "")))
        self.write(row)

    def write(self, row: dict) -> None:
        """One row (missing columns empty)."""
        row = {k: row.get(k) for k in self.columns}
        if self.as_json:
            self.fh.write(("," if self.n else "") + "\n  " + json.dumps(row))
        else:
            self.csv.writerow({k: "" if v is None else v for k, v in row.items()})
        self.n += 1
        self.fh.flush()  # rows survive a kill too

    def close(self) -> None:
        if self.as_json:
            self.fh.write("\n]\n")
        self.fh.flush()
        if self.close_fh:
            self.fh.close()


def _check_folder(args) -> None:
    from fpstation.core.errors import FileAccessError

    if not args.folder.is_dir():
        raise FileAccessError(f"The folder “{args.folder}” does not exist or is not a folder.", path=str(args.folder))


def _analyzer_choice(args) -> dict:
    """The ``--no-restore/--no-pad/--no-gender/--no-quality`` choice as keyword arguments."""
    return dict(restoration=not args.no_restore, pad_=not args.no_pad, gender_=not args.no_gender,
                quality=not getattr(args, "no_quality", False))


def folder_and_analyzers(args):
    """Check ``args.folder`` and build the analysers chosen by ``--no-restore/--no-pad/--no-gender``
    (shared by ``batch`` and ``watch``)."""
    from fpstation.core.batch import analyzers_from_env

    _check_folder(args)
    analyzers = analyzers_from_env()
    if analyzers is None:
        from fpstation.ml.inference import default_analyzers
        from fpstation.settings import Settings

        analyzers = default_analyzers(Settings.load(), **_analyzer_choice(args))
    return analyzers


def ray_setup(args):
    """The Ray workers' set-up for ``--engine ray`` (checked before anything is written)."""
    from fpstation.core.cluster import ClusterError, import_ray, setup_from_env

    if getattr(args, "workers", None) is not None and args.workers < 1:
        raise ClusterError("--workers must be at least 1.")
    import_ray()  # says how to install Ray when it is missing
    _check_folder(args)
    setup = setup_from_env()
    if setup is None:
        from fpstation.ml.inference import ClusterSetup
        from fpstation.settings import Settings

        setup = ClusterSetup(Settings.load(), **_analyzer_choice(args))
    return setup


def cli_inputs(args, origin: str = "batch"):
    """The analysis inputs of ``batch`` / ``watch``: ``--dpi``, the settings' restorer and models, and
    which steps were asked for (a case keeps a separate analysis for each)."""
    from fpstation.core.store import analysis_inputs
    from fpstation.settings import Settings

    return analysis_inputs(Settings.load(), stated_dpi=getattr(args, "dpi", None), origin=origin,
                           restoration=not getattr(args, "no_restore", False))


def run(args) -> int:
    from fpstation.cli import TextProgress
    from fpstation.core.batch import run_batch
    from fpstation.core.jobs import throttled
    from fpstation.core.store import CaseStore

    engine = getattr(args, "engine", "local")
    if engine == "ray":
        setup = ray_setup(args)
    else:
        analyzers = folder_and_analyzers(args)
    as_json = args.json or str(args.out or "").lower().endswith(".json")
    tmpdir = None
    case = args.case
    if case is None:
        tmpdir = tempfile.mkdtemp(prefix="fpstation-batch-")
        case = Path(tmpdir) / "case.db"
    persons = bool(getattr(args, "persons", False)) and not args.no_gender
    writer = RowWriter(args.out, as_json, person_root=args.folder if persons else None)
    bar = TextProgress(enabled=False if args.quiet else None)
    if args.quiet:
        bar.stream = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the run
    progress = throttled(bar, 0.25 if bar.enabled else 5.0)
    try:
        with CaseStore(case) as store:
            inputs = cli_inputs(args)
            if engine == "ray":
                from fpstation.core.cluster import run_batch_ray

                s = run_batch_ray(args.folder, store, setup, progress, partial=writer, extensions=args.ext,
                                  recursive=not args.no_recursive, address=args.address, workers=args.workers,
                                  transport=args.transport, inputs=inputs)
            else:
                s = run_batch(args.folder, store, analyzers, progress, partial=writer,
                              extensions=args.ext, recursive=not args.no_recursive, inputs=inputs)
        if persons:
            person_rows(writer)
    finally:
        writer.close()
        if tmpdir:
            import shutil

            shutil.rmtree(tmpdir, ignore_errors=True)
    out = sys.stderr if args.out in (None, "-") else sys.stdout
    print(f"{s.files} files: {s.prints_analysed} prints analysed, {s.prints_skipped} already in the case, "
          f"{s.bad_files} bad files, {s.step_errors} prints with step errors; "
          f"{s.seconds:.1f} s ({s.prints_per_s:.1f} prints/s)", file=out)
    if engine == "ray":
        x = s.extra
        print(f"Ray: {x.get('workers')} workers at {x.get('ray_address')}, files sent as {x.get('transport')}, "
              f"start-up {x.get('setup_s', 0):.1f} s", file=out)
    return 0


def _gender_card(model_text: str) -> dict:
    """The card data of the gender model named in the rows ("name vX"), or {} when it is not installed
    (the combination then uses no combined calibration and the default band)."""
    try:
        from fpstation.ml.registry import get_registry

        cards = get_registry().cards("gender")
    except Exception:  # noqa: BLE001 - no registry: combine without the card's extras
        return {}
    for c in cards:
        if f"{c.name} v{c.version}" == model_text or c.name == model_text:
            return dict(c.data)
    return {}


def person_rows(writer: RowWriter) -> int:
    """Append one row per person to ``writer``: the prints' calibrated P(female) from their rows,
    combined by :func:`fpstation.core.gender_person.combine_person` (prints outside the model's
    domain are counted, not combined). Returns the number of person rows."""
    from fpstation.commands.person import person_entry_from_probabilities, person_row

    cards: dict[str, dict] = {}
    for person, prints in sorted(writer.gendered.items()):
        models = sorted({m for _, m in prints if m})
        model = models[0] if models else ""
        if len(models) > 1:
            writer.write(person_row({"person": person, "error": "prints scored by different gender models: "
                                                                + ", ".join(models)}))
            continue
        if model not in cards:
            cards[model] = _gender_card(model)
        writer.write(person_row(person_entry_from_probabilities(person, [p for p, _ in prints], cards[model],
                                                                model)))
    return len(writer.gendered)
