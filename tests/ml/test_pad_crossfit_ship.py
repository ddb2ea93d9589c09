"""train_pad.py --cross-fit K: K networks, each calibrated on the part of the people it did not see,
shipped as one graph (mean of the calibrated logits) with the threshold from every person's
out-of-fold score (docs/adr/0267)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_affine_members_fold_each_calibration_into_the_graph():
    pytest.importorskip("tensorflow")
    from fpstation.ml.architectures import mean_logit_ensemble
    from tests.ml.test_ensemble import _members

    members = _members(3)
    x = np.random.default_rng(3).random((4, 104, 96, 1), dtype=np.float32)
    zs = [np.asarray(m(x, training=False)).ravel() for m in members]
    ab = [(0.5, -1.0), (2.0, 0.25), (1.5, 3.0)]
    ens = mean_logit_ensemble(members, affine=ab)
    want = np.mean([a * z + b for (a, b), z in zip(ab, zs, strict=True)], axis=0)
    np.testing.assert_allclose(np.asarray(ens(x, training=False)).ravel(), want, rtol=1e-4, atol=1e-4)
    one = mean_logit_ensemble(members[:1], affine=[(2.0, 1.0)])  # one calibrated member: still a graph
    np.testing.assert_allclose(np.asarray(one(x, training=False)).ravel(), 2.0 * zs[0] + 1.0, rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="calibrations"):
        mean_logit_ensemble(members, affine=ab[:2])


def test_subject_parts_cut_every_subject_into_one_part_and_repeat():
    from fpstation.ml.datasets import subject_parts

    subjects = [str(i) for i in range(1, 24)]
    a = subject_parts(subjects, 5, seed=7)
    assert set(a) == set(subjects) and set(a.values()) == set(range(5))
    sizes = np.bincount(list(a.values()))
    assert sizes.max() - sizes.min() <= 1
    assert subject_parts(reversed(subjects), 5, seed=7) == a  # order of the input does not matter
    assert subject_parts(subjects, 5, seed=8) != a


def _train(data: Path, tmp_path: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "training" / "train_pad.py"), "--data", str(data),
                           "--out", str(tmp_path / "out"), "--workdir", str(tmp_path / "work" / "run"),
                           "--epochs", "1", "--width", "4", "--cross-fit", "3", "--mirror", "yes", "--threads", "1",
                           *extra], capture_output=True, text=True, timeout=900, cwd=ROOT)


def test_train_pad_cross_fit_ships_the_mean_of_calibrated_networks(tmp_path):
    pytest.importorskip("tensorflow")
    import keras

    from fpstation.ml.classifiers import metrics as cm
    from tests.ml.classifier_fixtures import make_socofing

    data = make_socofing(tmp_path / "soco", subjects=12)
    proc = _train(data, tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert "network 3/3: trains on 8 subjects, validated on part 2" in proc.stdout
    card = json.loads((tmp_path / "out" / "pad-socofing.json").read_text())
    parts = card["split"]["parts"]
    assert len(parts) == 3 and sorted(s for p in parts for s in p) == sorted(str(i) for i in range(1, 13))
    assert card["split"]["val_subjects"] == [] and card["split"]["out_of_fold_subjects"] == card["split"]["train_subjects"]
    assert card["ensemble"]["cross_fit"] == 3 and len(card["ensemble"]["calibrations"]) == 3
    assert card["calibration"]["a"] == 1.0 and card["calibration"]["b"] == 0.0
    assert card["input"]["mirror"] is True and card["metrics"]["val_n"] == card["split"]["n_out_of_fold"] == 12 * 3 * 2
    assert "--cross-fit 3" in card["training"]["command"] and "out of fold" in card["metrics"]["note"]
    assert 0.0 <= card["threshold"]["value"] <= 1.0

    # the shipped logit is the mean of the networks' calibrated mirror-view logits
    model = keras.models.load_model(tmp_path / "out" / card["file"], compile=False)
    nets = [keras.models.load_model(tmp_path / "work" / "run" / f"xfit{j}.final.keras", compile=False) for j in range(3)]
    x = np.random.default_rng(0).random((3, 104, 96, 1), dtype=np.float32)
    xm = np.ascontiguousarray(x[:, :, ::-1])

    def mirror_logit(m):
        return 0.5 * (np.asarray(m(x, training=False)).ravel() + np.asarray(m(xm, training=False)).ravel())

    want = np.mean([cm.apply_calibration(mirror_logit(n), c) for n, c in zip(nets, card["ensemble"]["calibrations"],
                                                                           strict=True)], axis=0)
    np.testing.assert_allclose(mirror_logit(model), want, rtol=1e-4, atol=1e-4)

    # --resume keeps the finished networks: same model, no training
    again = _train(data, tmp_path, "--resume")
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stdout.count("finished before, kept") == 3 and "epoch 1/1" not in again.stdout
    card2 = json.loads((tmp_path / "out" / "pad-socofing.json").read_text())
    assert card2["threshold"]["value"] == pytest.approx(card["threshold"]["value"])
    assert "--resume" not in card2["training"]["command"]


def test_cross_fit_refuses_what_it_cannot_do(tmp_path):
    pytest.importorskip("tensorflow")
    from tests.ml.classifier_fixtures import make_socofing

    data = make_socofing(tmp_path / "soco", subjects=6)
    proc = _train(data, tmp_path, "--members", "2")
    assert proc.returncode != 0 and "choose one" in proc.stderr


def test_evaluate_only_refuses_a_cross_fitted_card_in_words(tmp_path):
    pytest.importorskip("tensorflow")
    card = tmp_path / "pad-x.json"
    card.write_text(json.dumps({"name": "pad-x", "file": "pad-x.keras", "sha256": "0",
                                "split": {"cross_fit": 5, "val_subjects": []}}))
    proc = subprocess.run([sys.executable, str(ROOT / "training" / "train_pad.py"), "--data", str(tmp_path),
                           "--evaluate-only", str(card)], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode != 0 and "is cross-fitted" in proc.stderr and "train it again" in proc.stderr
