"""Model cards are parsed once, at load, into frozen dataclasses; a malformed card is refused in words."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from fpstation.core.errors import CardError
from fpstation.core.types import FingerprintImage
from fpstation.ml.cards import ModelCard, parse_card

BASE = {"name": "m", "task": "pad", "file": "m.keras", "sha256": "0" * 64}


def _image(dpi: float | None) -> FingerprintImage:
    return FingerprintImage(np.full((100, 90), 200, np.uint8), dpi, "x.png", "ab")


def test_shipped_cards_parse():
    from fpstation import paths
    from fpstation.ml.registry import Registry

    reg = Registry(shipped_dir=paths.models_dir(), user_dir=paths.models_dir() / "no-user-models")
    names = {c.name for c in reg.cards()}
    assert {"pad-socofing", "pad-livdet", "gender-socofing", "restore-unet", "face-mobilenet"} <= names
    assert reg.problems == {}


def test_a_card_is_frozen():
    card = parse_card(BASE)
    with pytest.raises(dataclasses.FrozenInstanceError):
        card.name = "other"  # type: ignore[misc]


def test_typed_fields_of_a_pad_card():
    card = parse_card({**BASE, "input": {"shape": [104, 96, 1], "dpi": None}, "threshold": {"value": 0.4},
                       "calibration": {"a": 2.0, "b": -1.0}, "attack_types_seen": ["z-cut"],
                       "domain": {"dpi": {"nominal": 500, "min": 450, "max": 550}}})
    assert isinstance(card, ModelCard)
    assert card.input.hw((1, 1)) == (104, 96)
    assert card.threshold == 0.4
    assert card.attack_types_seen == ("z-cut",)
    assert card.domain.dpi.nominal == 500.0
    assert float(card.calibrate(1.0)) == pytest.approx(1.0)


@pytest.mark.parametrize(("image_dpi", "domain", "expected"), [
    (600.0, {"dpi": {"nominal": 500}}, 600.0),  # the print's own dpi first
    (None, {"dpi": {"nominal": 500}}, 500.0),  # then the card's nominal training dpi
    (None, {}, 1000.0),  # then the dpi the model works at
])
def test_input_dpi_for_has_one_fallback_order(image_dpi, domain, expected):
    card = parse_card({**BASE, "input": {"dpi": 1000}, "domain": domain})
    assert card.input_dpi_for(_image(image_dpi)) == expected


def test_scale_for_needs_both_dpis():
    card = parse_card({**BASE, "input": {"dpi": 250}})
    assert card.scale_for(_image(500.0)) == 0.5
    assert card.scale_for(_image(None)) is None


@pytest.mark.parametrize(("patch", "names"), [
    ({"input": {"shape": "104x96"}}, "input.shape"),
    ({"input": {"dpi": -5}}, "input.dpi"),
    ({"input": []}, "input"),
    ({"input": {"mirror": "yes"}}, "input.mirror"),
    ({"domain": {"dpi": {"unknown": "maybe"}}}, "domain.dpi.unknown"),
    ({"domain": {"size_px": {"height": [1]}}}, "domain.size_px.height"),
    ({"calibration": {"a": "one"}}, "calibration.a"),
    ({"threshold": {"value": "high"}}, "threshold.value"),
    ({"onnx": {"file": "m.onnx", "sha256": "abc"}}, "onnx.sha256"),
    ({"roc": {"threshold": [1, 0], "tpr": [0], "fpr": [0, 1]}}, "roc"),
    ({"name": 3}, "name"),
])
def test_a_malformed_entry_is_named(patch, names):
    with pytest.raises(CardError, match=names.replace(".", r"\.")):
        parse_card({**BASE, **patch})


def test_the_registry_reports_a_malformed_card_and_keeps_the_others(tmp_path):
    from fpstation.ml.registry import Registry

    (tmp_path / "good.json").write_text(json.dumps({**BASE, "name": "good"}))
    (tmp_path / "bad.json").write_text(json.dumps({**BASE, "name": "bad", "input": {"shape": "x"}}))
    (tmp_path / "broken.json").write_text("{not json")
    (tmp_path / "other.json").write_text(json.dumps({"note": "not a model card"}))
    reg = Registry(shipped_dir=tmp_path, user_dir=tmp_path / "user")
    assert [c.name for c in reg.cards()] == ["good"]
    assert sorted(p.rsplit("/", 1)[-1] for p in reg.problems) == ["bad.json", "broken.json"]
    assert "input.shape" in reg.problems[str(tmp_path / "bad.json")]
    assert "not valid JSON" in reg.problems[str(tmp_path / "broken.json")]


def test_asking_for_a_missing_model_mentions_malformed_cards(tmp_path):
    from fpstation.core.errors import ModelNotFoundError
    from fpstation.ml.registry import Registry

    (tmp_path / "bad.json").write_text(json.dumps({**BASE, "name": "bad", "input": {"dpi": "500"}}))
    reg = Registry(shipped_dir=tmp_path, user_dir=tmp_path / "user")
    with pytest.raises(ModelNotFoundError, match="bad.json"):
        reg.card("bad")


def test_register_refuses_a_malformed_card_before_copying(tmp_path):
    from fpstation.ml.registry import Registry

    weights = tmp_path / "w.npz"
    weights.write_bytes(b"x")
    reg = Registry(shipped_dir=tmp_path / "none", user_dir=tmp_path / "user")
    with pytest.raises(CardError, match="calibration"):
        reg.register({**BASE, "calibration": {"a": None, "b": "x"}}, weights)
    assert not (tmp_path / "user" / "m").exists() or not any((tmp_path / "user" / "m").iterdir())


def test_heat_map_of_a_texture_card_without_nominal_dpi_uses_the_scores_dpi(tmp_path, monkeypatch):
    """The texture branch of pad_explain cuts its patches at the dpi the score used (the model's dpi
    when neither the print nor the card's domain states one), not at an unknown dpi."""
    from fpstation.ml.classifiers import pad_explain, pad_predict
    from fpstation.ml.classifiers import patches as pt
    from tests.unit.test_patches import _print
    from tests.unit.test_texture_model import _install

    reg = _install(tmp_path, domain={"size_px": {"height": [100, 1500], "width": [100, 1500]}})  # no dpi.nominal
    seen: dict[str, list] = {"score": [], "heat": []}
    features, extract = pt.texture_features, pt.extract_patches
    monkeypatch.setattr(pt, "texture_features", lambda p, dpi, model_dpi=None, **k: (
        seen["score"].append(dpi) if model_dpi else None) or features(p, dpi, model_dpi, **k))
    monkeypatch.setattr(pt, "extract_patches", lambda p, dpi, *a, **k: seen["heat"].append(dpi) or extract(p, dpi, *a, **k))
    im = FingerprintImage(_print(), None, "x.png", "ab")  # dpi unknown
    pad_predict(im, "pad-tex", registry=reg)
    heat = pad_explain(im, "pad-tex", registry=reg)
    assert seen["score"] == [1000.0]
    assert seen["heat"] == [1000.0]
    assert heat.shape == im.pixels.shape


def test_mirror_view_is_scored_as_the_mean_of_the_print_and_its_mirror():
    """A card with ``input.mirror`` gives the mean logit of each print and its left-right mirror,
    in inference and in folder evaluation alike (one helper)."""
    from fpstation.ml.classifiers.loading import image_logits

    class FakeLoaded:  # a "model" whose logit is the mean of the left half minus the right half
        def __init__(self, card):
            self.card = card

        def logits(self, x):
            w = x.shape[2] // 2
            return x[:, :, :w].mean((1, 2, 3)) - x[:, :, w:].mean((1, 2, 3)) + x[:, :4, :4].mean((1, 2, 3))

    x = np.random.default_rng(0).uniform(size=(3, 8, 8, 1)).astype(np.float32)
    plain = parse_card({**BASE, "input": {"shape": [8, 8, 1]}})
    mirrored = parse_card({**BASE, "input": {"shape": [8, 8, 1], "mirror": True}})
    assert not plain.input.mirror and mirrored.input.mirror
    np.testing.assert_allclose(image_logits(FakeLoaded(plain), x), FakeLoaded(plain).logits(x))
    expected = 0.5 * (FakeLoaded(plain).logits(x) + FakeLoaded(plain).logits(x[:, :, ::-1]))
    np.testing.assert_allclose(image_logits(FakeLoaded(mirrored), x), expected, rtol=1e-6)
    assert not np.allclose(expected, FakeLoaded(plain).logits(x))
