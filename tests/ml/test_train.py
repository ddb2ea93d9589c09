"""train() orchestration and fit_keras stop behaviour, on the tiny stripes task."""

from __future__ import annotations

import json

import pytest

from fpstation.core.errors import DatasetError
from fpstation.core.jobs import Cancelled, CancelToken
from fpstation.ml import tasks
from fpstation.ml.registry import Registry
from tests.ml.tiny_task import TINY_SPEC, TinyTask, make_dataset

pytestmark = pytest.mark.slow


@pytest.fixture
def tiny(monkeypatch):
    monkeypatch.setitem(tasks.TASKS, "tiny", TINY_SPEC)
    return TinyTask()


@pytest.fixture
def data(tmp_path):
    return make_dataset(tmp_path / "data")


def test_fit_keras_stops_within_one_batch(tiny, data, tmp_path):
    from fpstation.ml.training import fit_keras

    hyper = tiny.default_hyper()
    hyper.batch_size = 2
    scan = tiny.scan(data, hyper, lambda *a: None, CancelToken())
    ds = tiny.datasets(scan, hyper)
    token = CancelToken()
    seen = []

    val_calls_before_stop = []

    def on_batch(b):
        seen.append((b.epoch, b.batch))
        if b.epoch == 1 and b.batch == 2:
            val_calls_before_stop.append(CountingVal.calls)
            token.cancel()

    import keras
    import numpy as np

    xv = np.concatenate([x for x, _ in ds["val"]])
    yv = np.concatenate([y for _, y in ds["val"]])

    class CountingVal(keras.utils.PyDataset):
        calls = 0

        def __len__(self):
            return 3

        def __getitem__(self, i):
            CountingVal.calls += 1
            return xv[i::3], yv[i::3]

    fit = fit_keras(tiny.build_model(hyper), ds["train"], CountingVal(), epochs=20, checkpoint=tmp_path / "m.keras",
                    cancel=token, on_batch=on_batch)
    # Keras 3 honours stop_training after the batch in which Stop was seen: no further batch runs,
    # and the stopped epoch's validation pass is skipped (no validation batch read after Stop).
    assert seen[-1] == (1, 2)
    assert CountingVal.calls == val_calls_before_stop[0] >= 3
    assert fit.stopped
    assert fit.epochs_run == 2
    assert fit.best_epoch == 0
    assert fit.checkpoint is not None
    assert fit.checkpoint.is_file()


def test_train_writes_card_and_registers_versions(tiny, data, tmp_path, fake_progress):
    from fpstation.ml.training import train

    reg = Registry(shipped_dir=tmp_path / "shipped", user_dir=tmp_path / "user")
    hyper = tiny.default_hyper()
    scans, epochs = [], []
    out = train("tiny", data, hyper, fake_progress, CancelToken(), on_scan=scans.append,
                on_epoch=epochs.append, out_dir=tmp_path / "out", registry=reg)
    assert fake_progress.last == 1.0
    assert [e.epoch for e in epochs] == [0, 1]
    assert scans
    assert len(scans[0].unreadable) == 1  # the damaged PNG is reported, not fatal
    card = json.loads(out.card_path.read_text())
    assert card["task"] == "tiny"
    assert card["name"] == "tiny-cnn2"
    assert card["version"] == "1"
    assert card["data"]["file_list_sha256"] == scans[0].file_list_sha256
    assert card["split"]["n_val_subjects"] + card["split"]["n_train_subjects"] == 10
    assert set(card["split"]["val_subjects"]) == scans[0].val_subjects
    assert set(card["split"]["train_subjects"]) == scans[0].train_subjects
    assert not set(card["split"]["val_subjects"]) & set(card["split"]["train_subjects"])
    assert card["hyper"]["epochs"] == 2
    assert card["training"]["epochs_run"] == 2
    assert 0.0 <= card["metrics"]["val_accuracy"] <= 1.0
    assert card["training"]["command"].startswith("python -m fpstation train tiny --data ")
    assert (tmp_path / "out" / "card.json").is_file()
    assert (tmp_path / "out" / "model.keras").is_file()
    reg.verify(out.card)
    assert out.card.file.is_relative_to(tmp_path / "user")
    assert not (tmp_path / "shipped").exists()
    # A second run is a new version; the first stays.
    out2 = train("tiny", data, hyper, cancel=CancelToken(), registry=reg)
    assert out2.card.key == "tiny-cnn2@v2"
    assert [c.key for c in reg.cards("tiny")] == ["tiny-cnn2@v1", "tiny-cnn2@v2"]
    model = reg.load("tiny-cnn2@v1")
    assert model.output_shape == (None, 2)


