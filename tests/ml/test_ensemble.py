"""mean_logit_ensemble: members trained on the same split, shipped as one flat graph (mean logit)."""

from __future__ import annotations

import numpy as np
import pytest


def _members(n: int, width: int = 4):
    from fpstation.ml.architectures import build_pad_cnn

    out = []
    for i in range(n):
        m = build_pad_cnn((104, 96, 1), width=width, compile=False)
        rng = np.random.default_rng(10 + i)
        # other random weights per member (batch-norm variances kept positive)
        m.set_weights([np.abs(rng.normal(1, 0.1, w.shape)).astype(np.float32) if "variance" in v.path
                       else rng.normal(0, 0.2, w.shape).astype(np.float32)
                       for v, w in zip(m.weights, m.get_weights(), strict=True)])
        out.append(m)
    return out


def test_the_ensemble_logit_is_the_members_mean_and_survives_save_and_load(tmp_path):
    keras = pytest.importorskip("keras")
    pytest.importorskip("tensorflow")
    from fpstation.ml.architectures import mean_logit_ensemble

    members = _members(3)
    x = np.random.default_rng(0).random((5, 104, 96, 1), dtype=np.float32)
    zs = [np.asarray(m(x, training=False)) for m in members]
    assert np.std([z.ravel() for z in zs], axis=0).mean() > 1e-3  # the members do differ
    ens = mean_logit_ensemble(members)
    np.testing.assert_allclose(np.asarray(ens(x, training=False)), np.mean(zs, axis=0), rtol=1e-4, atol=1e-5)
    # the members themselves are untouched (their last layer's weights were copied, not scaled in place)
    np.testing.assert_allclose(np.asarray(members[0](x, training=False)), zs[0], rtol=1e-6, atol=1e-6)
    assert any(layer.name == "last_conv_relu" for layer in ens.layers)  # Grad-CAM's layer (member 0)
    ens.save(tmp_path / "e.keras")
    again = keras.models.load_model(tmp_path / "e.keras", compile=False)
    np.testing.assert_allclose(np.asarray(again(x, training=False)), np.mean(zs, axis=0), rtol=1e-4, atol=1e-5)
    assert mean_logit_ensemble(members[:1]) is members[0]


def test_the_ensemble_exports_to_onnx_with_the_same_logits():
    pytest.importorskip("onnx")
    pytest.importorskip("tensorflow")
    from fpstation.ml import onnx_export
    from fpstation.ml.architectures import mean_logit_ensemble

    members = _members(2)
    ens = mean_logit_ensemble(members)
    run = onnx_export.nhwc_fn(onnx_export.session(onnx_export.keras_to_onnx(ens)))
    x = np.random.default_rng(1).random((4, 104, 96, 1), dtype=np.float32)
    np.testing.assert_allclose(np.asarray(run(x)).reshape(-1), np.asarray(ens(x, training=False)).reshape(-1),
                               rtol=1e-4, atol=1e-4)


def test_members_must_share_the_input_and_end_in_a_logit():
    pytest.importorskip("tensorflow")
    import keras

    from fpstation.ml.architectures import build_pad_cnn, mean_logit_ensemble

    a = build_pad_cnn((104, 96, 1), width=4, compile=False)
    with pytest.raises(ValueError, match="takes"):
        mean_logit_ensemble([a, build_pad_cnn((96, 96, 1), width=4, compile=False)])
    inp = keras.Input((104, 96, 1))
    prob = keras.Model(inp, keras.layers.Dense(1, activation="sigmoid")(keras.layers.Flatten()(inp)))
    with pytest.raises(ValueError, match="logit"):
        mean_logit_ensemble([a, prob])
    with pytest.raises(ValueError):
        mean_logit_ensemble([])


