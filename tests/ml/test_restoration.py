"""Restoration inference, degradation, training task and evaluation CLI on tiny generated data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from fpstation.core.errors import ModelIntegrityError, ModelNotFoundError
from fpstation.core.types import FingerprintImage


def _print(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A synthetic ridge pattern (uint8, dark ridges on white)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    f = 2 * np.pi / float(rng.uniform(7, 11))
    a = float(rng.uniform(0, np.pi))
    v = 0.5 + 0.5 * np.cos(f * (np.cos(a) * xx + np.sin(a) * yy) + 0.002 * (xx - w / 2) ** 2)
    return (255 * v).astype(np.uint8)


def _image(pixels: np.ndarray, dpi: float | None = 500.0) -> FingerprintImage:
    return FingerprintImage(pixels=pixels, dpi=dpi, source="synthetic.png", sha256="0" * 64)


def _install_tiny(models_dir: Path, arch: str = "unet") -> Path:
    """Save a tiny untrained restorer + card into ``models_dir``; returns the weights path."""
    from fpstation.ml.architectures import build_autoencoder, build_unet
    from fpstation.ml.registry import sha256_file

    models_dir.mkdir(parents=True, exist_ok=True)
    if arch == "unet":
        model = build_unet((None, None, 1), base=2, levels=2, compile=False)
        # the residual U-Net starts as the identity; give its correction layer weights so the
        # tests below see a network that changes the print
        corr = model.get_layer("correction")
        kernel, bias = corr.get_weights()
        corr.set_weights([np.random.default_rng(0).normal(0, 0.5, kernel.shape).astype(np.float32), bias])
    else:
        model = build_autoencoder((224, 224, 1), compile=False)
    weights = models_dir / f"restore-{arch}.keras"
    model.save(weights)
    card = {"name": f"restore-{arch}", "task": "restoration", "architecture": arch, "version": "1",
            "file": weights.name, "sha256": sha256_file(weights), "default": True,
            "levels": 2, "input": {"dpi": 500}}
    (models_dir / f"restore-{arch}.json").write_text(json.dumps(card), encoding="utf-8")
    return weights


@pytest.fixture
def tiny_registry(tmp_path):
    from fpstation.ml.registry import Registry
    from fpstation.ml.restoration import clear_cache

    _install_tiny(tmp_path / "models")
    clear_cache()
    yield Registry(shipped_dir=tmp_path / "models", user_dir=tmp_path / "user")
    clear_cache()


# ------------------------------------------------------------------------------ degrade
def test_degrade_is_deterministic_and_covers_every_effect():
    from fpstation.ml.restoration.degrade import EFFECTS, GEOMETRIC, apply_effect, degrade

    clean = _print(80, 72)
    d1, t1 = degrade(clean, 7)
    d2, t2 = degrade(clean, 7)
    assert d1.dtype == np.float32
    assert d1.shape == clean.shape
    assert np.array_equal(d1, d2)
    assert np.array_equal(t1, t2)
    assert not np.array_equal(degrade(clean, 8)[0], d1)
    for name in EFFECTS:
        out = apply_effect(clean, name, 3)
        assert out.shape == clean.shape
        assert 0.0 <= out.min()
        assert out.max() <= 1.0
        assert np.abs(out - clean / 255.0).mean() > 1e-3, name  # every effect changes the print
    # photometric effects leave the target untouched; geometric ones move it with the input
    d, t = degrade(clean, 1, effects=["blur", "gaussian_noise"])
    assert np.array_equal(t, clean / np.float32(255.0))
    d, t = degrade(clean, 1, effects=list(GEOMETRIC))
    assert not np.allclose(t, clean / 255.0)
    assert np.allclose(d, t)
    with pytest.raises(ValueError):
        degrade(clean, 1, effects=["nope"])


# ------------------------------------------------------------------------------ inference
@pytest.mark.parametrize("shape", [(37, 51), (103, 96), (9, 130)])
def test_odd_sizes_keep_shape_and_dtype(tiny_registry, shape):
    from fpstation.ml.restoration import restore_with_model

    r = restore_with_model(_image(_print(*shape)), "unet", registry=tiny_registry)
    assert r.pixels.shape == shape
    assert r.pixels.dtype == np.uint8
    assert r.method == "unet"
    assert r.model is not None
    assert r.model.name == "restore-unet"


def test_training_ssim_is_the_evaluation_ssim():
    """The loss/metric SSIM (TF) must be the scorer's SSIM (skimage, 7x7 uniform window)."""
    from skimage.metrics import structural_similarity

    from fpstation.ml.architectures import restoration_loss, ssim_per_image

    rng = np.random.default_rng(5)
    x = rng.random((3, 40, 33, 1)).astype(np.float32)
    y = np.clip(x + rng.normal(0, 0.2, x.shape), 0, 1).astype(np.float32)
    got = np.asarray(ssim_per_image(x, y))
    want = [structural_similarity(x[i, ..., 0].astype(np.float64), y[i, ..., 0].astype(np.float64),
                                  data_range=1.0, win_size=7) for i in range(3)]
    np.testing.assert_allclose(got, want, atol=1e-4)
    assert float(restoration_loss("ssim")(x, x)) < 1e-5 < float(restoration_loss("ssim")(x, y))