def test_stop_keeps_best_checkpoint_and_registers_it(tiny, data, tmp_path):
    from fpstation.ml.training import train

    reg = Registry(shipped_dir=tmp_path / "shipped", user_dir=tmp_path / "user")
    hyper = tiny.default_hyper()
    hyper.epochs = 50
    token = CancelToken()

    def on_epoch(e):
        if e.epoch == 1:
            token.cancel()

    out = train("tiny", data, hyper, cancel=token, on_epoch=on_epoch, registry=reg)
    assert out.stopped
    assert out.fit.epochs_run == 3  # epoch 3 was cut after its first batch
    card = json.loads(out.card_path.read_text())
    assert card["training"]["stopped"] is True
    assert card["training"]["best_epoch"] in (1, 2)
    assert "val_accuracy" in card["metrics"]
    assert reg.load(out.card.key).output_shape == (None, 2)


def test_stop_before_first_epoch_raises_cancelled(tiny, data, tmp_path):
    from fpstation.ml.training import train

    reg = Registry(shipped_dir=tmp_path / "shipped", user_dir=tmp_path / "user")
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        train("tiny", data, tiny.default_hyper(), cancel=token, registry=reg)
    assert reg.cards("tiny") == []


def test_dataset_errors_are_readable(tiny, tmp_path):
    from fpstation.ml.training import train

    reg = Registry(shipped_dir=tmp_path / "shipped", user_dir=tmp_path / "user")
    empty = make_dataset(tmp_path / "empty", empty_class=True)
    with pytest.raises(DatasetError, match="class “vertical” has no images"):
        train("tiny", empty, tiny.default_hyper(), registry=reg)
    one = make_dataset(tmp_path / "one", subjects=1)
    with pytest.raises(DatasetError, match="too few for a subject-disjoint"):
        train("tiny", one, tiny.default_hyper(), registry=reg)
    with pytest.raises(DatasetError, match="does not exist"):
        train("tiny", tmp_path / "missing", tiny.default_hyper(), registry=reg)
    with pytest.raises(DatasetError, match="Unknown training task"):
        train("nope", tmp_path, tiny.default_hyper(), registry=reg)


def test_missing_task_module_is_said_in_words(monkeypatch, tmp_path):
    from fpstation.core.errors import FpError
    from fpstation.ml.training import load_task

    monkeypatch.setitem(tasks.TASKS, "ghost", "fpstation.ml.no_such_task:GhostTask")
    with pytest.raises(FpError, match="Training for “ghost” is not available in this installation"):
        load_task("ghost")


def test_out_of_memory_becomes_a_clear_message(tiny, data, tmp_path, monkeypatch):
    from fpstation.core.errors import FpError
    from fpstation.ml import training

    def boom(*a, **k):
        raise MemoryError()

    monkeypatch.setattr(training, "fit_keras", boom)
    reg = Registry(shipped_dir=tmp_path / "shipped", user_dir=tmp_path / "user")
    with pytest.raises(FpError, match="ran out of memory .* smaller batch size"):
        training.train("tiny", data, tiny.default_hyper(), registry=reg)



class _ListQueue:
    """Stands in for the multiprocessing.Queue (the child closes its end when done)."""

    def __init__(self):
        self.items = []

    def put(self, item):
        import pickle

        self.items.append(pickle.loads(pickle.dumps(item)))  # every event must cross a process boundary

    def close(self):
        pass

    def join_thread(self):
        pass


def test_child_entry_streams_events_and_pickles_errors(tiny, data, tmp_path):
    """run_in_child's event protocol (called in-process here; the GUI test runs a real child)."""
    import threading

    from fpstation.ml.training import run_in_child

    req = {"task": "tiny", "task_spec": TINY_SPEC, "data_dir": data, "hyper": tiny.default_hyper(),
           "out_dir": None, "nice": 0, "shipped_dir": tmp_path / "shipped", "user_dir": tmp_path / "user"}
    q = _ListQueue()
    run_in_child(req, q, threading.Event())
    kinds = [k for k, _ in q.items]
    assert kinds[-1] == "done"
    assert "scan" in kinds
    assert "batch" in kinds
    assert kinds.count("epoch") == 2
    assert kinds.count("done") == 1
    assert q.items[-1][1].card.key == "tiny-cnn2@v1"
    bad = make_dataset(tmp_path / "bad", empty_class=True)
    q = _ListQueue()
    run_in_child(dict(req, data_dir=bad), q, threading.Event())
    kind, exc = q.items[-1]
    assert kind == "error"
    assert isinstance(exc, DatasetError)
    assert "has no images" in exc.user_message
    stop = threading.Event()
    stop.set()
    q = _ListQueue()
    run_in_child(req, q, stop)
    assert q.items[-1][0] == "cancelled"
