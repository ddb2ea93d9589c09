"""Issue 16 item 11: TensorFlow's oneDNN/absl start-up chatter stays off the terminal; anything
else written to stderr meanwhile still gets there."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_known_noise_is_dropped_other_lines_pass(capfd):
    from fpstation.ml.quiet import quiet_native_stderr

    with quiet_native_stderr():
        os.write(2, b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n")
        os.write(2, b"I0000 port.cc:153] oneDNN custom operations are on. TF_ENABLE_ONEDNN_OPTS=0\n")
        os.write(2, b"a real problem the user must see\n")
    err = capfd.readouterr().err
    assert "a real problem the user must see" in err
    assert "absl" not in err
    assert "oneDNN" not in err


@pytest.mark.slow
def test_tensorflow_import_is_quiet():
    pytest.importorskip("tensorflow")
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "FPSTATION_TF_VERBOSE")}
    env["PYTHONPATH"] = str(ROOT)
    code = ("import fpstation.ml.preload as p; p.preload_tensorflow_libraries(); "
            "import tensorflow; print('ok')")
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "ok" in proc.stdout, proc.stderr[-2000:]
    assert "oneDNN" not in proc.stderr, proc.stderr[-2000:]
    assert "absl::InitializeLog" not in proc.stderr, proc.stderr[-2000:]
