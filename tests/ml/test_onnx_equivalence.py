"""Every shipped Keras model gives the same answers on onnxruntime (what analysis runs) as its Keras
weights (what was trained): scores within 1e-4 and identical verdicts on a fixed sample (issue #23).

Needs TensorFlow (the ``train`` extra) for the Keras side; skipped cleanly without it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fpstation import paths
from fpstation.core.imageio import read_print
from fpstation.core.types import FingerprintImage

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
TOL = 1e-4


@pytest.fixture(scope="module")
def shipped():
    pytest.importorskip("tensorflow")
    from fpstation.ml.registry import Registry

    return Registry(shipped_dir=paths.models_dir(), user_dir=ROOT / "no-user-models")


def _fixed_sample() -> list[FingerprintImage]:
    """The three sample prints, plus SOCOFing-sized crops, a flip and a darker copy of each (12 prints)."""
    out = []
    for p in sorted((ROOT / "resources" / "samples").glob("*.png")):
        im = read_print(p)
        px = im.pixels
        h, w = px.shape
        crop = px[h // 2 - 52:h // 2 + 51, w // 2 - 48:w // 2 + 48]
        dark = (px.astype(np.float32) * 0.7).astype(np.uint8)
        for i, pixels in enumerate((px, crop, px[:, ::-1].copy(), dark)):
            out.append(FingerprintImage(np.ascontiguousarray(pixels), im.dpi, f"{p.name}#{i}", f"{im.sha256}{i}"))
    return out


def test_every_shipped_keras_model_lists_a_checked_onnx_export(shipped):
    keras_cards = [c for c in shipped.cards() if c.file.suffix == ".keras"]
    assert {c.name for c in keras_cards} >= {"pad-socofing", "face-mobilenet", "restore-unet", "restore-autoencoder"}
    for c in keras_cards:
        assert c.onnx is not None, c.name
        assert c.onnx.max_abs_diff_vs_keras is not None, c.name
        assert c.onnx.max_abs_diff_vs_keras <= TOL, c.name
        assert shipped.onnx_file(c).stat().st_size < 20e6, c.name  # verifies the sha256 too


def test_pad_cnn_scores_and_verdicts_match_keras(shipped):
    import keras

    from fpstation.ml.classifiers import pad_scores, pad_verdict, prepare
    from fpstation.ml.classifiers.loading import load_classifier

    images = _fixed_sample()
    loaded = load_classifier("pad", "pad-socofing", shipped)
    assert loaded.runtime == "onnx"
    onnx_scores, _ = pad_scores(images, "pad-socofing", shipped)
    card = loaded.card
    model = keras.models.load_model(card.file, compile=False, safe_mode=False)
    x = np.concatenate([prepare(im, card) for im in images])
    z = np.asarray(model(x, training=False)).reshape(-1)
    if card.input.mirror:  # the card's view: the mean logit of the print and its left-right mirror
        z = 0.5 * (z + np.asarray(model(np.ascontiguousarray(x[:, :, ::-1]), training=False)).reshape(-1))
    keras_scores = 1 / (1 + np.exp(-card.calibrate(z)))
    assert np.abs(onnx_scores - keras_scores).max() <= TOL
    assert [pad_verdict(s, card.threshold) for s in onnx_scores] == [pad_verdict(s, card.threshold)
                                                                   for s in keras_scores]


def test_face_cnn_embeddings_match_keras(shipped):
    import cv2
    import keras

    from fpstation.ml.face.embed import OnnxEmbedder, chips_to_input, get_embedder, l2n

    emb = get_embedder("face-mobilenet", shipped)
    assert isinstance(emb, OnnxEmbedder)
    faces = sorted((ROOT / "resources" / "samples" / "faces").glob("*.png"))
    grey = [cv2.resize(read_print(f).pixels, (150, 150)) for f in faces]
    chips = np.stack([np.repeat(g[..., None], 3, axis=2) for g in grey + [g[:, ::-1] for g in grey]])
    model = keras.models.load_model(emb.card.file, compile=False, safe_mode=False)
    sub = keras.Model(model.inputs[0], model.get_layer("embedding").output)
    ref = l2n(np.asarray(sub(chips_to_input(chips, emb.size), training=False)))
    got = emb.embed_chips(chips)
    assert np.abs(got - ref).max() <= TOL
    # the decision that matters: who is most similar to whom
    assert (np.argsort(got @ got.T, axis=1) == np.argsort(ref @ ref.T, axis=1)).all()


@pytest.mark.parametrize("name", ["restore-autoencoder", "restore-unet"])
def test_restorers_match_keras(shipped, name):
    from fpstation.ml.restoration import _get_fn, clear_cache

    clear_cache()
    card = shipped.card(name)
    onnx_fn, _, used = _get_fn(card, shipped, "onnx")
    tf_fn, _, _ = _get_fn(card, shipped, "tf")
    assert used == "onnx"
    px = read_print(ROOT / "resources" / "samples" / "fvc2002_db3b_101_1.png").pixels[:224, :224]
    x = (px.astype(np.float32) / 255.0)[None, :, :, None]
    assert np.abs(onnx_fn(x) - tf_fn(x)).max() <= TOL


def test_explanations_of_a_mirror_view_model_are_mirror_symmetric(shipped):
    """pad-socofing scores the mean of a print and its mirror (its card's view): its explanation maps
    of a print and of that print mirrored must be each other's mirror image, for both methods."""
    from fpstation.ml.classifiers import pad_explain

    assert shipped.card("pad-socofing").input.mirror
    im = _fixed_sample()[1]  # a SOCOFing-sized crop
    flipped = FingerprintImage(np.ascontiguousarray(im.pixels[:, ::-1]), im.dpi, "flipped.png", "f" * 64)
    for method in ("occlusion", "gradcam"):
        a = pad_explain(im, "pad-socofing", shipped, method=method)
        b = pad_explain(flipped, "pad-socofing", shipped, method=method)
        assert a.max() > 0, method
        np.testing.assert_allclose(a, b[:, ::-1], atol=2e-3, err_msg=method)
