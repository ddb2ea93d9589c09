"""training/device_pack.py -> device_train.sh (the lent-GPU script, here on the CPU with the
TensorFlow backend) -> train_restoration.py --from-weights: the whole device round trip on a tiny
fake FVC root, so the script is known to work before a device is lent."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.ml.test_restoration_generalisation import _fake_fvc
from tests.scripts import load_script

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def _load(name: str):
    return load_script(f"training/{name}.py")


@pytest.fixture(scope="module")
def device_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("device")
    _fake_fvc(tmp / "data")
    manifest = _load("device_pack").pack(tmp / "data", tmp / "p1", holdout=["fvc2004-db2b"], val_fraction=0.34)
    env = {**os.environ, "PYTHON": sys.executable, "KERAS_BACKEND": "tensorflow", "PACK": str(tmp / "p1"),
           "OUT": str(tmp / "out"), "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run(["bash", str(ROOT / "training" / "device_train.sh"), "--cpu", "--tiny"], env=env,
                          capture_output=True, text=True, timeout=600)
    return tmp, manifest, proc


def test_pack_leaves_the_held_out_scanner_out(device_run):
    _, manifest, _ = device_run
    rels = [e["rel"] for e in manifest["sources"]]
    assert rels
    assert not [r for r in rels if r.startswith("fvc2004-db2b/")]


def test_device_script_trains_and_writes_its_record(device_run):
    tmp, _, proc = device_run
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    run = json.loads((tmp / "out" / "device_run.json").read_text(encoding="utf-8"))
    assert run["done"] is True
    assert run["backend"] == "tensorflow"
    assert run["pack"]["holdout_dbs"] == ["fvc2004-db2b"]
    assert run["history"]
    assert (tmp / "out" / "restore-unet-device.best.weights.h5").is_file()
    assert "device_train.sh" in (tmp / "out" / "device_train.log").read_text(encoding="utf-8")


def test_device_weights_become_a_card_with_onnx(device_run):
    tmp, _, _ = device_run
    train = _load("train_restoration")
    common = ["--data", str(tmp / "data"), "--holdout-dbs", "fvc2004-db2b", "--recipe", "wide",
              "--dilations", "2", "4", "8", "--per-image", "fvc=1,2", "--val-fraction", "0.34", "--no-eval",
              "--out", str(tmp / "card"), "--work", str(tmp / "work"), "--name", "restore-unet-dev", "--version", "3",
              "--from-weights", str(tmp / "out" / "restore-unet-device.best.weights.h5"),
              "--device-run", str(tmp / "out" / "device_run.json")]
    assert train.main(common) == 0
    card = json.loads((tmp / "card" / "restore-unet-dev.json").read_text(encoding="utf-8"))
    assert card["training"]["trained_on"].startswith("tensorflow")
    assert card["training"]["compute_seconds_total"] > 0
    assert card["data"]["holdout_dbs"] == ["fvc2004-db2b"]
    assert card["default"] is False


def test_device_run_with_other_held_out_scanners_is_refused(device_run):
    tmp, _, _ = device_run
    train = _load("train_restoration")
    with pytest.raises(SystemExit, match="misstate"):
        train.main(["--data", str(tmp / "data"), "--holdout-dbs", "fvc2002-db1b", "--no-eval", "--per-image",
                    "fvc=1,2", "--val-fraction", "0.34", "--out", str(tmp / "card2"), "--work", str(tmp / "work2"),
                    "--dilations", "2", "4", "8", "--name", "restore-unet-dev2",
                    "--from-weights", str(tmp / "out" / "restore-unet-device.best.weights.h5"),
                    "--device-run", str(tmp / "out" / "device_run.json")])


def test_finalize_writes_the_card_of_a_stopped_run_from_its_best_checkpoint(tmp_path):
    _fake_fvc(tmp_path / "data")
    train = _load("train_restoration")
    common = ["--data", str(tmp_path / "data"), "--steps-per-epoch", "2", "--batch-size", "4", "--base", "2",
              "--levels", "2", "--no-eval", "--out", str(tmp_path / "out"), "--work", str(tmp_path / "work"),
              "--name", "restore-unet-f", "--per-image", "fvc=1,2", "--val-fraction", "0.34"]
    assert train.main(["--epochs", "2", *common]) == 0
    (tmp_path / "out" / "restore-unet-f.json").unlink()
    assert train.main(["--epochs", "2", "--finalize", *common]) == 0
    card = json.loads((tmp_path / "out" / "restore-unet-f.json").read_text(encoding="utf-8"))
    assert card["training"]["epochs_run"] == 2
    assert "--finalize" in card["training"]["finalized"]
    assert card["training"]["compute_seconds_total"] > 0


def test_finalize_without_a_run_says_so(tmp_path, capsys):
    _fake_fvc(tmp_path / "data")
    train = _load("train_restoration")
    assert train.main(["--data", str(tmp_path / "data"), "--finalize", "--no-eval", "--per-image", "fvc=1,2",
                       "--val-fraction", "0.34", "--out", str(tmp_path / "out"), "--work", str(tmp_path / "w"),
                       "--base", "2", "--levels", "2", "--name", "restore-unet-g"]) == 2
    assert "--finalize: no checkpoint" in capsys.readouterr().err


def test_mixed_recipe_trains_on_both_generators(tmp_path):
    """--recipe mixed: the patches of the v2 and the wide generator together (twice the patches of one)."""
    _fake_fvc(tmp_path / "data")
    train = _load("train_restoration")
    common = ["--data", str(tmp_path / "data"), "--steps-per-epoch", "1", "--batch-size", "4", "--base", "2",
              "--levels", "2", "--no-eval", "--per-image", "fvc=1,2", "--val-fraction", "0.34", "--epochs", "1"]
    assert train.main([*common, "--out", str(tmp_path / "a"), "--work", str(tmp_path / "wa"), "--name", "r-a"]) == 0
    assert train.main([*common, "--recipe", "mixed", "--out", str(tmp_path / "b"), "--work", str(tmp_path / "wb"),
                       "--name", "r-b"]) == 0
    one = json.loads((tmp_path / "a" / "r-a.json").read_text(encoding="utf-8"))
    both = json.loads((tmp_path / "b" / "r-b.json").read_text(encoding="utf-8"))
    assert both["data"]["train_patches"] == 2 * one["data"]["train_patches"]
    assert both["data"]["recipe"] == "mixed"
    assert "v2 and wide" in both["data"]["degradation"]


def test_mixed_recipe_alternates_generators_by_round():
    dt = _load("device_train")
    assert [dt.round_recipe("mixed", r) for r in range(4)] == ["wide", "v2", "wide", "v2"]
    assert dt.round_recipe("wide", 3) == "wide"


def test_identity_pairs_make_up_the_asked_share():
    import numpy as np

    dt = _load("device_train")
    rng = np.random.default_rng(0)
    x = rng.integers(0, 255, (90, 8, 8), dtype=np.uint8)
    y = rng.integers(0, 255, (90, 8, 8), dtype=np.uint8)
    x2, y2 = dt.add_identity_pairs(x, y, 0.1, seed=0)
    assert len(x2) == 100
    assert np.array_equal(x2[90:], y2[90:])  # clean in, clean out
    assert np.array_equal(x2[:90], x)  # the degraded pairs are kept as they were
    assert dt.add_identity_pairs(x, y, 0.0, seed=0)[0] is x
    with pytest.raises(ValueError):
        dt.add_identity_pairs(x, y, 1.0, seed=0)
