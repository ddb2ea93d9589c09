"""Bundle benchmark: build time, size and start-up time of the bundled GUI -> bench/results/bundle.json.

Measures the BUILT artifact (dist/fpstation by default):

* ``build_s``      wall time of ``make bundle`` (only with ``--build``; the same command CI runs)
* ``size_mib``     bytes of every file in the bundle folder / 2**20, plus the largest parts
* ``gui_start_s``  launch -> main window first shown, under a real X server (Xvfb), with
  ``FPSTATION_EXIT_AFTER_SHOWN=1`` (app.py prints ``FPSTATION_SHOWN t=<epoch> tensorflow=<bool>``
  and quits). *cold*: the bundle's files are evicted from the page cache first
  (``posix_fadvise(DONTNEED)``; system libraries stay cached); *warm*: straight after a run.
* ``tensorflow_at_startup``  whether ``tensorflow`` was in ``sys.modules`` when the window showed
* ``cli_version_s``  ``fpstation-cli --version`` (the CLI's own start-up), cold and warm
* ``cli_analyze_s``  ``fpstation-cli analyze <bundled sample>`` (start-up, every model loaded, one
  print analysed: restoration, NFIQ 2, both PAD models, gender), cold and warm
* ``load_average``   ``os.getloadavg()`` before and after (the machine is shared)

Results are stored per variant (``--variant``; default ``default``) so a build without the size
exclusions (``FPSTATION_BUNDLE_EXCLUDES=0``) or a one-file build can be compared in the same file.

Usage (slow: a build takes minutes; run niced)::

    nice -n 10 .venv/bin/python bench/bundle_bench.py --build
    nice -n 10 .venv/bin/python bench/bundle_bench.py --build --variant before-size-work \
        --env FPSTATION_BUNDLE_EXCLUDES=0 --env FPSTATION_BUNDLE_STRIP=0 --no-startup --dist /tmp/fp-before
    nice -n 10 .venv/bin/python bench/bundle_bench.py --build --variant onefile --onefile --runs 2 \
        --dist /tmp/fp-onefile
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "bundle.json"
sys.path.insert(0, str(ROOT))

from fpstation import __app_name__, __version__  # noqa: E402


def build(dist: Path, env_extra: dict[str, str]) -> float:
    """Run ``make bundle`` into ``dist``; return its wall time in seconds."""
    env = {**os.environ, **env_extra}
    t0 = time.perf_counter()
    # -o: take the venv as up to date (do not let a newer pyproject.toml re-run pip here)
    subprocess.run(["make", "-o", ".venv/.fpstation-installed", "bundle", f"BUNDLE_DIST={dist}"],
                   cwd=ROOT, env=env, check=True)
    return time.perf_counter() - t0


def folder_size(folder: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(folder):
        for name in files:
            p = Path(dirpath) / name
            if not p.is_symlink():
                total += p.stat().st_size
    return total


def largest_parts(internal: Path, n: int = 12) -> dict[str, float]:
    """MiB of the biggest top-level entries of _internal (folders summed)."""
    sizes = {}
    for entry in internal.iterdir():
        if entry.is_symlink():
            continue
        sizes[entry.name] = (folder_size(entry) if entry.is_dir() else entry.stat().st_size) / 2**20
    return {k: round(v, 1) for k, v in sorted(sizes.items(), key=lambda kv: -kv[1])[:n]}


def evict_file(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def evict(folder: Path) -> None:
    """Drop the folder's file pages from the page cache (what a cold start after boot sees)."""
    for dirpath, _dirs, files in os.walk(folder):
        for name in files:
            p = Path(dirpath) / name
            if not p.is_symlink():
                evict_file(p)


class Xvfb:
    """A private X server for the duration of the benchmark."""

    def __enter__(self) -> str:
        r, w = os.pipe()
        self.proc = subprocess.Popen(["Xvfb", "-displayfd", str(w), "-screen", "0", "1600x1000x24",
                                      "-nolisten", "tcp"], pass_fds=(w,), stderr=subprocess.DEVNULL)
        os.close(w)
        with os.fdopen(r) as f:
            num = f.readline().strip()
        if not num:
            raise RuntimeError("Xvfb did not start")
        return f":{num}"

    def __exit__(self, *exc) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8",
           "TF_CPP_MIN_LOG_LEVEL": "2"}
    env.update(extra)
    return env


def gui_start(exe: Path, display: str, home: Path) -> tuple[float, bool, float]:
    """(seconds to window shown, tensorflow imported by then, seconds to process exit)."""
    env = clean_env(home, DISPLAY=display, FPSTATION_EXIT_AFTER_SHOWN="1")
    t0 = time.time()
    proc = subprocess.run([str(exe)], cwd=tempfile.gettempdir(), env=env, capture_output=True,
                          text=True, timeout=600)
    t_exit = time.time() - t0
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("FPSTATION_SHOWN")), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"GUI run failed rc={proc.returncode}\n{proc.stdout}\n{proc.stderr[-3000:]}")
    fields = dict(part.split("=", 1) for part in line.split()[1:])
    return float(fields["t"]) - t0, fields["tensorflow"] == "True", t_exit