def test_untrained_residual_unet_is_identity_and_v1_design_still_builds():
    from fpstation.ml.architectures import build_unet

    x = np.random.default_rng(1).random((2, 40, 56, 1)).astype(np.float32)
    res = build_unet((None, None, 1), base=2, levels=2, compile=False)
    np.testing.assert_allclose(np.asarray(res(x, training=False)), x, atol=1e-6)
    v1 = build_unet((None, None, 1), base=2, levels=2, residual=False, upsampling="bilinear", compile=False)
    out = np.asarray(v1(x, training=False))
    assert out.shape == x.shape
    assert 0.0 <= out.min()
    assert out.max() <= 1.0  # sigmoid output
    with pytest.raises(ValueError, match="upsampling"):
        build_unet((None, None, 1), base=2, levels=2, upsampling="cubic", compile=False)


@pytest.mark.parametrize("upsampling", ["transpose", "bilinear"])
def test_model_fn_matches_a_direct_call_at_any_size(upsampling):
    """model_fn traces one graph for every size (or falls back to eager calls for v1's bilinear
    upsampling); either way it must compute exactly what the model computes."""
    from fpstation.ml.architectures import build_unet
    from fpstation.ml.restoration import model_fn

    model = build_unet((None, None, 1), base=2, levels=2, residual=upsampling == "transpose",
                       upsampling=upsampling, compile=False)
    fn = model_fn(model)
    rng = np.random.default_rng(2)
    for shape in [(1, 32, 48, 1), (1, 64, 36, 1), (2, 20, 20, 1)]:
        x = rng.random(shape).astype(np.float32)
        np.testing.assert_allclose(fn(x), np.asarray(model(x, training=False)), atol=1e-5)


def test_tiling_stitches_without_seams():
    """With a local filter as the 'model', tiled and untiled results must agree exactly."""
    from scipy.ndimage import uniform_filter

    from fpstation.ml.restoration import restore_array

    def fn(x: np.ndarray) -> np.ndarray:
        return uniform_filter(x, size=(1, 5, 5, 1), mode="nearest")

    x = _print(150, 211).astype(np.float32) / 255
    whole = restore_array(fn, x, 3)
    tiled = restore_array(fn, x, 3, tile_above=64, tile=64, margin=8)
    assert tiled.shape == x.shape
    np.testing.assert_allclose(tiled, whole, atol=1e-6)
    assert not np.allclose(whole, x)  # the filter did something


def test_small_prints_are_white_padded_to_the_models_training_size():
    from fpstation.ml.restoration import card_min_size, restore_array

    seen = []

    def fn(x: np.ndarray) -> np.ndarray:
        seen.append(x.shape)
        return 1.0 - x

    x = _print(103, 96).astype(np.float32) / 255
    out = restore_array(fn, x, 2, min_size=224)
    assert out.shape == x.shape
    assert seen[0][1] >= 224
    assert seen[0][2] >= 224
    np.testing.assert_allclose(out, 1.0 - x, atol=1e-6)  # cropped back to the print, aligned
    seen.clear()
    restore_array(fn, x, 2)  # no minimum: the print runs at its own size (plus the small context)
    assert seen[0][1] < 224

    from fpstation.ml.cards import parse_card

    def card(shape):
        return parse_card({"input": {"shape": shape}}, strict=False)

    assert card_min_size(card([224, 224, 1])) == 224
    assert card_min_size(card([None, None, 1])) == 0
    assert card_min_size(card(None)) == 0


def test_tiled_unet_close_to_untiled(tiny_registry):
    from fpstation.ml.restoration import _get_fn, find_card, restore_array

    fn, levels, _ = _get_fn(find_card("unet", tiny_registry), tiny_registry)
    x = _print(120, 170, 3).astype(np.float32) / 255
    whole = restore_array(fn, x, levels)
    tiled = restore_array(fn, x, levels, tile_above=64, tile=80, margin=24)
    # max-pool grids can differ by tile offset, so agreement is approximate, not exact
    assert np.abs(tiled - whole).mean() < 0.1 * max(float(whole.std()), 1e-3) + 1e-4


def test_dpi_note_and_resampling(tiny_registry):
    from fpstation.ml.restoration import restore_with_model

    px = _print(64, 80)
    r = restore_with_model(_image(px, None), "unet", registry=tiny_registry)
    assert "500 dpi" in r.extras["note"]
    assert r.extras["resampled"] is False
    r2 = restore_with_model(_image(px, 1000.0), "unet", registry=tiny_registry)
    assert "note" not in r2.extras
    assert r2.extras["resampled"] is True
    assert r2.pixels.shape == px.shape


