"""PAD/gender: dataset layouts, subject-disjoint splits, 1-epoch training, inference, evaluate CLIs.

Everything runs on generated 48×44 prints (tests/ml/classifier_fixtures.py); no shared data.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from fpstation.core.errors import DatasetError
from fpstation.ml.datasets import detect_layout, parse_socofing_name, scan_livdet, scan_socofing
from tests.ml.classifier_fixtures import install_tiny_models, make_livdet, make_socofing, tiny_hyper


@pytest.fixture(scope="module")
def soco(tmp_path_factory):
    return make_socofing(tmp_path_factory.mktemp("soco") / "SOCOFing")


# ------------------------------------------------------------------ names, layouts, splits
def test_socofing_names():
    n = parse_socofing_name("Altered/Altered-Hard/12__F_Left_index_finger_Zcut.BMP")
    assert (n.subject, n.gender, n.hand, n.finger, n.alter) == (12, "F", "Left", "index", "Zcut")
    assert parse_socofing_name("101__M_Right_little_finger.bmp").alter is None
    assert parse_socofing_name("1__m_right_thumb_finger_obl.BMP").alter == "Obl"
    assert parse_socofing_name("12_F_Left_index.BMP") is None


def test_scan_socofing_types_and_disjoint_split(soco):
    from fpstation.ml.classifiers.tasks import PadTask

    assert detect_layout(soco) == "socofing"
    items = scan_socofing(soco)
    assert len(items) == 24 * 3 * 2  # README.txt is ignored
    assert {it["attack_type"] for it in items if it["kind"] == "altered"} == {"central rotation", "obliteration",
                                                                              "z-cut"}
    assert all(it["level"] == "Altered-Easy" for it in items if it["kind"] == "altered")
    task = PadTask()
    scan = task.scan(soco, tiny_hyper(task))
    assert scan.train_subjects.isdisjoint(scan.val_subjects)
    assert scan.train_subjects | scan.val_subjects == {str(s) for s in range(1, 25)}
    # an altered print always sits with its real print's subject
    tr = {it["subject"] for it in scan.train_items}
    va = {it["subject"] for it in scan.val_items}
    assert tr.isdisjoint(va)
    assert scan.counts["bona fide"] == 72


def test_gender_scan_uses_real_prints_only(soco):
    from fpstation.ml.classifiers.tasks import GenderTask

    task = GenderTask()
    scan = task.scan(soco, tiny_hyper(task))
    assert len(scan.items) == 72
    assert scan.counts == {"female": 36, "male": 36}
    assert {it["subject"] for it in scan.train_items}.isdisjoint({it["subject"] for it in scan.val_items})


def test_livdet_layout_nested_case_insensitive(tmp_path):
    root = make_livdet(tmp_path / "livdet")
    assert detect_layout(root) == "livdet"
    items, notes = scan_livdet(root)
    assert len(items) == 32
    assert {it["attack_type"] for it in items if it["label"] == "attack"} == {"gelatine", "latex"}
    assert all(it["subject"] for it in items)
    assert any("leading number" in n for n in notes)


def test_livdet_without_subject_ids_notes_the_leak(tmp_path):
    root = make_livdet(tmp_path / "livdet", nested=False, subject_ids=False)
    items, notes = scan_livdet(root)
    assert len({it["subject"] for it in items}) == len(items)
    assert any("could NOT be made subject-disjoint" in n for n in notes)


def test_unknown_layout_is_a_dataset_error(tmp_path):
    from fpstation.ml.classifiers.tasks import PadTask

    (tmp_path / "x").mkdir()
    with pytest.raises(DatasetError):
        PadTask().scan(tmp_path / "x", PadTask().default_hyper())


@pytest.mark.slow
def test_pad_trains_one_epoch_on_livdet_layout(tmp_path, fake_progress):
    from fpstation.ml.classifiers.tasks import PadTask
    from fpstation.ml.training import fit_keras

    root = make_livdet(tmp_path / "livdet", subjects=10)
    task = PadTask()
    hyper = tiny_hyper(task)
    scan = task.scan(root, hyper)
    assert scan.layout == "livdet"
    model = task.build_model(hyper)
    ds = task.datasets(scan, hyper)
    res = fit_keras(model, ds["train"], ds["val"], epochs=1, checkpoint=tmp_path / "m.keras",
                    class_weight=ds["class_weight"], monitor=task.monitor, mode=task.monitor_mode)
    assert res.epochs_run == 1
    assert res.checkpoint.is_file()
    ev = task.evaluate(model, scan, hyper, fake_progress)
    for key in ("apcer", "apcer_max", "bpcer", "bpcer20", "bpcer100", "calibration", "threshold", "roc"):
        assert key in ev
    assert 0.0 <= ev["threshold"]["value"] <= 1.0 + 1e-6
    assert ev["bpcer"] <= 0.01 + 1e-9  # the operating point respects the BPCER limit on validation
    assert set(task.card_fields(scan, hyper)["attack_types_seen"]) <= {"gelatine", "latex"}


# ------------------------------------------------------------------ installed tiny models
@pytest.fixture(scope="module")
def tiny_models(soco, tmp_path_factory):
    models = tmp_path_factory.mktemp("models")
    cards = install_tiny_models(models, soco, epochs=2)
    return models, cards


@pytest.fixture
def models_env(tiny_models, monkeypatch):
    models, cards = tiny_models
    monkeypatch.setenv("FPSTATION_MODELS_DIR", str(models))
    return models, cards


def _image(path):
    from fpstation.core.imageio import read_print

    return read_print(path)


@pytest.mark.slow
def test_cards_hold_split_calibration_threshold(models_env):
    _, cards = models_env
    pad = cards["pad"]
    assert pad["attack_types_seen"] == ["obliteration", "z-cut", "central rotation"]
    assert set(pad["split"]["train_subjects"]).isdisjoint(pad["split"]["val_subjects"])
    assert {"a", "b"} <= set(pad["calibration"])
    assert len(pad["roc"]["threshold"]) == len(pad["roc"]["tpr"]) == len(pad["roc"]["fpr"])
    assert cards["gender"]["calibration"]["balanced"] is True
    assert "per_subject" in cards["gender"]["metrics"]


@pytest.mark.slow
def test_predict_and_explain(models_env, soco):
    from fpstation.ml.classifiers import gender_combined, gender_predict, pad_explain, pad_predict

    im = _image(soco / "Real" / "2__F_Left_index_finger.BMP")
    r = pad_predict(im)
    assert 0.0 <= r.attack_score <= 1.0
    assert r.verdict in {"LIVE", "ATTACK", "UNCERTAIN"}
    assert r.attack_types_seen == ("obliteration", "z-cut", "central rotation")
    assert r.model.name == "pad-tiny"
    assert pad_predict(im, threshold=0.0, uncertain_band=0.0).verdict == "ATTACK"
    assert pad_predict(im, threshold=1.01, uncertain_band=0.0).verdict == "LIVE"
    g = gender_predict(im)
    assert 0.0 <= g.p_female <= 1.0
    assert g.p_male == pytest.approx(1 - g.p_female)
    assert g.label in {"female", "male", "uncertain"}
    assert gender_predict(im, uncertain_band=2.0).label == "uncertain"
    ims = [_image(soco / "Real" / f"2__F_Left_{f}_finger.BMP") for f in ("thumb", "index", "middle")]
    c = gender_combined(ims)
    assert 0.0 <= c.p_female <= 1.0
    for method in ("occlusion", "gradcam"):
        heat = pad_explain(im, method=method)
        assert heat.shape == im.pixels.shape
        assert heat.dtype == np.float32
        assert 0.0 <= heat.min()
        assert heat.max() <= 1.0
    with pytest.raises(ValueError):
        pad_explain(im, method="magic")


@pytest.mark.slow
def test_wrong_task_model_is_refused(models_env, soco):
    from fpstation.core.errors import ModelError
    from fpstation.ml.classifiers import pad_predict

    with pytest.raises(ModelError):
        pad_predict(_image(soco / "Real" / "1__M_Left_thumb_finger.BMP"), model_key="gender-tiny")


@pytest.mark.slow
def test_evaluate_pad_cli_writes_required_keys(models_env, soco, tmp_path):
    from fpstation.cli import main

    out = tmp_path / "ev" / "pad.json"
    assert main(["evaluate", "pad", "--data", str(soco), "--json", str(out)]) == 0
    d = json.loads(out.read_text())
    for key in ("apcer", "apcer_max", "bpcer", "bpcer20", "bpcer100", "n", "confusion_matrix", "threshold"):
        assert key in d
    assert set(d["apcer"]) == {"central rotation", "obliteration", "z-cut"}
    assert d["subjects"] == "heldout"
    # default is honest: the model's training subjects are not evaluated
    _, cards = models_env
    assert d["n_subjects"] == len(cards["pad"]["split"]["val_subjects"])
    for p in d["plots"].values():
        assert (out.parent / p.split("/")[-1]).is_file()
    out_all = tmp_path / "ev" / "pad_all.json"
    assert main(["evaluate", "pad", "--data", str(soco), "--json", str(out_all), "--subjects", "all"]) == 0
    assert json.loads(out_all.read_text())["n"] == 144


@pytest.mark.slow
def test_evaluate_gender_cli_writes_required_keys(models_env, soco, tmp_path):
    from fpstation.cli import main

    out = tmp_path / "gender.json"
    assert main(["evaluate", "gender", "--data", str(soco), "--json", str(out), "--subjects", "val"]) == 0
    d = json.loads(out.read_text())
    for key in ("balanced_accuracy", "auc", "accuracy", "n", "confusion_matrix", "per_subject"):
        assert key in d
    cmx = d["confusion_matrix"]["rows_truth_cols_predicted"]
    assert sum(map(sum, cmx)) == d["n"]
    assert (tmp_path / "gender_roc.png").is_file()
    assert (tmp_path / "gender_confusion.png").is_file()


@pytest.mark.slow
def test_evaluate_pad_on_livdet_layout_reports_materials(models_env, tmp_path):
    from fpstation.cli import main

    root = make_livdet(tmp_path / "livdet", subjects=6)
    out = tmp_path / "livdet.json"
    assert main(["evaluate", "pad", "--data", str(root), "--json", str(out), "--subjects", "all"]) == 0
    d = json.loads(out.read_text())
    assert d["layout"] == "livdet"
    assert set(d["apcer"]) == {"gelatine", "latex"}
    assert d["n"] == 24
    # a SOCOFing-trained model: LivDet ids are other people even where the numbers collide
    assert main(["evaluate", "pad", "--data", str(root), "--json", str(out)]) == 0
    assert json.loads(out.read_text())["n"] == 24


@pytest.mark.slow
def test_fpstation_train_pad_registers_a_usable_model(soco, capsys):
    """The shared training path (ml/training.train, as the dialog and `fpstation train` run it)
    with PadTask: the registered user model loads and predicts with its calibration/threshold."""
    from fpstation.cli import main
    from fpstation.ml.classifiers import pad_predict, pad_rates_at
    from fpstation.ml.registry import Registry

    assert main(["train", "pad", "--data", str(soco), "--epochs", "1", "--input-size", "32",
                 "--batch-size", "16", "--val-fraction", "0.35"]) == 0
    reg = Registry()
    cards = [c for c in reg.cards("pad") if not c.shipped]
    assert len(cards) == 1
    card = cards[0]
    assert card.data["attack_types_seen"] == ["obliteration", "z-cut", "central rotation"]
    assert "a" in card.data["calibration"]
    assert "value" in card.data["threshold"]
    assert pad_rates_at(card.data, card.data["threshold"]["value"]) is not None
    r = pad_predict(_image(soco / "Real" / "1__M_Left_thumb_finger.BMP"), model_key=card.key, registry=reg)
    assert r.model.name == card.name
    assert r.threshold == pytest.approx(card.data["threshold"]["value"])
