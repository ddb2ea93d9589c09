"""The case store: one SQLite database (WAL) per case, holding everything analysed in that case.

What is kept (derived data only — never pixels, so a case of 10k prints stays a few MB):

- ``files``: one row per distinct file content (SHA-256 of the bytes), with how many prints it holds
  once every print of it has been analysed (``n_prints``; NULL while incomplete);
- ``prints``: one row per print, identified by ``(sha256, idx)`` (idx = position inside a
  multi-print NIST file), with the path where it was first seen, size, dimensions, dpi, format;
- ``analyses``: one dated row per analysis of a print, with its inputs: the dpi and where it came
  from, the restorer, the other settings that change a result (``key``), where it ran (batch, desk,
  window, CLI) and the model versions its results came from. Restating the dpi or changing the
  restorer makes a new analysis; nothing is reused by file hash alone (schema 3);
- ``results``: one row per ``(analysis, step)`` with the model's name, version and sha256, score,
  verdict, a JSON payload, timing and error text;
- ``file_errors``: files that could not be read (one row per ``(path, sha256)``, re-seen ones only
  update ``last_seen``);
- ``decisions``: the operator's decisions. **Append-only**: triggers abort every UPDATE and DELETE,
  so the audit trail cannot be rewritten through SQLite.

Crash safety: a print and all its results are written in one transaction, so killing the process
(SIGKILL) loses at most the print being analysed; unique constraints make a re-run idempotent.
``synchronous=NORMAL`` in WAL mode survives a process crash (not necessarily a power cut), which is
the trade-off we want for throughput.

One store object may be shared by several threads (the batch job writes, the GUI records
decisions): every statement runs under one lock on one connection.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fpstation.core.analysis_records import (  # noqa: F401 - re-exported: the store's public names
    DEFAULT_INPUTS,
    LEGACY_ORIGIN,
    ORIGIN_WORDS,
    AnalysisInputs,
    StepRecord,
    _jsonable,
    _key,
    analysis_inputs,
    step_records,
)
from fpstation.core.case_rows import (  # noqa: F401 - re-exported
    ROW_COLUMNS,
    flat_error_row,
    flat_row,
    pad_models_text,
)
from fpstation.core.errors import CaseStoreError
from fpstation.core.imageio import dpi_note
from fpstation.core.steps import STEP_NAMES
from fpstation.core.store_schema import _ANALYSES_DDL, _RESULTS_DDL, _SCHEMA
from fpstation.core.types import AnalysisResult, FingerprintImage

SCHEMA_VERSION = 3
#: schema 2 (stated dpi): prints.dpi_source = "file" | "stated" | "" (NULL in cases written by
#: version 1, which are upgraded in place on open and stay readable)
#: schema 3 (analysis records): results belong to an ``analyses`` row (its inputs, dated); a case of
#: version 1 or 2 is upgraded in place: each print's results become one analysis whose origin reads
#: "recorded before analysis records" (its restorer and settings were not kept, so it is never reused)
#: analysis steps in display order (the table: fpstation.core.steps)
STEPS = STEP_NAMES



def _insert_print(db: sqlite3.Connection, image: Any, size: int | None, ts: str) -> int:
    """Insert a print (and its file) unless stored; its id. Runs inside the caller's transaction."""
    db.execute("INSERT OR IGNORE INTO files (sha256, size, format, first_seen) VALUES (?,?,?,?)",
               (image.sha256, size, image.format, ts))
    db.execute(
        "INSERT OR IGNORE INTO prints (sha256, idx, path, size, width, height, dpi, format, record,"
        " finger_position, first_seen, dpi_source, dpi_note) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (image.sha256, image.index, str(image.source), size, image.width, image.height,
         image.dpi, image.format, image.record, image.finger_position, ts, image.dpi_source,
         dpi_note(image)))
    return int(db.execute("SELECT id FROM prints WHERE sha256=? AND idx=?", (image.sha256, image.index)).fetchone()[0])