def test_tampered_weights_are_refused(tmp_path):
    from fpstation.ml.registry import Registry
    from fpstation.ml.restoration import clear_cache, restore_with_model

    weights = _install_tiny(tmp_path / "m")
    data = bytearray(weights.read_bytes())
    data[-10] ^= 0xFF
    weights.write_bytes(bytes(data))
    clear_cache()
    with pytest.raises(ModelIntegrityError):
        restore_with_model(_image(_print(32, 32)), "unet", registry=Registry(tmp_path / "m", tmp_path / "u"))


def test_missing_model_says_so(tmp_path):
    from fpstation.ml.registry import Registry
    from fpstation.ml.restoration import restore_with_model

    reg = Registry(tmp_path / "empty", tmp_path / "u")
    with pytest.raises(ModelNotFoundError, match="No trained U-Net restorer is installed"):
        restore_with_model(_image(_print(32, 32)), "unet", registry=reg)
    with pytest.raises(ModelNotFoundError):
        restore_with_model(_image(_print(32, 32)), "restore-unet@v9", registry=reg)


# ------------------------------------------------------------------------------ task + CLIs
def _paired_folder(root: Path, fingers: int = 10, impressions: int = 2, size: int = 40) -> Path:
    from fpstation.core.imageio import write_image
    from fpstation.ml.restoration.degrade import degrade, to_uint8

    for sub in ("degraded", "clean"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for f in range(fingers):
        for i in range(impressions):
            clean = _print(size, size + 4, seed=f * 10 + i)
            d, c = degrade(clean, f * 100 + i)
            write_image(root / "degraded" / f"{f + 1}_{i + 1}.png", to_uint8(d), dpi=500)
            write_image(root / "clean" / f"{f + 1}_{i + 1}.png", to_uint8(c), dpi=500)
    return root


def test_scan_layouts(tmp_path):
    from fpstation.ml.restoration.task import RestorationTask

    task = RestorationTask()
    hyper = task.default_hyper()
    root = _paired_folder(tmp_path / "p", fingers=5, impressions=2)
    scan = task.scan(root, hyper)
    assert scan.layout == "paired"
    assert scan.counts == {"pairs": 10}
    assert scan.subjects == 5
    assert not scan.train_subjects & scan.val_subjects
    # a folder of clean FVC-named prints: synthetic degradation
    scan2 = task.scan(root / "clean", hyper)
    assert scan2.layout == "fvc"
    assert scan2.counts == {"clean prints": 10}
    assert scan2.subjects == 5


@pytest.mark.slow
def test_cli_trains_restoration_one_epoch(tmp_path, capsys, _fp_home):
    from fpstation.cli import main

    data = _paired_folder(tmp_path / "data")
    rc = main(["train", "restoration", "--data", str(data), "--epochs", "1", "--batch-size", "8",
               "--input-size", "32", "--out", str(tmp_path / "out")])
    out = capsys.readouterr()
    assert rc == 0, out.err
    card = json.loads((tmp_path / "out" / "card.json").read_text())
    assert card["task"] == "restoration"
    assert card["architecture"] == "unet"
    assert card["training"]["epochs_run"] == 1
    assert card["data"]["layout"] == "paired"
    m = card["metrics"]
    assert m["n"] >= 1
    assert 0 <= m["ssim"] <= 1
    assert m["psnr"] > 0
    assert 0 <= m["mae"] <= 1
    # the trained version restores through the registry key
    from fpstation.ml.registry import Registry
    from fpstation.ml.restoration import restore_with_model

    key = f"{card['name']}@v{card['version']}"
    r = restore_with_model(_image(_print(45, 33)), key, registry=Registry(tmp_path / "none", None))
    assert r.pixels.shape == (45, 33)
    assert r.method == "unet"


def test_evaluate_restoration_cli(tmp_path, capsys, monkeypatch):
    from fpstation.cli import main
    from fpstation.ml import registry as registry_mod
    from fpstation.ml.restoration import clear_cache

    data = _paired_folder(tmp_path / "data", fingers=3, impressions=1, size=32)
    (data / "degraded" / "extra.png").write_bytes((data / "degraded" / "1_1.png").read_bytes())
    _install_tiny(tmp_path / "models")
    monkeypatch.setenv("FPSTATION_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setattr(registry_mod, "_default", None)
    clear_cache()
    out = tmp_path / "r.json"
    rc = main(["evaluate", "restoration", "--degraded", str(data / "degraded"), "--clean", str(data / "clean"),
               "--model", "identity", "--json", str(out)])
    assert rc == 0
    rep = json.loads(out.read_text())
    ident = rep["models"]["identity"]
    assert rep["pairs"] == 3
    assert rep["unmatched"] == 1
    assert ident["n"] == 3
    assert 0 < ident["ssim"] < 1
    assert ident["psnr"] > 0
    assert 0 < ident["mae"] < 1
    assert "identity" in capsys.readouterr().out
    rc = main(["evaluate", "restoration", "--degraded", str(data / "degraded"), "--clean", str(data / "clean"),
               "--model", "unet", "--json", str(out)])
    assert rc == 0
    assert json.loads(out.read_text())["models"]["unet"]["n"] == 3
    clear_cache()
