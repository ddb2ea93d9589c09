"""The restored pane's "damage mask" (issue #17): a colour map over the right pane of where the
restorer changed the print most, and its legend. The map itself is computed in
:mod:`fpstation.core.damage` (no Qt); this module only draws it. Kept apart from the difference
view (gui/qimage.py ``difference_image``), which is a separate mode."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QLinearGradient, QPainter, QPaintEvent
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget

from fpstation.core.damage import FULL_AT, SHOWN_FROM, DamageMap, damage_map
from fpstation.gui.image_view import ImageView
from fpstation.gui.qimage import heat_to_rgba

#: opacity of the damage colours over the print
ALPHA = 0.5


class _ColourBar(QWidget):
    """The damage colour map as a horizontal bar."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        # shrinks with a narrow pane: the legend must never widen the restored pane (issue #25)
        self.setMinimumSize(40, 12)
        self.setMaximumSize(140, 12)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt override
        p = QPainter(self)
        g = QLinearGradient(0, 0, self.width(), 0)
        stops = np.linspace(0.0, 1.0, 9)
        for t, (r, gr, b, _a) in zip(stops, heat_to_rgba(stops[None, :], 1.0)[0], strict=True):
            g.setColorAt(float(t), QColor(int(r), int(gr), int(b)))
        p.fillRect(self.rect(), g)
        p.end()


class DamageLegend(QWidget):
    """"Damage mask" legend: colour bar, its scale in grey levels and how much of the print is marked."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("damageLegend")
        self.setStyleSheet("QWidget#damageLegend {background:#1d1f22;} QLabel {color:#d8dce2;}")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        # two lines: the scale, then the words, which wrap; its minimum width is small, so turning the
        # mask on never takes width from the original pane (the two panes stay side by side, equal)
        self.setMinimumWidth(1)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(8, 3, 8, 3)
        outer.setSpacing(2)
        lay = QHBoxLayout()
        lay.setSpacing(6)
        self.title = QLabel("Damage mask:")
        self.low = QLabel(f"{SHOWN_FROM:g}")
        self.bar = _ColourBar()
        self.high = QLabel(f"≥{FULL_AT:g}")
        for w in (self.title, self.low, self.bar, self.high):
            lay.addWidget(w)
        lay.addStretch(1)
        outer.addLayout(lay)
        self.summary = QLabel("")
        self.summary.setWordWrap(True)
        self.summary.setMinimumWidth(1)
        self.summary.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        outer.addWidget(self.summary)
        self.setToolTip("Where the restorer changed the print: |restored − original| averaged over about one "
                        f"ridge period. Uncoloured = changed by less than {SHOWN_FROM:g} grey levels (as captured); "
                        f"red = {FULL_AT:g} or more (reconstructed or removed by the restorer).")

    def set_map(self, dm: DamageMap | None) -> None:
        if dm is None:
            self.summary.setText("")
            return
        self.summary.setText(f"grey levels changed · {dm.changed_fraction:.0%} of the image marked, "
                             f"{dm.strong_fraction:.0%} strongly")


def show_damage(view: ImageView, legend: DamageLegend, original: np.ndarray | None,
                restored: np.ndarray | None, on: bool) -> DamageMap | None:
    """Draw (``on``) or remove the damage mask of ``restored`` vs ``original`` over ``view``."""
    if not on or original is None or restored is None or np.shape(original) != np.shape(restored):
        view.set_overlay(None)
        legend.set_map(None)
        legend.setVisible(False)
        return None
    dm = damage_map(original, restored)
    view.set_overlay(dm.heat, ALPHA)
    legend.set_map(dm)
    legend.setVisible(True)
    return dm
