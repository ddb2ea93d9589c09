"""The alteration map: PAD training told *where* each SOCOFing print is altered (from the real print
it was made from), a second output of pad_cnn trained on 8x8-pixel cells."""

from __future__ import annotations

import numpy as np
import pytest

from fpstation.ml.classifiers.train_data import alteration_masks, mask_cells


def _items(n_pairs: int) -> list[dict]:
    items = []
    for s in range(n_pairs):
        base = {"subject": str(s), "hand": "Left", "finger": "index"}
        items.append({**base, "y": 0, "kind": "real"})
        items.append({**base, "y": 1, "kind": "altered"})
    return items


def _prints(n_pairs: int, h: int = 104, w: int = 96, seed: int = 0) -> tuple[np.ndarray, list[tuple]]:
    """Pairs (real, altered) with one rectangle of the altered print changed; the rectangles."""
    rng = np.random.default_rng(seed)
    x, boxes = [], []
    for _ in range(n_pairs):
        real = rng.uniform(0, 1, (h, w)).astype(np.float32)
        y0, x0 = rng.integers(0, h - 20), rng.integers(0, w - 20)
        alt = real.copy()
        alt[y0:y0 + 16, x0:x0 + 16] = rng.uniform(0, 1, (16, 16))
        x += [real, alt]
        boxes.append((y0, x0))
    return np.stack(x)[..., None], boxes


def test_masks_are_where_the_altered_print_differs_from_its_real_print():
    x, boxes = _prints(3)
    m = alteration_masks(x, _items(3))
    assert m.shape == x.shape[:3] and m.dtype == np.float32
    for i, (y0, x0) in enumerate(boxes):
        assert (m[2 * i] == 0).all()  # bona fide: nowhere altered
        inside = m[2 * i + 1, y0:y0 + 16, x0:x0 + 16]
        assert inside.mean() > 0.99  # the closing fills pixels that happened to keep their value
        outside = m[2 * i + 1].copy()
        outside[max(0, y0 - 2):y0 + 18, max(0, x0 - 2):x0 + 18] = 0
        assert not outside.any()


def test_unpaired_or_misaligned_alterations_are_unknown():
    x, _ = _prints(2)
    items = _items(2)
    items[2]["finger"] = "thumb"  # pair 1's real print is another finger: no reference for its alteration
    x[3] = 1.0 - x[2]  # ... and pair 1's altered print differs everywhere (would be misaligned anyway)
    x[1] = 1.0 - x[0]  # pair 0: differs everywhere from its real print -> not pixel-aligned
    m = alteration_masks(x, items)
    assert (m[1] == -1).all() and (m[3] == -1).all()
    assert (m[0] == 0).all() and (m[2] == 0).all()


def test_cells_match_the_tf_pooling_and_mark_unknown():
    tf = pytest.importorskip("tensorflow")
    from fpstation.ml.classifiers.train_data import _tf_mask_cells

    rng = np.random.default_rng(1)
    m = (rng.uniform(size=(4, 104, 96)) < 0.15).astype(np.float32)
    m[2] = -1.0
    cells = mask_cells(m, 8)
    assert cells.shape == (4, 13 * 12)
    assert (cells[2] == -1).all() and set(np.unique(cells[[0, 1, 3]])) <= {0.0, 1.0}
    assert 0 < cells[[0, 1, 3]].mean() < 1
    np.testing.assert_array_equal(cells, _tf_mask_cells(tf.constant(m[..., None]), 8).numpy())


def test_the_map_targets_follow_the_print_through_flips_and_shifts():
    pytest.importorskip("tensorflow")
    from fpstation.ml.classifiers.train_data import map_dataset

    rng = np.random.default_rng(2)
    m = np.zeros((16, 104, 96), np.float32)
    for i in range(16):  # a blob at a random place: flips and shifts move it
        y0, x0 = rng.integers(0, 80), rng.integers(0, 70)
        m[i, y0:y0 + 24, x0:x0 + 24] = 1.0
    x = m[..., None].copy()  # the print *is* its mask, so the targets must stay on it
    y = np.ones(16, np.int32)
    y[:4] = 0
    ds = map_dataset(x, y, m, np.where(y == 0, 2.0, 0.5), batch_size=8, seed=0, augment=True, cell=8)
    moved = 0
    for xb, targets, wb in ds:
        xb = xb.numpy()[..., 0]
        assert targets["logit"].shape == (len(xb), 1) and targets["alter_map"].shape == (len(xb), 156)
        assert sorted(set(np.round(wb.numpy(), 3))) <= [0.5, 2.0]
        # photometric jitter keeps 0/1 on their side of 0.5; the map = the pooled (augmented) print
        np.testing.assert_array_equal(mask_cells((xb > 0.5).astype(np.float32), 8), targets["alter_map"].numpy())
        # per print (a batch may hold one unflipped print with a shift too small to change its cells)
        moved += sum(not (mask_cells(m, 8) == t).all(1).any() for t in targets["alter_map"].numpy())
    assert moved > 0  # the augmentation did move some blobs (else the test above proves nothing)


