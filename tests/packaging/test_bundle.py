"""Smoke test of the BUILT PyInstaller bundle (``dist/fpstation``), not of the source tree.

Every check runs a bundled executable in a clean environment (no PYTHONPATH, no venv, a fresh
HOME) from a working directory outside the checkout, so nothing can silently fall back to the
source files. Skipped when no bundle has been built; ``make bundle-smoke`` (and CI) set
``FPSTATION_REQUIRE_BUNDLE=1`` so that a missing bundle fails instead.
``FPSTATION_BUNDLE_DIR`` points the tests at a bundle elsewhere.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from fpstation import __app_name__, __version__
from fpstation.paths import bundle_layout

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = Path(os.environ.get("FPSTATION_BUNDLE_DIR", ROOT / "dist" / __app_name__)).resolve()
CLI = BUNDLE / f"{__app_name__}-cli"
GUI = BUNDLE / __app_name__
INTERNAL = BUNDLE / "_internal"  # PyInstaller 6 one-dir: sys._MEIPASS
#: selftest loads every model on a slow shared CPU
TIMEOUT_S = 900
#: the window shows in a few seconds; a GUI that never quits must not stall CI for long
GUI_TIMEOUT_S = 180
SELFTEST_HEAD = re.compile(r"^fpstation (?P<version>\S+) running from (?P<path>.+?)\s*$")

pytestmark = pytest.mark.bundle

if not CLI.is_file():
    if os.environ.get("FPSTATION_REQUIRE_BUNDLE") == "1":
        raise RuntimeError(f"no bundle at {BUNDLE}: run `make bundle` first")
    pytest.skip(f"no bundle at {BUNDLE} (run `make bundle`)", allow_module_level=True)


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of an analyst's shell: no Python variables, nothing of the checkout."""
    home.mkdir(parents=True, exist_ok=True)
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8",
           "QT_QPA_PLATFORM": "offscreen", "TF_CPP_MIN_LOG_LEVEL": "2"}
    env.update(extra)
    return env


def run_bundled(exe: Path, args: list[str], tmp_path: Path, timeout: float = TIMEOUT_S,
                **extra: str) -> subprocess.CompletedProcess:
    workdir = tmp_path / "cwd"  # outside the checkout (pytest's tmp lives under /tmp)
    workdir.mkdir(exist_ok=True)
    return subprocess.run([str(exe), *args], cwd=workdir, env=clean_env(tmp_path / "home", **extra),
                          capture_output=True, text=True, timeout=timeout)


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
        return True
    except ValueError:
        return False


def test_both_executables_share_one_folder():
    assert CLI.is_file()
    assert os.access(CLI, os.X_OK)
    assert GUI.is_file()
    assert os.access(GUI, os.X_OK)
    assert INTERNAL.is_dir()


def test_bundle_mirrors_paths_layout():
    """Every shipped data file that paths.py resolves in the source tree is in the bundle too."""
    for src, dest in bundle_layout():
        for f in (ROOT / src).rglob("*"):
            if f.is_file() and "__pycache__" not in f.parts and not f.name.startswith("."):
                assert (INTERNAL / dest / f.relative_to(ROOT / src)).is_file(), f


@pytest.mark.parametrize("package", ["tensorflow", "keras", "pyfing"])
def test_the_training_framework_stays_out(package):
    """Every shipped model runs on onnxruntime: TensorFlow, Keras and pyfing (which imports Keras)
    are the train extra, not part of the bundle (ADR 0230)."""
    assert not (INTERNAL / package).exists()


