"""Liveness (PAD) and gender docks for the main window.

``install(window)`` adds two docks and wires them to the window's extension API:
``analysisFinished`` fills them, ``printShown`` clears them, ``modelsChanged`` reloads the model
cards. No algorithm runs here: the heat map and the combined gender estimate are computed by
``fpstation.ml.classifiers`` inside :class:`~fpstation.workers.Task` jobs on the inference pool;
the only arithmetic here is reading the validation APCER/BPCER for a slider position from the card.

The operator's confirm/override decisions are emitted as ``PadPanel.decisionRecorded(dict)`` (with
a UTC timestamp); the window keeps them (``MainWindow.pad_decisions``) and the desk stores them in
the case.
"""

from __future__ import annotations

import functools
import logging
from datetime import UTC, datetime
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from fpstation.core.gender_person import CONFIDENT_SINGLE, WEAK
from fpstation.core.types import AnalysisResult, FingerprintImage, GenderResult, PadResult
from fpstation.gui.contracts import Window
from fpstation.gui.widgets import FitLabel

log = logging.getLogger(__name__)
#: GenderPanel.set_group's ``subject`` for prints the analyst selected as one person
SELECTED = "<selected>"

#: verdict -> (background, text) colours; chosen to stay distinct for red-green colour blindness
#: together with the word itself (the word is always shown, colour is only a second cue)
VERDICT_COLOURS = {"LIVE": ("#1b7f3b", "#ffffff"), "ATTACK": ("#c62828", "#ffffff"),
                   "UNCERTAIN": ("#f2a900", "#000000"), "": ("#d0d0d0", "#303030")}
SLIDER_STEPS = 1000


# ---------------------------------------------------------------------- jobs (inference pool)
def explain_job(image: FingerprintImage, model_key: str, *, progress, cancel) -> Any:
    """Occlusion heat map of the PAD decision (runs on the inference pool)."""
    from fpstation.ml.classifiers import pad_explain

    cancel.raise_if_cancelled()
    progress(0.1, "heat map")
    return image, pad_explain(image, model_key)


def combined_gender_job(images: list[FingerprintImage], model_key: str, band: float | None, *, progress,
                        cancel) -> GenderResult:
    """One gender estimate from several prints of one subject (runs on the inference pool)."""
    from fpstation.ml.classifiers import gender_combined

    cancel.raise_if_cancelled()
    progress(0.1, "combining")
    return gender_combined(images, model_key, band)


def _card_data(registry: Any, task: str, key: str) -> dict:
    """The selected model's card (no weights are loaded): {} when none is installed."""
    if registry is None:
        return {}
    try:
        card = registry.card(key) if key else registry.default(task)
    except Exception as exc:  # noqa: BLE001 - a missing model is shown in the panel, not raised
        log.info("no %s model card: %s", task, exc)
        return {}
    return dict(card.data) if card is not None else {}


def _rates_at(card: dict, threshold: float) -> dict | None:
    from fpstation.ml.classifiers import pad_rates_at  # numpy only, no TensorFlow

    return pad_rates_at(card, threshold)


def _verdict(score: float, threshold: float, band: float) -> str:
    from fpstation.ml.classifiers import pad_verdict  # the same rule the model result used

    return pad_verdict(score, threshold, band)


def _big_font(points: int) -> QFont:
    f = QFont()
    f.setPointSize(points)
    f.setBold(True)
    return f


