"""ONNX export of restorers and the onnxruntime inference path (ADR 0090)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from fpstation.core.errors import ModelIntegrityError, ModelNotFoundError
from tests.ml.test_restoration import _image, _install_tiny
from tests.ml.test_restoration import _print as ridge_print

ROOT = Path(__file__).resolve().parents[2]


def _print(h: int, w: int, seed: int = 0) -> np.ndarray:
    """The restoration tests' synthetic ridge pattern plus noise, so a restorer has something to change."""
    clean = ridge_print(h, w, seed).astype(np.float32)
    noisy = clean + np.random.default_rng(seed).normal(0, 0.15 * 255, clean.shape)
    return np.clip(noisy, 0, 255).astype(np.uint8)


def _random_unet(**kw):
    from fpstation.ml.architectures import build_unet

    model = build_unet((None, None, 1), compile=False, **kw)
    rng = np.random.default_rng(1)
    # random weights everywhere (the residual U-Net's correction layer starts at zero, which would
    # make the output equal the input whatever the export did to the rest of the graph)
    model.set_weights([rng.normal(0, 0.3, w.shape).astype(np.float32) for w in model.get_weights()])
    return model


@pytest.mark.parametrize("kw", [dict(base=4, levels=2), dict(base=3, levels=3, residual=False)])
def test_export_matches_keras_at_several_sizes(kw):
    pytest.importorskip("onnx")
    from fpstation.ml.restoration import onnx_export

    model = _random_unet(upsampling="transpose", **kw)
    run = onnx_export.session_fn(onnx_export.session(onnx_export.keras_to_onnx(model)))
    rng = np.random.default_rng(0)
    m = 2 ** kw["levels"]
    for h, w in ((m, m), (5 * m, 3 * m), (13 * m, 17 * m)):
        x = rng.random((2, h, w, 1), dtype=np.float32)
        ref = model(x, training=False).numpy()
        assert ref.std() > 1e-3  # a graph that computes something
        np.testing.assert_allclose(run(x), ref, atol=1e-4, rtol=1e-4)


def test_export_refuses_layers_it_does_not_translate():
    pytest.importorskip("onnx")
    from fpstation.ml.restoration import onnx_export

    with pytest.raises(onnx_export.UnsupportedLayerError, match="UpSampling2D"):
        onnx_export.keras_to_onnx(_random_unet(base=2, levels=2, upsampling="bilinear"))


# ------------------------------------------------------------------------- the shipped U-Net
@pytest.fixture
def shipped_unet(tmp_path):
    """The shipped U-Net's card, Keras weights and ONNX export, copied to a private models dir."""
    from fpstation.ml.registry import Registry
    from fpstation.ml.restoration import clear_cache

    card = json.loads((ROOT / "models" / "restore-unet.json").read_text(encoding="utf-8"))
    if "onnx" not in card:
        pytest.fail("models/restore-unet.json lists no ONNX export (run training/export_onnx.py)")
    d = tmp_path / "models"
    d.mkdir()
    for name in ("restore-unet.json", card["file"], card["onnx"]["file"]):
        shutil.copy2(ROOT / "models" / name, d / name)
    clear_cache()
    yield Registry(shipped_dir=d, user_dir=tmp_path / "user"), d
    clear_cache()


@pytest.mark.slow
def test_shipped_onnx_computes_what_the_keras_weights_compute(shipped_unet):
    from fpstation.ml.restoration import restore_with_model

    reg, _ = shipped_unet
    im = _image(_print(150, 131))  # odd sizes: padding and cropping as in use
    fast = restore_with_model(im, "unet", registry=reg)
    ref = restore_with_model(im, "unet", registry=reg, runtime="tf")
    assert fast.extras["runtime"] == "onnx"
    assert ref.extras["runtime"] == "tf"
    card = json.loads((ROOT / "models" / "restore-unet.json").read_text(encoding="utf-8"))
    assert fast.extras["onnx_sha256"] == card["onnx"]["sha256"]
    assert "onnx_sha256" not in ref.extras
    assert fast.pixels.shape == im.pixels.shape
    assert np.abs(fast.pixels.astype(int) - im.pixels).mean() > 1  # it restored something
    assert np.abs(fast.pixels.astype(int) - ref.pixels).max() <= 1  # uint8 rounding at most


@pytest.mark.slow
def test_tampered_onnx_file_is_refused(shipped_unet):
    from fpstation.ml.restoration import restore_with_model

    reg, d = shipped_unet
    onnx_path = d / "restore-unet.onnx"
    data = bytearray(onnx_path.read_bytes())
    data[-100] ^= 0xFF
    onnx_path.write_bytes(bytes(data))
    with pytest.raises(ModelIntegrityError, match="ONNX file does not match"):
        restore_with_model(_image(_print(40, 40)), "unet", registry=reg)
    onnx_path.unlink()
    with pytest.raises(ModelNotFoundError, match="ONNX file .* is missing"):
        restore_with_model(_image(_print(40, 40)), "unet", registry=reg)
    # the TensorFlow runtime needs only the Keras weights
    assert restore_with_model(_image(_print(40, 40)), "unet", registry=reg, runtime="tf").extras["runtime"] == "tf"


def test_card_without_export_runs_on_tensorflow_and_refuses_onnx(tmp_path):
    from fpstation.ml.registry import Registry
    from fpstation.ml.restoration import clear_cache, restore_with_model

    _install_tiny(tmp_path / "models")
    clear_cache()
    reg = Registry(shipped_dir=tmp_path / "models", user_dir=tmp_path / "user")
    assert restore_with_model(_image(_print(40, 40)), "unet", registry=reg).extras["runtime"] == "tf"
    with pytest.raises(ModelNotFoundError, match="no ONNX export"):
        restore_with_model(_image(_print(40, 40)), "unet", registry=reg, runtime="onnx")
    clear_cache()
