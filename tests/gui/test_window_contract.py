"""The main window fulfils the extensions' contract (gui/contracts.py) and keeps the panels that
each ``install`` returns (issue 26: no attributes added to the window by its extensions)."""

from __future__ import annotations

import inspect

import pytest

from fpstation.settings import Settings
from fpstation.workers import Pools


@pytest.fixture
def window(qtbot, tmp_path):
    from fpstation.gui.main_window import MainWindow

    w = MainWindow(Settings.load(tmp_path / "settings.json"), Pools())
    qtbot.addWidget(w)
    yield w
    w.close()
    assert w.pools.drain(10000)


def _contract_members() -> list[str]:
    from fpstation.gui.contracts import Window

    names = set(Window.__annotations__)
    names |= {n for n, v in vars(Window).items() if inspect.isfunction(v) and not n.startswith("_")}
    return sorted(names)


def test_the_contract_names_what_extensions_read():
    members = _contract_members()
    assert "printCleared" in members
    assert "case_controller" in members
    assert "add_dock" in members


@pytest.mark.parametrize("name", _contract_members())
def test_main_window_provides_every_member_of_the_contract(window, name):
    assert hasattr(window, name), f"MainWindow lacks {name!r} of contracts.Window"


@pytest.mark.parametrize(("panel", "dock", "title"), [
    ("batch_panel", "batch_dock", "Batch"),
    ("face_panel", "face_dock", "Face identification"),
])
def test_the_window_keeps_each_panel_and_its_dock(window, panel, dock, title):
    assert getattr(window, dock).widget() is getattr(window, panel)
    assert getattr(window, dock).windowTitle() == title


def test_the_scrolled_docks_hold_their_panels(window):
    assert window.desk_dock.widget().widget() is window.desk_panel
    assert window.comparison_dock.widget().widget() is window.comparison_panel


def test_every_panel_shares_the_window_case(window):
    assert window.batch_panel.case is window.case_controller
    assert window.desk_panel.case is window.case_controller
    assert window.face_panel.case is window.case_controller


def test_the_window_keeps_the_pad_decisions(window):
    window.pad_panel.decisionRecorded.emit({"action": "confirmed"})
    assert window.pad_decisions == [{"action": "confirmed"}]


def test_opening_a_case_from_the_menu_shows_the_batch_dock(window, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QFileDialog

    window.show()
    window.batch_dock.hide()
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(tmp_path / "c.db"), ""))
    window.case_controller.open(tmp_path / "c.db")  # the file exists: Open Case… can pick it
    window.case_controller.open_case_dialog()
    assert window.batch_dock.isVisible()


@pytest.mark.parametrize("name", ["pad_panel", "gender_panel", "batch_panel", "desk_panel", "comparison_panel",
                                  "face_panel", "info"])
def test_every_panel_clears_itself(window, name):
    assert callable(getattr(window, name).show_nothing)


def test_an_unreadable_file_leaves_every_panel_showing_nothing(window, tmp_path):
    window.pad_panel.score_label.setText("Attack score: 0.900")
    window.gender_panel.headline.setText("Female more likely")
    window.comparison_panel.nfiq2_label.setText("55")
    window.info.values["SHA-256"].setText("ab" * 32)
    window._show_file_error(str(tmp_path / "bad.png"), "not an image")
    assert window.pad_panel.score_label.text() == "Attack score: —"
    assert window.gender_panel.headline.text() == "—"
    assert window.comparison_panel.nfiq2_label.text() == "—"
    assert window.info.values["SHA-256"].text() == "—"
    assert window.info.values["File"].text() == str(tmp_path / "bad.png")
