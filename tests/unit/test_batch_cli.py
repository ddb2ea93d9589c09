"""``python -m fpstation batch`` / ``report`` end to end, including SIGKILL in the middle of a batch."""

import csv
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fpstation.cli import main
from fpstation.core.batch import TEST_ANALYZERS_ENV
from fpstation.core.store import CaseStore
from tests.unit.bad_corpus import good_files

ROOT = Path(__file__).resolve().parents[2]


def _env(**extra):
    env = dict(os.environ, PYTHONPATH=str(ROOT), **extra)
    return env


def test_cli_csv_json_and_exit_codes(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(TEST_ANALYZERS_ENV, "fake")
    folder = tmp_path / "in"
    folder.mkdir()
    good_files(folder, 3)
    (folder / "bad.png").write_bytes(b"")
    (folder / "skip.bmp").write_bytes(b"")  # filtered out by --ext
    out = tmp_path / "r.csv"
    assert main(["batch", str(folder), "--out", str(out), "--case", str(tmp_path / "c.db"),
                 "--ext", ".png", "--quiet"]) == 0
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 4
    assert sum(r["status"] == "bad file" for r in rows) == 1
    assert all(r["pad_model"] == "test-fake v0" for r in rows if r["status"] == "done")
    # same again as JSON: all skipped, with their stored results
    outj = tmp_path / "r.json"
    assert main(["batch", str(folder), "--out", str(outj), "--case", str(tmp_path / "c.db"),
                 "--ext", "png", "--quiet"]) == 0
    data = json.loads(outj.read_text())
    assert sorted(r["status"] for r in data) == ["bad file", "skipped", "skipped", "skipped"]
    assert all(r["pad_score"] is not None for r in data if r["status"] == "skipped")
    # the run itself cannot proceed → non-zero
    assert main(["batch", str(tmp_path / "missing"), "--out", str(out)]) == 2
    assert main(["batch", str(folder), "--out", str(tmp_path / "r.csv" / "x.csv"), "--quiet"]) == 2


def test_report_command_exports_and_html(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(TEST_ANALYZERS_ENV, "fake")
    folder = tmp_path / "in"
    folder.mkdir()
    good_files(folder, 2)
    case = tmp_path / "c.db"
    assert main(["batch", str(folder), "--out", str(tmp_path / "r.csv"), "--case", str(case), "--quiet"]) == 0
    with CaseStore(case) as st:
        pid = next(st.iter_print_ids())
        st.add_decision(pid, "confirm", "op1", "fine")
        sha = st.get_print(pid)["sha256"]
    assert main(["report", "--case", str(case), "--out", str(tmp_path / "all.json")]) == 0
    doc = json.loads((tmp_path / "all.json").read_text())
    assert len(doc["prints"]) == 2
    assert doc["prints"][0]["decisions"][0]["decision"] == "confirm"
    assert main(["report", "--case", str(case), "--out", str(tmp_path / "all.csv")]) == 0
    assert len(list(csv.DictReader((tmp_path / "all.csv").open()))) == 2
    html = tmp_path / "p.html"
    assert main(["report", "--case", str(case), "--print", sha[:16], "--out", str(html), "--no-restore"]) == 0
    text = html.read_text()
    assert sha in text
    assert "data:image/png;base64," in text
    assert "confirm" in text
    assert "op1" in text
    assert main(["report", "--case", str(case), "--print", "ffffffff", "--out", str(html)]) == 2


def _count_prints(db: Path) -> int:
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
        try:
            return con.execute("SELECT COUNT(*) FROM prints").fetchone()[0]
        finally:
            con.close()
    except sqlite3.Error:
        return 0


@pytest.mark.slow
def test_sigkill_mid_batch_then_resume(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    files = good_files(folder, 40)
    case = tmp_path / "case.db"
    cmd = [sys.executable, "-m", "fpstation", "batch", str(folder), "--case", str(case),
           "--out", str(tmp_path / "first.csv"), "--quiet"]
    proc = subprocess.Popen(cmd, env=_env(**{TEST_ANALYZERS_ENV: "fake:0.1"}), cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while _count_prints(case) < 8 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert proc.poll() is None, "batch finished before it could be killed: " + proc.stderr.read().decode()
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    assert proc.returncode == -signal.SIGKILL
    done_before = _count_prints(case)
    assert 8 <= done_before < len(files)

    out = tmp_path / "second.csv"
    r = subprocess.run(cmd[:-3] + ["--out", str(out), "--quiet"], env=_env(**{TEST_ANALYZERS_ENV: "fake"}),
                       cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == len(files)
    assert sum(r["status"] == "skipped" for r in rows) >= done_before
    assert {r["status"] for r in rows} <= {"skipped", "done"}

    con = sqlite3.connect(case)
    assert con.execute("SELECT COUNT(*), COUNT(DISTINCT sha256) FROM prints").fetchone() == (len(files),) * 2
    per_print = con.execute("SELECT p.id, COUNT(r.id) FROM prints p LEFT JOIN results r ON r.print_id=p.id"
                            " GROUP BY p.id").fetchall()
    assert all(n == 2 for _, n in per_print)  # pad + gender, once each
    assert con.execute("SELECT COUNT(*) FROM results WHERE error IS NOT NULL").fetchone()[0] == 0
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    from fpstation.core.batch import sha256_file

    assert {sha256_file(f)[0] for f in files} == {row[0] for row in con.execute("SELECT sha256 FROM prints")}


def test_html_report_embeds_both_images_and_explains_missing_ones(tmp_path):
    from fpstation.core.batch import fake_analyzers, run_batch
    from fpstation.core.report import print_report_html
    from fpstation.core.types import ModelRef, RestorationResult

    folder = tmp_path / "in"
    folder.mkdir()
    (f,) = good_files(folder, 1)
    with CaseStore(tmp_path / "c.db") as st:
        run_batch(folder, st, fake_analyzers())
        pid = next(st.iter_print_ids())
        out = print_report_html(st, pid, tmp_path / "r.html",
                                restore=lambda im: RestorationResult(255 - im.pixels, "inverse",
                                                                     ModelRef("inv", "2", "ab" * 32)))
        text = out.read_text()
        assert text.count("data:image/png;base64,") == 4  # both prints, each with its 5 mm scale bar
        assert "alt='original'" in text
        assert "alt='restored'" in text
        assert "inv v2" in text
        assert "LIVE" in text or "ATTACK" in text
        f.write_bytes(f.read_bytes() + b"tampered")
        text = print_report_html(st, pid, tmp_path / "r2.html", restore=None).read_text()
        assert "has changed since it was analysed" in text
        assert "base64" not in text
        f.unlink()
        text = print_report_html(st, pid, tmp_path / "r3.html").read_text()
        assert "cannot be read now" in text


def test_watch_command_processes_existing_and_bad_files(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(TEST_ANALYZERS_ENV, "fake")
    folder = tmp_path / "scanner"
    folder.mkdir()
    good_files(folder, 2)
    (folder / "broken.bmp").write_bytes(b"BM" + b"\x00" * 10)
    case = tmp_path / "c.db"
    assert main(["watch", str(folder), "--case", str(case), "--interval", "0.01", "--polls", "3",
                 "--undecodable-after", "0", "--out", str(tmp_path / "w.csv")]) == 0
    out = capsys.readouterr().out
    assert out.count("good_") == 2
    assert "broken.bmp" in out
    assert len(list(csv.DictReader((tmp_path / "w.csv").open()))) == 3
    with CaseStore(case) as st:
        assert st.counts()["prints"] == 2
        assert st.counts()["file_errors"] == 1
    assert main(["watch", str(tmp_path / "nope"), "--case", str(case), "--polls", "1"]) == 2


def test_stated_dpi_reaches_rows_case_and_report(tmp_path, monkeypatch):
    """``--dpi`` on batch: every row and the case say "stated"; the HTML report shows it."""
    monkeypatch.setenv(TEST_ANALYZERS_ENV, "fake")
    folder = tmp_path / "in"
    folder.mkdir()
    good_files(folder, 2)
    case = tmp_path / "c.db"
    out = tmp_path / "r.csv"
    assert main(["batch", str(folder), "--out", str(out), "--case", str(case), "--dpi", "1000", "--quiet"]) == 0
    rows = [r for r in csv.DictReader(out.open()) if r["status"] == "done"]
    assert rows
    assert all(r["dpi"] == "1000.0" and r["dpi_source"] == "stated" for r in rows)
    with CaseStore(case) as st:
        sha = st.get_print(1)["sha256"]
        assert st.get_print(1)["dpi_source"] == "stated"
    html = tmp_path / "p.html"
    assert main(["report", "--case", str(case), "--print", sha[:16], "--out", str(html), "--no-restore"]) == 0
    assert "1000 dpi (stated)" in html.read_text()


def test_implausible_dpi_is_a_clear_usage_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["batch", str(tmp_path), "--dpi", "3"])
    assert exc.value.code == 2
    assert "plausible scanner resolution" in capsys.readouterr().err
