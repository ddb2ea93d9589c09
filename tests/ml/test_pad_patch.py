"""The texture-patch PAD model end to end on generated prints: ``train pad --dpi``, inference with
the stated dpi, the domain check, the per-patch heat map and ``evaluate pad --model --dpi``."""

from __future__ import annotations

import json

import pytest

from tests.ml.classifier_fixtures import make_livdet


@pytest.fixture(scope="module")
def patch_model(tmp_path_factory):
    """A 1-epoch patch model trained through the CLI on a LivDet-layout folder at a stated 1000 dpi."""
    import os

    from fpstation.cli import main
    from fpstation.ml.registry import Registry

    base = tmp_path_factory.mktemp("patch")
    root = make_livdet(base / "livdet", subjects=6, nested=False, size=(160, 144))
    old = os.environ.get("FPSTATION_HOME")
    os.environ["FPSTATION_HOME"] = str(base / "home")
    try:
        assert main(["train", "pad", "--data", str(root), "--dpi", "1000", "--epochs", "1", "--input-size", "32",
                     "--batch-size", "16"]) == 0
    finally:
        if old is None:
            os.environ.pop("FPSTATION_HOME", None)
        else:
            os.environ["FPSTATION_HOME"] = old
    reg = Registry(shipped_dir=base / "none", user_dir=base / "home" / "data" / "models")
    (card,) = [c for c in reg.cards("pad") if not c.shipped]
    return root, reg, card


def _image(path, dpi=None):
    from fpstation.core.imageio import read_print

    return read_print(path).with_stated_dpi(dpi)


@pytest.mark.slow
def test_card_of_the_patch_model(patch_model):
    _, _, card = patch_model
    d = card.data
    assert d["architecture"] == "pad_patch_cnn"
    assert d["input"]["patches"] is True
    assert d["input"]["dpi"] == 1000
    assert d["input"]["shape"] == [32, 32, 1]
    assert d["domain"]["dpi"] == {"nominal": 1000.0, "min": 900, "max": 1100, "unknown": "outside"}
    assert d["domain"]["size_px"]["height"][0] < 160 < d["domain"]["size_px"]["height"][1]
    assert set(d["attack_types_seen"]) <= {"gelatine", "latex"}
    assert "value" in d["threshold"]
    assert "--dpi 1000" in d["training"]["command"]


@pytest.mark.slow
def test_predict_domain_and_heat_map(patch_model):
    from fpstation.ml.classifiers import pad_explain, pad_predict

    root, reg, card = patch_model
    f = next((root / "Live").glob("*.png"))
    r = pad_predict(_image(f, 1000), model_key=card.key, registry=reg)
    assert r.in_domain
    assert r.verdict in {"LIVE", "ATTACK", "UNCERTAIN"}
    assert 0 <= r.attack_score <= 1
    # the same print stated at 500 dpi is outside what the model was validated on: no confident verdict
    out = pad_predict(_image(f, 500), model_key=card.key, registry=reg)
    assert not out.in_domain
    assert out.verdict == "UNCERTAIN"
    assert "outside the sensor/resolution it was validated on" in out.domain_reason
    assert "500 dpi" in out.domain_reason
    heat = pad_explain(_image(f, 1000), model_key=card.key, registry=reg)
    assert heat.shape == (160, 144)
    assert 0 <= heat.min()
    assert heat.max() <= 1


@pytest.mark.slow
def test_two_models_side_by_side(patch_model, monkeypatch):
    """pad_predict_all runs the primary and the others; the pipeline combines them."""
    from fpstation.core.pipeline import Analyzers, analyse
    from fpstation.ml.classifiers import pad_predict_all

    root, reg, card = patch_model
    im = _image(next((root / "Fake").rglob("*.png")), 1000)
    res = analyse(im, Analyzers(pad=lambda x: pad_predict_all(x, [card.key, card.key], registry=reg)))
    assert len(res.pad_models) == 2
    assert res.pad.model.name.startswith("combined: ")


@pytest.mark.slow
def test_evaluate_contract_with_model_and_dpi(patch_model, tmp_path, monkeypatch):
    from fpstation.cli import main

    root, reg, card = patch_model
    monkeypatch.setattr("fpstation.ml.registry._default", reg)
    out = tmp_path / "ev.json"
    assert main(["evaluate", "pad", "--data", str(root), "--model", card.key, "--dpi", "1000", "--json", str(out),
                 "--subjects", "all"]) == 0
    d = json.loads(out.read_text())
    for key in ("apcer", "apcer_max", "bpcer", "bpcer20", "bpcer100", "n"):
        assert key in d
    assert set(d["apcer"]) <= {"gelatine", "latex"}
    assert d["n"] == 24
    assert d["dpi_stated"] == 1000
    assert (tmp_path / "ev_det.png").is_file()
    assert (tmp_path / "ev_scores.png").is_file()
