"""Analysis never imports TensorFlow (issue #23; ARCHITECTURE.md house rule 2).

One fresh interpreter runs every analysis path on the bundled samples: analyze, batch, watch,
compare, enroll + search, face enroll + identify (the shipped face CNN, on onnxruntime), and what a
Ray batch worker runs (BatchWorker with the driver's ClusterSetup). Afterwards neither
``tensorflow`` nor ``keras`` may be in ``sys.modules``: a user who installs the workstation to
analyse prints never pays for a training framework.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "resources" / "samples"

SCRIPT = r"""
import json, sys
from pathlib import Path

from fpstation.cli import main

tmp = Path(sys.argv[1])
prints, faces = tmp / "prints", tmp / "faces"
a, b = sorted(str(p) for p in prints.glob("*.png"))[:2]
runs = {
    "analyze": ["analyze", a],
    "batch": ["batch", str(prints), "--case", str(tmp / "batch.db"), "--out", str(tmp / "b.csv"), "--quiet"],
    "watch": ["watch", str(prints), "--case", str(tmp / "watch.db"), "--polls", "1", "--interval", "0.1",
              "--no-restore"],
    "compare": ["compare", a, b],
    "enroll": ["enroll", str(prints), "--case", str(tmp / "gallery.db")],
    "search": ["search", a, "--case", str(tmp / "gallery.db")],
    "face enroll": ["face", "enroll", str(faces), "--case", str(tmp / "faces.db"), "--model", "face-mobilenet"],
    "face identify": ["face", "identify", str(next(faces.glob("*/*.png"))), "--case", str(tmp / "faces.db"),
                      "--model", "face-mobilenet"],
}
rcs = {}
for name, argv in runs.items():
    try:
        rcs[name] = main(argv)
    except SystemExit as exc:
        rcs[name] = exc.code

from fpstation.core.cluster import BatchWorker
from fpstation.ml.inference import ClusterSetup

worker = BatchWorker(ClusterSetup(), frozenset())
outcome = worker.run([(a, None)])[0]
rcs["ray worker"] = worker.error or outcome.error_message or (0 if outcome.prints else "no print analysed")
print(json.dumps({"rcs": rcs, "tensorflow": "tensorflow" in sys.modules, "keras": "keras" in sys.modules}))
"""


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("no_tf")
    (tmp / "prints").mkdir()
    for p in SAMPLES.glob("*.png"):
        shutil.copy2(p, tmp / "prints" / p.name)
    for p in (SAMPLES / "faces").glob("*.png"):  # orl_s<person>_<n>.png -> faces/s<person>/
        person = tmp / "faces" / p.stem.split("_")[1]
        person.mkdir(parents=True, exist_ok=True)
        shutil.copy2(p, person / p.name)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3", "QT_QPA_PLATFORM": "offscreen"}
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp)], cwd=str(ROOT), env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("path", ["analyze", "batch", "watch", "compare", "enroll", "search", "face enroll",
                                  "face identify", "ray worker"])
def test_analysis_path_succeeds(run, path):
    assert run["rcs"][path] == 0


def test_tensorflow_is_never_imported(run):
    assert run["tensorflow"] is False


def test_keras_is_never_imported(run):
    assert run["keras"] is False
