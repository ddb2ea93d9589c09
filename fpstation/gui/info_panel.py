"""The sidebar's facts about the print shown: file, format, size, resolution (explicitly "unknown
dpi", and the operator's stated dpi), SHA-256, what the analysis computed and what it could not."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QFont
from PySide6.QtWidgets import QApplication, QFormLayout, QHBoxLayout, QLabel, QSpinBox, QToolButton, QWidget

from fpstation.core.imageio import dpi_note
from fpstation.core.types import AnalysisResult, FingerprintImage
from fpstation.gui.file_list import dpi_text


class InfoPanel(QWidget):
    """Size, resolution (explicitly "unknown dpi"), SHA-256 and format of the current print."""

    FIELDS = ["File", "Format", "Size", "Resolution", "SHA-256", "Analysis", "Unavailable"]
    #: the operator stated this print's dpi (0 = back to what the file says)
    statedDpiChanged = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        form = QFormLayout(self)
        self.dpi_spin = QSpinBox()
        self.dpi_spin.setRange(0, 5000)
        self.dpi_spin.setSingleStep(100)
        self.dpi_spin.setSpecialValueText("as the file says")
        self.dpi_spin.setSuffix(" dpi")
        self.dpi_spin.setKeyboardTracking(False)  # one re-analysis per value, not per keystroke
        self.dpi_spin.setToolTip("State this print's resolution when the file carries none or a wrong one; "
                                 "every model resamples by it and takes it as given. Shown as “(stated)”.")
        self.dpi_spin.setEnabled(False)
        self.dpi_spin.valueChanged.connect(self.statedDpiChanged.emit)
        form.setContentsMargins(8, 6, 8, 6)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.DontWrapRows)
        self.values: dict[str, QLabel] = {}
        mono = QFont("monospace")
        mono.setStyleHint(QFont.StyleHint.Monospace)
        self.copy_sha_action = QAction("Copy SHA-256", self)
        self.copy_sha_action.setToolTip("Copy the file's full SHA-256 to the clipboard")
        self.copy_sha_action.triggered.connect(self.copy_sha256)
        self.copy_sha_action.setEnabled(False)
        self._sha256 = ""
        self._form = form
        for name in self.FIELDS:
            lab = QLabel("—")
            lab.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            lab.setWordWrap(True)
            lab.setMinimumWidth(1)  # wrap inside a narrow sidebar instead of widening it
            if name == "Unavailable":
                lab.setStyleSheet("color: palette(mid);")
            self.values[name] = lab
            if name == "SHA-256":
                # The whole hash, in monospace lines of 16 hex digits that fit a narrow sidebar (it
                # identifies the evidence, so it is never elided), with a copy button + context menu.
                lab.setFont(mono)
                lab.setWordWrap(False)
                lab.setMinimumWidth(lab.fontMetrics().horizontalAdvance("0" * 17))
                lab.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
                lab.addAction(self.copy_sha_action)
                copy_btn = QToolButton()
                copy_btn.setText("Copy")
                copy_btn.setToolTip(self.copy_sha_action.toolTip())
                copy_btn.clicked.connect(self.copy_sha256)
                self.copy_sha_action.enabledChanged.connect(copy_btn.setEnabled)
                copy_btn.setEnabled(False)
                self.copy_sha_button = copy_btn
                row = QHBoxLayout()
                row.setContentsMargins(0, 0, 0, 0)
                row.addWidget(lab)
                row.addWidget(copy_btn, 0, Qt.AlignmentFlag.AlignTop)
                row.addStretch(1)
                form.addRow(name + ":", row)
            else:
                form.addRow(name + ":", lab)
            if name == "Resolution":
                form.addRow("State dpi:", self.dpi_spin)
        self._show_unavailable(False)
        self.fit_height()

    def fit_height(self) -> None:
        # Never squeeze rows into clipped half-lines: the sidebar splitter may not go below this
        # (recomputed whenever the texts change; the hash takes four lines, the analysis two).
        self.setMinimumHeight(self.layout().heightForWidth(max(self.width(), 200)) if self.layout().hasHeightForWidth()
                              else self.sizeHint().height())

    def show_nothing(self) -> None:
        """No print is shown: every field says "—" and nothing can be copied or stated."""
        for lab in self.values.values():
            lab.setText("—")
            lab.setToolTip("")
        self._sha256 = ""
        self.copy_sha_action.setEnabled(False)
        self.dpi_spin.setEnabled(False)
        self._show_unavailable(False)

    def show_print(self, im: FingerprintImage | None) -> None:
        """Show ``im``'s file facts (``None``: :meth:`show_nothing`)."""
        v = self.values
        if im is None:
            self.show_nothing()
            return
        v["File"].setText(im.label)
        v["File"].setToolTip(im.source)
        v["Format"].setText(im.format + (f" ({im.record})" if im.record else "") or "—")
        v["Size"].setText(f"{im.width} × {im.height} px")
        v["Resolution"].setText(f"{dpi_text(im.dpi, im.dpi_source)} ({dpi_note(im)})")
        self.dpi_spin.blockSignals(True)
        self.dpi_spin.setValue(int(round(im.dpi)) if im.dpi_source == "stated" and im.dpi else 0)
        self.dpi_spin.blockSignals(False)
        self.dpi_spin.setEnabled(True)
        v["SHA-256"].setText("\n".join(im.sha256[i:i + 16] for i in range(0, len(im.sha256), 16)))
        v["SHA-256"].setToolTip(f"{im.sha256}\n(SHA-256 of the file's bytes; right-click or Copy to copy it)")
        self._sha256 = im.sha256
        self.copy_sha_action.setEnabled(True)
        v["Analysis"].setText("running…")
        v["Unavailable"].setText("—")
        self._show_unavailable(False)
        self.fit_height()

    def add_row(self, name: str, value: QLabel) -> None:
        """An extension's own fact about the print shown (e.g. "NFIQ 2"), below the file's facts."""
        self._form.addRow(name + ":", value)

    def show_case_record(self, case_name: str, analysis_id: int) -> None:
        """Say which case record the analysis shown is (once; the longer line is not clipped)."""
        lab = self.values["Analysis"]
        if "in case" not in lab.text():
            lab.setText(f"{lab.text()} · in case “{case_name}” as analysis #{analysis_id}")
            self.fit_height()

    def copy_sha256(self) -> None:
        """Put the current print's full SHA-256 on the clipboard."""
        if self._sha256:
            QApplication.clipboard().setText(self._sha256)

    def show_analysis(self, result: AnalysisResult | None) -> None:
        if result is None:
            self.values["Analysis"].setText("—")
            return
        parts = [f"{k} {t * 1000:.0f} ms" for k, t in result.timings.items() if k not in result.errors]
        self.values["Analysis"].setText(", ".join(parts) or "nothing computed")
        errs = [f"{k}: {msg}" for k, msg in result.errors.items()]
        self.values["Unavailable"].setText("\n".join(errs) or "—")
        self._show_unavailable(bool(errs))
        self.fit_height()

    def _show_unavailable(self, on: bool) -> None:
        """The "Unavailable" row appears only when a step could not run."""
        self._form.setRowVisible(self.values["Unavailable"], on)


__all__ = ["InfoPanel"]