def test_pad_cnn_with_map_trains_saves_and_gives_a_one_logit_model(tmp_path):
    keras = pytest.importorskip("keras")
    pytest.importorskip("tensorflow")
    from fpstation.ml.architectures import build_pad_cnn, custom_objects, has_alter_map, logit_model
    from fpstation.ml.classifiers.train_data import map_dataset

    model = build_pad_cnn((104, 96, 1), width=4, alter_map=1.0)
    assert has_alter_map(model) and not has_alter_map(build_pad_cnn((104, 96, 1), width=4))
    x, _ = _prints(4)
    items = _items(4)
    y = np.array([it["y"] for it in items], np.int32)
    ds = map_dataset(x, y, alteration_masks(x, items), np.ones(len(y)), 4, 0, True, 8)
    hist = model.fit(ds, epochs=1, verbose=0)
    assert {"logit_auc", "alter_map_loss", "loss"} <= set(hist.history)
    out = model(x[:3], training=False)
    assert out["alter_map"].shape == (3, 156)
    one = logit_model(model)
    np.testing.assert_allclose(np.asarray(one(x[:3])), np.asarray(out["logit"]), rtol=1e-5, atol=1e-6)
    model.save(tmp_path / "m.keras")
    again = keras.models.load_model(tmp_path / "m.keras", custom_objects=custom_objects())
    np.testing.assert_allclose(np.asarray(again(x[:3])["alter_map"]), np.asarray(out["alter_map"]), rtol=1e-5, atol=1e-6)


def test_the_shipped_model_is_the_plain_pad_cnn_with_the_trained_weights():
    """training/classifier_common.py exports the one-logit pad_cnn (the map head is training-only):
    same layers as any pad_cnn, so ONNX export and inference need nothing new."""
    pytest.importorskip("tensorflow")
    from fpstation.ml.architectures import build_pad_cnn
    from tests.scripts import load_script

    cc = load_script("training/classifier_common.py")
    trained = build_pad_cnn((104, 96, 1), width=4, alter_map=1.0)
    for layer in trained.layers:  # weights unlike a fresh model's
        layer.set_weights([w + 0.1 for w in layer.get_weights()])
    shipped = build_pad_cnn((104, 96, 1), width=4, compile=False)
    cc.copy_weights_by_name(trained, shipped)
    x, _ = _prints(2)
    np.testing.assert_allclose(np.asarray(shipped(x)), np.asarray(trained(x)["logit"]), rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="not in the trained one"):
        cc.copy_weights_by_name(build_pad_cnn((104, 96, 1), width=4, compile=False), trained)


def test_attack_weights_move_attention_between_attacks_not_the_class_balance():
    from fpstation.ml.classifiers.train_data import sample_weights

    items = ([{"y": 0, "attack_type": None, "level": ""}] * 6
             + [{"y": 1, "attack_type": "z-cut", "level": "Altered-Easy"}] * 2
             + [{"y": 1, "attack_type": "z-cut", "level": "Altered-Hard"}] * 2
             + [{"y": 1, "attack_type": "obliteration", "level": "Altered-Easy"}] * 2)
    y = np.array([it["y"] for it in items])
    plain = sample_weights(items, y)
    np.testing.assert_allclose(plain, [1.0] * 6 + [1.0] * 6)  # 6 and 6: balanced already
    w = sample_weights(items, y, {"z-cut/Easy": 3})
    assert w[6] == pytest.approx(3 * w[8]) and w[8] == pytest.approx(w[10])  # only the Easy z-cuts go up
    assert w[y == 1].sum() == pytest.approx(plain[y == 1].sum()) and (w[y == 0] == plain[y == 0]).all()
    w2 = sample_weights(items, y, {"z-cut": 2})  # a type without a level: all its levels
    assert w2[6] == pytest.approx(w2[8]) == pytest.approx(2 * w2[10])
    with pytest.raises(ValueError, match="no training attack matches"):
        sample_weights(items, y, {"z-cut/Medium": 3})


@pytest.mark.parametrize("mirror", ["auto", True])
def test_pad_evaluation_resolves_the_mirror_view_and_the_card_says_it(tmp_path, mirror):
    pytest.importorskip("tensorflow")
    from fpstation.ml.tasks import get_task
    from tests.ml.classifier_fixtures import make_socofing, tiny_hyper

    task = get_task("pad")
    hyper = tiny_hyper(task)
    hyper.extra["mirror"] = mirror
    scan = task.scan(make_socofing(tmp_path / "soco", subjects=10), hyper)
    ev = task.evaluate(task.build_model(hyper), scan, hyper)
    assert isinstance(hyper.extra["mirror"], bool)  # "auto" resolved by the validation rule
    assert ev["view"]["chosen"] == ("mirror" if hyper.extra["mirror"] else "plain")
    assert set(ev["view"]["validation_apcer_max"]) == {"plain", "mirror"}
    if mirror == "auto":
        a = ev["view"]["validation_apcer_max"]
        assert hyper.extra["mirror"] == (a["mirror"] < a["plain"])
    card = task.card_fields(scan, hyper)
    assert card["input"].get("mirror", False) is hyper.extra["mirror"]
    assert ("mirror" in card["input"]["preprocessing"]) is hyper.extra["mirror"]