def cli_version(exe: Path, home: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run([str(exe), "--version"], cwd=tempfile.gettempdir(), env=clean_env(home),
                   capture_output=True, check=True, timeout=300)
    return time.perf_counter() - t0


def cli_analyze(exe: Path, sample: Path, home: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run([str(exe), "analyze", str(sample)], cwd=tempfile.gettempdir(), env=clean_env(home),
                   capture_output=True, check=True, timeout=600)
    return time.perf_counter() - t0


def summary(values: list[float]) -> dict:
    return {"median": round(statistics.median(values), 3), "min": round(min(values), 3),
            "runs": [round(v, 3) for v in values]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", action="store_true", help="run `make bundle` first and time it")
    ap.add_argument("--dist", type=Path, default=ROOT / "dist", help="BUNDLE_DIST (default dist/)")
    ap.add_argument("--variant", default="default", help="key under which results are stored")
    ap.add_argument("--env", action="append", default=[], help="KEY=VALUE for the build (repeatable)")
    ap.add_argument("--runs", type=int, default=3, help="cold and warm start-up runs each")
    ap.add_argument("--no-startup", action="store_true", help="only build time and size")
    ap.add_argument("--onefile", action="store_true",
                    help="the build is FPSTATION_BUNDLE_ONEFILE=1: dist/fpstation is one file (GUI only)")
    args = ap.parse_args(argv)

    env_extra = dict(kv.split("=", 1) for kv in args.env)
    if args.onefile:
        env_extra["FPSTATION_BUNDLE_ONEFILE"] = "1"
    dist = args.dist.resolve()
    bundle = dist / __app_name__
    res: dict = {"variant": args.variant, "build_env": env_extra, "bundle": str(bundle),
                 "command": "python bench/bundle_bench.py " + " ".join(argv if argv is not None else sys.argv[1:]),
                 "load_average": {"before": [round(v, 2) for v in os.getloadavg()]}}
    if args.build:
        res["build_s"] = round(build(dist, env_extra), 1)
    gui = bundle if args.onefile else bundle / __app_name__
    if not gui.is_file():
        print(f"no bundle at {bundle}", file=sys.stderr)
        return 1
    cli = bundle / f"{__app_name__}-cli"
    internal = bundle / "_internal"
    if args.onefile:
        res["size_mib"] = round(gui.stat().st_size / 2**20, 1)
        res["files"] = 1
    else:
        res["size_mib"] = round(folder_size(bundle) / 2**20, 1)
        res["files"] = sum(len(f) for _d, _s, f in os.walk(bundle))
    if internal.is_dir():
        res["largest_parts_mib"] = largest_parts(internal)

    if not args.no_startup:
        home = Path(tempfile.mkdtemp(prefix="fpbench-home-"))
        try:
            with Xvfb() as display:
                cold, warm, tf_flags, exits = [], [], [], []
                for _ in range(args.runs):
                    if args.onefile:
                        evict_file(bundle)
                    else:
                        evict(bundle)
                    s, tf, e = gui_start(gui, display, home)
                    cold.append(s)
                    tf_flags.append(tf)
                    exits.append(e)
                for _ in range(args.runs):
                    s, tf, e = gui_start(gui, display, home)
                    warm.append(s)
                    tf_flags.append(tf)
            res["gui_start_s"] = {"cold": summary(cold), "warm": summary(warm)}
            res["gui_cold_exit_s"] = summary(exits)
            res["tensorflow_at_startup"] = any(tf_flags)
            if cli.is_file():
                evict(bundle)
                c = cli_version(cli, home)
                w = [cli_version(cli, home) for _ in range(args.runs)]
                res["cli_version_s"] = {"cold": round(c, 3), "warm": summary(w)}
                sample = next(iter(sorted((internal / "resources" / "samples").glob("*.png"))), None)
                if sample is not None:
                    evict(bundle)
                    c = cli_analyze(cli, sample, home)
                    w = [cli_analyze(cli, sample, home) for _ in range(args.runs)]
                    res["cli_analyze_s"] = {"cold": round(c, 3), "warm": summary(w), "sample": sample.name}
        finally:
            shutil.rmtree(home, ignore_errors=True)

    res["load_average"]["after"] = [round(v, 2) for v in os.getloadavg()]
    res.update({
        "version": __version__,
        "measured": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "note": "shared 2-core VM, other jobs running; builds and runs niced"},
        "cold_method": "posix_fadvise(DONTNEED) on every bundle file before the run",
    })
    data = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    data.setdefault("variants", {})[args.variant] = res
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(data, indent=2) + "\n")
    print(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
