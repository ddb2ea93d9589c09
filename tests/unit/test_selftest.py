"""``fpstation selftest``: passes on this checkout; a failing check fails the run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import fpstation
from fpstation.commands.selftest import _Runner

ROOT = Path(__file__).resolve().parents[2]


def test_runner_reports_failures(capsys):
    r = _Runner()
    assert r.check("fine", lambda: "detail")
    assert not r.check("broken", lambda: 1 / 0)
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("OK")
    assert "detail" in out[0]
    assert out[1].startswith("FAIL")
    assert "ZeroDivisionError" in out[1]
    assert r.failed == ["broken"]


@pytest.mark.slow
def test_selftest_passes(tmp_path):
    env = dict(os.environ, FPSTATION_HOME=str(tmp_path / "home"), QT_QPA_PLATFORM="offscreen",
               TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.run([sys.executable, "-m", "fpstation", "selftest"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    lines = proc.stdout.splitlines()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert lines[0] == f"fpstation {fpstation.__version__} running from {Path(fpstation.__file__).resolve().parent}"
    checks = [ln for ln in lines[1:] if ln[:4] in ("OK  ", "FAIL", "SKIP")]
    assert not [ln for ln in checks if ln.startswith("FAIL")]
    names = " ".join(checks)
    for fmt in ("PNG", "BMP", "TIFF 8-bit", "TIFF 16-bit", "JPEG", "PGM", "WSQ", "NIST Type-14 WSQ",
                "NIST Type-4 WSQ", "enhance", "analyse sample", "main window"):
        assert fmt in names, fmt
    assert lines[-1].startswith("selftest passed")