def test_a_retrained_socofing_pad_card_keeps_the_shipped_domain(tmp_path):
    """train_pad.py rewrites models/pad-socofing.json: its domain (500 dpi ±10 %, sizes) must come
    from the task, or the desk would check 1000 dpi LivDet prints with it."""
    import json
    from pathlib import Path

    from fpstation.ml.tasks import get_task
    from tests.ml.classifier_fixtures import make_socofing, tiny_hyper

    task = get_task("pad")
    hyper = tiny_hyper(task)
    card = task.card_fields(task.scan(make_socofing(tmp_path / "soco", subjects=6), hyper), hyper)
    shipped = json.loads((Path(__file__).resolve().parents[2] / "models" / "pad-socofing.json").read_text())
    assert card["domain"]["dpi"] == shipped["domain"]["dpi"] and card["domain"]["sensors"] == shipped["domain"]["sensors"]
    assert card["attack_kind"] == shipped["attack_kind"]
    # sizes from the prints themselves (the fixture's are 48x44): 0.8x the smallest to 1.25x the largest
    assert card["domain"]["size_px"]["height"] == [38, 60] and card["domain"]["size_px"]["width"] == [35, 55]


def test_dialog_training_with_the_map_registers_a_one_logit_model_that_runs_on_onnx(tmp_path):
    """ml/training.train (the Training dialog's fit): the map head stays behind; the registered
    model is the one-logit CNN, exported to ONNX, and scores prints with the card's view."""
    pytest.importorskip("tensorflow")
    from fpstation.core.imageio import read_print
    from fpstation.core.jobs import CancelToken
    from fpstation.ml.classifiers import pad_predict
    from fpstation.ml.registry import Registry
    from fpstation.ml.tasks import get_task
    from fpstation.ml.training import train
    from tests.ml.classifier_fixtures import make_socofing, tiny_hyper

    data = make_socofing(tmp_path / "soco", subjects=10)
    reg = Registry(shipped_dir=tmp_path / "shipped", user_dir=tmp_path / "user")
    hyper = tiny_hyper(get_task("pad"))
    hyper.extra.update(alter_map=1.0, mirror="auto")
    out = train("pad", data, hyper, cancel=CancelToken(), registry=reg)
    card = out.card
    assert card.data["hyper"]["extra"]["alter_map"] == 1.0
    assert card.data["training"]["monitor"] == "val_logit_auc" and out.fit.best_value is not None
    assert isinstance(card.data["input"].get("mirror", False), bool)
    assert card.input.mirror == (card.data["metrics"]["view"]["chosen"] == "mirror")
    # the reproducing command asks for what was asked (auto), not what validation chose
    assert "--alter-map 1 --mirror auto" in card.data["training"]["command"]
    assert reg.onnx_file(card) is not None  # exported: runs without TensorFlow
    model = reg.load(card.key)
    assert not isinstance(model.output, dict) and model.output_shape == (None, 1)
    r = pad_predict(read_print(next((data / "Real").glob("*.BMP"))), model_key=card.key, registry=reg)
    assert 0.0 <= r.attack_score <= 1.0


def test_the_map_loss_weighs_altered_cells_and_ignores_unknown_ones():
    pytest.importorskip("keras")
    from fpstation.ml.architectures import MAP_POS_WEIGHT, alteration_map_loss

    z = np.array([[2.0, -1.0, 0.5, 3.0], [4.0, -4.0, 1.0, 9.0], [0.3, 0.2, -0.1, 5.0]], np.float32)
    y = np.array([[1, 0, 0, 0], [-1, -1, -1, -1], [1, 0, -1, -1]], np.float32)
    got = np.asarray(alteration_map_loss(y, z))

    def bce(zz, yy):
        return np.log1p(np.exp(-zz)) if yy else np.log1p(np.exp(zz))

    row0 = (MAP_POS_WEIGHT * bce(2.0, 1) + bce(-1.0, 0) + bce(0.5, 0) + bce(3.0, 0)) / 4
    row2 = (MAP_POS_WEIGHT * bce(0.3, 1) + bce(0.2, 0)) / 2  # the unknown cells neither count nor divide
    np.testing.assert_allclose(got, [row0, 0.0, row2], rtol=1e-5)
    # an unknown cell's logit has no gradient to follow: pushing it anywhere changes nothing
    z2 = z.copy()
    z2[1] = [40.0, -40.0, 40.0, 40.0]
    z2[2, 2:] = [-30.0, 30.0]
    np.testing.assert_allclose(np.asarray(alteration_map_loss(y, z2)), [row0, 0.0, row2], rtol=1e-5)