# ---------------------------------------------------------------------- PAD
class PadPanel(QWidget):
    """Attack score, movable threshold with its validation APCER/BPCER, a large verdict, the attack
    types the model has seen, confirm/override buttons, and the "Why?" heat-map toggle.

    Signals
    -------
    decisionRecorded(dict) : the operator confirmed or overrode a verdict (see :meth:`record`).
    thresholdChanged(float) : the operator moved the threshold (None = back to the model's).
    explainToggled(bool) : the "Why?" toggle changed.
    """

    decisionRecorded = Signal(dict)
    thresholdChanged = Signal(object)
    explainToggled = Signal(bool)

    def __init__(self, settings: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self.card: dict = {}
        self.result: PadResult | None = None
        self.image: FingerprintImage | None = None
        self.decisions: list[dict] = []

        lay = QVBoxLayout(self)
        # ~48 pt bold when there is room (about 17 mm high capitals, readable from a metre away);
        # it wraps and shrinks to a narrow dock instead of cutting the word
        self.verdict_label = FitLabel("—", max_points=48, max_lines=2)
        self.verdict_label.setAccessibleName("liveness verdict")
        lay.addWidget(self.verdict_label)

        self.score_label = QLabel("Attack score: —")
        self.score_label.setFont(_big_font(14))
        self.score_label.setWordWrap(True)  # the long line must not widen the dock past the print views
        lay.addWidget(self.score_label)

        # one line per PAD model (alteration, material spoof): its verdict chip, score, what it has
        # seen, or why it could not check this print (outside its sensor/resolution)
        self.models_label = QLabel("")
        self.models_label.setWordWrap(True)
        self.models_label.setTextFormat(Qt.TextFormat.RichText)
        self.models_label.setAccessibleName("verdict of each liveness model")
        lay.addWidget(self.models_label)
        self.cards: list[dict] = []
        self.model_results: tuple[PadResult, ...] = ()

        grid = QGridLayout()
        self.threshold_title = QLabel("Threshold")
        grid.addWidget(self.threshold_title, 0, 0)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, SLIDER_STEPS)
        self.slider.setToolTip("Operating threshold on the attack score: at or above it the print is an ATTACK")
        self.slider.valueChanged.connect(self._on_slider)
        grid.addWidget(self.slider, 0, 1)
        self.reset_button = QPushButton("Use model's threshold")
        self.reset_button.setToolTip("Back to the model's operating threshold (chosen on validation)")
        self.reset_button.clicked.connect(self.reset_threshold)
        # below the slider (not beside it): the row fits a 300 px dock without cutting a label
        grid.addWidget(self.reset_button, 1, 0, 1, 2, Qt.AlignmentFlag.AlignRight)
        lay.addLayout(grid)
        self.rates_label = QLabel("")
        self.rates_label.setWordWrap(True)
        lay.addWidget(self.rates_label)

        self.seen_label = QLabel("")
        self.seen_label.setWordWrap(True)
        lay.addWidget(self.seen_label)

        op = QHBoxLayout()
        op.addWidget(QLabel("Operator:"))
        self.operator_edit = QLineEdit(str(getattr(settings, "operator", "") or ""))
        self.operator_edit.setPlaceholderText("your name or id (recorded with each decision)")
        self.operator_edit.editingFinished.connect(self._remember_operator)
        op.addWidget(self.operator_edit, 1)
        lay.addLayout(op)
        buttons = QHBoxLayout()
        self.confirm_button = QPushButton("Confirm")
        self.confirm_button.setToolTip("Record that you agree with the verdict")
        self.confirm_button.clicked.connect(lambda: self.record("confirmed"))
        self.live_button = QPushButton("Override: LIVE")
        self.live_button.clicked.connect(lambda: self.record("override", "LIVE"))
        self.attack_button = QPushButton("Override: ATTACK")
        self.attack_button.clicked.connect(lambda: self.record("override", "ATTACK"))
        # Confirm on its own row, the two overrides below: each keeps its whole label in a 300 px dock
        buttons.addWidget(self.confirm_button)
        lay.addLayout(buttons)
        overrides = QHBoxLayout()
        overrides.addWidget(self.live_button)
        overrides.addWidget(self.attack_button)
        lay.addLayout(overrides)
        self.decision_label = QLabel("")
        self.decision_label.setWordWrap(True)
        lay.addWidget(self.decision_label)

        self.why_button = QPushButton("Why? (heat map)")
        self.why_button.setCheckable(True)
        self.why_button.setToolTip("Overlay the regions that drove the attack score (occlusion sensitivity) on the print")
        self.why_button.toggled.connect(self.explainToggled.emit)
        lay.addWidget(self.why_button)
        self.why_label = QLabel("")
        self.why_label.setWordWrap(True)  # a long line here widened the panel and clipped its buttons
        lay.addWidget(self.why_label)
        lay.addStretch(1)
        self._set_buttons_enabled(False)
        self._paint_verdict("", "No print analysed")

    # -- state ---------------------------------------------------------------------------
    def set_card(self, card: dict, others: list[dict] | None = None) -> None:
        """Show the primary model's operating threshold (the slider moves it) and the attack types
        every PAD model has seen (``others`` = the models that run beside it)."""
        self.card = card or {}
        self.cards = [c for c in [self.card, *(others or [])] if c]
        if not self.card:
            self.seen_label.setText("No presentation-attack model is installed.")
        else:
            parts = []
            for c in self.cards:
                seen = c.get("attack_types_seen") or []
                sensors = ", ".join((c.get("domain") or {}).get("sensors") or [])
                parts.append(f"{c.get('name', '?')} has seen: {', '.join(seen) if seen else 'unknown attack types'}"
                             + (f" ({sensors})" if sensors else ""))
            self.seen_label.setText(
                "; ".join(parts) + ". Attacks of other kinds (e.g. latex, silicone, Play-Doh spoofs) were never "
                "seen: the scores say nothing reliable about them.")
        self.threshold_title.setText(f"Threshold ({self.card.get('name', 'model')})" if self.card else "Threshold")
        self._sync_slider()

    def model_threshold(self) -> float:
        return float((self.card.get("threshold") or {}).get("value", 0.5))

    def threshold(self) -> float:
        t = getattr(self.settings, "pad_threshold", None)
        return float(t) if t is not None else self.model_threshold()

    def band(self) -> float:
        return float(getattr(self.settings, "uncertain_band", 0.1))

    def clear(self, image: FingerprintImage | None = None) -> None:
        self.image = image
        self.result = None
        self.score_label.setText("Attack score: …")
        self._paint_verdict("", "Analysing…" if image is not None else "No print analysed")
        self.decision_label.setText("")
        self.why_label.setText("")
        self.models_label.setText("")
        self.model_results = ()
        self._set_buttons_enabled(False)

    def show_nothing(self) -> None:
        """No print is shown (New Case, an unreadable file): nothing of the last print stays."""
        self.clear(None)
        self.score_label.setText("Attack score: —")

    def show_result(self, result: AnalysisResult) -> None:
        self.image = result.image
        self.result = result.pad
        self.model_results = tuple(result.pad_models) or ((result.pad,) if result.pad is not None else ())
        self.decision_label.setText("")
        if result.pad is None:
            msg = result.errors.get("pad", "not computed")
            self.score_label.setText("Attack score: unavailable")
            self._paint_verdict("", f"PAD unavailable: {msg}")
            self._set_buttons_enabled(False)
            return
        self._set_buttons_enabled(True)
        self._refresh()

    def _primary_index(self) -> int:
        name = self.card.get("name")
        for i, r in enumerate(self.model_results):
            if r.model is not None and r.model.name == name:
                return i
        return 0

    def adjusted_results(self) -> tuple[PadResult, ...]:
        """Each model's result, the primary one re-decided at the slider's threshold (a model
        outside its domain stays UNCERTAIN whatever the threshold)."""
        from dataclasses import replace

        out = list(self.model_results)
        if out:
            i = self._primary_index()
            r = out[i]
            v = _verdict(r.attack_score, self.threshold(), self.band()) if r.in_domain else "UNCERTAIN"
            out[i] = replace(r, threshold=self.threshold(), verdict=v)
        return tuple(out)

    def combined(self) -> PadResult | None:
        """The combined verdict over every model at the current threshold (core.pad.combine_pad)."""
        from fpstation.core.pad import combine_pad

        return combine_pad(self.adjusted_results()) if self.model_results else self.result

    def verdict(self) -> str:
        """The combined verdict at the current threshold ("" when nothing is shown)."""
        if self.result is None:
            return ""
        c = self.combined()
        return c.verdict if c is not None else ""

    # -- slider --------------------------------------------------------------------------
    def _sync_slider(self) -> None:
        self.slider.blockSignals(True)
        self.slider.setValue(int(round(self.threshold() * SLIDER_STEPS)))
        self.slider.blockSignals(False)
        self._refresh()

    def set_threshold(self, value: float | None) -> None:
        """Operator threshold (``None`` = the model's); stored in the settings passed in."""
        self.settings.pad_threshold = None if value is None else float(min(max(value, 0.0), 1.0))
        self._sync_slider()
        self.thresholdChanged.emit(self.settings.pad_threshold)

    def reset_threshold(self) -> None:
        self.set_threshold(None)

    def _on_slider(self, v: int) -> None:
        self.settings.pad_threshold = v / SLIDER_STEPS
        self._refresh()
        self.thresholdChanged.emit(self.settings.pad_threshold)

    # -- display -------------------------------------------------------------------------
    def _refresh(self) -> None:
        thr = self.threshold()
        rates = _rates_at(self.card, thr) if self.card else None
        own = "model's operating point" if getattr(self.settings, "pad_threshold", None) is None else "operator's"
        if rates:
            worst = ""
            if rates.get("apcer_by_type"):
                t, v = max(rates["apcer_by_type"].items(), key=lambda kv: kv[1])
                worst = f", worst type {t} {v * 100:.1f} %"
            where = ("Out of fold (each network on the people it did not see)"
                     if (self.card.get("split") or {}).get("cross_fit") else "On validation")
            text = (f"Threshold {thr:.3f} ({own}). {where} it gives APCER {rates['apcer'] * 100:.1f} % "
                    f"(attacks passed as live{worst}) and BPCER {rates['bpcer'] * 100:.1f} % (live prints rejected).")
            # the figure on people no choice was made on (the card's cross-validated recipe), at the
            # model's own operating point only: an operator's threshold has no such figure
            summary = (self.card.get("cross_validation") or {}).get("summary")
            if summary and getattr(self.settings, "pad_threshold", None) is None:
                text += f" On new people (cross-validated): {summary}."
            self.rates_label.setText(text)
        else:
            self.rates_label.setText(f"Threshold {thr:.3f} ({own}). No validation figures in the model card.")
        if self.result is None:
            return
        c = self.combined()
        v = self.verdict()
        results = self.adjusted_results()
        if len(results) > 1:
            self.score_label.setText(f"Combined verdict of {len(results)} liveness models")
        else:
            r = results[0] if results else self.result
            self.score_label.setText(f"Attack score: {r.attack_score:.3f}   (threshold {thr:.3f}, uncertain band "
                                     f"±{self.band() / 2:.2f})" + ("" if r.in_domain else " — not a confident verdict"))
        self.models_label.setText(self._models_html(results, c))
        self.models_label.setToolTip("\n".join(f"{r.model.name if r.model else '?'}: {r.domain_reason}"
                                               for r in results if not r.in_domain and r.domain_reason))
        if c is not None and not c.in_domain:
            sub = "no model was validated on prints like this one: check by hand"
        else:
            sub = {"LIVE": "bona fide presentation", "ATTACK": "presentation attack suspected",
                   "UNCERTAIN": "a model is unsure: check by hand"}[v]
        self._paint_verdict(v, sub)

    @staticmethod
    def _models_html(results: tuple[PadResult, ...], combined: PadResult | None) -> str:
        """One short line per model (readable in a second); an out-of-domain model is "NOT CHECKED"
        with the first reason only (the full reasons are in the tooltip)."""
        import html

        rows = []
        for r in results:
            name = html.escape(r.model.name if r.model else "?")
            seen = html.escape(", ".join(r.attack_types_seen) or "unknown attacks")
            if r.in_domain:
                bg, fg = VERDICT_COLOURS.get(r.verdict, VERDICT_COLOURS[""])
                chip = f"<span style='background:{bg}; color:{fg}; font-weight:bold;'>&nbsp;{r.verdict}&nbsp;</span>"
                rows.append(f"{chip} <b>{name}</b> {r.attack_score:.2f} <small>(threshold {r.threshold:.2f}; "
                            f"looks for {seen})</small>")
            else:
                reason = (r.domain_reason or "").split(": ", 1)[-1].split("; ")[0]
                chip = "<span style='background:#777777; color:#ffffff; font-weight:bold;'>&nbsp;NOT CHECKED&nbsp;</span>"
                rows.append(f"{chip} <b>{name}</b> <small>outside the sensor/resolution it was validated on"
                            + (f": {html.escape(reason)}" if reason else "") + f" — {seen} not looked for</small>")
        return "<br>".join(rows)

    def _paint_verdict(self, verdict: str, subtitle: str) -> None:
        bg, fg = VERDICT_COLOURS.get(verdict, VERDICT_COLOURS[""])
        self.verdict_label.setText(verdict or "—")
        self.verdict_label.setStyleSheet(f"QLabel {{ background: {bg}; color: {fg}; border-radius: 8px; }}")
        self.verdict_label.setToolTip(subtitle)
        self.verdict_label.setAccessibleDescription(subtitle)

    def _remember_operator(self) -> None:
        self.settings.operator = self.operator_edit.text().strip()

    def _set_buttons_enabled(self, on: bool) -> None:
        for b in (self.confirm_button, self.live_button, self.attack_button):
            b.setEnabled(on)

    # -- decisions -----------------------------------------------------------------------
    def record(self, action: str, final: str | None = None) -> dict | None:
        """Record the operator's decision on the shown print and emit ``decisionRecorded``.

        Parameters
        ----------
        action : "confirmed" or "override".
        final : the operator's verdict for an override ("LIVE"/"ATTACK"); the shown verdict otherwise.
        """
        if self.result is None or self.image is None:
            return None
        shown = self.verdict()
        m = self.result.model
        from fpstation.core.pad import pad_dict
        d = {
            "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
            "kind": "pad",
            "action": action,
            "model_verdict": shown,
            "final_verdict": final or shown,
            "attack_score": float(self.result.attack_score),
            "threshold": self.threshold(),
            "threshold_is_model_default": getattr(self.settings, "pad_threshold", None) is None,
            "print_key": self.image.key,
            "sha256": self.image.sha256,
            "source": self.image.source,
            "model": {"name": m.name, "version": m.version, "sha256": m.sha256} if m else None,
            "models": [pad_dict(r) for r in self.adjusted_results()],
            "operator": self.operator_edit.text().strip(),
        }
        self._remember_operator()
        self.decisions.append(d)
        when = d["timestamp"].replace("T", " ").replace("+00:00", " UTC")
        word = "Confirmed" if action == "confirmed" else f"Overridden → {d['final_verdict']}"
        self.decision_label.setText(f"{word} by {d['operator'] or 'an unnamed operator'} at {when}")
        self.decisionRecorded.emit(d)
        return d


