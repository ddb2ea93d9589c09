"""``fpstation analyze``: per-print output, per-file errors, exit codes, JSON (no models needed)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fpstation import cli
from fpstation.commands.analyze import _missing_module_guard
from fpstation.core.errors import ModelNotFoundError
from fpstation.core.imageio import write_image, write_nist


def _ridges(h=120, w=140, seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    return np.clip(128 + 100 * np.sin(np.hypot(yy - h / 2, xx - w / 2) / 3.0) + rng.normal(0, 5, (h, w)),
                   0, 255).astype(np.uint8)


@pytest.fixture
def files(tmp_path):
    good = write_image(tmp_path / "good.png", _ridges(), dpi=500)
    nodpi = write_image(tmp_path / "nodpi.bmp", _ridges(seed=1))
    nist = write_nist(tmp_path / "two.eft", [(_ridges(seed=2), 500.0, 2), (_ridges(seed=3), 500.0, 7)])
    text = tmp_path / "text.png"
    text.write_text("not an image", encoding="utf-8")
    empty = tmp_path / "empty.wsq"
    empty.write_bytes(b"")
    return {"good": good, "nodpi": nodpi, "nist": nist, "text": text, "empty": empty,
            "missing": tmp_path / "missing.tif"}


def test_good_files_exit_0_with_table(files, capsys, tmp_path):
    out_json = tmp_path / "out" / "r.json"
    rc = cli.main(["analyze", str(files["good"]), str(files["nodpi"]), str(files["nist"]),
                   "--no-restore", "--no-pad", "--no-gender", "--no-quality", "--json", str(out_json)])
    out = capsys.readouterr().out
    assert rc == 0
    assert "good.png" in out
    assert "388" not in out
    assert "120" in out
    assert "unknown" in out
    doc = json.loads(out_json.read_text(encoding="utf-8"))
    res = doc["results"]
    assert [r["path"] for r in res] == [str(files["good"]), str(files["nodpi"]), str(files["nist"]),
                                       str(files["nist"])]
    g = res[0]
    assert (g["width"], g["height"], g["dpi"], g["format"]) == (140, 120, 500.0, "PNG")
    assert len(g["sha256"]) == 64
    assert g["errors"] == {}
    assert g["computed"] == {}
    assert g["skipped"] == ["quality", "restoration", "pad", "gender"]
    assert "load" in g["timings"]
    assert res[1]["dpi"] is None
    assert [r["finger_position"] for r in res[2:]] == [2, 7]
    assert [r["record"] for r in res[2:]] == ["Type-14", "Type-14"]
    assert [r["index"] for r in res[2:]] == [0, 1]


def test_bad_files_do_not_stop_the_others(files, capsys):
    rc = cli.main(["analyze", str(files["text"]), str(files["good"]), str(files["empty"]), str(files["missing"]),
                   "--no-restore", "--no-pad", "--no-gender", "--json", "-"])
    cap = capsys.readouterr()
    assert rc == 2
    doc = json.loads(cap.out)
    res = {r["path"]: r for r in doc["results"]}
    assert res[str(files["good"])]["width"] == 140
    assert res[str(files["text"])]["error_type"] == "UnsupportedFormatError"
    assert res[str(files["empty"])]["error_type"] == "EmptyFileError"
    assert res[str(files["missing"])]["error_type"] == "FileAccessError"
    assert "does not exist" in res[str(files["missing"])]["error"]
    assert "Traceback" not in cap.err
    assert "empty" in cap.err


def test_unreadable_rows_in_table(files, capsys):
    rc = cli.main(["analyze", str(files["text"]), "--no-restore", "--no-pad", "--no-gender"])
    out = capsys.readouterr().out
    assert rc == 2
    assert "UNREADABLE" in out
    assert "text" in out


def test_missing_models_are_step_errors_not_crashes(files, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("FPSTATION_MODELS_DIR", str(tmp_path / "no-models"))
    import fpstation.ml.registry as registry

    monkeypatch.setattr(registry, "_default", None)
    rc = cli.main(["analyze", str(files["good"]), "--no-restore", "--no-quality", "--json", "-"])
    doc = json.loads(capsys.readouterr().out)
    assert rc == 0
    (entry,) = doc["results"]
    assert set(entry["errors"]) == {"pad", "gender"}
    for msg in entry["errors"].values():
        assert msg
        assert "Traceback" not in msg


def test_missing_module_guard_gives_clear_message():
    def needs_restoration(_image):
        raise ModuleNotFoundError("No module named 'fpstation.ml.restoration'", name="fpstation.ml.restoration")

    with pytest.raises(ModelNotFoundError, match="not available in this installation"):
        _missing_module_guard("Restoration", needs_restoration)(None)
    assert _missing_module_guard("x", None) is None


def test_stated_dpi_is_shown_and_recorded(files, capsys, tmp_path):
    out_json = tmp_path / "r.json"
    rc = cli.main(["analyze", str(files["nodpi"]), str(files["good"]), "--no-restore", "--no-pad", "--no-gender",
                   "--dpi", "1000", "--json", str(out_json)])
    assert rc == 0
    assert "1000 (stated)" in capsys.readouterr().out
    d = json.loads(out_json.read_text())
    assert d["options"]["dpi_stated"] == 1000
    nodpi, good = d["results"]
    assert (nodpi["dpi"], nodpi["dpi_source"], nodpi["dpi_text"], nodpi["file_dpi"]) == (
        1000, "stated", "1000 dpi (stated)", None)
    assert good["dpi_source"] == "stated"
    assert good["file_dpi"] == 500  # the file's value is kept apart
