"""The notification strip: counts, colour of the worst unseen notice, auto-hide, Details window."""

from __future__ import annotations

from fpstation.gui.notifications import STYLES, NotificationBar


def _colour(bar: NotificationBar) -> str:
    return next(level for level, css in STYLES.items() if css in bar.styleSheet())


def test_worst_unseen_level_sets_colour_and_keeps_the_strip(qtbot):
    bar = NotificationBar()
    qtbot.addWidget(bar)
    bar.notify("scan saved", "info")
    assert _colour(bar) == "info"
    assert bar.text() == "scan saved"
    bar.notify("low contrast", "warning")
    bar.notify("indexed 3 files", "info")  # a later info does not hide an unseen warning
    assert _colour(bar) == "warning"
    assert "(3 problems" in bar.text()
    bar._auto_hide()  # the info timer firing
    assert bar.text().startswith("indexed 3 files")
    bar.notify("damaged.wsq could not be read", "error")
    assert _colour(bar) == "error"
    bar.dismiss()
    assert bar.text() == ""
    bar.notify("next scan saved", "info")  # a dismissed strip starts over
    assert _colour(bar) == "info"
    assert bar.text() == "next scan saved"
    bar._auto_hide()
    assert bar.text() == ""
    assert [n.level for n in bar.notices] == ["info", "warning", "info", "error", "info"]


def test_details_window_lists_every_notice_and_grows_while_open(qtbot):
    bar = NotificationBar()
    qtbot.addWidget(bar)
    bar.notify("a.png could not be read", "error", details="not an image\nfirst bytes: 00 00")
    bar.show_details()
    bar.notify("b.png could not be read", "error")
    text = bar._edit.toPlainText()
    assert text == ("[error] a.png could not be read\n    not an image\n    first bytes: 00 00\n"
                    "[error] b.png could not be read")
    bar._dialog.close()
    for i in range(2000):  # a folder of damaged files: one notice each, no dialog storm
        bar.notify(f"f{i}.png could not be read", "error")
    assert "(2002 problems" in bar.text()
    bar.show_details()
    assert bar._edit.toPlainText().count("\n[error] ") == 2001
