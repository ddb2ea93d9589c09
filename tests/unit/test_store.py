import sqlite3

import numpy as np
import pytest

from fpstation.core.errors import CaseStoreError
from fpstation.core.store import ROW_COLUMNS, CaseStore, step_records
from fpstation.core.types import AnalysisResult, FingerprintImage, ModelRef, PadResult, RestorationResult


def _img(sha="ab" * 32, idx=0, path="/x/a.png"):
    return FingerprintImage(np.full((10, 12), 200, np.uint8), 500.0, path, sha, "PNG", idx)


def _result(img, pad_error=None):
    ref = ModelRef("pad-net", "3", "cd" * 32)
    errors = {"pad": pad_error} if pad_error else {}
    pad = None if pad_error else PadResult(0.8, 0.5, "ATTACK", ref, 0.01)
    return AnalysisResult(img, RestorationResult(img.pixels, "unet", ModelRef("unet", "1", "ee" * 32),
                                                 extras={"tiles": np.int64(4), "map": np.zeros((3, 3))}),
                          pad=pad, timings={"restoration": 0.02, "pad": 0.01}, errors=errors)


def test_record_and_read_back(tmp_path):
    with CaseStore(tmp_path / "c.db") as st:
        img = _img()
        pid = st.record_analysis(_result(img), size=123)
        assert st.done_steps(img.sha256, 0) == {"restoration", "pad"}
        row = st.print_row(pid)
        assert set(row) == set(ROW_COLUMNS)
        assert row["pad_verdict"] == "ATTACK"
        assert row["pad_score"] == pytest.approx(0.8)
        assert row["pad_model"] == "pad-net v3"
        assert row["restoration"] == "unet"
        assert row["width"] == 12
        assert row["height"] == 10
        assert row["dpi"] == 500.0
        assert row["size"] == 123
        res = {r["step"]: r for r in st.results(pid)}
        assert res["pad"]["model_sha256"] == "cd" * 32
        assert res["restoration"]["payload"]["extras"] == {"tiles": 4, "map": {"array_shape": [3, 3]}}
        # no pixels in the database
        raw = sqlite3.connect(tmp_path / "c.db").execute("SELECT payload FROM results").fetchall()
        assert all(len(r[0] or "") < 500 for r in raw)


def test_rerun_is_idempotent_and_retries_only_errors(tmp_path):
    with CaseStore(tmp_path / "c.db") as st:
        img = _img()
        pid = st.record_analysis(_result(img, pad_error="model missing"))
        assert st.done_steps(img.sha256) == {"restoration"}
        assert st.print_row(pid)["status"] == "partial"
        pid2 = st.record_analysis(_result(img))
        assert pid2 == pid
        assert st.counts()["prints"] == 1
        assert st.counts()["results"] == 2
        assert st.print_row(pid)["status"] == "done"
        # an error never overwrites a good result
        st.record_analysis(_result(img, pad_error="later failure"))
        assert st.print_row(pid)["pad_verdict"] == "ATTACK"


def test_file_done_needs_all_prints_and_steps(tmp_path):
    with CaseStore(tmp_path / "c.db") as st:
        sha = "12" * 32
        st.record_analysis(_result(_img(sha, 0)))
        assert not st.file_done(sha, {"pad"})  # not marked complete yet
        st.record_analysis(_result(_img(sha, 1)))
        st.mark_file_complete(sha, 2)
        assert st.file_done(sha, {"pad", "restoration"})
        assert not st.file_done(sha, {"pad", "gender"})  # gender never ran
        assert st.file_done(sha, set())


def test_decisions_are_append_only(tmp_path):
    path = tmp_path / "c.db"
    with CaseStore(path) as st:
        pid = st.record_analysis(_result(_img()))
        d1 = st.add_decision(pid, "confirm", "alice", "looks live")
        st.add_decision(pid, "override", "bob")
        decs = st.decisions(pid)
        assert [d["decision"] for d in decs] == ["confirm", "override"]
        assert decs[0]["pad_verdict"] == "ATTACK"
        assert decs[0]["operator"] == "alice"
        assert decs[0]["created"] <= decs[1]["created"]
        assert st.print_row(pid)["decision"] == "override"
        with pytest.raises(CaseStoreError):
            st.add_decision(9999, "confirm")
    raw = sqlite3.connect(path)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        raw.execute("UPDATE decisions SET decision='x' WHERE id=?", (d1,))
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        raw.execute("DELETE FROM decisions")
    assert raw.execute("SELECT COUNT(*) FROM decisions").fetchone()[0] == 2


