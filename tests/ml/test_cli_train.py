"""``python -m fpstation train``: one epoch of the tiny task through the CLI entry point."""

from __future__ import annotations

import json

import pytest

from fpstation.ml import tasks
from tests.ml.tiny_task import TINY_SPEC, make_dataset

pytestmark = pytest.mark.slow


def test_cli_trains_one_epoch(monkeypatch, tmp_path, capsys, _fp_home):
    from fpstation.cli import main

    monkeypatch.setitem(tasks.TASKS, "tiny", TINY_SPEC)
    data = make_dataset(tmp_path / "data")
    rc = main(["train", "tiny", "--data", str(data), "--epochs", "1", "--out", str(tmp_path / "out"),
               "--batch-size", "4", "--lr", "0.02"])
    out = capsys.readouterr()
    assert rc == 0, out.err
    assert "Per class: horizontal: 40, vertical: 40" in out.out
    assert "Unreadable files: 1" in out.out
    assert "epoch 1/1" in out.out
    assert "val_loss" in out.out
    card_line = [ln for ln in out.out.splitlines() if ln.startswith("Model card: ")][0]
    card = json.loads(open(card_line.split(": ", 1)[1]).read())
    assert card["hyper"]["batch_size"] == 4
    assert card["hyper"]["learning_rate"] == 0.02
    assert card["training"]["epochs_run"] == 1
    assert "--batch-size 4 --lr 0.02" in card["training"]["command"]
    assert (tmp_path / "out" / "card.json").is_file()
    # the card is in the user models dir (FPSTATION_HOME), never in the shipped models/ folder
    assert str(_fp_home) in card_line


def test_cli_reports_dataset_problems(monkeypatch, tmp_path, capsys):
    from fpstation.cli import main

    monkeypatch.setitem(tasks.TASKS, "tiny", TINY_SPEC)
    data = make_dataset(tmp_path / "data", empty_class=True)
    assert main(["train", "tiny", "--data", str(data), "--epochs", "1"]) == 2
    assert "error: The class “vertical” has no images" in capsys.readouterr().err
    assert main(["train", "bogus", "--data", str(data)]) == 2
    assert "Unknown training task" in capsys.readouterr().err


def test_cli_pad_options_reach_the_hyper_parameters():
    """``train pad --alter-map 1 --mirror yes``: the pad-socofing recipe from the CLI (and the other views)."""
    import argparse

    from fpstation.commands.train import hyper_from_args
    from fpstation.ml.tasks import get_task

    base = dict(epochs=None, batch_size=None, lr=None, arch=None, input_size=None, seed=None, val_fraction=None,
                no_augment=False, name=None, dpi=None)
    h = hyper_from_args(get_task("pad"), argparse.Namespace(**base, alter_map=1.0, mirror="auto"))
    assert h.extra["alter_map"] == 1.0 and h.extra["mirror"] == "auto"
    h = hyper_from_args(get_task("pad"), argparse.Namespace(**base, alter_map=None, mirror="yes"))
    assert "alter_map" not in h.extra and h.extra["mirror"] is True
    h = hyper_from_args(get_task("pad"), argparse.Namespace(**base, alter_map=None, mirror="no"))
    assert "mirror" not in h.extra and "members" not in h.extra
    h = hyper_from_args(get_task("pad"), argparse.Namespace(**base, alter_map=None, mirror=None, members=3))
    assert h.extra["members"] == 3


def test_a_card_can_change_its_view_and_says_so():
    """``train_pad.py --evaluate-only CARD --mirror yes`` (ADR 0266): the card's input.mirror and its
    preprocessing note follow the view, both ways, without repeating the note."""
    from fpstation.ml.classifiers.tasks import MIRROR_NOTE
    from tests.scripts import load_script

    cc = load_script("training/classifier_common.py")
    card = {"input": {"preprocessing": "whole print scaled to [0,1]"}}
    cc.set_mirror_view(card, True)
    assert card["input"]["mirror"] is True and card["input"]["preprocessing"].endswith(MIRROR_NOTE)
    cc.set_mirror_view(card, True)
    assert card["input"]["preprocessing"].count(MIRROR_NOTE) == 1
    cc.set_mirror_view(card, False)
    assert card["input"] == {"preprocessing": "whole print scaled to [0,1]"}
