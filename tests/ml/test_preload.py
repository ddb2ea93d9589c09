"""ml/preload.py: TensorFlow's native libraries are dlopen'ed without importing TensorFlow, and the
import afterwards still works (in a fresh process, so the first import is the one under test)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

CODE = """
import sys
from fpstation.ml.preload import preload_tensorflow_libraries
loaded = preload_tensorflow_libraries()
assert "tensorflow" not in sys.modules, "preload must not import tensorflow"
print("LOADED", ",".join(loaded))
import tensorflow as tf
assert float(tf.reduce_sum(tf.constant([1.0, 2.5])).numpy()) == 3.5
assert preload_tensorflow_libraries() == []  # once per process
with open("/proc/self/maps") as f:
    maps = f.read()
print("MAPPED", "libtensorflow_cc.so.2" in maps)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the preload is Linux-only")
def test_preload_then_import_tensorflow():
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=str(ROOT))
    r = subprocess.run([sys.executable, "-c", CODE], cwd=ROOT, env=env, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "LOADED libtensorflow_framework.so.2,libtensorflow_cc.so.2" in r.stdout
    assert "MAPPED True" in r.stdout
