"""The scanner desk runs a liveness transaction: "present again (2/3)", a final verdict, every
attempt recorded in the case (fake PAD model whose card defines the band)."""

from __future__ import annotations

import pytest

from fpstation.settings import Settings
from fpstation.workers import Pools
from tests.unit.bad_corpus import good_files


@pytest.fixture
def window(qtbot, tmp_path):
    from fpstation.gui.main_window import MainWindow

    w = MainWindow(Settings.load(tmp_path / "settings.json"), Pools())
    qtbot.addWidget(w)
    yield w
    w.pools.drain(10000)


class _Card:
    name = "pad-tx"
    data = {"threshold": {"value": 0.5}, "transaction": {"lo": 0.2, "hi": 0.8, "max_attempts": 3}}


def _scores(values):
    from fpstation.core.pipeline import Analyzers
    from fpstation.core.types import ModelRef, PadResult

    it = iter(values)

    def factory(_settings):
        def pad(_im):
            s = next(it)
            v = "ATTACK" if s >= 0.8 else "LIVE" if s < 0.2 else "UNCERTAIN"
            return (PadResult(s, 0.5, v, ModelRef("pad-tx", "1"), 0.0, ("gelatine",)),)
        return Analyzers(pad=pad)
    return factory


def _run(window, qtbot, tmp_path, scores):
    import fpstation.gui.desk_view as dv

    scanner = tmp_path / "scanner"
    scanner.mkdir()
    desk = window.desk_panel
    desk.analyzers_factory = _scores(scores)
    desk.poll_interval = 0.05
    window.case_controller.open(tmp_path / "case.db")
    task = desk.start(str(scanner))
    seen = []
    for k in range(len(scores)):
        good_files(scanner, 1, start_seed=10 + k)
        qtbot.waitUntil(lambda k=k: desk.recent.count() == k + 1, timeout=20000)
        seen.append(desk.tx_label.text())
    desk.stop()
    qtbot.waitUntil(lambda: task.done.is_set(), timeout=5000)
    return desk, seen, dv


@pytest.fixture
def card(monkeypatch):
    import fpstation.gui.desk_view as dv

    monkeypatch.setattr(dv, "_transaction_card", lambda models: _Card())


def test_desk_asks_to_present_again_two_of_three(window, qtbot, tmp_path, card):
    _, seen, _ = _run(window, qtbot, tmp_path, [0.5, 0.6, 0.9])
    assert "PRESENT AGAIN (2/3)" in seen[0]


def test_desk_shows_the_final_verdict_after_three_attempts(window, qtbot, tmp_path, card):
    _, seen, _ = _run(window, qtbot, tmp_path, [0.5, 0.6, 0.9])
    assert "TRANSACTION: ATTACK after 3 attempts" in seen[2]


def test_desk_records_every_attempt_in_the_case(window, qtbot, tmp_path, card):
    _run(window, qtbot, tmp_path, [0.3, 0.0])  # mean 0.15 < lo after the second
    decisions = [d["decision"] for d in window.case_controller.store.decisions()]
    assert decisions == ["liveness transaction attempt 1/3: PRESENT AGAIN",
                         "liveness transaction attempt 2/3: LIVE"]


def test_a_refused_transaction_tells_the_operator_to_try_another_finger(window, qtbot, tmp_path, card):
    """A live finger the model refuses tends to be refused again: the way forward is another finger."""
    _, seen, dv = _run(window, qtbot, tmp_path, [0.5, 0.6, 0.9])
    assert "another" in dv.ANOTHER_FINGER and "New transaction" in dv.ANOTHER_FINGER
    assert dv.ANOTHER_FINGER in seen[2]
    assert dv.ANOTHER_FINGER not in seen[0]          # not while the transaction is still open


def test_a_live_transaction_shows_no_other_finger_hint(window, qtbot, tmp_path, card):
    _, seen, dv = _run(window, qtbot, tmp_path, [0.3, 0.0])
    assert "TRANSACTION: LIVE" in seen[1] and dv.ANOTHER_FINGER not in seen[1]