def test_file_errors_deduplicated_and_cleared_when_file_reads(tmp_path):
    with CaseStore(tmp_path / "c.db") as st:
        e1 = st.record_file_error("/x/bad.png", "TruncatedFileError", "cut short", sha256="aa" * 32, size=3)
        e2 = st.record_file_error("/x/bad.png", "TruncatedFileError", "cut short", sha256="aa" * 32, size=3)
        assert e1 == e2
        assert len(st.file_errors()) == 1
        row = st.error_row(e1)
        assert row["status"] == "bad file"
        assert "TruncatedFileError" in row["error"]
        st.mark_file_complete("aa" * 32, 1)
        assert st.file_errors() == []


def test_wal_and_not_a_case(tmp_path):
    with CaseStore(tmp_path / "c.db") as st:
        assert st._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(CaseStoreError):
        CaseStore(junk)


def test_step_records_from_errors_only():
    recs = step_records(AnalysisResult(_img(), errors={"gender": "no model"}, timings={"gender": 0.001}))
    assert [(r.step, r.error) for r in recs] == [("gender", "no model")]


_V1_PRINTS = """CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE prints (id INTEGER PRIMARY KEY, sha256 TEXT NOT NULL, idx INTEGER NOT NULL DEFAULT 0,
    path TEXT NOT NULL, size INTEGER, width INTEGER, height INTEGER, dpi REAL, format TEXT, record TEXT,
    finger_position INTEGER, first_seen TEXT NOT NULL, UNIQUE (sha256, idx));
INSERT INTO meta VALUES ('schema_version', '1');
INSERT INTO prints (sha256, idx, path, width, height, dpi, format, first_seen)
    VALUES ('aa', 0, '/old/a.png', 10, 12, 500, 'PNG', '2026-01-01T00:00:00Z');"""


def test_version_1_case_is_upgraded_and_stays_readable(tmp_path):
    db = tmp_path / "old.db"
    con = sqlite3.connect(db)
    con.executescript(_V1_PRINTS)
    con.close()
    with CaseStore(db) as st:
        old = st.print_row(1)
        assert old["dpi"] == 500
        assert old["dpi_source"] == "file"
        assert old["path"] == "/old/a.png"
        img = _img(sha="cd" * 32).with_stated_dpi(1000)
        pid = st.record_analysis(_result(img))
        row = st.print_row(pid)
        assert row["dpi"] == 1000
        assert row["dpi_source"] == "stated"
    version = sqlite3.connect(db).execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0]
    assert version == "3"


def test_per_model_pad_results_are_stored_and_flattened(tmp_path):
    from fpstation.core.pad import combine_pad

    img = _img()
    a = PadResult(0.1, 0.5, "LIVE", ModelRef("pad-socofing", "2"), 0.01, ("z-cut",))
    b = PadResult(0.9, 0.4, "ATTACK", ModelRef("pad-livdet", "1"), 0.02, ("gelatine",))
    res = AnalysisResult(img, pad=combine_pad([a, b]), pad_models=(a, b), timings={"pad": 0.03})
    with CaseStore(tmp_path / "c.db") as st:
        pid = st.record_analysis(res)
        row = st.print_row(pid)
        assert row["pad_verdict"] == "ATTACK"
        assert row["pad_models"] == "pad-socofing LIVE 0.10; pad-livdet ATTACK 0.90"
        pay = {r["step"]: r for r in st.results(pid)}["pad"]["payload"]
        assert [m["model"] for m in pay["models"]] == ["pad-socofing", "pad-livdet"]


def test_automatic_desk_records_are_never_the_operators_decision():
    """Liveness transaction attempts are logged by the desk itself: the row, the report and the
    panel show the last decision a person made, not the desk's own record."""
    from fpstation.core.store import AUTOMATIC_OPERATOR, last_operator_decision

    trail = [{"decision": "LIVE confirmed", "operator": "ana"},
             {"decision": "liveness transaction attempt 1/3: present again", "operator": AUTOMATIC_OPERATOR}]
    assert last_operator_decision(trail)["decision"] == "LIVE confirmed"
    assert last_operator_decision(trail[1:]) is None
