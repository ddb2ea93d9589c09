"""Issue #17: domain-randomised generator, held-out recipe, guidance channels, held-out scoring,
resumable training. Tiny generated data only."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from tests.ml.test_restoration import _print

ROOT = Path(__file__).resolve().parents[2]


# ------------------------------------------------------------------------------ wide profile
def test_wide_profile_is_deterministic_and_draws_every_effect():
    from fpstation.ml.restoration.degrade import PROFILES, degrade, planned_effects

    clean = _print(96, 88)
    d1, t1 = degrade(clean, 11, profile="wide")
    d2, t2 = degrade(clean, 11, profile="wide")
    assert np.array_equal(d1, d2)
    assert np.array_equal(t1, t2)
    assert not np.array_equal(degrade(clean, 12, profile="wide")[0], d1)
    geo, photo, _ = PROFILES["wide"]
    drawn = set()
    for seed in range(300):
        drawn.update(planned_effects(seed, profile="wide"))
    assert drawn == set(geo) | set(photo)
    # the v2 profile (restore-unet v2's training recipe) never draws the new effects
    v2_drawn = set()
    for seed in range(300):
        v2_drawn.update(planned_effects(seed))
    assert v2_drawn == set(PROFILES["v2"][0]) | set(PROFILES["v2"][1])
    with pytest.raises(ValueError):
        degrade(clean, 1, profile="nope")


@pytest.mark.parametrize("name", ["background", "ink_colour", "text", "shapes", "contrast_wide", "blur_wide",
                                  "noise_wide", "elastic_strong", "partial"])
def test_each_wide_effect_changes_the_print_deterministically(name):
    from fpstation.ml.restoration.degrade import GEOMETRIC_WIDE, apply_effect, degrade

    clean = _print(90, 100)
    a, b = apply_effect(clean, name, 4), apply_effect(clean, name, 4)
    assert np.array_equal(a, b)
    assert a.dtype == np.float32
    assert a.shape == clean.shape
    assert 0.0 <= a.min()
    assert a.max() <= 1.0
    assert np.abs(a - clean / 255.0).mean() > 1e-3
    d, t = degrade(clean, 3, effects=[name])
    if name in GEOMETRIC_WIDE:  # geometric effects move the target too
        assert np.allclose(d, t)
        assert not np.allclose(t, clean / 255.0)
    else:
        assert np.array_equal(t, clean / np.float32(255.0))


def test_ink_darkness_depends_on_colour_and_grey_conversion():
    from fpstation.ml.restoration.degrade import ink_darkness

    values = {round(ink_darkness(np.random.default_rng(s)), 3) for s in range(40)}
    assert len(values) > 20
    assert min(values) >= 0.1
    assert max(values) <= 0.95


# ------------------------------------------------------------------------------ held-out recipe
def test_heldout_recipe_is_deterministic_and_every_effect_changes_the_print():
    from fpstation.ml.restoration.degrade_heldout import (
        HELDOUT_EFFECTS,
        apply_heldout_effect,
        degrade_heldout,
    )

    clean = _print(100, 96)
    d1, t1 = degrade_heldout(clean, 5)
    d2, _ = degrade_heldout(clean, 5)
    assert np.array_equal(d1, d2)
    assert np.array_equal(t1, clean / np.float32(255.0))
    assert not np.array_equal(degrade_heldout(clean, 6)[0], d1)
    for name in HELDOUT_EFFECTS:
        out = apply_heldout_effect(clean, name, 2)
        assert out.shape == clean.shape
        assert 0.0 <= out.min()
        assert out.max() <= 1.0
        assert np.abs(out - clean / 255.0).mean() > 1e-3, name
    with pytest.raises(ValueError):
        degrade_heldout(clean, 1, effects=["blur"])  # a training effect is not part of this recipe


def test_heldout_recipe_is_kept_out_of_training():
    from fpstation.ml.restoration import data as rd
    from fpstation.ml.restoration.degrade import EFFECTS
    from fpstation.ml.restoration.degrade_heldout import HELDOUT_EFFECTS

    assert not set(HELDOUT_EFFECTS) & set(EFFECTS)
    training_code = [ROOT / "training" / "train_restoration.py", ROOT / "fpstation/ml/restoration/degrade.py",
                     ROOT / "fpstation/ml/restoration/task.py"]
    for path in training_code:
        assert not re.search(r"^\s*(from|import)\s.*degrade_heldout", path.read_text(encoding="utf-8"), re.M), path
    with pytest.raises(ValueError, match="evaluation only"):
        rd.make_patches([], 32, tag="train", per_image={}, recipe="heldout")


# ------------------------------------------------------------------------------ guidance
def test_guidance_channels_shape_range_and_augmentation():
    import tensorflow as tf

    from fpstation.ml.restoration.guidance import augment_guidance_tf, guidance_channels, n_channels

    names = ("mask", "orientation", "frequency")
    x = _print(128, 128, seed=3).astype(np.float32) / 255.0
    g = guidance_channels(x, names)
    assert g.shape == (128, 128, n_channels(names)) == (128, 128, 4)
    assert g.dtype == np.float32
    assert g.min() >= 0.0
    assert g.max() <= 1.0
    assert guidance_channels(x[:8, :8], names).shape == (8, 8, 4)  # too small: neutral guidance, no error
    with pytest.raises(ValueError):
        guidance_channels(x, ["nope"])
    # the orientation channels of a rotated / flipped print, corrected by augment_guidance_tf, agree
    # with the guidance recomputed on that print (centre, away from border effects)
    full = np.dstack([x, g])
    for k, flip in ((1, False), (0, True), (3, True)):
        t = tf.constant(full)
        if flip:
            t = tf.image.flip_left_right(t)
        t = tf.image.rot90(t, k)
        fixed = augment_guidance_tf(t, names, tf.constant(k), tf.constant(flip)).numpy()
        again = guidance_channels(fixed[..., 0], names)
        c = slice(32, 96)
        for ch in (2, 3):  # cos 2θ, sin 2θ
            a, b = fixed[c, c, ch] - 0.5, again[c, c, ch - 1] - 0.5
            assert float(np.mean(a * b)) > 0.5 * float(np.mean(b * b)), (k, flip, ch)


def test_guided_dilated_unet_starts_as_identity_and_exports_to_onnx():
    pytest.importorskip("onnx")
    from fpstation.ml.architectures import build_unet
    from fpstation.ml.restoration import onnx_export

    model = build_unet((None, None, 5), base=4, levels=2, dilations=(2, 4), compile=False)
    x = np.random.default_rng(0).random((1, 32, 40, 5)).astype(np.float32)
    np.testing.assert_allclose(model(x).numpy()[..., 0], x[..., 0], atol=1e-6)
    corr = model.get_layer("correction")
    kernel, bias = corr.get_weights()
    corr.set_weights([np.random.default_rng(1).normal(0, 0.5, kernel.shape).astype(np.float32), bias])
    run = onnx_export.session_fn(onnx_export.session(onnx_export.keras_to_onnx(model)))
    np.testing.assert_allclose(run(x), model(x).numpy(), atol=1e-4)


def test_guided_model_card_runs_through_restore_with_model(tmp_path):
    from fpstation.core.types import FingerprintImage
    from fpstation.ml.architectures import build_unet
    from fpstation.ml.registry import Registry, sha256_file
    from fpstation.ml.restoration import clear_cache, restore_with_model

    models = tmp_path / "models"
    models.mkdir()
    model = build_unet((None, None, 2), base=2, levels=2, compile=False)
    weights = models / "restore-unet-g.keras"
    model.save(weights)
    card = {"name": "restore-unet-g", "task": "restoration", "architecture": "unet", "version": "1",
            "file": weights.name, "sha256": sha256_file(weights), "default": True, "levels": 2,
            "input": {"dpi": 500, "guidance": ["mask"]}, "hyper": {"base": 2, "residual": True,
                                                                   "upsampling": "transpose"}}
    (models / "restore-unet-g.json").write_text(json.dumps(card), encoding="utf-8")
    clear_cache()
    reg = Registry(shipped_dir=models, user_dir=tmp_path / "user")
    px = _print(70, 61)
    r = restore_with_model(FingerprintImage(px, 500.0, "x.png", "0" * 64), "restore-unet-g", registry=reg,
                           runtime="tf")
    clear_cache()
    assert r.pixels.shape == px.shape
    assert np.abs(r.pixels.astype(int) - px).max() <= 1  # untrained residual model: the identity


# ------------------------------------------------------------------------------ held-out scoring
def _fake_fvc(root: Path) -> None:
    from fpstation.core.imageio import write_image

    for db in ("fvc2002-db1b", "fvc2004-db2b"):
        (root / db / "images").mkdir(parents=True)
        for finger in (101, 102, 103):
            for imp in (1, 2):
                write_image(root / db / "images" / f"{finger}_{imp}.png", _print(64, 60, seed=finger * 10 + imp))


def test_score_heldout_per_db_and_recipe_with_intervals(tmp_path):
    from fpstation.ml.restoration.heldout_eval import bootstrap_ci, held_out_for, score_heldout

    _fake_fvc(tmp_path)
    blur = lambda p: np.asarray(__import__("cv2").GaussianBlur(p, (0, 0), 3.0))  # noqa: E731 - a bad restorer
    res = score_heldout({"blur": blur}, tmp_path, ["fvc2002-db1b", "fvc2004-db2b"], per_finger=2)
    assert set(res) == {"fvc2002-db1b", "fvc2004-db2b"}
    for per in res.values():
        assert set(per) == {"v2", "heldout"}
        for r in per.values():
            assert r["n"] == 6
            assert r["fingers"] == 3
            s = r["models"]["identity"]["ssim"]
            assert s["ci95"][0] <= s["mean"] <= s["ci95"][1]
            d = r["diff"]["blur"]["vs_identity"]["ssim"]
            assert d["mean"] == pytest.approx(r["models"]["blur"]["ssim"]["mean"] - s["mean"])
    # the two recipes give different pairs
    a = res["fvc2002-db1b"]["v2"]["models"]["identity"]["ssim"]["mean"]
    b = res["fvc2002-db1b"]["heldout"]["models"]["identity"]["ssim"]["mean"]
    assert a != b
    m, lo, hi = bootstrap_ci([1.0, 2.0, 3.0, 4.0], ["a", "a", "b", "b"])
    assert m == 2.5
    assert 1.5 <= lo <= hi <= 3.5
    assert held_out_for({"data": {"train_dbs": ["fvc2002-db1b"]}}, "fvc2004-db2b") is True
    assert held_out_for({"data": {"sources": ["FVC2002 DB1-4 B", "SOCOFing Real"]}}, "fvc2002-db1b") is False
    assert held_out_for(None, "fvc2002-db1b") is None


# ------------------------------------------------------------------------------ resumable training
def test_resume_checkpoint_round_trip(tmp_path):
    import keras

    from fpstation.ml.architectures import build_unet, restoration_loss
    from fpstation.ml.restoration.resume import ResumeCheckpoint
    from fpstation.ml.training import fit_keras

    def make():
        m = build_unet((None, None, 1), base=2, levels=1, compile=False)
        m.compile(optimizer=keras.optimizers.Adam(1e-3), loss=restoration_loss("l1"))
        return m

    rng = np.random.default_rng(0)
    x = rng.random((8, 16, 16, 1)).astype(np.float32)
    y = np.clip(x + 0.1, 0, 1)
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(4)
    model = make()
    ck = ResumeCheckpoint(tmp_path, "m", every_s=0.0)
    state = {"epoch": 0, "compute_seconds": 0.0, "sessions": [{"started": "t", "seconds": 0.0}]}
    import time

    fit = fit_keras(model, ds, None, epochs=2, checkpoint=tmp_path / "best.keras", monitor="loss",
                    callbacks=[ck.callback(state, time.perf_counter(), 5.0)])
    assert fit.epochs_run == 2
    assert ck.exists()
    saved = ck.state()
    assert saved["epoch"] == 2
    assert saved["compute_seconds"] >= 5.0
    fresh = make()
    ck.restore(fresh)
    for a, b in zip(model.get_weights(), fresh.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert int(fresh.optimizer.iterations.numpy()) == int(model.optimizer.iterations.numpy()) > 0
    # continuing from epoch 2 runs only the remaining epoch
    more = fit_keras(fresh, ds, None, epochs=3, checkpoint=tmp_path / "best.keras", monitor="loss",
                     initial_epoch=2, best=fit.best_value)
    assert more.epochs_run == 3
    assert len(more.history) == 1


def test_cli_evaluate_restoration_heldout_scanners(tmp_path, capsys):
    from fpstation.cli import main

    _fake_fvc(tmp_path / "data")
    out = tmp_path / "r.json"
    rc = main(["evaluate", "restoration", "--heldout-scanners", str(tmp_path / "data"), "--model", "identity",
               "--per-finger", "1", "--json", str(out)])
    assert rc == 0
    rep = json.loads(out.read_text(encoding="utf-8"))
    assert set(rep["results"]) == {"fvc2002-db1b", "fvc2004-db2b"}
    assert rep["results"]["fvc2004-db2b"]["heldout"]["n"] == 3
    assert "fvc2002-db1b" in capsys.readouterr().out
    rc = main(["evaluate", "restoration", "--heldout-scanners", str(tmp_path / "nothing"), "--json", str(out)])
    assert rc != 0  # a clear message, not a traceback


@pytest.mark.slow
def test_train_restoration_script_resumes_and_records_compute(tmp_path):
    """training/train_restoration.py on a tiny fake FVC root: a guided run, then --resume for one more
    epoch; the card lists both sessions, the total compute, the guidance and the held-out set."""
    from tests.scripts import load_script

    _fake_fvc(tmp_path / "data")
    mod = load_script("training/train_restoration.py")
    common = ["--data", str(tmp_path / "data"), "--steps-per-epoch", "2", "--batch-size", "4", "--base", "2",
              "--levels", "2", "--no-eval", "--out", str(tmp_path / "out"), "--work", str(tmp_path / "work"),
              "--name", "restore-unet-t", "--guidance", "mask", "--holdout-dbs", "fvc2004-db2b",
              "--recipe", "wide", "--per-image", "fvc=1,2", "--val-fraction", "0.34"]
    assert mod.main(["--epochs", "1", *common]) == 0
    card1 = json.loads((tmp_path / "out" / "restore-unet-t.json").read_text(encoding="utf-8"))
    assert mod.main(["--epochs", "2", "--resume", *common]) == 0
    card = json.loads((tmp_path / "out" / "restore-unet-t.json").read_text(encoding="utf-8"))
    t = card["training"]
    assert len(t["sessions"]) == 2
    assert t["epochs_run"] == 2
    assert len(t["history"]) == 2
    assert t["compute_seconds_total"] > card1["training"]["compute_seconds_total"]
    assert card["input"]["guidance"] == ["mask"]
    assert card["default"] is False
    assert card["data"]["train_dbs"] == ["fvc2002-db1b"]
    assert card["data"]["holdout_dbs"] == ["fvc2004-db2b"]
    assert "--guidance mask" in t["command"]
    assert "--recipe wide" in t["command"]


def test_score_altered_uses_only_the_given_subjects(tmp_path):
    from fpstation.core.imageio import write_image
    from fpstation.ml.restoration.heldout_eval import score_altered

    soc = tmp_path / "socofing"
    (soc / "Real").mkdir(parents=True)
    (soc / "Altered" / "Altered-Easy").mkdir(parents=True)
    for subj in (1, 2, 3):
        clean = _print(103, 96, seed=subj)
        write_image(soc / "Real" / f"{subj}__M_Left_index_finger.BMP", clean)
        bad = clean.copy()
        bad[30:60, 30:60] = 255
        write_image(soc / "Altered" / "Altered-Easy" / f"{subj}__M_Left_index_finger_Obl.BMP", bad)
    res = score_altered({"same": lambda p: p}, tmp_path, {"socofing/1", "socofing/3"})
    assert res["n"] == 2
    assert res["subjects"] == 2
    assert res["diff"]["same"]["vs_identity"]["ssim"]["mean"] == 0.0
    assert res["models"]["identity"]["ssim"]["mean"] < 1.0
