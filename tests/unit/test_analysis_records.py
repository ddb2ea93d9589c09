"""Issue 25 item 1: every analysis is a dated record with its inputs; nothing is reused by file hash
alone; reports (CLI and GUI) say which analysis they hold; old cases stay readable."""

import csv
import json
import sqlite3

import numpy as np

from fpstation.cli import main
from fpstation.core.batch import TEST_ANALYZERS_ENV, fake_analyzers, run_batch
from fpstation.core.report import print_report_text
from fpstation.core.store import (
    LEGACY_ORIGIN,
    SCHEMA_VERSION,
    AnalysisInputs,
    CaseStore,
    analysis_inputs,
)
from fpstation.core.types import AnalysisResult, FingerprintImage, ModelRef, PadResult
from tests.unit.bad_corpus import good_files


def _img(dpi=500.0):
    return FingerprintImage(np.full((10, 12), 200, np.uint8), dpi, "/x/a.png", "ab" * 32, "PNG", 0)


def _res(img, verdict="ATTACK"):
    pad = PadResult(0.9 if verdict == "ATTACK" else 0.1, 0.5, verdict, ModelRef("pad-net", "3", "cd" * 32))
    return AnalysisResult(img, pad=pad, timings={"pad": 0.01})


def test_restating_the_dpi_makes_a_new_dated_analysis(tmp_path):
    with CaseStore(tmp_path / "c.db") as st:
        img = _img()
        pid = st.record_analysis(_res(img, "UNCERTAIN"), inputs=AnalysisInputs(restorer="unet"))
        at1000 = AnalysisInputs(stated_dpi=1000, restorer="unet")
        pid2 = st.record_analysis(_res(img.with_stated_dpi(1000)), inputs=at1000)
        assert pid2 == pid
        first, second = st.analyses(pid)
        assert (first["dpi"], first["dpi_source"]) == (500.0, "file")
        assert (second["dpi"], second["dpi_source"]) == (1000.0, "stated")
        assert st.print_row(pid)["pad_verdict"] == "ATTACK"  # the newest
        assert st.print_row(pid, first["id"])["pad_verdict"] == "UNCERTAIN"
        assert st.done_steps(img.sha256, 0, AnalysisInputs(stated_dpi=800, restorer="unet")) is None


def test_changing_the_restorer_makes_a_new_analysis():
    a = analysis_inputs(type("S", (), {"restorer": "unet"})())
    b = analysis_inputs(type("S", (), {"restorer": "classical"})())
    assert a.key() != b.key()
    assert a.with_origin("desk").key() == a.key()  # where it ran is recorded, not part of the key


def test_a_batch_rerun_at_another_dpi_analyses_again(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    good_files(folder, 2)
    with CaseStore(tmp_path / "c.db") as st:
        s1 = run_batch(folder, st, fake_analyzers())
        s2 = run_batch(folder, st, fake_analyzers())
        s3 = run_batch(folder, st, fake_analyzers(), inputs=AnalysisInputs(stated_dpi=1000))
        assert (s1.prints_analysed, s2.prints_skipped, s3.prints_analysed) == (2, 2, 2)
        rows = []
        run_batch(folder, st, fake_analyzers(), inputs=AnalysisInputs(stated_dpi=1000),
                  partial=lambda it: rows.append(it.row))
        assert [r["status"] for r in rows] == ["skipped", "skipped"]
        assert all(r["dpi"] == 1000 and r["dpi_source"] == "stated" for r in rows)
        assert st.counts()["prints"] == 2
        assert len(st.analyses(1)) == 2


def test_decision_names_the_analysis_it_was_made_on(tmp_path):
    with CaseStore(tmp_path / "c.db") as st:
        img = _img()
        pid = st.record_analysis(_res(img, "UNCERTAIN"))
        first = st.analysis_id(pid, any_inputs=True)
        st.record_analysis(_res(img.with_stated_dpi(1000)), inputs=AnalysisInputs(stated_dpi=1000))
        st.add_decision(pid, "confirm", "op", analysis_id=first)
        d = st.decisions(pid)[-1]
        assert (d["analysis_id"], d["pad_verdict"]) == (first, "UNCERTAIN")


_V2 = """CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT INTO meta VALUES ('schema_version', '2');
CREATE TABLE files (sha256 TEXT PRIMARY KEY, size INTEGER, format TEXT, n_prints INTEGER, first_seen TEXT NOT NULL);
CREATE TABLE prints (id INTEGER PRIMARY KEY, sha256 TEXT NOT NULL, idx INTEGER NOT NULL DEFAULT 0, path TEXT NOT NULL,
    size INTEGER, width INTEGER, height INTEGER, dpi REAL, format TEXT, record TEXT, finger_position INTEGER,
    first_seen TEXT NOT NULL, dpi_source TEXT, dpi_note TEXT, UNIQUE (sha256, idx));
CREATE TABLE results (id INTEGER PRIMARY KEY, print_id INTEGER NOT NULL REFERENCES prints(id), step TEXT NOT NULL,
    model_name TEXT, model_version TEXT, model_sha256 TEXT, score REAL, verdict TEXT, payload TEXT, seconds REAL,
    error TEXT, created TEXT NOT NULL, UNIQUE (print_id, step));
CREATE TABLE decisions (id INTEGER PRIMARY KEY, print_id INTEGER NOT NULL REFERENCES prints(id),
    decision TEXT NOT NULL, operator TEXT NOT NULL DEFAULT '', note TEXT NOT NULL DEFAULT '', pad_verdict TEXT,
    pad_score REAL, created TEXT NOT NULL);
CREATE TRIGGER decisions_no_update BEFORE UPDATE ON decisions BEGIN SELECT RAISE(ABORT, 'append-only'); END;
INSERT INTO files VALUES ('aa', 10, 'PNG', 1, '2026-01-01T00:00:00Z');
INSERT INTO prints VALUES (1, 'aa', 0, '/old/a.png', 10, 12, 10, NULL, 'PNG', '', NULL, '2026-01-01T00:00:00Z',
    '', 'no resolution in the file');
INSERT INTO results VALUES (1, 1, 'pad', 'pad-net', '3', '', 0.4, 'UNCERTAIN', '{"threshold": 0.5}', 0.1, NULL,
    '2026-01-01T00:00:01Z');
INSERT INTO results VALUES (2, 1, 'restoration', 'unet', '1', '', NULL, 'unet', NULL, 0.2, NULL,
    '2026-01-01T00:00:01Z');
INSERT INTO decisions VALUES (1, 1, 'confirm', 'op', '', 'UNCERTAIN', 0.4, '2026-01-01T00:00:02Z');"""


def test_a_version_2_case_is_upgraded_in_place_and_stays_readable(tmp_path):
    db = tmp_path / "v2.db"
    con = sqlite3.connect(db)
    con.executescript(_V2)
    con.close()
    with CaseStore(db) as st:
        (a,) = st.analyses(1)
        assert a["origin"] == LEGACY_ORIGIN
        assert a["created"] == "2026-01-01T00:00:01Z"
        assert a["restorer"] == "unet"
        assert a["dpi"] is None
        row = st.print_row(1)
        assert (row["pad_verdict"], row["analysis_id"], row["decision"]) == ("UNCERTAIN", a["id"], "confirm")
        assert st.decisions(1)[0]["analysis_id"] is None
        # an upgraded analysis is never reused: its inputs were not kept
        assert not st.file_done("aa", {"pad"})
        assert not st.file_done("aa", {"pad"}, AnalysisInputs(restorer="unet"))
    version = sqlite3.connect(db).execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0]
    assert version == str(SCHEMA_VERSION)


