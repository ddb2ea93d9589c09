"""NFIQ 2 as an analysis step: pipeline, case store rows, analyze CLI, report."""

from __future__ import annotations

import json

from fpstation.core.pipeline import Analyzers, analyse
from fpstation.core.samples import load_sample, sample_file


def test_nfiq2_step_reaches_the_case_row_and_report(tmp_path):
    from fpstation.core.matching.quality import nfiq2
    from fpstation.core.report import print_report_html
    from fpstation.core.store import CaseStore

    im = load_sample()
    res = analyse(im, Analyzers(quality=nfiq2))
    assert res.quality is not None
    assert 0 <= res.quality.score <= 100
    assert "quality" in res.timings
    with CaseStore(tmp_path / "c.db") as store:
        pid = store.record_analysis(res)
        row = store.print_row(pid)
        assert row["nfiq2"] == res.quality.score
        assert store.done_steps(im.sha256) == {"quality"}
        out = print_report_html(store, pid, tmp_path / "r.html")
        html = out.read_text(encoding="utf-8") if hasattr(out, "read_text") else (tmp_path / "r.html").read_text()
        assert f"NFIQ 2 (NIST, via nbis-py) {res.quality.score}</b>" in html


def test_analyze_cli_shows_nfiq2(tmp_path, capsys):
    from fpstation.cli import main

    out = tmp_path / "a.json"
    assert main(["analyze", str(sample_file()), "--no-restore", "--no-pad", "--no-gender", "--json", str(out)]) == 0
    d = json.loads(out.read_text())
    q = d["results"][0]["computed"]["quality"]
    assert 0 <= q["nfiq2"] <= 100
    assert q["name"].startswith("NFIQ 2")
