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
    # each network's fit time survives the resume (this run's own seconds are the rebuild's)
    assert card2["training"]["network_seconds"] == card["training"]["network_seconds"]
    assert len(card["training"]["network_seconds"]) == 3 and all(s > 0 for s in card["training"]["network_seconds"])


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


def test_app_training_cross_fits_and_registers_one_model_that_runs_on_onnx(tmp_path):
    """ml/training.train (the Training dialog, ``fpstation train pad --cross-fit K``) with cross_fit=3, the
    alteration map and the mirror view: three networks, each validated on its own part, one registered
    graph of their calibrated mean, its threshold from every subject's out-of-fold score."""
    pytest.importorskip("tensorflow")
    from fpstation.core.imageio import read_print
    from fpstation.core.jobs import CancelToken
    from fpstation.ml.classifiers import pad_predict
    from fpstation.ml.registry import Registry
    from fpstation.ml.tasks import get_task
    from fpstation.ml.training import train
    from tests.ml.classifier_fixtures import make_socofing, tiny_hyper

    data = make_socofing(tmp_path / "soco", subjects=9)
    reg = Registry(shipped_dir=tmp_path / "shipped", user_dir=tmp_path / "user")
    hyper = tiny_hyper(get_task("pad"), epochs=1)
    hyper.extra.update(alter_map=1.0, cross_fit=3, mirror=True)
    epochs = []
    out = train("pad", data, hyper, cancel=CancelToken(), registry=reg,
                on_epoch=lambda e: epochs.append((e.epoch, e.epochs)))
    assert epochs == [(i, 3) for i in range(3)]  # the networks' epochs run on, one curve
    d = out.card.data
    assert d["split"]["cross_fit"] == 3 and d["split"]["val_subjects"] == [] and "val_fraction" not in d["split"]
    assert sorted(s for p in d["split"]["parts"] for s in p) == sorted(str(i) for i in range(1, 10))
    assert d["metrics"]["val_n"] == 9 * 3 * 2 and "out of fold" in d["metrics"]["note"]
    assert d["ensemble"]["cross_fit"] == 3 and len(d["ensemble"]["calibrations"]) == 3
    assert d["calibration"]["a"] == 1.0 and "--cross-fit 3" in d["training"]["command"]
    assert reg.onnx_file(out.card) is not None
    r = pad_predict(read_print(next((data / "Real").glob("*.BMP"))), model_key=out.card.key, registry=reg)
    assert 0.0 <= r.attack_score <= 1.0


def test_app_training_refuses_a_cross_fit_it_cannot_do_in_words(tmp_path):
    from fpstation.core.errors import DatasetError
    from fpstation.ml import crossfit
    from fpstation.ml.tasks import get_task

    task = get_task("pad")
    h = task.default_hyper()
    with pytest.raises(DatasetError, match="2 to 9 parts"):
        crossfit.check(task, h, 12)
    with pytest.raises(DatasetError, match="choose one"):
        crossfit.check(task, type(h)(**{**h.__dict__, "extra": {"mirror": "auto"}}), 5)
    with pytest.raises(DatasetError, match="two kinds of ensemble"):
        crossfit.check(task, type(h)(**{**h.__dict__, "extra": {"members": 3}}), 5)
    with pytest.raises(DatasetError, match="whole-print"):
        crossfit.check(get_task("gender"), get_task("gender").default_hyper(), 5)


def test_cli_cross_fit_reaches_the_hyper_parameters():
    import argparse

    from fpstation.commands.train import hyper_from_args
    from fpstation.ml.tasks import get_task

    base = dict(epochs=None, batch_size=None, lr=None, arch=None, input_size=None, seed=None, val_fraction=None,
                no_augment=False, name=None, dpi=None, alter_map=1.0, mirror="yes", members=None)
    h = hyper_from_args(get_task("pad"), argparse.Namespace(**base, cross_fit=5))
    assert h.extra["cross_fit"] == 5 and h.extra["mirror"] is True
    assert "cross_fit" not in hyper_from_args(get_task("pad"), argparse.Namespace(**base, cross_fit=None)).extra
