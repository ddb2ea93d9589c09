"""``python -m fpstation train gender`` end to end on a generated SOCOFing-like folder (subprocess).

The prints are synthetic (no research data in tests): females get horizontal ridges, males vertical,
so one epoch of the real gender task's CNN runs its whole path — SOCOFing layout detection, subject
split, fit, calibration on validation, card, registration — in a few seconds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def _socofing_like(root: Path, subjects: int = 12) -> Path:
    import cv2

    real = root / "Real"
    real.mkdir(parents=True)
    rng = np.random.default_rng(1)
    for s in range(1, subjects + 1):
        g = "F" if s % 2 else "M"
        for hand in ("Left", "Right"):
            for finger in ("index", "thumb"):
                ramp = (np.arange(96) // 3) % 2 * 180 + 40
                img = np.tile(ramp[:, None], (1, 103)) if g == "F" else np.tile(ramp, (96, 1))[:, :103]
                img = np.clip(img + rng.normal(0, 25, img.shape), 0, 255).astype(np.uint8)
                cv2.imwrite(str(real / f"{s}__{g}_{hand}_{finger}_finger.BMP"), img)
    return root


def test_cli_trains_real_gender_task_one_epoch(tmp_path):
    pytest.importorskip("fpstation.ml.classifiers.tasks")
    data = _socofing_like(tmp_path / "socofing")
    env = dict(os.environ, FPSTATION_HOME=str(tmp_path / "home"), TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.run([sys.executable, "-m", "fpstation", "train", "gender", "--data", str(data),
                           "--epochs", "1", "--batch-size", "8", "--input-size", "32", "--no-augment"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "Layout: socofing" in proc.stdout
    assert "epoch 1/1" in proc.stdout
    card_path = Path(proc.stdout.split("Model card: ")[1].splitlines()[0])
    assert card_path.is_relative_to(tmp_path / "home")
    card = json.loads(card_path.read_text())
    assert card["task"] == "gender"
    assert card["name"] == "gender-cnn"
    assert card["version"] == "1"
    assert card["data"]["layout"] == "socofing"
    assert card["data"]["counts"] == {"female": 24, "male": 24}
    assert len(card["split"]["train_subjects"]) + len(card["split"]["val_subjects"]) == 12
    assert card["training"]["epochs_run"] == 1
    assert "calibration" in card
