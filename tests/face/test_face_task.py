"""The small face CNN's training task end to end on a tiny generated folder (2 epochs), and the
trained model used as a gallery embedder (OnnxEmbedder)."""

from __future__ import annotations

import numpy as np
import pytest

from fpstation import paths
from fpstation.core.imageio import read_print, write_image

pytest.importorskip("dlib")
FACES = paths.samples_dir() / "faces"


def make_people(root):
    """8 'people' × 3 images made from the three sample faces by shifts and contrast changes."""
    base = [read_print(FACES / f"orl_{n}.png").pixels for n in ("s1_1", "s1_2", "s2_1")]
    rng = np.random.default_rng(0)
    for p in range(8):
        d = root / f"p{p + 1}"
        d.mkdir(parents=True)
        src = base[p % 3].astype(np.float32)
        for k in range(3):
            im = np.roll(src, (int(rng.integers(-3, 4)), int(rng.integers(-3, 4))), axis=(0, 1))
            im = np.clip((im - 128) * (0.8 + 0.1 * p / 8 + 0.1 * k) + 128 + 4 * k, 0, 255).astype(np.uint8)
            write_image(d / f"{k + 1}.png", im)
    return root


@pytest.fixture
def people(tmp_path):
    return make_people(tmp_path / "people")


def test_train_face_task_registers_a_model_usable_as_embedder(people, tmp_path, fake_progress):
    from fpstation.ml.face.embed import OnnxEmbedder, get_embedder
    from fpstation.ml.registry import Registry
    from fpstation.ml.tasks import get_task
    from fpstation.ml.training import train

    task = get_task("face")
    h = task.default_hyper()
    h.epochs, h.input_size, h.batch_size = 2, 32, 8
    reg = Registry(shipped_dir=tmp_path / "none", user_dir=tmp_path / "user")
    epochs = []
    out = train("face", people, h, fake_progress, on_epoch=epochs.append, registry=reg)
    assert len(epochs) == 2
    assert {"loss", "val_loss", "val_accuracy"} <= set(epochs[-1].logs)
    card = out.card.data
    assert card["task"] == "face"
    assert card["input"]["shape"] == [32, 32, 1]
    assert set(card["split"]["train_subjects"]).isdisjoint(card["split"]["val_subjects"])
    m = card["metrics"]["heldout_people_closed_set"]
    assert m["people"] == len(card["split"]["val_subjects"])
    assert 0.0 <= m["rank1"] <= 1.0
    emb = get_embedder(out.card.key, reg)
    assert isinstance(emb, OnnxEmbedder)  # registration exported it, checked against Keras
    assert emb.dim == 128
    assert card["onnx"]["max_abs_diff_vs_keras"] <= 1e-4
    v = emb.embed(read_print(FACES / "orl_s1_1.png").pixels).vector
    assert v.shape == (128,)
    assert abs(float(np.linalg.norm(v)) - 1) < 1e-4