def test_train_pad_members_ships_one_model_whose_card_names_the_members(tmp_path):
    """training/train_pad.py --members 2 end to end on a generated SOCOFing-like folder (subprocess):
    two fits on one split, one .keras of the mean logit, the ensemble's own calibration and threshold."""
    pytest.importorskip("tensorflow")
    import json
    import subprocess
    import sys
    from pathlib import Path

    from tests.ml.classifier_fixtures import make_socofing

    root = Path(__file__).resolve().parents[2]
    data = make_socofing(tmp_path / "soco", subjects=12)
    proc = subprocess.run([sys.executable, str(root / "training" / "train_pad.py"), "--data", str(data),
                           "--out", str(tmp_path / "out"), "--workdir", str(tmp_path / "work" / "run"),
                           "--epochs", "1", "--width", "4", "--val-fraction", "0.35", "--members", "2", "--threads", "1"],
                          capture_output=True, text=True, timeout=600, cwd=root)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert "member 2/2 (model seed 1)" in proc.stdout
    card = json.loads((tmp_path / "out" / "pad-socofing.json").read_text())
    ens = card["ensemble"]
    assert ens["members"] == 2 and ens["model_seeds"] == [0, 1] and len(ens["member_training"]) == 2
    assert card["split"]["seed"] == 0 and "--members 2" in card["training"]["command"]
    import keras

    from fpstation.ml.architectures import build_pad_cnn

    model = keras.models.load_model(tmp_path / "out" / card["file"], compile=False)
    one = build_pad_cnn((104, 96, 1), width=4, convs_per_block=1, compile=False)
    assert model.count_params() == 2 * one.count_params() == card["parameters"]
    assert 0.0 <= card["threshold"]["value"] <= 1.0 and card["calibration"]["method"] == "platt"


def test_gradcam_of_an_ensemble_sums_every_members_map():
    """Grad-CAM of the ensemble uses each member's last conv block: with the 1/N folded into the
    members' last Dense, it is ReLU(sum of the members' raw maps / N), not member 0's alone."""
    pytest.importorskip("tensorflow")
    import tensorflow as tf

    from fpstation.ml.architectures import mean_logit_ensemble
    from fpstation.ml.classifiers.explain import gradcam_fn

    members = _members(2)
    x = tf.constant(np.random.default_rng(2).random((3, 104, 96, 1), dtype=np.float32))

    def raw(m):  # one model's Grad-CAM before the ReLU
        import keras

        layer = m.get_layer("last_conv_relu")
        sub = keras.Model(m.inputs, [layer.output, m.outputs[0]])
        with tf.GradientTape() as tape:
            f, z = sub(x, training=False)
            t = tf.reduce_sum(z)
        g = tape.gradient(t, f)
        return np.asarray(tf.reduce_sum(tf.reduce_mean(g, axis=(1, 2), keepdims=True) * f, axis=-1))

    r0, r1 = raw(members[0]), raw(members[1])
    got = np.asarray(gradcam_fn(mean_logit_ensemble(members))(x))
    np.testing.assert_allclose(got, np.maximum((r0 + r1) / 2, 0), rtol=1e-3, atol=1e-5)
    assert not np.allclose(got, np.maximum(r0 / 2, 0), atol=1e-5)  # member 1 does count
    # one model: the plain Grad-CAM
    np.testing.assert_allclose(np.asarray(gradcam_fn(members[0])(x)), np.maximum(r0, 0), rtol=1e-3, atol=1e-5)


