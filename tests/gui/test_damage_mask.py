"""The restored pane's damage-mask toggle (issue #17): colours where the restorer changed the print
most, with a legend; off by default; follows the print and the restorer's output."""

from __future__ import annotations

import numpy as np
import pytest

from fpstation.core.pipeline import Analyzers
from fpstation.core.samples import sample_file
from fpstation.core.types import RestorationResult
from tests.gui.test_main_window import _close, _make_window, _wait_analysed


def _patch_restore(im):
    """A fake restorer that rewrites only a square in the top-left quarter (its negative) and leaves
    the rest of the print exactly as it was."""
    px = im.pixels.copy()
    h, w = px.shape
    sq = (slice(h // 8, h // 8 + h // 4), slice(w // 8, w // 8 + w // 4))
    px[sq] = 255 - px[sq]
    return RestorationResult(pixels=px, method="test-patch", seconds=0.001)


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch):
    from fpstation.ml import inference

    monkeypatch.setattr(inference, "default_analyzers", lambda settings=None, **_: Analyzers(restore=_patch_restore))
    w = _make_window(qtbot, tmp_path)
    yield w
    _close(w)


def test_damage_mask_marks_only_what_the_restorer_changed(window, qtbot):
    window.open_paths([sample_file()])
    _wait_analysed(qtbot, window)
    assert not window.act_damage.isChecked()
    assert window.right_view.overlay() is None
    assert not window.damage_legend.isVisible()
    im = window.current_print()
    restored = window.right_view.pixels().copy()

    window.act_damage.trigger()
    heat = window.right_view.overlay()
    assert heat is not None
    assert heat.shape == im.pixels.shape
    assert window.damage_legend.isVisible()
    assert "%" in window.damage_legend.summary.text()
    h, w = heat.shape
    # where the print was rewritten the mask is drawn...
    changed = restored.astype(int) != im.pixels.astype(int)
    inner = np.zeros_like(changed)
    inner[h // 8 + 6:h // 8 + h // 4 - 6, w // 8 + 6:w // 8 + w // 4 - 6] = True
    assert np.isfinite(heat[inner]).mean() > 0.9
    # ...and nowhere far from it (the smoothing reaches a few pixels only)
    far = np.ones_like(changed)
    far[: h // 8 + h // 4 + 16, : w // 8 + w // 4 + 16] = False
    assert not np.isfinite(heat[far]).any()
    # the restored pixels underneath are unchanged: the mask is an overlay
    assert np.array_equal(window.right_view.pixels(), restored)

    window.act_damage.trigger()  # off again
    assert window.right_view.overlay() is None
    assert not window.damage_legend.isVisible()


def test_damage_mask_stays_on_across_modes_and_shortcut_m(window, qtbot):
    window.open_paths([sample_file()])
    _wait_analysed(qtbot, window)
    assert window.act_damage.shortcut().toString() == "M"
    window.act_damage.trigger()
    window._act_overlay.trigger()  # the overlay mode redraws the pane; the mask is drawn again over it
    assert window.right_view.overlay() is not None
    assert window.damage_legend.isVisible()
    window._act_overlay.trigger()
    assert window.right_view.overlay() is not None


def test_damage_map_scale_and_errors():
    from fpstation.core.damage import FULL_AT, SHOWN_FROM, damage_map

    a = np.full((60, 60), 200, np.uint8)
    b = a.copy()
    b[20:40, 20:40] = 0  # a 200-level change: saturates in the middle of the square
    dm = damage_map(a, b)
    assert dm.heat[30, 30] == pytest.approx(1.0)
    assert np.isnan(dm.heat[2, 2])
    assert 0 < dm.strong_fraction <= dm.changed_fraction < 1
    assert dm.max_change > FULL_AT
    small = a.copy()
    small[20:40, 20:40] = 200 - int(SHOWN_FROM) + 4  # below the drawing threshold
    assert np.isnan(damage_map(a, small).heat).all()
    with pytest.raises(ValueError):
        damage_map(a, b[:, :50])


def test_restorer_choices_say_which_is_the_default_and_why(window):
    """Issue #20: the toolbar's restorer list tells which restorer is the default and why (from the cards)."""
    from PySide6.QtCore import Qt

    combo = window.restorer_combo
    tips = {combo.itemData(i): combo.itemData(i, Qt.ItemDataRole.ToolTipRole) for i in range(combo.count())}
    assert "the default restorer" in tips["unet"]
    assert "pyfing" in tips["classical"]
