"""``--engine ray``: the same rows and case as the local engine, nothing lost or doubled when a worker
or the driver is killed, bad files as rows, models verified on each worker.

One local Ray instance (2 CPUs) serves the whole module; run_batch_ray joins it instead of
starting its own, so each test pays only for its two worker actors (about a second).
"""

from __future__ import annotations

import csv
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fpstation.core.batch import TEST_ANALYZERS_ENV, fake_analyzers, run_batch, sha256_file
from fpstation.core.cluster import ClusterError, FakeSetup, import_ray, run_batch_ray
from fpstation.core.store import CaseStore
from tests.unit.bad_corpus import good_files

ROOT = Path(__file__).resolve().parents[2]


def test_without_ray_the_message_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    with pytest.raises(ClusterError, match=r"pip install -e \"\.\[cluster\]\""):
        import_ray()


@pytest.fixture(scope="module")
def ray_address():
    """One local Ray (2 CPUs) for the module; the engine joins it rather than starting its own."""
    ray = pytest.importorskip("ray")
    if ray.is_initialized():
        ray.shutdown()
    ctx = ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="error",
                   runtime_env={"env_vars": {"PYTHONPATH": str(ROOT)}})
    yield ctx.address_info["gcs_address"]
    ray.shutdown()


def _folder(tmp_path: Path, n: int = 12) -> tuple[Path, list[Path]]:
    d = tmp_path / "in"
    (d / "sub").mkdir(parents=True)
    files = good_files(d, n // 2) + good_files(d / "sub", n - n // 2, start_seed=100)
    (d / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 20)  # truncated
    (d / "empty.bmp").write_bytes(b"")
    (d / "zz_copy.png").write_bytes(files[0].read_bytes())  # same content under another name
    return d, files


def _table(db: Path, sql: str) -> list[tuple]:
    con = sqlite3.connect(db)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _case_content(db: Path) -> dict[str, list[tuple]]:
    """Everything but timestamps and timings."""
    return {
        "files": _table(db, "SELECT sha256, size, format, n_prints FROM files ORDER BY sha256"),
        "prints": _table(db, "SELECT id, sha256, idx, path, size, width, height, dpi, format FROM prints ORDER BY id"),
        "results": _table(db, "SELECT print_id, step, model_name, model_version, model_sha256, score, verdict,"
                              " payload, error FROM results ORDER BY print_id, step"),
        "file_errors": _table(db, "SELECT path, sha256, error_type, message FROM file_errors ORDER BY path"),
    }


def _strip(rows):
    return [{k: v for k, v in r.items() if k not in ("seconds", "analysed_at")} for r in rows]


@pytest.mark.slow
@pytest.mark.parametrize("transport", ["path", "bytes"])
def test_same_rows_and_case_as_the_local_engine(tmp_path, ray_address, transport, fake_progress):
    d, files = _folder(tmp_path)
    local, remote = [], []
    with CaseStore(tmp_path / "local.db") as st:
        run_batch(d, st, fake_analyzers(), partial=lambda it: local.append(it.row))
    with CaseStore(tmp_path / "ray.db") as st:
        s = run_batch_ray(d, st, FakeSetup(), fake_progress, partial=lambda it: remote.append(it.row),
                          workers=2, transport=transport, files_per_task=2)
    assert s.extra["transport"] == transport
    assert s.extra["workers"] == 2
    assert len(set(s.extra["worker_ids"])) == 2
    assert s.prints_analysed == len(files)
    assert s.prints_skipped == 1
    assert s.bad_files == 2
    assert _strip(remote) == _strip(local)
    assert {r["status"] for r in remote} == {"done", "skipped", "bad file"}
    assert _case_content(tmp_path / "ray.db") == _case_content(tmp_path / "local.db")
    assert fake_progress.last == 1.0
    assert "Ray workers" in fake_progress.calls[-1][1]


@pytest.mark.slow
def test_bad_files_are_rows_and_a_rerun_skips_everything(tmp_path, ray_address):
    d, files = _folder(tmp_path, n=4)
    rows = []
    with CaseStore(tmp_path / "c.db") as st:
        run_batch_ray(d, st, FakeSetup(), partial=lambda it: rows.append(it.row), workers=2)
        bad = {Path(r["path"]).name: r for r in rows if r["status"] == "bad file"}
        assert set(bad) == {"bad.png", "empty.bmp"}
        assert bad["empty.bmp"]["error"].startswith("EmptyFileError:")
        assert "TruncatedFileError" in bad["bad.png"]["error"] or "ImageReadError" in bad["bad.png"]["error"]
        again = []
        s = run_batch_ray(d, st, FakeSetup(), partial=lambda it: again.append(it.row), workers=2)
        assert s.prints_analysed == 0
        assert s.prints_skipped == len(files) + 1
        assert s.bad_files == 2
        assert st.counts()["prints"] == len(files)
        assert st.counts()["file_errors"] == 2


class KillOnce:
    """Worker set-up whose PAD step SIGKILLs its own worker process on the ``nth`` print it sees,
    once per test (a marker file records the victim), as an out-of-memory kill or a lost node would."""

    steps = frozenset({"pad", "gender"})

    def __init__(self, marker: str, nth: int = 3, delay: float = 0.02):
        self.marker, self.nth, self.delay = marker, nth, delay

    def __call__(self):
        inner = fake_analyzers(self.delay)
        real_pad, seen = inner.pad, [0]

        def pad(im):
            seen[0] += 1
            if seen[0] == self.nth and not os.path.exists(self.marker):
                with open(self.marker, "w") as fh:
                    fh.write(str(os.getpid()))
                os.kill(os.getpid(), signal.SIGKILL)
            return real_pad(im)

        inner.pad = pad
        return inner


@pytest.mark.slow
def test_a_worker_killed_mid_run_still_gives_every_print_once(tmp_path, ray_address):
    d = tmp_path / "in"
    d.mkdir()
    files = good_files(d, 24)
    marker = tmp_path / "killed.pid"
    rows = []
    with CaseStore(tmp_path / "c.db") as st:
        s = run_batch_ray(d, st, KillOnce(str(marker)), partial=lambda it: rows.append(it.row), workers=2,
                          files_per_task=2)
    assert marker.exists(), "no worker was killed"
    victim = int(marker.read_text())
    assert f"{os.uname().nodename}:{victim}" in s.extra["worker_ids"]
    assert s.prints_analysed == len(files), [r["error"] for r in rows][:2]
    assert s.step_errors == 0, [r["error"] for r in rows][:2]
    assert sorted(r["sha256"] for r in rows) == sorted(sha256_file(f)[0] for f in files)
    assert _table(tmp_path / "c.db", "SELECT COUNT(*), COUNT(DISTINCT sha256) FROM prints") == [(24, 24)]
    assert _table(tmp_path / "c.db", "SELECT COUNT(*) FROM results") == [(48,)]


def _count_prints(case: Path) -> int:
    if not case.exists():
        return 0
    try:
        return _table(case, "SELECT COUNT(*) FROM prints")[0][0]
    except sqlite3.Error:
        return 0


@pytest.mark.slow
def test_a_killed_driver_rerun_gives_every_print_once(tmp_path, ray_address):
    d = tmp_path / "in"
    d.mkdir()
    files = good_files(d, 40)
    case = tmp_path / "case.db"
    cmd = [sys.executable, "-m", "fpstation", "batch", str(d), "--case", str(case), "--engine", "ray",
           "--address", ray_address, "--workers", "2", "--quiet", "--out"]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(cmd + [str(tmp_path / "first.csv")], env={**env, TEST_ANALYZERS_ENV: "fake:0.1"},
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 90
    while _count_prints(case) < 6 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert proc.poll() is None, "batch ended before it could be killed: " + proc.stderr.read().decode()
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    done_before = _count_prints(case)
    assert 6 <= done_before < len(files)

    out = tmp_path / "second.csv"
    r = subprocess.run(cmd + [str(out)], env={**env, TEST_ANALYZERS_ENV: "fake"}, cwd=ROOT,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == len(files)
    assert sum(r["status"] == "skipped" for r in rows) >= done_before
    assert {r["status"] for r in rows} <= {"skipped", "done"}
    assert _table(case, "SELECT COUNT(*), COUNT(DISTINCT sha256) FROM prints") == [(len(files), len(files))]
    assert _table(case, "SELECT COUNT(*) FROM results WHERE error IS NULL") == [(2 * len(files),)]
    assert {row[0] for row in _table(case, "SELECT sha256 FROM prints")} == {sha256_file(f)[0] for f in files}


class Refuses:
    steps = frozenset({"pad"})

    def __call__(self):
        from fpstation.core.errors import ModelIntegrityError

        raise ModelIntegrityError("Model “pad-x” was refused: its weights file does not match its model card.")


@pytest.mark.slow
def test_a_worker_that_refuses_its_models_stops_the_run_with_the_reason(tmp_path, ray_address):
    d, _ = _folder(tmp_path, n=2)
    with CaseStore(tmp_path / "c.db") as st, pytest.raises(ClusterError, match="pad-x.*refused"):
        run_batch_ray(d, st, Refuses(), workers=1)
        assert st.counts()["prints"] == 0


def test_cli_engine_ray_without_ray_says_how_to_install(tmp_path, monkeypatch, capsys):
    from fpstation.cli import main

    monkeypatch.setitem(sys.modules, "ray", None)
    monkeypatch.setenv(TEST_ANALYZERS_ENV, "fake")
    assert main(["batch", str(tmp_path), "--out", str(tmp_path / "o.csv"), "--engine", "ray"]) == 2
    err = capsys.readouterr().err
    assert 'pip install -e ".[cluster]"' in err
    assert "--engine local" in err
    assert not (tmp_path / "o.csv").exists()  # refused before anything was written


def _registry(root: Path, weights: bytes, sha: str | None = None):
    import hashlib
    import json

    from fpstation.ml.registry import Registry

    root.mkdir(parents=True)
    (root / "pad-x.keras").write_bytes(weights)
    card = {"name": "pad-x", "task": "pad", "version": "3", "file": "pad-x.keras", "default": True,
            "sha256": sha or hashlib.sha256(weights).hexdigest()}
    (root / "pad-x.json").write_text(json.dumps(card))
    return Registry(shipped_dir=root, user_dir=root / "user")


def test_each_worker_verifies_the_drivers_models(tmp_path):
    from fpstation.core.errors import ModelIntegrityError, ModelNotFoundError
    from fpstation.ml.inference import ClusterSetup
    from fpstation.settings import Settings

    driver = _registry(tmp_path / "driver", b"weights v3")
    setup = ClusterSetup(Settings(), restoration=False, gender_=False, registry=driver)
    assert setup.steps == {"pad"}
    assert setup.expected["pad"]["name"] == "pad-x"
    assert setup.verify(driver) == [{"step": "pad", **setup.expected["pad"]}]
    # a worker whose model file was damaged (its card still says the right sha256)
    damaged = _registry(tmp_path / "damaged", b"weights v3!", sha=setup.expected["pad"]["sha256"])
    with pytest.raises(ModelIntegrityError, match="does not match its model card"):
        setup.verify(damaged)
    # a worker with another model under the same name
    other = _registry(tmp_path / "other", b"weights v4")
    with pytest.raises(ModelIntegrityError, match="not the driver's"):
        setup.verify(other)
    # a worker without the model
    from fpstation.ml.registry import Registry

    with pytest.raises(ModelNotFoundError, match="not installed on this worker"):
        setup.verify(Registry(shipped_dir=tmp_path / "none", user_dir=tmp_path / "none2"))


class NoSteps:
    """Every step off: list, hash and measure a folder."""

    steps = frozenset()

    def __call__(self):
        from fpstation.core.pipeline import Analyzers

        return Analyzers()


@pytest.mark.slow
def test_all_steps_off_records_the_prints_like_the_local_engine(tmp_path, ray_address):
    from fpstation.core.pipeline import Analyzers

    d, files = _folder(tmp_path, n=4)
    local, remote = [], []
    with CaseStore(tmp_path / "local.db") as st:
        run_batch(d, st, Analyzers(), partial=lambda it: local.append(it.row))
    with CaseStore(tmp_path / "ray.db") as st:
        run_batch_ray(d, st, NoSteps(), partial=lambda it: remote.append(it.row), workers=2)
    assert _strip(remote) == _strip(local)
    assert len(remote) == len(files) + 3
    assert _case_content(tmp_path / "ray.db") == _case_content(tmp_path / "local.db")


def test_every_pad_model_that_runs_is_verified_and_quality_counts_for_resume(tmp_path):
    import hashlib
    import json

    from fpstation.core.errors import ModelIntegrityError
    from fpstation.ml.inference import ClusterSetup
    from fpstation.ml.registry import Registry
    from fpstation.settings import Settings

    def two_pads(root: Path, y_weights: bytes, y_sha: str | None = None) -> Registry:
        _registry(root, b"weights v3")
        (root / "pad-y.keras").write_bytes(y_weights)
        (root / "pad-y.json").write_text(json.dumps({
            "name": "pad-y", "task": "pad", "version": "1", "file": "pad-y.keras",
            "sha256": y_sha or hashlib.sha256(y_weights).hexdigest()}))
        return Registry(shipped_dir=root, user_dir=root / "user")

    driver = two_pads(tmp_path / "driver", b"second model")
    setup = ClusterSetup(Settings(), restoration=False, gender_=False, registry=driver)
    assert setup.requested == {"pad", "quality"}  # a re-run skips only prints that hold NFIQ 2 too
    assert setup.expected["pad"]["name"] == "pad-x"
    assert setup.expected["pad:pad-y"]["name"] == "pad-y"
    assert [v["step"] for v in setup.verify(driver)] == ["pad", "pad:pad-y"]
    damaged = two_pads(tmp_path / "damaged", b"second model!", hashlib.sha256(b"second model").hexdigest())
    with pytest.raises(ModelIntegrityError, match="does not match its model card"):
        setup.verify(damaged)