# ---------------------------------------------------------------------- gender
class GenderPanel(QWidget):
    """P(female) / P(male) with the model's uncertainty and its cross-validated accuracy; a clear
    "cannot tell" when the estimate is in the uncertain band or the print is outside the model's
    validated domain (then no percentage is shown at all). Offers a combined estimate when several
    prints of the same SOCOFing subject are loaded.

    Signals
    -------
    combineRequested(list) : the user asked for the combined estimate of these prints.
    """

    combineRequested = Signal(list)

    def __init__(self, settings: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self.result: GenderResult | None = None
        self.combined: GenderResult | None = None
        self.card: dict = {}
        self._group: list[FingerprintImage] = []
        lay = QVBoxLayout(self)
        self.headline = QLabel("—")
        self.headline.setFont(_big_font(18))
        self.headline.setWordWrap(True)
        lay.addWidget(self.headline)
        self.detail_label = QLabel("")
        self.detail_label.setWordWrap(True)
        lay.addWidget(self.detail_label)
        grid = QGridLayout()
        self.female_bar, self.male_bar = QProgressBar(), QProgressBar()
        for row, (name, bar) in enumerate((("P(female)", self.female_bar), ("P(male)", self.male_bar))):
            bar.setRange(0, 1000)
            bar.setTextVisible(True)
            bar.setFormat("—")
            grid.addWidget(QLabel(name), row, 0)
            grid.addWidget(bar, row, 1)
        lay.addLayout(grid)
        self.band_label = QLabel("")
        self.band_label.setWordWrap(True)
        lay.addWidget(self.band_label)
        line = QFrame()
        line.setFrameShape(QFrame.Shape.HLine)
        lay.addWidget(line)
        self.combine_button = QPushButton("Combine prints of this subject")
        self.combine_button.setVisible(False)
        self.combine_button.clicked.connect(lambda: self.combineRequested.emit(list(self._group)))
        lay.addWidget(self.combine_button)
        self.combined_label = QLabel("")
        self.combined_label.setWordWrap(True)
        lay.addWidget(self.combined_label)
        self.note_label = QLabel("")
        self.note_label.setWordWrap(True)
        lay.addWidget(self.note_label)
        lay.addStretch(1)

    def band(self, combined: bool = False) -> float:
        """Width of the uncertain band: the model card's (chosen out of fold), else the setting."""
        key = "uncertain_band_combined" if combined else "uncertain_band"
        if key in self.card or "uncertain_band" in self.card:
            return float(self.card.get(key, self.card.get("uncertain_band")))
        return float(getattr(self.settings, "uncertain_band", 0.1))

    def _cv(self, level: str) -> str:
        """"0.68 (95 % CI 0.64–0.72)" for the card's cross-validated balanced accuracy, or ""."""
        ba = ((self.card.get("metrics") or {}).get(level) or {}).get("balanced_accuracy")
        if isinstance(ba, dict) and ba.get("ci95"):
            return f"{ba['value']:.2f} (95 % CI {ba['ci95'][0]:.2f}–{ba['ci95'][1]:.2f})"
        return ""

    def set_card(self, card: dict) -> None:
        self.card = card or {}
        m = dict(self.card.get("metrics") or {})
        if not self.card:
            self.note_label.setText("No gender model is installed.")
            return
        one, comb = self._cv("per_print"), self._cv("per_subject")
        known = self._cv("per_print_finger_known")
        if one:
            known = f" ({known} when its finger is known)" if known else ""
            figures = (f"cross-validated balanced accuracy {one} for one print{known}, {comb} when the fingers "
                       "of one person are combined (new subjects)")
        else:
            m = dict(m.get("metrics") or {}, **m) if isinstance(m.get("metrics"), dict) else m
            ba, auc = m.get("balanced_accuracy"), m.get("auc")
            figures = f"validation balanced accuracy {ba:.2f}, AUC {auc:.2f} (subject-disjoint)" \
                if isinstance(ba, float) and isinstance(auc, float) else "no validation figures"
        layout = (self.card.get("data") or {}).get("layout", "")
        trained_on = "SOCOFing prints (one scanner, small 96×103 px images)" if layout == "socofing" \
            else f"data in {layout or 'an unrecorded layout'}"
        self.note_label.setText(
            f"Model {self.card.get('name', '?')} v{self.card.get('version', '?')}: {figures}. Probabilities are "
            "calibrated for equal shares of women and men. A single print is weak evidence; combining several "
            f"fingers of one person helps. Trained on {trained_on}: prints from other sensors, sizes or "
            "resolutions get no estimate (outside what it was validated on).")

    def _bars(self, g: GenderResult | None) -> None:
        if g is None:
            for bar in (self.female_bar, self.male_bar):
                bar.setValue(0)
                bar.setFormat("—")
            return
        pf, pm = g.p_female, g.p_male
        self.female_bar.setValue(int(round(pf * 1000)))
        self.female_bar.setFormat(f"{pf * 100:.1f} %")
        self.male_bar.setValue(int(round(pm * 1000)))
        self.male_bar.setFormat(f"{pm * 100:.1f} %")

    def clear(self) -> None:
        self.result = None
        self.combined = None
        self.headline.setFont(_big_font(18))
        self.headline.setText("…")
        self.detail_label.setText("")
        self.band_label.setText("")
        self._bars(None)
        self.combined_label.setText("")

    def show_nothing(self) -> None:
        """No print is shown: no estimate, and no prints to combine."""
        self.clear()
        self.headline.setText("—")
        self.set_group([], None)

    def show_result(self, result: AnalysisResult) -> None:
        self.result = result.gender
        if result.gender is None:
            # An explanation, not a verdict: normal-size text (the big font is for the estimate).
            self.headline.setFont(QFont())
            self.headline.setText(f"Gender unavailable: {result.errors.get('gender', 'not computed')}")
            self.detail_label.setText("")
            self._bars(None)
            return
        g = result.gender
        if not g.in_domain:
            # No number at all: the model was never validated on prints like this one.
            self.headline.setFont(_big_font(18))
            self.headline.setText("Cannot tell")
            self.detail_label.setText(g.domain_reason or "Outside what this model was validated on.")
            self._bars(None)
            self.band_label.setText("No estimate is given for prints outside the model's domain.")
            return
        self.headline.setFont(_big_font(18))
        weak = g.n_prints <= 1 and g.evidence == WEAK and g.label != "uncertain"
        self.headline.setText(self._words(g) + (" — weak evidence" if weak else ""))
        self.detail_label.setText(self._detail(g))
        self._bars(g)
        band = self.band()
        self.band_label.setText(f"“Cannot tell” when P(female) is between {0.5 - band / 2:.2f} and "
                                f"{0.5 + band / 2:.2f} (band chosen on out-of-fold scores).")

    @staticmethod
    def _words(g: GenderResult) -> str:
        if not g.in_domain or g.label == "uncertain":
            return "Cannot tell"
        return {"female": "Female more likely", "male": "Male more likely"}.get(g.label, g.label)

    def _detail(self, g: GenderResult) -> str:
        parts = [f"P(female) {g.p_female * 100:.0f} %"]
        if len(g.interval) == 2:
            parts[0] += f" (interval {g.interval[0] * 100:.0f}–{g.interval[1] * 100:.0f} %)"
        elif len(g.p_range) == 2:
            parts[0] += f" (model range {g.p_range[0] * 100:.0f}–{g.p_range[1] * 100:.0f} %)"
        if g.n_prints > 1:
            parts.append(f"{g.n_prints} fingers combined")
        if g.label == "uncertain":
            parts.append("inside the uncertain band: no lean either way is supported")
        if len(g.cv_balanced_accuracy) == 3:
            v, lo, hi = g.cv_balanced_accuracy
            what = "one print" if g.n_prints <= 1 else f"{g.n_prints} prints combined"
            parts.append(f"the model is right about {v * 100:.0f} % of the time for {what} "
                         f"(cross-validated balanced accuracy, 95 % CI {lo:.2f}–{hi:.2f})")
        if g.n_prints <= 1 and g.evidence == CONFIDENT_SINGLE:
            parts.append("a confident single print (beyond the level at which single prints were right at least "
                         "90 % of the time out of fold)")
        elif g.n_prints <= 1:
            parts.append("a single print is weak evidence — combine several fingers of the person")
        return "; ".join(parts) + "."

    def set_group(self, images: list[FingerprintImage], subject: str | None) -> None:
        """Prints of one person to combine (the button appears for two or more): ``subject`` is
        "subject N" (SOCOFing name), a folder, a bare id, or :data:`SELECTED` (the analyst's selection)."""
        self._group = list(images)
        many = len(images) >= 2
        self.combine_button.setVisible(many)
        if many:
            n = len(images)
            if subject == SELECTED:
                what = f"the {n} selected prints as one person"
            elif subject and (subject.startswith("subject ") or subject.isdigit()):
                who = subject if subject.startswith("subject ") else f"subject {subject}"
                what = f"the {n} loaded prints of {who}"
            else:
                what = f"the {n} loaded prints in folder {subject}"
            self.combine_button.setText(f"Combine {what}")

    def show_combined(self, g: GenderResult) -> None:
        self.combined = g
        n = len(self._group)
        if not g.in_domain:
            self.combined_label.setText(f"Combined over {n} prints — cannot tell: {g.domain_reason}")
            return
        used = f" ({g.n_prints} inside the model's domain)" if g.n_prints != n else ""
        weak = " — weak evidence" if g.n_prints <= 1 and g.evidence == WEAK and g.label != "uncertain" else ""
        self.combined_label.setText(f"Combined over {n} prints{used} — <b>{self._words(g)}{weak}</b>: "
                                    f"{self._detail(g)}")


# ---------------------------------------------------------------------- install
def _subject_of(image: FingerprintImage) -> str | None:
    return _subject_of_source(image.source)


def _person_of(image: FingerprintImage) -> str | None:
    """The person a loaded print belongs to: "subject N" (SOCOFing name), else its folder."""
    if not image.source:
        return None
    from fpstation.core.gender_person import person_key

    return person_key(str(image.source))


def _selected_prints(window: Window) -> list[FingerprintImage]:
    return list(window.file_list.selected_images())


@functools.lru_cache(maxsize=1 << 16)  # asked for every loaded print each time one is shown
def _subject_of_source(source: str) -> str | None:
    from fpstation.ml.datasets import parse_socofing_name  # name parsing only, no TensorFlow

    n = parse_socofing_name(source)
    return str(n.subject) if n else None


def _loaded_prints(window: Window) -> list[FingerprintImage]:
    return window.file_list.images()


def _scrollable(panel: QWidget) -> QScrollArea:
    area = QScrollArea()
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.Shape.NoFrame)
    area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    area.setWidget(panel)
    return area