def test_dialog_training_with_members_registers_one_ensemble_that_runs_on_onnx(tmp_path):
    """ml/training.train (the Training dialog and ``fpstation train``) with extra members=2 and the
    alteration map: two fits on one split, the curves run on across members, Stop-free; the
    registered model is one graph of the two one-logit CNNs, exported to ONNX, scoring prints."""
    pytest.importorskip("tensorflow")
    from fpstation.core.imageio import read_print
    from fpstation.core.jobs import CancelToken
    from fpstation.ml.architectures import build_pad_cnn
    from fpstation.ml.classifiers import pad_predict
    from fpstation.ml.registry import Registry
    from fpstation.ml.tasks import get_task
    from fpstation.ml.training import train
    from tests.ml.classifier_fixtures import make_socofing, tiny_hyper

    data = make_socofing(tmp_path / "soco", subjects=10)
    reg = Registry(shipped_dir=tmp_path / "shipped", user_dir=tmp_path / "user")
    hyper = tiny_hyper(get_task("pad"), epochs=2)
    hyper.extra.update(alter_map=1.0, members=2)
    epochs = []
    out = train("pad", data, hyper, cancel=CancelToken(), registry=reg, on_epoch=lambda e: epochs.append((e.epoch, e.epochs)))
    e = hyper.epochs
    assert epochs == [(i, 2 * e) for i in range(2 * e)]  # member 2's epochs follow member 1's
    card = out.card
    ens = card.data["ensemble"]
    assert ens["members"] == ens["members_asked"] == 2 and ens["model_seeds"] == [hyper.seed, hyper.seed + 1]
    assert card.data["split"]["seed"] == hyper.seed and out.stopped is False
    assert "--alter-map 1" in card.data["training"]["command"] and "--members 2" in card.data["training"]["command"]
    model = reg.load(card.key)
    one = build_pad_cnn(tuple(model.inputs[0].shape[1:]), width=4, compile=False)
    assert model.output_shape == (None, 1) and model.count_params() == 2 * one.count_params()
    assert reg.onnx_file(card) is not None
    r = pad_predict(read_print(next((data / "Real").glob("*.BMP"))), model_key=card.key, registry=reg)
    assert 0.0 <= r.attack_score <= 1.0


def test_members_are_refused_in_words_for_a_model_without_one_logit():
    from fpstation.core.errors import DatasetError
    from fpstation.ml.tasks import get_task
    from fpstation.ml.training import members_of

    task = get_task("pad")
    h = task.default_hyper()
    assert members_of(task, h) == 1
    h.extra["members"] = 3
    assert members_of(task, h) == 3
    h.architecture = "pad_patch_cnn"
    with pytest.raises(DatasetError, match="print CNNs"):
        members_of(task, h)
    h.architecture, h.extra["members"] = "pad_cnn", 0
    with pytest.raises(DatasetError, match="1 to 9"):
        members_of(task, h)


def test_stop_during_the_second_member_keeps_the_first_alone(tmp_path, monkeypatch):
    """Stop while member 2 trains: member 2 is left out (cut short, it would weaken the ensemble);
    the registered model is member 1 itself, and the card says 1 of 2 members, stopped."""
    pytest.importorskip("tensorflow")
    from fpstation.core.jobs import CancelToken
    from fpstation.ml.architectures import build_pad_cnn
    from fpstation.ml.registry import Registry
    from fpstation.ml.tasks import get_task
    from fpstation.ml.training import train
    from tests.ml.classifier_fixtures import make_socofing, tiny_hyper

    data = make_socofing(tmp_path / "soco", subjects=10)
    reg = Registry(shipped_dir=tmp_path / "shipped", user_dir=tmp_path / "user")
    hyper = tiny_hyper(get_task("pad"), epochs=2)
    hyper.extra.update(members=2)
    token = CancelToken()
    built, evaluated = [], []
    cls = type(get_task("pad"))
    build, evaluate = cls.build_model, cls.evaluate

    def spy_build(self, h):
        built.append(build(self, h))
        return built[-1]

    def spy_evaluate(self, model, *a, **k):
        evaluated.append(model)
        return evaluate(self, model, *a, **k)

    monkeypatch.setattr(cls, "build_model", spy_build)
    monkeypatch.setattr(cls, "evaluate", spy_evaluate)

    def on_epoch(e):
        if e.epoch >= hyper.epochs:  # member 2's first epoch has ended
            token.cancel()

    out = train("pad", data, hyper, cancel=token, registry=reg, on_epoch=on_epoch)
    assert out.stopped is True
    assert len(built) == 2 and evaluated == [built[0]]  # member 1 is what was evaluated and registered
    ens = out.card.data["ensemble"]
    assert ens["members"] == 1 and ens["members_asked"] == 2 and ens["model_seeds"] == [hyper.seed]
    assert out.card.data["training"]["stopped"] is True and out.card.data["training"]["epochs_run"] == 2
    model = reg.load(out.card.key)
    one = build_pad_cnn(tuple(model.inputs[0].shape[1:]), width=4, compile=False)
    assert model.count_params() == one.count_params()  # one network, not an ensemble of one and a half
