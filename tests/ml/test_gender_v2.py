"""gender v2 (numpy feature model): domain check before any verdict, member spread, cross-validated
figures on the result, the combined estimate, ``analyze --json`` and ``evaluate gender`` with ci95 and
n_out_of_domain. Generated prints and a model fitted on them; no TensorFlow, no shared data."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.ml.classifier_fixtures import install_feature_gender_model, make_socofing


@pytest.fixture(scope="module")
def soco(tmp_path_factory):
    return make_socofing(tmp_path_factory.mktemp("soco") / "SOCOFing")


@pytest.fixture(scope="module")
def feature_models(soco, tmp_path_factory):
    models = tmp_path_factory.mktemp("models")
    card = install_feature_gender_model(models, soco)
    return models, card


@pytest.fixture
def env(feature_models, monkeypatch):
    monkeypatch.setenv("FPSTATION_MODELS_DIR", str(feature_models[0]))
    return feature_models


def _print(path):
    from fpstation.core.imageio import read_print

    return read_print(path)


def _image(pixels, dpi=None):
    from fpstation.core.types import FingerprintImage

    return FingerprintImage(pixels=np.ascontiguousarray(pixels), dpi=dpi, source="x.png", sha256="0" * 64)


def test_in_domain_print_gets_probability_spread_and_cv_figure(env, soco):
    from fpstation.ml.classifiers import gender_predict

    g = gender_predict(_print(soco / "Real" / "2__F_Left_index_finger.BMP"))
    assert g.in_domain
    assert g.domain_reason == ""
    assert g.label in {"female", "male", "uncertain"}
    assert len(g.p_range) == 2
    assert g.p_range[0] <= g.p_range[1]
    assert g.cv_balanced_accuracy == (0.75, 0.65, 0.85)  # a SOCOFing name: the finger is known
    unnamed = gender_predict(_image(_print(soco / "Real" / "2__F_Left_index_finger.BMP").pixels))
    assert unnamed.in_domain
    assert unnamed.cv_balanced_accuracy == (0.7, 0.6, 0.8)
    assert g.model.name == "gender-features-tiny"


def test_model_separates_the_generated_genders(env, soco):
    from fpstation.ml.classifiers import gender_predict

    pf = [gender_predict(_print(p)).p_female for p in sorted((soco / "Real").glob("*__F_*.BMP"))]
    pm = [gender_predict(_print(p)).p_female for p in sorted((soco / "Real").glob("*__M_*.BMP"))]
    assert np.median(pf) > 0.5 > np.median(pm)


@pytest.mark.parametrize("case", ["large", "stated_1000dpi", "noise", "face_like"])
def test_out_of_domain_prints_get_no_verdict(env, soco, case):
    from fpstation.ml.classifiers import gender_predict

    rng = np.random.default_rng(0)
    base = _print(soco / "Real" / "2__F_Left_index_finger.BMP")
    if case == "large":  # another sensor's size (e.g. an FVC optical print)
        im = _image(np.tile(base.pixels, (8, 9))[:374, :388])
        why = "height"
    elif case == "stated_1000dpi":
        im = base.with_stated_dpi(1000)
        why = "dpi"
    elif case == "noise":
        im = _image(rng.integers(0, 256, base.pixels.shape).astype(np.uint8))
        why = "unlike the training prints"
    else:  # smooth blobs, no ridges (a face photo at the print's size)
        yy, xx = np.mgrid[0:base.height, 0:base.width]
        im = _image((128 + 80 * np.sin(yy / 9.0) * np.cos(xx / 13.0)).astype(np.uint8))
        why = "unlike the training prints"
    g = gender_predict(im)
    assert not g.in_domain
    assert g.label == "uncertain"
    assert "outside what this model was validated on" in g.domain_reason
    assert why in g.domain_reason


def test_combined_uses_only_in_domain_prints(env, soco):
    from fpstation.ml.classifiers import gender_combined

    ims = [_print(soco / "Real" / f"2__F_Left_{f}_finger.BMP") for f in ("thumb", "index", "middle")]
    noise = _image(np.random.default_rng(1).integers(0, 256, ims[0].pixels.shape).astype(np.uint8))
    c = gender_combined([*ims, noise])
    assert c.in_domain
    assert c.n_prints == 3
    assert c.cv_balanced_accuracy == (0.8, 0.7, 0.9)  # the card's per-subject figure
    assert len(c.p_range) == 2
    bad = gender_combined([noise, noise])
    assert not bad.in_domain
    assert bad.label == "uncertain"


def test_analyze_json_carries_in_domain_and_no_probability_outside(env, soco, tmp_path):
    from fpstation.cli import main
    from fpstation.core.imageio import write_image

    big = tmp_path / "fvc_like.png"
    write_image(big, np.tile(_print(soco / "Real" / "2__F_Left_index_finger.BMP").pixels, (8, 9))[:374, :388])
    out = tmp_path / "a.json"
    rc = main(["analyze", str(soco / "Real" / "2__F_Left_index_finger.BMP"), str(big), "--json", str(out),
               "--no-restore", "--no-pad"])
    assert rc == 0
    entries = json.loads(out.read_text())
    entries = entries.get("results", entries) if isinstance(entries, dict) else entries
    inside, outside = (e["computed"]["gender"] for e in entries)
    assert inside["in_domain"] is True
    assert 0 <= inside["p_female"] <= 1
    assert len(inside["p_female_range"]) == 2
    assert inside["cv_balanced_accuracy"] == [0.75, 0.65, 0.85]
    assert outside["in_domain"] is False
    assert outside["p_female"] is None
    assert outside["label"] == "uncertain"
    assert "height" in outside["domain_reason"]


def test_evaluate_gender_adds_ci95_and_out_of_domain_count(env, soco, tmp_path):
    import shutil

    from fpstation.cli import main
    from fpstation.core.imageio import write_image

    data = tmp_path / "SOCOFing"
    shutil.copytree(soco, data)
    img = _print(soco / "Real" / "2__F_Left_index_finger.BMP").pixels
    write_image(data / "Real" / "99__F_Left_thumb_finger.BMP", np.tile(img, (6, 6)))  # another size
    out = tmp_path / "g.json"
    assert main(["evaluate", "gender", "--data", str(data), "--json", str(out), "--subjects", "all"]) == 0
    d = json.loads(out.read_text())
    for key in ("balanced_accuracy", "auc", "per_subject", "ci95", "n_out_of_domain"):
        assert key in d
    assert d["n_out_of_domain"] == 1
    assert d["n"] == d["n_scored"] - 1
    for ci, val in ((d["ci95"]["auc"], d["auc"]), (d["per_subject"]["ci95"]["balanced_accuracy"],
                                                    d["per_subject"]["balanced_accuracy"])):
        assert ci[0] <= val + 1e-9
        assert val <= ci[1] + 1e-9
    assert d["auc"] > 0.8
