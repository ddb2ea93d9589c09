"""The case store's SQLite schema (version :data:`fpstation.core.store.SCHEMA_VERSION`) and the
table statements its in-place upgrade re-creates. Read by ``fpstation.core.store`` only."""

from __future__ import annotations

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files (
    sha256 TEXT PRIMARY KEY,
    size INTEGER,
    format TEXT,
    n_prints INTEGER,              -- NULL until every print of the file is stored
    first_seen TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS prints (
    id INTEGER PRIMARY KEY,
    sha256 TEXT NOT NULL,
    idx INTEGER NOT NULL DEFAULT 0,
    path TEXT NOT NULL,
    size INTEGER,
    width INTEGER,
    height INTEGER,
    dpi REAL,
    format TEXT,
    record TEXT,
    finger_position INTEGER,
    first_seen TEXT NOT NULL,
    dpi_source TEXT,
    dpi_note TEXT,                 -- where dpi came from, in words (core.imageio.dpi_note)
    UNIQUE (sha256, idx)
);
CREATE TABLE IF NOT EXISTS analyses (
    id INTEGER PRIMARY KEY,
    print_id INTEGER NOT NULL REFERENCES prints(id),
    key TEXT NOT NULL,             -- the inputs that change a result (AnalysisInputs.key)
    origin TEXT NOT NULL,          -- batch | desk | window | cli | recorded before analysis records
    dpi REAL,
    dpi_source TEXT,
    dpi_note TEXT,
    restorer TEXT,                 -- the restorer asked for ("" = restoration not asked for)
    settings TEXT,                 -- JSON of the other settings in the key
    created TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS results (
    id INTEGER PRIMARY KEY,
    print_id INTEGER NOT NULL REFERENCES prints(id),
    analysis_id INTEGER REFERENCES analyses(id),
    step TEXT NOT NULL,
    model_name TEXT,
    model_version TEXT,
    model_sha256 TEXT,
    score REAL,
    verdict TEXT,
    payload TEXT,
    seconds REAL,
    error TEXT,
    created TEXT NOT NULL,
    UNIQUE (analysis_id, step)
);
CREATE TABLE IF NOT EXISTS file_errors (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL,
    sha256 TEXT NOT NULL DEFAULT '',
    size INTEGER,
    error_type TEXT NOT NULL,
    message TEXT NOT NULL,
    first_seen TEXT NOT NULL,
    last_seen TEXT NOT NULL,
    UNIQUE (path, sha256)
);
CREATE TABLE IF NOT EXISTS decisions (
    id INTEGER PRIMARY KEY,
    print_id INTEGER NOT NULL REFERENCES prints(id),
    decision TEXT NOT NULL,
    operator TEXT NOT NULL DEFAULT '',
    note TEXT NOT NULL DEFAULT '',
    pad_verdict TEXT,
    pad_score REAL,
    created TEXT NOT NULL,
    analysis_id INTEGER            -- the analysis it was made on (NULL: made before schema 3)
);
CREATE TRIGGER IF NOT EXISTS decisions_no_update BEFORE UPDATE ON decisions
BEGIN SELECT RAISE(ABORT, 'decisions are append-only'); END;
CREATE TRIGGER IF NOT EXISTS decisions_no_delete BEFORE DELETE ON decisions
BEGIN SELECT RAISE(ABORT, 'decisions are append-only'); END;
CREATE TABLE IF NOT EXISTS templates (
    id INTEGER PRIMARY KEY,
    print_id INTEGER NOT NULL REFERENCES prints(id),
    extractor TEXT NOT NULL,
    extractor_version TEXT NOT NULL,
    template TEXT NOT NULL,        -- JSON (fpstation.core.matching.template.Template.to_dict)
    iso BLOB,                      -- the same minutiae as ISO/IEC 19794-2:2005
    seconds REAL,
    created TEXT NOT NULL,
    UNIQUE (print_id, extractor)
);
CREATE TABLE IF NOT EXISTS face_templates (  -- the case's face gallery (ml/face/gallery.py)
    id INTEGER PRIMARY KEY,
    identity TEXT NOT NULL,
    model TEXT NOT NULL,           -- registry key of the embedding model
    model_sha256 TEXT NOT NULL,
    dim INTEGER NOT NULL,
    vector BLOB NOT NULL,          -- float32, little-endian, unit length
    path TEXT,
    image_sha256 TEXT NOT NULL,
    box TEXT,                      -- JSON: the face box and how it was found
    created TEXT NOT NULL,
    UNIQUE (identity, model, image_sha256)
);
CREATE INDEX IF NOT EXISTS results_print ON results(print_id);
CREATE INDEX IF NOT EXISTS results_analysis ON results(analysis_id);
CREATE INDEX IF NOT EXISTS analyses_print ON analyses(print_id, key);
CREATE INDEX IF NOT EXISTS decisions_print ON decisions(print_id);
"""


def _ddl(table: str) -> str:
    """The ``CREATE TABLE`` statement of ``table`` in :data:`_SCHEMA` (used by the upgrade)."""
    start = _SCHEMA.index(f"CREATE TABLE IF NOT EXISTS {table} (")
    return _SCHEMA[start:_SCHEMA.index(");", start) + 2]


_ANALYSES_DDL, _RESULTS_DDL = _ddl("analyses"), _ddl("results")