@pytest.mark.parametrize("exe", [GUI, CLI], ids=["gui", "cli"])
def test_every_fpstation_module_is_in_the_executable(exe):
    """Commands, GUI extensions and training tasks are imported by name at run time, which
    PyInstaller cannot see: every module of the source package must be in the executable's archive
    (read back with PyInstaller's own archive reader), or a feature silently goes missing."""
    from PyInstaller.archive.readers import pkg_archive_contents

    bundled = set(pkg_archive_contents(str(exe)))
    source = {".".join(f.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
              for f in (ROOT / "fpstation").rglob("*.py")}
    assert not source - bundled, sorted(source - bundled)


def test_cli_version(tmp_path):
    proc = run_bundled(CLI, ["--version"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"fpstation {__version__}"


def test_selftest_passes_and_runs_from_the_bundle(tmp_path):
    proc = run_bundled(CLI, ["selftest"], tmp_path)
    out = proc.stdout
    print(out)  # shown in the CI log (make bundle-smoke uses -rP)
    assert proc.returncode == 0, f"selftest failed ({proc.returncode})\n{out}\n{proc.stderr}"
    head = SELFTEST_HEAD.match(out.splitlines()[0]) if out else None
    assert head, f"unexpected first line: {out[:200]!r}"
    assert head["version"] == __version__
    pkg = Path(head["path"])
    # the code that ran is the frozen copy in the bundle, not the checkout's fpstation/
    assert _inside(pkg, INTERNAL), f"package ran from {pkg}, not from {INTERNAL}"
    assert not _inside(pkg, ROOT / "fpstation"), pkg


def test_bundled_selftest_runs_every_shipped_model(tmp_path):
    import json

    proc = run_bundled(CLI, ["selftest", "--no-gui"], tmp_path)
    lines = {ln.split()[2]: ln.split()[0] for ln in proc.stdout.splitlines() if ln[6:12] == "model "}
    shipped = sorted(json.loads(p.read_text(encoding="utf-8"))["name"] for p in (ROOT / "models").glob("*.json")
                     if "task" in json.loads(p.read_text(encoding="utf-8")))
    assert sorted(lines) == shipped
    assert set(lines.values()) == {"OK"}, proc.stdout


def _sample() -> Path:
    # prints lie at the top of samples/; samples/faces/ holds face photographs (the face selftest)
    samples = sorted(p for p in (INTERNAL / "resources" / "samples").glob("*")
                     if p.is_file() and p.suffix.lower() in {".png", ".bmp", ".tif", ".tiff", ".wsq"})
    if not samples:
        pytest.fail("the bundle holds no sample print under resources/samples")
    return samples[0]


def test_analyze_a_bundled_sample(tmp_path):
    """``analyze`` on a shipped sample: the print is read, and every task with a shipped model
    (a card in the bundle's models/) produces a result rather than an error."""
    sample = _sample()
    proc = run_bundled(CLI, ["analyze", "--json", "-", str(sample)], tmp_path)
    assert proc.returncode == 0, f"analyze failed ({proc.returncode})\n{proc.stdout}\n{proc.stderr}"
    report = json.loads(proc.stdout)
    assert report["fpstation"] == __version__
    (result,) = report["results"]
    assert result["sha256"] == hashlib.sha256(sample.read_bytes()).hexdigest()
    shipped_tasks = set()
    for card in (INTERNAL / "models").glob("*.json"):
        task = json.loads(card.read_text(encoding="utf-8")).get("task")
        if task in ("restoration", "pad", "gender"):
            shipped_tasks.add(task)
    for task in sorted(shipped_tasks):
        assert task in result["computed"], f"{task}: {result['errors'].get(task)}"


def test_enrol_and_search_from_the_bundle(tmp_path):
    """``enroll`` the bundled sample prints into a case, then ``search`` one: the packed gallery
    and the cylinder kernel (onnxruntime) work from the bundle, and the print finds itself."""
    prints = sorted(p for p in (INTERNAL / "resources" / "samples").glob("*")
                    if p.is_file() and p.suffix.lower() in {".png", ".bmp", ".tif", ".tiff"})
    folder = tmp_path / "prints"
    folder.mkdir()
    for p in prints:
        (folder / p.name).write_bytes(p.read_bytes())
    case = tmp_path / "case.sqlite"
    proc = run_bundled(CLI, ["enroll", str(folder), "--case", str(case)], tmp_path)
    assert proc.returncode == 0, f"enroll failed\n{proc.stdout}\n{proc.stderr}"
    proc = run_bundled(CLI, ["search", str(folder / prints[0].name), "--case", str(case), "--json", "-"], tmp_path)
    assert proc.returncode == 0, f"search failed\n{proc.stdout}\n{proc.stderr}"
    out = json.loads(proc.stdout)
    assert out["gallery_size"] == len(prints)
    assert out["candidates"][0]["path"].endswith(prints[0].name)
    assert (tmp_path / "case.leader.fpg" / "meta.json").is_file()


def test_gui_shows_its_window_without_tensorflow(tmp_path):
    """The windowed executable starts, shows the main window offscreen and has not imported TF.

    ``FPSTATION_EXIT_AFTER_SHOWN=1`` makes app.py print one ``FPSTATION_SHOWN`` line when the
    window is first shown and quit (see fpstation/app.py; bench/bundle_bench.py times it).
    """
    proc = run_bundled(GUI, [], tmp_path, timeout=GUI_TIMEOUT_S, FPSTATION_EXIT_AFTER_SHOWN="1")
    assert proc.returncode == 0, f"GUI failed ({proc.returncode})\n{proc.stdout}\n{proc.stderr}"
    shown = [ln for ln in proc.stdout.splitlines() if ln.startswith("FPSTATION_SHOWN")]
    assert shown, f"no FPSTATION_SHOWN line\n{proc.stdout}\n{proc.stderr}"
    assert "tensorflow=False" in shown[0], shown[0]


@pytest.mark.parametrize("exe", [GUI, CLI], ids=["gui", "cli"])
def test_spawned_child_runs_its_target_not_the_app(exe, tmp_path):
    """The training dialog fits in a multiprocessing 'spawn' child, which is this executable
    started with ``--multiprocessing-fork``. The entry script must hand over to multiprocessing
    (``freeze_support()``) instead of starting the app again (a second window).

    Feeds the child what ``popen_spawn_posix`` would: preparation data, then the pickled
    Process, whose target ``sys.exit(7)`` makes the child exit with 7."""
    import multiprocessing
    import multiprocessing.context
    from multiprocessing import reduction

    proc_obj = multiprocessing.get_context("spawn").Process(target=sys.exit, args=(7,))
    multiprocessing.context.set_spawning_popen(object())  # allows pickling the authkey
    try:
        payload = io.BytesIO()
        reduction.dump({}, payload)
        reduction.dump(proc_obj, payload)
    finally:
        multiprocessing.context.set_spawning_popen(None)
    r, w = os.pipe()
    os.write(w, payload.getvalue())  # a few hundred bytes: fits the pipe buffer
    os.close(w)
    try:
        workdir = tmp_path / "cwd"
        workdir.mkdir()
        proc = subprocess.run([str(exe), "--multiprocessing-fork", f"pipe_handle={r}"], pass_fds=(r,),
                              cwd=workdir, env=clean_env(tmp_path / "home"), capture_output=True,
                              text=True, timeout=GUI_TIMEOUT_S)
    finally:
        os.close(r)
    assert proc.returncode == 7, f"child exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