#: operator name of records the desk writes by itself (liveness transaction attempts): kept in the
#: append-only decisions trail, never shown as "the operator's decision"
AUTOMATIC_OPERATOR = "desk (automatic)"


def last_operator_decision(decisions: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The newest decision made by a person (automatic desk records skipped), or None."""
    return next((d for d in reversed(decisions) if d.get("operator") != AUTOMATIC_OPERATOR), None)


def now_iso() -> str:
    """UTC timestamp with milliseconds, ISO 8601 (sorts as text)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class CaseStore:
    """A case: one SQLite file. Use as a context manager or call :meth:`close`.

    Parameters
    ----------
    path : the database file (created with its folder when missing). ``":memory:"`` for tests.

    Raises
    ------
    CaseStoreError
        The file is not a case store, is from a newer version, or cannot be opened/written.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._lock = threading.RLock()
        try:
            if self.path != ":memory:":
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            # isolation_level=None: we issue BEGIN/COMMIT ourselves, so a print + its results are atomic.
            self._db = sqlite3.connect(self.path, timeout=10.0, isolation_level=None, check_same_thread=False)
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            row = None
            if self._db.execute("SELECT name FROM sqlite_master WHERE name='meta'").fetchone():
                row = self._db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            if row is not None and int(row[0]) > SCHEMA_VERSION:
                raise CaseStoreError(f"The case “{Path(self.path).name}” was written by a newer fpstation.",
                                     path=self.path)
            if row is not None and int(row[0]) < SCHEMA_VERSION:
                self._migrate(int(row[0]))
            if row is None or int(row[0]) >= 3:
                cols = {r[1] for r in self._db.execute("PRAGMA table_info(prints)")}
                if cols and "dpi_note" not in cols:  # written before the column existed (additive)
                    self._db.execute("ALTER TABLE prints ADD COLUMN dpi_note TEXT")
            self._db.executescript(_SCHEMA)
            if row is None:
                self._db.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
                self._db.execute("INSERT OR IGNORE INTO meta VALUES ('created', ?)", (now_iso(),))
        except sqlite3.DatabaseError as exc:
            raise CaseStoreError(f"“{Path(self.path).name}” cannot be opened as a case: {exc}.",
                                 path=self.path, detail=str(exc)) from exc
        except OSError as exc:
            raise CaseStoreError(f"The case file “{self.path}” cannot be created: {exc.strerror or exc}.",
                                 path=self.path) from exc

    def _migrate(self, version: int) -> None:
        """Upgrade an older case in place (one transaction); its rows stay as they were."""
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            cols = {r[1] for r in db.execute("PRAGMA table_info(prints)").fetchall()}
            if cols and "dpi_source" not in cols:
                db.execute("ALTER TABLE prints ADD COLUMN dpi_source TEXT")
            if cols and "dpi_note" not in cols:
                db.execute("ALTER TABLE prints ADD COLUMN dpi_note TEXT")
            if version < 3 and "prints" in tables:
                # every print's results become one dated analysis, its dpi as the print recorded it;
                # its restorer and settings were not kept, so its key matches no new analysis
                db.execute(_ANALYSES_DDL)
                first = ("COALESCE((SELECT MIN(r.created) FROM results r WHERE r.print_id=p.id), p.first_seen)"
                         if "results" in tables else "p.first_seen")
                rst = ("(SELECT r.model_name FROM results r WHERE r.print_id=p.id AND r.step='restoration')"
                       if "results" in tables else "NULL")
                db.execute(
                    "INSERT INTO analyses (print_id, key, origin, dpi, dpi_source, dpi_note, restorer, settings, created)"
                    f" SELECT p.id, 'schema 2', ?, p.dpi, p.dpi_source, p.dpi_note, COALESCE({rst}, ''), '{{}}',"  # noqa: S608
                    f" {first} FROM prints p ORDER BY p.id", (LEGACY_ORIGIN,))
                if "results" in tables:
                    db.execute("ALTER TABLE results RENAME TO results_v2")
                    db.execute("DROP INDEX IF EXISTS results_print")
                    db.execute(_RESULTS_DDL)
                    db.execute("INSERT INTO results (id, print_id, analysis_id, step, model_name, model_version,"
                               " model_sha256, score, verdict, payload, seconds, error, created)"
                               " SELECT r.id, r.print_id, (SELECT a.id FROM analyses a WHERE a.print_id=r.print_id),"
                               " r.step, r.model_name, r.model_version, r.model_sha256, r.score, r.verdict,"
                               " r.payload, r.seconds, r.error, r.created FROM results_v2 r ORDER BY r.id")
                    db.execute("DROP TABLE results_v2")
                if "decisions" in tables:
                    dcols = {r[1] for r in db.execute("PRAGMA table_info(decisions)").fetchall()}
                    if "analysis_id" not in dcols:  # NULL: made on the print's only (upgraded) analysis
                        db.execute("ALTER TABLE decisions ADD COLUMN analysis_id INTEGER")
            db.execute("UPDATE meta SET value=? WHERE key='schema_version'", (str(SCHEMA_VERSION),))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    # -- lifecycle -------------------------------------------------------------------------------
    def close(self) -> None:
        with self._lock:
            try:
                self._db.close()
            except sqlite3.Error:
                pass

    def __enter__(self) -> CaseStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def name(self) -> str:
        return Path(self.path).stem

    def _q(self, sql: str, params: tuple | dict = ()) -> list[sqlite3.Row]:
        with self._lock:
            try:
                return self._db.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise CaseStoreError(f"The case store could not be read: {exc}.", path=self.path) from exc

    # -- face gallery (vectors only; the embedding itself lives in ml/face) -------------------
    def add_face_templates(self, rows: list[dict[str, Any]]) -> int:
        """Add gallery templates (``identity, model, model_sha256, dim, vector: bytes, path,
        image_sha256, box``) in one transaction; an image already enrolled for that identity and
        model is replaced. Returns the number written."""
        def tx(db: sqlite3.Connection) -> int:
            for r in rows:
                db.execute("INSERT OR REPLACE INTO face_templates (identity, model, model_sha256, dim, vector, "
                           "path, image_sha256, box, created) VALUES (?,?,?,?,?,?,?,?,?)",
                           (r["identity"], r["model"], r["model_sha256"], int(r["dim"]), r["vector"],
                            r.get("path", ""), r["image_sha256"], json.dumps(r.get("box") or {}), now_iso()))
            return len(rows)
        return self._write(tx)

    def face_templates(self, model: str) -> list[dict[str, Any]]:
        rows = self._q("SELECT identity, model_sha256, dim, vector, path, image_sha256, box FROM face_templates "
                       "WHERE model=? ORDER BY identity, id", (model,))
        return [dict(r) for r in rows]

    def face_identities(self, model: str | None = None) -> dict[str, int]:
        """Enrolled identities -> number of templates (of ``model``, or of any model)."""
        sql = "SELECT identity, COUNT(*) FROM face_templates"
        rows = self._q(sql + " WHERE model=? GROUP BY identity" if model else sql + " GROUP BY identity",
                       (model,) if model else ())
        return {r[0]: int(r[1]) for r in rows}

    def remove_face_identity(self, identity: str) -> int:
        """Remove a person from the gallery (every model); returns the templates removed."""
        def tx(db: sqlite3.Connection) -> int:
            return db.execute("DELETE FROM face_templates WHERE identity=?", (identity,)).rowcount
        return self._write(tx)

    # -- what is done ----------------------------------------------------------------------------
    def file_complete(self, sha256: str) -> bool:
        """True when every print of this file content has been stored."""
        rows = self._q("SELECT n_prints FROM files WHERE sha256=?", (sha256,))
        return bool(rows) and rows[0][0] is not None

    def file_done(self, sha256: str, steps: set[str] | frozenset[str] | tuple[str, ...] = (),
                  inputs: AnalysisInputs | None = None) -> bool:
        """True when every print of this file is stored with an analysis of these ``inputs`` (same
        stated dpi, restorer and settings) holding a successful result for every step in ``steps``."""
        steps = tuple(sorted(set(steps)))
        with self._lock:
            row = self._q("SELECT n_prints FROM files WHERE sha256=?", (sha256,))
            if not row or row[0][0] is None:
                return False
            n = int(row[0][0])
            marks = ",".join("?" * len(steps)) or "''"
            ok = self._q(
                "SELECT COUNT(*) FROM prints p WHERE p.sha256=? AND EXISTS (SELECT 1 FROM analyses a WHERE"
                " a.print_id=p.id AND a.key=? AND (SELECT COUNT(DISTINCT r.step) FROM results r"
                f" WHERE r.analysis_id=a.id AND r.error IS NULL AND r.step IN ({marks}))=?)",  # noqa: S608
                (sha256, _key(inputs), *steps, len(steps)))[0][0]
            return int(ok) >= n

    def done_files(self, steps: set[str] | frozenset[str] | tuple[str, ...] = (),
                   inputs: AnalysisInputs | None = None) -> set[str]:
        """SHA-256 of every file for which :meth:`file_done` is true (one query; a cluster batch sends
        this set to its workers so a resumed run skips finished files without decoding them)."""
        steps = tuple(sorted(set(steps)))
        marks = ",".join("?" * len(steps)) or "''"
        rows = self._q(
            "SELECT f.sha256 FROM files f WHERE f.n_prints IS NOT NULL AND (SELECT COUNT(*) FROM prints p"
            " WHERE p.sha256=f.sha256 AND EXISTS (SELECT 1 FROM analyses a WHERE a.print_id=p.id AND a.key=?"
            " AND (SELECT COUNT(DISTINCT r.step) FROM results r WHERE r.analysis_id=a.id"
            f" AND r.error IS NULL AND r.step IN ({marks}))=?)) >= f.n_prints",  # noqa: S608
            (_key(inputs), *steps, len(steps)))
        return {r[0] for r in rows}

    def print_ids_of_file(self, sha256: str) -> list[int]:
        return [int(r[0]) for r in self._q("SELECT id FROM prints WHERE sha256=? ORDER BY idx", (sha256,))]

    def analysis_id(self, print_id: int, inputs: AnalysisInputs | None = None, *, any_inputs: bool = False) -> int | None:
        """The newest analysis of a print made with ``inputs`` (``any_inputs``: the newest of any)."""
        if any_inputs:
            rows = self._q("SELECT id FROM analyses WHERE print_id=? ORDER BY id DESC LIMIT 1", (print_id,))
        else:
            rows = self._q("SELECT id FROM analyses WHERE print_id=? AND key=? ORDER BY id DESC LIMIT 1",
                           (print_id, _key(inputs)))
        return int(rows[0][0]) if rows else None

    def done_steps(self, sha256: str, idx: int = 0, inputs: AnalysisInputs | None = None) -> set[str] | None:
        """Steps with a successful result in the newest analysis of these ``inputs``; ``None`` when the
        print has no such analysis (not stored at all, or only at another dpi / restorer / settings)."""
        pid = self.print_id(sha256, idx)
        aid = self.analysis_id(pid, inputs) if pid is not None else None
        if aid is None:
            return None
        steps = self._q("SELECT step FROM results WHERE analysis_id=? AND error IS NULL", (aid,))
        return {r[0] for r in steps}

    def print_id(self, sha256: str, idx: int = 0) -> int | None:
        rows = self._q("SELECT id FROM prints WHERE sha256=? AND idx=?", (sha256, idx))
        return int(rows[0][0]) if rows else None

    # -- writing ---------------------------------------------------------------------------------
    def _write(self, fn) -> Any:
        """Run ``fn(cursor)`` in one IMMEDIATE transaction (all or nothing)."""
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    out = fn(self._db)
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
                return out
            except sqlite3.Error as exc:
                raise CaseStoreError(f"The case store could not be written: {exc}.", path=self.path,
                                     detail=str(exc)) from exc

    def record_print(self, image: FingerprintImage, records: list[StepRecord], *, size: int | None = None,
                     inputs: AnalysisInputs | None = None, new: bool = False) -> int:
        """Store one print and its step results atomically; returns the print id.

        The results go to the newest analysis of the print made with the same ``inputs`` (a re-run
        completes it), or to a new dated analysis when there is none or ``new`` is set. Within an
        analysis a step's result is replaced only when the new record is a success or the stored one
        was an error (a re-run retries failed steps; it never degrades a good result).
        """
        return self.record_print_analysis(image, records, size=size, inputs=inputs, new=new)[0]

    def record_print_analysis(self, image: FingerprintImage, records: list[StepRecord], *, size: int | None = None,
                              inputs: AnalysisInputs | None = None, new: bool = False) -> tuple[int, int]:
        """As :meth:`record_print`; returns ``(print id, analysis id)``."""
        ts = now_iso()
        inp = inputs or DEFAULT_INPUTS
        key = inp.key()

        def tx(db: sqlite3.Connection) -> tuple[int, int]:
            pid = _insert_print(db, image, size, ts)
            found = None if new else db.execute(
                "SELECT id FROM analyses WHERE print_id=? AND key=? ORDER BY id DESC LIMIT 1", (pid, key)).fetchone()
            if found is not None:
                aid = int(found[0])
            else:
                aid = int(db.execute(
                    "INSERT INTO analyses (print_id, key, origin, dpi, dpi_source, dpi_note, restorer, settings,"
                    " created) VALUES (?,?,?,?,?,?,?,?,?)",
                    (pid, key, inp.origin, image.dpi, image.dpi_source, dpi_note(image), inp.restorer,
                     json.dumps(dict(inp.settings)), ts)).lastrowid)
            for r in records:
                m = r.model
                db.execute(
                    "INSERT INTO results (print_id, analysis_id, step, model_name, model_version, model_sha256,"
                    " score, verdict, payload, seconds, error, created) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)"
                    " ON CONFLICT(analysis_id, step) DO UPDATE SET model_name=excluded.model_name,"
                    " model_version=excluded.model_version, model_sha256=excluded.model_sha256,"
                    " score=excluded.score, verdict=excluded.verdict, payload=excluded.payload,"
                    " seconds=excluded.seconds, error=excluded.error, created=excluded.created"
                    " WHERE results.error IS NOT NULL OR excluded.error IS NULL",
                    (pid, aid, r.step, m.name if m else None, m.version if m else None, m.sha256 if m else None,
                     r.score, r.verdict, json.dumps(r.payload) if r.payload is not None else None,
                     r.seconds, r.error, ts))
            return int(pid), aid

        return self._write(tx)

    def record_analysis(self, result: AnalysisResult, *, size: int | None = None,
                        inputs: AnalysisInputs | None = None, new: bool = False) -> int:
        """Store an :class:`AnalysisResult` (derived values only); returns the print id."""
        return self.record_print(result.image, step_records(result), size=size, inputs=inputs, new=new)

    def mark_file_complete(self, sha256: str, n_prints: int, *, size: int | None = None, fmt: str = "") -> None:
        """Record that all ``n_prints`` prints of a file are stored, so re-runs skip it by hash alone."""
        ts = now_iso()

        def tx(db: sqlite3.Connection) -> None:
            db.execute("INSERT OR IGNORE INTO files (sha256, size, format, first_seen) VALUES (?,?,?,?)",
                       (sha256, size, fmt, ts))
            db.execute("UPDATE files SET n_prints=? WHERE sha256=?", (n_prints, sha256))
            # a file that reads now is no longer an error
            db.execute("DELETE FROM file_errors WHERE sha256=?", (sha256,))

        self._write(tx)

    def record_file_error(self, path: str, error_type: str, message: str, *, sha256: str = "",
                          size: int | None = None) -> int:
        """Record (or refresh) a file that could not be read; returns its row id."""
        ts = now_iso()

        def tx(db: sqlite3.Connection) -> int:
            db.execute(
                "INSERT INTO file_errors (path, sha256, size, error_type, message, first_seen, last_seen)"
                " VALUES (?,?,?,?,?,?,?) ON CONFLICT(path, sha256) DO UPDATE SET last_seen=excluded.last_seen,"
                " error_type=excluded.error_type, message=excluded.message, size=excluded.size",
                (str(path), sha256, size, error_type, message, ts, ts))
            return int(db.execute("SELECT id FROM file_errors WHERE path=? AND sha256=?",
                                  (str(path), sha256)).fetchone()[0])

        return self._write(tx)

    def add_decision(self, print_id: int, decision: str, operator: str = "", note: str = "",
                     analysis_id: int | None = None) -> int:
        """Append an operator decision (never rewritten) on ``analysis_id`` (default: the print's newest
        analysis). Captures the PAD verdict it was made on and which analysis that was."""
        if not decision:
            raise CaseStoreError("A decision needs a value (e.g. “confirm” or “override”).")
        ts = now_iso()

        def tx(db: sqlite3.Connection) -> int:
            if db.execute("SELECT 1 FROM prints WHERE id=?", (print_id,)).fetchone() is None:
                raise CaseStoreError(f"There is no print {print_id} in this case.", path=self.path)
            aid = analysis_id
            if aid is None:
                found = db.execute("SELECT id FROM analyses WHERE print_id=? ORDER BY id DESC LIMIT 1",
                                   (print_id,)).fetchone()
                aid = int(found[0]) if found else None
            elif db.execute("SELECT 1 FROM analyses WHERE id=? AND print_id=?", (aid, print_id)).fetchone() is None:
                raise CaseStoreError(f"Analysis {aid} is not one of print {print_id}.", path=self.path)
            pad = db.execute("SELECT verdict, score FROM results WHERE analysis_id=? AND step='pad' AND error IS NULL",
                             (aid,)).fetchone()
            cur = db.execute(
                "INSERT INTO decisions (print_id, decision, operator, note, pad_verdict, pad_score, created,"
                " analysis_id) VALUES (?,?,?,?,?,?,?,?)",
                (print_id, decision, operator, note, pad[0] if pad else None, pad[1] if pad else None, ts, aid))
            return int(cur.lastrowid)

        return self._write(tx)

    # -- reading ---------------------------------------------------------------------------------
    # -- minutiae templates (the gallery) ---------------------------------------------------------
    def put_template(self, print_id: int, extractor: str, version: str, template_json: str,
                     iso: bytes | None = None, seconds: float | None = None) -> None:
        """Store (or replace) the template one extractor made of a print."""
        ts = now_iso()
        self._write(lambda db: db.execute(
            "INSERT INTO templates (print_id, extractor, extractor_version, template, iso, seconds, created)"
            " VALUES (?,?,?,?,?,?,?) ON CONFLICT(print_id, extractor) DO UPDATE SET"
            " extractor_version=excluded.extractor_version, template=excluded.template, iso=excluded.iso,"
            " seconds=excluded.seconds, created=excluded.created",
            (print_id, extractor, version, template_json, iso, seconds, ts)))

    def put_enrolment(self, items: list[tuple[Any, int | None, str, str, str, bytes | None, float | None]],
                      complete: list[tuple[str, int, int | None, str]] = ()) -> list[int]:
        """Store several prints with their templates in ONE transaction (the enrolment's batched commit).

        ``items``: ``(print, file size, extractor, version, template JSON, ISO bytes, seconds)``, the print
        being a :class:`~fpstation.core.types.FingerprintImage` or anything with its metadata (e.g.
        :class:`fpstation.core.cluster.PrintMeta`); ``complete``: ``(sha256, n_prints, size, format)`` of
        files whose every print is now stored. All or nothing: a crash loses the whole batch, which a
        re-run makes again (a print is unique by content and index, a template by print and extractor).
        Returns the print ids, in order.
        """
        ts = now_iso()

        def tx(db: sqlite3.Connection) -> list[int]:
            ids = []
            for image, size, extractor, version, tjson, iso, seconds in items:
                pid = _insert_print(db, image, size, ts)
                db.execute(
                    "INSERT INTO templates (print_id, extractor, extractor_version, template, iso, seconds, created)"
                    " VALUES (?,?,?,?,?,?,?) ON CONFLICT(print_id, extractor) DO UPDATE SET"
                    " extractor_version=excluded.extractor_version, template=excluded.template, iso=excluded.iso,"
                    " seconds=excluded.seconds, created=excluded.created",
                    (pid, extractor, version, tjson, iso, seconds, ts))
                ids.append(pid)
            for sha, n, size, fmt in complete:
                db.execute("INSERT OR IGNORE INTO files (sha256, size, format, first_seen) VALUES (?,?,?,?)",
                           (sha, size, fmt, ts))
                db.execute("UPDATE files SET n_prints=? WHERE sha256=?", (n, sha))
            return ids

        return self._write(tx)

    def enrolled(self, extractor: str, version: str) -> tuple[dict[str, int], set[tuple[str, int]]]:
        """What an enrolment with ``extractor`` at ``version`` can skip, in two queries:
        ``({file sha256: n_prints} of files whose every print has such a template, {(sha256, idx)} of
        every print that has one)``."""
        rows = self._q("SELECT p.sha256, p.idx FROM templates t JOIN prints p ON p.id=t.print_id"
                       " WHERE t.extractor=? AND t.extractor_version=?", (extractor, version))
        have = {(r[0], int(r[1])) for r in rows}
        per_file: dict[str, int] = {}
        for sha, _ in have:
            per_file[sha] = per_file.get(sha, 0) + 1
        files = {}
        for r in self._q("SELECT sha256, n_prints FROM files WHERE n_prints IS NOT NULL"):
            if r[1] and per_file.get(r[0]) == int(r[1]):
                files[r[0]] = int(r[1])
        return files, have

    def template_version(self, print_id: int, extractor: str) -> str | None:
        """Version of the extractor that made the stored template of a print (None: no template)."""
        rows = self._q("SELECT extractor_version FROM templates WHERE print_id=? AND extractor=?",
                       (print_id, extractor))
        return rows[0][0] if rows else None

    def templates(self, extractor: str) -> list[dict[str, Any]]:
        """Every stored template of one extractor, with its print's path and index, by print id."""
        rows = self._q("SELECT t.print_id, t.extractor_version, t.template, p.path, p.idx, p.sha256 FROM templates t"
                       " JOIN prints p ON p.id=t.print_id WHERE t.extractor=? ORDER BY t.print_id", (extractor,))
        return [dict(r) for r in rows]

    def iter_templates(self, extractor: str, version: str | None = None, batch: int = 5000):
        """The stored templates of one extractor (of ``version`` only, if given), by print id, read
        ``batch`` rows at a time (a gallery of millions is never all in memory as JSON)."""
        last = -1
        extra, params = (" AND t.extractor_version=?", (version,)) if version is not None else ("", ())
        while True:
            rows = self._q("SELECT t.print_id, t.extractor_version, t.template FROM templates t"
                           f" WHERE t.extractor=?{extra} AND t.print_id>? ORDER BY t.print_id LIMIT ?",  # noqa: S608
                           (extractor, *params, last, batch))
            if not rows:
                return
            for r in rows:
                yield dict(r)
            last = int(rows[-1]["print_id"])

    def template_signature(self, extractor: str, version: str) -> dict[str, Any]:
        """What changes whenever a template of ``extractor`` at ``version`` is added, replaced or
        removed: their count, the newest row id and the newest write (a packed gallery's key)."""
        r = self._q("SELECT COUNT(*), MAX(id), MAX(created) FROM templates WHERE extractor=? AND extractor_version=?",
                    (extractor, version))[0]
        return {"extractor": extractor, "version": version, "count": int(r[0]), "max_id": r[1], "newest": r[2]}

    def counts(self) -> dict[str, int]:
        return {t: int(self._q(f"SELECT COUNT(*) FROM {t}")[0][0])  # noqa: S608 - fixed table names
                for t in ("files", "prints", "results", "file_errors", "decisions")}

    def get_print(self, print_id: int) -> dict[str, Any] | None:
        rows = self._q("SELECT * FROM prints WHERE id=?", (print_id,))
        return dict(rows[0]) if rows else None

    def find_prints(self, sha256_prefix: str) -> list[dict[str, Any]]:
        """Prints whose file hash starts with ``sha256_prefix`` (an ``:idx`` suffix selects one)."""
        sha, _, idx = sha256_prefix.partition(":")
        sql, params = "SELECT * FROM prints WHERE sha256 LIKE ?", [sha.lower() + "%"]
        if idx:
            sql += " AND idx=?"
            params.append(int(idx))
        return [dict(r) for r in self._q(sql + " ORDER BY id", tuple(params))]

    def analyses(self, print_id: int) -> list[dict[str, Any]]:
        """Every analysis of a print, oldest first (``settings`` decoded)."""
        out = []
        for r in self._q("SELECT * FROM analyses WHERE print_id=? ORDER BY id", (print_id,)):
            d = dict(r)
            d["settings"] = json.loads(d["settings"]) if d.get("settings") else {}
            out.append(d)
        return out

    def get_analysis(self, analysis_id: int) -> dict[str, Any] | None:
        rows = self._q("SELECT * FROM analyses WHERE id=?", (analysis_id,))
        if not rows:
            return None
        d = dict(rows[0])
        d["settings"] = json.loads(d["settings"]) if d.get("settings") else {}
        return d

    def results(self, print_id: int, analysis_id: int | None = None) -> list[dict[str, Any]]:
        """The step results of one analysis of a print (default: its newest)."""
        aid = analysis_id if analysis_id is not None else self.analysis_id(print_id, any_inputs=True)
        out = []
        for r in self._q("SELECT * FROM results WHERE print_id=? AND analysis_id IS ? ORDER BY id", (print_id, aid)):
            d = dict(r)
            d["payload"] = json.loads(d["payload"]) if d["payload"] else None
            out.append(d)
        return out

    def decisions(self, print_id: int | None = None) -> list[dict[str, Any]]:
        if print_id is None:
            rows = self._q("SELECT * FROM decisions ORDER BY id")
        else:
            rows = self._q("SELECT * FROM decisions WHERE print_id=? ORDER BY id", (print_id,))
        return [dict(r) for r in rows]

    def file_errors(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self._q("SELECT * FROM file_errors ORDER BY id")]

    def iter_print_ids(self) -> Iterator[int]:
        # ids are fetched up front (small ints) so writers are never blocked by a long read cursor
        for r in self._q("SELECT id FROM prints ORDER BY id"):
            yield int(r[0])

    def print_row(self, print_id: int, analysis_id: int | None = None) -> dict[str, Any]:
        """The flat table row of one analysis of a print (default: its newest), the same columns in the
        GUI table, CSV and CLI output; the row names the analysis it shows."""
        p = self.get_print(print_id)
        if p is None:
            raise CaseStoreError(f"There is no print {print_id} in this case.", path=self.path)
        aid = analysis_id if analysis_id is not None else self.analysis_id(print_id, any_inputs=True)
        a = self.get_analysis(aid) if aid is not None else None
        res = {r["step"]: r for r in self.results(print_id, aid)}
        return flat_row(p, res, last_operator_decision(self.decisions(print_id)), analysis=a)

    def error_row(self, error_id: int) -> dict[str, Any]:
        rows = self._q("SELECT * FROM file_errors WHERE id=?", (error_id,))
        if not rows:
            raise CaseStoreError(f"There is no file error {error_id} in this case.", path=self.path)
        return flat_error_row(dict(rows[0]))