def explain_model(pad: PadPanel) -> str:
    """The model the "Why?" map explains: the one that decided the combined verdict (the most
    attack-like model inside its domain), else the primary model."""
    results = [r for r in pad.adjusted_results() if r.in_domain and r.model is not None]
    if not results:
        return str(pad.card.get("name", ""))
    return max(results, key=lambda r: r.attack_score - r.threshold).model.name  # type: ignore[union-attr]


def install(window: Window) -> tuple[PadPanel, GenderPanel]:
    """Add the "Liveness (PAD)" and "Gender" docks to ``window``, connect them, and return the two
    panels (the window keeps them; it also keeps the PAD decisions, ``decisionRecorded``)."""
    from fpstation.workers import Task

    pad = PadPanel(window.settings)
    gender = GenderPanel(window.settings)
    # Scrollable: on a short screen the docks share the height and their text must not be clipped.
    window.add_dock(_scrollable(pad), "Liveness (PAD)")
    window.add_dock(_scrollable(gender), "Gender")
    state: dict[str, Any] = {"explain_task": None}

    def reload_cards() -> None:
        primary = _card_data(window.registry, "pad", window.settings.pad_model)
        others = []
        try:
            from fpstation.ml.classifiers import pad_model_keys  # numpy only, no TensorFlow

            keys = list(getattr(window.settings, "pad_models", None) or []) or pad_model_keys(window.registry)
            others = [c for c in (_card_data(window.registry, "pad", k) for k in keys)
                      if c and c.get("name") != primary.get("name")]
        except Exception as exc:  # noqa: BLE001 - no registry (tests) or no PAD models: one card is fine
            log.info("no other PAD model cards: %s", exc)
        pad.set_card(primary, others)
        gender.set_card(_card_data(window.registry, "gender", window.settings.gender_model))

    def start_explain() -> None:
        im = pad.image
        if im is None or not pad.why_button.isChecked():
            return
        if state["explain_task"] is not None:
            state["explain_task"].cancel()
        key = explain_model(pad)
        pad.why_label.setText(f"Computing the heat map of {key or 'the PAD model'}…")
        task = Task(explain_job, im, key, name="pad heat map")
        state["explain_task"] = task

        def done(out, t=task) -> None:
            image, heat = out
            if t is not state["explain_task"] or image is not pad.image or not pad.why_button.isChecked():
                return  # stale: another print is shown or the toggle was switched off
            window.left_view.set_overlay(heat, 0.45)
            if float(heat.max()) > 0:
                pad.why_label.setText(f"Heat map of {key or 'the PAD model'}: red = regions that look like an attack"
                                      + (" (each patch's attack probability)." if "livdet" in key else "."))
            else:
                pad.why_label.setText("No region pushed the score towards ATTACK (empty heat map).")

        task.signals.result.connect(done)
        task.signals.error.connect(lambda exc: pad.why_label.setText(f"No heat map: {exc}"))
        window.run_task("inference", task, "PAD heat map")

    def on_explain(on: bool) -> None:
        if on:
            start_explain()
        else:
            window.left_view.set_overlay(None)
            pad.why_label.setText("")

    def update_group(image: FingerprintImage | None) -> None:
        """The prints the combine button offers: the analyst's selection (two or more prints), else
        the loaded prints of the shown print's person (SOCOFing subject, else its folder)."""
        selected = _selected_prints(window)
        if len(selected) >= 2:
            gender.set_group(selected, SELECTED)
            return
        if image is None:
            gender.set_group([], None)
            return
        person = _person_of(image)
        group = [im for im in _loaded_prints(window) if person is not None and _person_of(im) == person]
        if image not in group and person is not None:
            group.append(image)
        gender.set_group(group if person is not None else [], person)

    def on_print(image: FingerprintImage) -> None:
        state["shown"] = image
        # Ctrl-click changes the current print too: the selection's combined estimate stays shown
        same = state.get("combined_for") and tuple(id(im) for im in _selected_prints(window)) == state["combined_for"]
        keep = gender.combined if same else None
        pad.clear(image)
        gender.clear()
        update_group(image)
        if keep is not None:
            gender.show_combined(keep)

    def on_cleared() -> None:  # an unreadable file is selected: nothing of the last print stays
        state["shown"] = None
        pad.show_nothing()
        gender.show_nothing()
        window.left_view.set_overlay(None)

    def on_analysis(result: AnalysisResult) -> None:
        pad.show_result(result)
        gender.show_result(result)
        update_group(result.image)  # more prints of the subject may have loaded meanwhile
        if pad.why_button.isChecked() and result.pad is not None:
            start_explain()

    def on_combine(images: list) -> None:
        images = list(images)
        task = Task(combined_gender_job, images, window.settings.gender_model, gender.band(combined=True),
                    name="gender combined")

        def done(g: GenderResult) -> None:
            if gender._group == images:  # else stale: the offered prints changed meanwhile
                gender.show_combined(g)

        task.signals.result.connect(done)
        task.signals.error.connect(lambda exc: gender.combined_label.setText(f"No combined estimate: {exc}"))
        window.run_task("inference", task, f"Combining {len(images)} prints (gender)")

    def on_selection() -> None:
        """Two or more prints selected: the panel shows their combined estimate at once."""
        update_group(state.get("shown"))
        selected = _selected_prints(window)
        key = tuple(id(im) for im in selected)
        if len(selected) >= 2 and key != state.get("combined_for"):
            state["combined_for"] = key
            gender.combined_label.setText(f"Combining the {len(selected)} selected prints…")
            on_combine(selected)
        elif len(selected) < 2:
            state["combined_for"] = None

    pad.explainToggled.connect(on_explain)
    gender.combineRequested.connect(on_combine)
    window.file_list.itemSelectionChanged.connect(on_selection)
    window.printShown.connect(on_print)
    window.printCleared.connect(on_cleared)
    window.analysisFinished.connect(on_analysis)
    window.modelsChanged.connect(reload_cards)
    reload_cards()
    return pad, gender