def test_report_says_which_analysis_it_holds_and_carries_no_command_line_hint(tmp_path):
    with CaseStore(tmp_path / "c.db") as st:
        img = _img(dpi=None)
        res = AnalysisResult(img, pad=PadResult(0.4, 0.5, "UNCERTAIN", ModelRef("pad-net", "3", ""),
                                                in_domain=False,
                                                domain_reason="the print's dpi is unknown (state it with --dpi / "
                                                              "the dpi field)"))
        pid = st.record_analysis(res, inputs=AnalysisInputs(restorer="unet"))
        old = st.analysis_id(pid, any_inputs=True)
        st.record_analysis(_res(img.with_stated_dpi(1000)), inputs=AnalysisInputs(stated_dpi=1000, restorer="unet"))
        new = st.analysis_id(pid, any_inputs=True)
        newest = print_report_text(st, pid, reader=lambda p: [])
        assert f"This report holds Analysis #{new}," in newest
        assert "1000 dpi (stated)" in newest.split("Other analyses")[0]
        older = print_report_text(st, pid, reader=lambda p: [], analysis_id=old)
        assert f"This report holds Analysis #{old}," in older
        assert "UNCERTAIN" in older.split("Other analyses")[0]
        assert "--dpi" not in older
        assert "--dpi" not in newest


def test_cli_report_holds_the_analysis_asked_for(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(TEST_ANALYZERS_ENV, "fake")
    folder = tmp_path / "in"
    folder.mkdir()
    good_files(folder, 1)
    case = tmp_path / "c.db"
    assert main(["batch", str(folder), "--out", str(tmp_path / "a.csv"), "--case", str(case), "--quiet"]) == 0
    assert main(["batch", str(folder), "--out", str(tmp_path / "b.csv"), "--case", str(case), "--quiet",
                 "--dpi", "1000"]) == 0
    rows = list(csv.DictReader((tmp_path / "b.csv").open()))
    assert rows[0]["status"] == "done"
    assert rows[0]["analysis_id"] == "2"
    with CaseStore(case) as st:
        sha = st.get_print(1)["sha256"]
    html = tmp_path / "p.html"
    assert main(["report", "--case", str(case), "--print", sha[:16], "--analysis", "1", "--out", str(html),
                 "--no-restore"]) == 0
    assert "This report holds Analysis #1," in html.read_text()
    assert main(["report", "--case", str(case), "--print", sha[:16], "--analysis", "9", "--out", str(html),
                 "--no-restore"]) == 2
    assert "#1, #2" in capsys.readouterr().err
    assert json.loads(json.dumps(rows[0]))["restorer"] == "unet"


def test_report_never_says_outside_twice_nor_vversion(tmp_path):
    from fpstation.core.types import GenderResult

    with CaseStore(tmp_path / "c.db") as st:
        img = _img()
        g = GenderResult(0.5, "uncertain", ModelRef("gender-socofing", "2", ""), in_domain=False,
                         domain_reason="outside what this model was validated on: 1000 dpi is outside 450–550 dpi")
        q = type("Q", (), {"name": "NFIQ 2", "version": "nbis-py 0.1.3", "score": 58, "actionable": {},
                           "note": ""})()
        pid = st.record_analysis(AnalysisResult(img, gender=g, quality=q))
        html = print_report_text(st, pid, reader=lambda p: [])
        assert "validated on: outside" not in html
        assert "1000 dpi is outside 450–550 dpi" in html
        assert "vnbis" not in html
        assert "NFIQ 2 nbis-py 0.1.3" in html
