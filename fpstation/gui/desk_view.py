"""Scanner desk: Tools → Watch Scanner Folder… shows each new print with its presentation-attack
verdict, large, and Confirm / Override buttons that append the operator's decision to the case.

Polling runs on the io pool (:func:`fpstation.core.watch.watch_files`, cheap); each complete file is
analysed on the inference pool (:func:`fpstation.core.watch.analyse_loaded`), so watching never blocks
the single-print view for longer than one print. Decisions go to the case store's append-only
``decisions`` table with a UTC timestamp, the operator's name and the verdict they were made on.
"""

from __future__ import annotations

import copy
import json
import logging
import re
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from fpstation.core.errors import FpError
from fpstation.core.store import AUTOMATIC_OPERATOR, last_operator_decision
from fpstation.gui.case import analyzers_for
from fpstation.gui.contracts import Window
from fpstation.gui.qimage import to_qpixmap
from fpstation.gui.widgets import FitLabel
from fpstation.workers import Task

if TYPE_CHECKING:
    from fpstation.gui.analysis_panel import PadPanel
    from fpstation.gui.case import CaseController

log = logging.getLogger(__name__)

#: shown under a transaction that ended ATTACK: a live finger the model refuses tends to be refused
#: again (pad-livdet's bona fide errors in its nested run: 4 live transactions, on 2 of one person's
#: 10 fingers; README "pad-livdet"), so the operator's way forward is another finger, checked in full
ANOTHER_FINGER = ("Live person, no cast or film on the finger? A refused live finger tends to be refused "
                  "again: press <b>New transaction</b> and ask for another finger (checked in full). Override "
                  "only after your own inspection.")

VERDICT_STYLE = {
    "ATTACK": ("PRESENTATION ATTACK", "#b00020"),
    "LIVE": ("LIVE", "#1b7d2a"),
    "UNCERTAIN": ("UNCERTAIN — CHECK", "#a66b00"),
}
RECENT = 30  # rows kept in the recent list (images only for the newest few)
KEEP_IMAGES = 5


def final_verdict(row: dict[str, Any]) -> tuple[str, str]:
    """(final verdict, how it was reached) of a flat row: the operator's decision wins over the model.

    ``("ATTACK", "operator override")`` after "override: ATTACK", ``("LIVE", "confirmed")`` after a
    confirm of LIVE, ``(model verdict, "model")`` when nobody decided yet.
    """
    model = row.get("pad_verdict") or ""
    decision = str(row.get("decision") or "")
    if decision.startswith("override"):
        _, _, to = decision.partition(":")
        to = to.strip().upper() or {"ATTACK": "LIVE", "LIVE": "ATTACK"}.get(model, "")
        return to, "operator override"
    if decision.startswith("confirm"):
        return model, "confirmed"
    return model, "model"


def recent_text(row: dict[str, Any], when: str, name: str = "") -> str:
    """One line of the Recent list: the final state first, the model's verdict beside it. ``name``:
    how the file is called (its path relative to the watched folder; default its file name)."""
    name = name or Path(row.get("path") or "").name
    if row.get("status") == "bad file":
        return f"{when}  BAD FILE  {name}"
    model = row.get("pad_verdict") or "no verdict"
    final, how = final_verdict(row)
    # the state first: a long file name is elided, never the verdict
    if how == "operator override":
        return f"{when}  {final} (operator; model said {model})  {name}"
    if how == "confirmed":
        return f"{when}  {final} (confirmed)  {name}"
    return f"{when}  {model}  {name}"



#: "TruncatedFileError: …" → "…": an operator reads the message, never a Python class name
_CLASS_PREFIX = re.compile(r"^\s*[A-Z][A-Za-z0-9_]*(?:Error|Exception|Warning):\s*")


def plain_message(text: str | None) -> str:
    """An error as a person reads it: without the exception class name in front of each line."""
    return "\n".join(_CLASS_PREFIX.sub("", line) for line in str(text or "").splitlines())


def _pad_models_of(item: Any, store: Any) -> list[dict[str, Any]]:
    """The PAD models behind an item's verdict as dicts (model, attack_types_seen, in_domain): from
    its analysis in memory, else from the stored analysis the row shows."""
    res = getattr(item, "result", None)
    if res is not None and (res.pad_models or res.pad is not None):
        return [{"model": m.model.name if m.model else "?", "attack_types_seen": list(m.attack_types_seen),
                 "in_domain": bool(m.in_domain)} for m in (res.pad_models or [res.pad])]
    row = item.row
    if store is None or row.get("print_id") is None:
        return []
    pad = next((r for r in store.results(int(row["print_id"]), row.get("analysis_id")) if r["step"] == "pad"
                and not r["error"]), None)
    pl = (pad or {}).get("payload") or {}
    if pl.get("models"):
        return list(pl["models"])
    return [{"model": (pad or {}).get("model_name") or "?", "attack_types_seen": pl.get("attack_types_seen") or [],
             "in_domain": pl.get("in_domain", True)}] if pad else []


def coverage_text(models: list[dict[str, Any]]) -> str:
    """What a LIVE verdict did and did not look for: "checked for: gelatine; not checked: other
    materials" (the kinds come from each model card; a model outside its domain checked nothing)."""
    kinds: list[str] = []
    for m in models:
        if m.get("in_domain", True):
            kinds += [k for k in (m.get("attack_types_seen") or []) if k not in kinds]
    if not kinds:
        return "checked for: nothing (no liveness model could judge this print); not checked: every attack kind"
    return f"checked for: {', '.join(kinds)}; not checked: other materials and other alterations"


def _transaction_card(models: list) -> Any:
    """The card of the first PAD model whose card defines a liveness transaction, or None."""
    from fpstation.ml.registry import get_registry

    reg = get_registry()
    for r in models:
        if r is None or r.model is None:
            continue
        try:
            card = reg.card(r.model.name)
        except Exception:  # noqa: BLE001 - a result from a model no longer installed: no transaction
            continue
        if card.data.get("transaction"):
            return card
    return None


def analyse_job(item: Any, store: Any, settings: Any, factory, *, progress, cancel) -> list:
    from fpstation.core.watch import analyse_loaded

    return analyse_loaded(item, store, lambda: factory(settings), progress, cancel, keep_images=True)


class DeskPanel(QWidget):
    """Newest print, its verdict (large), the operator's Confirm / Override, and recent arrivals."""

    def __init__(self, window: Window) -> None:
        super().__init__()
        self.window = window
        self.case = window.case_controller
        self.analyzers_factory = analyzers_for
        self.poll_interval = 1.0
        self.undecodable_after = 10.0
        self.watch_task: Task | None = None
        self.folder: str = ""
        self._items: list[Any] = []  # BatchItems, newest last (images dropped beyond KEEP_IMAGES)
        self.current: Any = None  # the BatchItem shown

        # wraps (a path elided to "Wa…d)" says nothing); the full path is its tooltip
        self.folder_label = QLabel("Not watching")
        self.folder_label.setWordWrap(True)
        self.folder_label.setMinimumWidth(1)
        self.folder_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        # the watched scanner's resolution when its files carry none (0 = what each file says)
        self.dpi_spin = QSpinBox()
        self.dpi_spin.setRange(0, 5000)
        self.dpi_spin.setSingleStep(100)
        self.dpi_spin.setSpecialValueText("file's dpi")
        self.dpi_spin.setSuffix(" dpi (stated)")
        self.dpi_spin.setToolTip("Resolution of the scanner's files when they carry none (e.g. 1000); while "
                                 "watching, a change applies from the next print. The models take it as given: state the "
                                 "scanner's true dpi.")
        #: the stated dpi as the watch job reads it (a plain attribute: the job runs on a pool thread)
        self.stated_dpi: float | None = None
        self.dpi_spin.valueChanged.connect(self._on_dpi_changed)
        self.coverage_label = QLabel("")
        self.coverage_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.coverage_label.setWordWrap(True)
        self.coverage_label.setMinimumWidth(1)
        self.coverage_label.setStyleSheet("color:#6a4a00;")
        self.stop_button = QPushButton("Stop watching")
        self.stop_button.setEnabled(False)
        self.stop_button.clicked.connect(self.stop)
        self.image_label = QLabel("No print yet")
        self.image_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.image_label.setMinimumSize(160, 160)  # the banner and buttons must fit under it
        self.image_label.setStyleSheet("background:#202225; color:#ccc;")
        # wraps and shrinks to the dock (down to 300 px) rather than cutting "PRESENTATION ATTACK"
        self.verdict_label = FitLabel("—", max_points=30, max_lines=2)
        self.score_label = QLabel("")
        self.score_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        # a bad file's message can be one long line: wrap it, never widen the dock
        self.score_label.setWordWrap(True)
        self.score_label.setMinimumWidth(1)
        # each PAD model's verdict in one line (alteration / material spoof / not checked)
        self.models_label = QLabel("")
        self.models_label.setWordWrap(True)
        self.models_label.setTextFormat(Qt.TextFormat.RichText)
        self.models_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.file_label = QLabel("")
        self.file_label.setWordWrap(True)
        self.file_label.setMinimumWidth(1)
        self.operator_edit = QLineEdit(str(getattr(window.settings, "operator", "") or ""))
        self.operator_edit.setPlaceholderText("your name / id")
        self.operator_edit.editingFinished.connect(
            lambda: setattr(window.settings, "operator", self.operator_edit.text().strip()))
        self.model_label = QLabel("")
        self.model_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.model_label.setWordWrap(True)
        self.note_edit = QLineEdit()
        self.note_edit.setPlaceholderText("optional note")
        self.confirm_button = QPushButton("Confirm verdict")
        self.override_button = QPushButton("Override verdict")
        for b in (self.confirm_button, self.override_button):
            b.setMinimumHeight(40)
            b.setEnabled(False)
        self.confirm_button.clicked.connect(lambda: self.record("confirm"))
        self.override_button.clicked.connect(self.override)
        self.decision_label = QLabel("")
        self.decision_label.setWordWrap(True)
        self.decision_label.setMinimumWidth(1)
        # liveness transaction: up to 3 presentations of the same finger, one verdict (docs/adr/0102)
        self.transaction: Any = None
        self.tx_label = QLabel("")
        self.tx_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.tx_label.setWordWrap(True)
        self.tx_label.setTextFormat(Qt.TextFormat.RichText)
        self.new_tx_button = QPushButton("New transaction")
        self.new_tx_button.setToolTip("Forget the attempts so far: the next print starts a new transaction")
        self.new_tx_button.clicked.connect(self.new_transaction)
        self.recent = QListWidget()
        self.recent.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.recent.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.recent.currentRowChanged.connect(self._on_recent_selected)

        # the folder (wrapping) beside Stop; the scanner's dpi on its own line: in a 300 px dock every
        # control keeps its whole label
        top = QHBoxLayout()
        top.addWidget(self.folder_label, 1)
        top.addWidget(self.stop_button, 0, Qt.AlignmentFlag.AlignTop)
        dpi_row = QHBoxLayout()
        dpi_row.addWidget(QLabel("Scanner:"))
        dpi_row.addWidget(self.dpi_spin, 1)
        form = QFormLayout()
        form.addRow("Operator:", self.operator_edit)
        form.addRow("Note:", self.note_edit)
        buttons = QHBoxLayout()
        buttons.addWidget(self.confirm_button)
        buttons.addWidget(self.override_button)
        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addLayout(dpi_row)
        lay.addWidget(self.image_label, 2)
        lay.addWidget(self.verdict_label)
        tx_row = QHBoxLayout()
        tx_row.addWidget(self.tx_label, 1)
        tx_row.addWidget(self.new_tx_button)
        lay.addLayout(tx_row)
        lay.addWidget(self.model_label)
        lay.addWidget(self.coverage_label)
        lay.addWidget(self.score_label)
        lay.addWidget(self.models_label)
        lay.addWidget(self.file_label)
        lay.addLayout(form)
        lay.addLayout(buttons)
        lay.addWidget(self.decision_label)
        lay.addWidget(QLabel("Recent arrivals:"))
        lay.addWidget(self.recent, 2)

        self.case.caseChanged.connect(self._on_case_changed)

    def _on_case_changed(self, _store: Any) -> None:
        """A new or other case: the old case's last verdict, decisions and arrivals leave the desk
        (a running watch goes on into the case it started with until it is restarted)."""
        self.show_nothing()

    def show_nothing(self) -> None:
        """No print, no verdict, no arrivals (a new or other case)."""
        self.current = None
        self._items.clear()
        self.recent.clear()
        self.image_label.clear()
        self.image_label.setText("No print yet")
        self.verdict_label.setText("—")
        self.verdict_label.setStyleSheet("")
        for lab in (self.model_label, self.coverage_label, self.score_label, self.models_label, self.file_label,
                    self.decision_label):
            lab.setText("")
        self.confirm_button.setEnabled(False)
        self.override_button.setEnabled(False)

    # ------------------------------------------------------------------ watching
    @property
    def watching(self) -> bool:
        return self.watch_task is not None and not self.watch_task.done.is_set()

    def start(self, folder: str) -> Task:
        """Watch ``folder``; every complete new file is analysed into the current case."""
        self.stop()
        store = self.case.ensure()
        self.folder = folder
        from fpstation.core.store import analysis_inputs
        from fpstation.core.watch import watch_files

        self.stated_dpi = float(self.dpi_spin.value()) or None
        settings = copy.copy(self.window.settings)

        def inputs():  # asked for every file: a dpi stated while watching applies from the next print
            return analysis_inputs(settings, stated_dpi=self.stated_dpi, origin="desk")

        task = Task(watch_files, folder, name="watch", with_partial=True, store=store,
                    poll_interval=self.poll_interval, undecodable_after=self.undecodable_after,
                    inputs=inputs, decode_skipped=True)
        task.signals.partial.connect(self._on_new_file)
        task.signals.finished.connect(self._on_watch_finished)
        self.watch_task = task
        self._show_watching(store.name)
        self.stop_button.setEnabled(True)
        self.window.settings.watch_folder = folder
        return self.window.run_task("io", task, f"Watching {Path(folder).name}")

    def _show_watching(self, case_name: str) -> None:
        dpi = self.stated_dpi
        self.folder_label.setText(f"Watching {self.folder} → case {case_name}"
                                  + (f" at {dpi:g} dpi (stated)" if dpi else " at each file's dpi"))

    def _on_dpi_changed(self, value: int) -> None:
        """Takes effect for the next print while watching (never silently ignored)."""
        self.stated_dpi = float(value) or None
        if self.watching:
            store = self.case.store
            self._show_watching(store.name if store is not None else "")
            self.window.status.message("Scanner resolution " + (f"{value} dpi (stated)" if value else "as each file says")
                                       + ": applies from the next print.")

    def stop(self) -> None:
        if self.watch_task is not None:
            self.watch_task.cancel()

    def _on_watch_finished(self) -> None:
        self.stop_button.setEnabled(False)
        self.folder_label.setText(f"Stopped watching {self.folder}")

    def _on_new_file(self, loaded: Any) -> None:
        store = self.case.ensure()
        task = Task(analyse_job, loaded, store, copy.copy(self.window.settings), self.analyzers_factory,
                    name="desk analysis")
        task.signals.result.connect(self._on_analysed)
        self.window.run_task("inference", task, f"Analysing {Path(loaded.path).name}")

    def _on_analysed(self, items: list) -> None:
        for it in items:
            self._items.append(it)
            row = it.row
            it.arrived = f"{datetime.now():%H:%M:%S}"
            li = QListWidgetItem(recent_text(row, it.arrived, self._relative(row.get("path") or "")))
            li.setToolTip(row.get("error") or row.get("path") or "")
            self.recent.insertItem(0, li)
        while self.recent.count() > RECENT:
            self.recent.takeItem(self.recent.count() - 1)
        del self._items[:-RECENT]
        for it in self._items[:-KEEP_IMAGES]:
            it.image = it.result = None  # memory stays flat on a long shift
        for it in items:
            self.feed_transaction(it)
        if items:
            self.recent.blockSignals(True)
            self.recent.setCurrentRow(0)
            self.recent.blockSignals(False)
            self.show_item(items[-1])

    def _on_recent_selected(self, row: int) -> None:
        if 0 <= row < len(self._items):
            self.show_item(self._items[len(self._items) - 1 - row])

    # ------------------------------------------------------------------ transaction
    def new_transaction(self) -> None:
        self.transaction = None
        self.tx_label.setText("")

    def feed_transaction(self, item: Any) -> str | None:
        """Add an analysed print as the next attempt of the open transaction (a new one when none
        is open), record the attempt in the case and show "present again (2/3)" or the final
        verdict. Returns the transaction state, None when no PAD model defines a transaction."""
        from fpstation.core.pad_transaction import Transaction, TransactionRule, attempt_from_results

        res = getattr(item, "result", None)
        pid = item.row.get("print_id")
        models = list(getattr(res, "pad_models", ()) or ([res.pad] if res is not None and res.pad else []))
        card = _transaction_card(models)
        if card is None or pid is None:
            return None
        attempt = attempt_from_results(models, card.name, label=Path(item.row.get("path") or "").name)
        if attempt is None:
            return None
        if self.transaction is None or self.transaction.done:
            self.transaction = Transaction(TransactionRule.from_card(card.data))
        tx = self.transaction
        state = tx.add(attempt)
        note = json.dumps({"print_id": int(pid), **tx.to_dict()})
        try:
            self.case.add_decision(int(pid), f"liveness transaction attempt {len(tx.attempts)}/"
                                              f"{tx.rule.max_attempts}: {state}", AUTOMATIC_OPERATOR, note)
        except FpError as exc:
            self.window.notifications.notify(f"Attempt not recorded: {exc.user_message}", "error")
        colour = {"ATTACK": "#b00020", "LIVE": "#1b7d2a"}.get(state, "#a66b00" if not tx.done else "#555555")
        text = tx.prompt().upper() if not tx.done else f"TRANSACTION: {tx.prompt()}"
        self.tx_label.setText(f"<span style='background:{colour}; color:white; font-size:16pt;'>&nbsp;{text}&nbsp;"
                              f"</span><br><small>attempt scores: "
                              + ", ".join(f"{a.score:.2f}" for a in tx.attempts) + "</small>"
                              + (f"<br><small>{ANOTHER_FINGER}</small>" if tx.done and state == "ATTACK" else ""))
        return state

    # ------------------------------------------------------------------ display
    def show_item(self, item: Any) -> None:
        self.current = item
        row = item.row
        if item.image is None and row.get("print_id") is not None and row.get("path"):
            item.image = self._reread(row)  # a print already in the case: show it all the same
        if item.image is not None:
            pm = to_qpixmap(item.image.pixels)
            self.image_label.setPixmap(pm.scaled(self.image_label.size(), Qt.AspectRatioMode.KeepAspectRatio,
                                                 Qt.TransformationMode.SmoothTransformation))
        else:
            self.image_label.clear()
            self.image_label.setText("(image not kept)" if row.get("print_id") else "Cannot read this file")
        verdict = row.get("pad_verdict") or ""
        final, how = final_verdict(row)
        self.model_label.setText("")
        if row.get("status") == "bad file":
            text, colour = "FILE NOT READABLE", "#555555"
            self.score_label.setText(plain_message(row.get("error")))
        elif verdict in VERDICT_STYLE:
            # the operator's decision is the final state; the model's verdict stays beside it
            text, colour = VERDICT_STYLE.get(final, VERDICT_STYLE[verdict])
            if how == "operator override":
                self.model_label.setText(f"<b>OPERATOR OVERRIDE</b> · the model said {verdict}")
            elif how == "confirmed":
                self.model_label.setText(f"Model verdict {verdict}, confirmed by the operator")
            else:
                self.model_label.setText("Model verdict, not yet confirmed")
            thr = row.get("pad_threshold")
            if row.get("pad_models"):
                self.score_label.setText("combined verdict of every liveness model"
                                         + (f" · {row.get('dpi'):g} dpi ({row.get('dpi_source') or 'file'})"
                                            if row.get("dpi") else " · unknown dpi"))
            else:
                self.score_label.setText(f"attack score {row['pad_score']:.3f}"
                                         + (f" (threshold {thr:.2f})" if thr is not None else ""))
        else:
            text, colour = "NO PAD VERDICT", "#555555"
            self.score_label.setText(plain_message(row.get("error")) or "presentation-attack detection did not run")
        # a LIVE verdict says what it looked for and what it did not (from the model cards)
        self.coverage_label.setText(coverage_text(_pad_models_of(item, self.case.store)) if final == "LIVE" else "")
        self.coverage_label.setVisible(bool(self.coverage_label.text()))  # no blank line under other verdicts
        self.models_label.setText(self._models_html(item))
        self.verdict_label.setText(text)
        self.verdict_label.setStyleSheet(f"color:white; background:{colour}; padding:8px; border-radius:6px;")
        sha = row.get("sha256") or "—"
        # the hash in groups of 16 so it can wrap (the whole value identifies the evidence)
        self.file_label.setText(f"{self._relative(row.get('path') or '')}\nSHA-256 "
                                + " ".join(sha[i:i + 16] for i in range(0, len(sha), 16)))
        self.file_label.setToolTip(f"{row.get('path')}\nSHA-256 {sha}")
        can_decide = row.get("print_id") is not None
        self.confirm_button.setEnabled(can_decide and verdict in VERDICT_STYLE)
        self.override_button.setEnabled(can_decide and verdict in VERDICT_STYLE)
        self.decision_label.setText(f"Last decision: {row['decision']} at {row['decision_time']}"
                                    if row.get("decision") else "No decision recorded yet.")

    def _relative(self, path: str) -> str:
        """The path relative to the watched folder (sub-folders of a scanner stay apart)."""
        if self.folder and path:
            try:
                return Path(path).relative_to(self.folder).as_posix()
            except ValueError:
                pass
        return Path(path).name

    @staticmethod
    def _reread(row: dict[str, Any]) -> Any:
        """Read a print again for display (checked against its hash; ``None`` when that fails)."""
        from fpstation.core.imageio import read_prints

        try:
            for im in read_prints(row["path"]):
                if im.index == int(row.get("index") or 0) and im.sha256 == row.get("sha256"):
                    return im
        except Exception:  # noqa: BLE001 - only the picture is missing; the verdict still shows
            log.info("cannot re-read %s for display", row.get("path"))
        return None

    @staticmethod
    def _models_html(item: Any) -> str:
        """One line per PAD model: verdict chip, name, score; "not checked" when outside its domain."""
        import html

        res = getattr(item, "result", None)
        models = list(getattr(res, "pad_models", ()) or ())
        if len(models) < 2:
            return ""
        lines = []
        for r in models:
            word, colour = VERDICT_STYLE.get(r.verdict, (r.verdict, "#555555"))
            name = html.escape(r.model.name if r.model else "?")
            kinds = html.escape(", ".join(r.attack_types_seen) or "?")
            if r.in_domain:
                lines.append(f"<span style='background:{colour}; color:white;'>&nbsp;{r.verdict}&nbsp;</span> "
                             f"<b>{name}</b> {r.attack_score:.2f} <small>({kinds})</small>")
            else:
                lines.append(f"<span style='background:#777; color:white;'>&nbsp;NOT CHECKED&nbsp;</span> <b>{name}</b> "
                             f"<small>outside the sensor/resolution it was validated on ({kinds})</small>")
        return "<br>".join(lines)

    def override(self) -> dict[str, Any] | None:
        """Record that the operator disagrees: "override: LIVE" for an ATTACK verdict and vice versa."""
        v = (self.current.row.get("pad_verdict") if self.current is not None else "") or ""
        opposite = {"ATTACK": "LIVE", "LIVE": "ATTACK"}.get(v)
        return self.record(f"override: {opposite}" if opposite else "override")

    def record(self, decision: str) -> dict[str, Any] | None:
        """Append ``decision`` ("confirm" / "override") for the shown print to the case."""
        it = self.current
        if it is None or it.row.get("print_id") is None:
            return None
        try:
            d = self.case.add_decision(int(it.row["print_id"]), decision, self.operator_edit.text().strip(),
                                       self.note_edit.text().strip(), analysis_id=it.row.get("analysis_id"))
        except FpError as exc:
            self.window.notifications.notify(f"Decision not recorded: {exc.user_message}", "error")
            return None
        it.row["decision"], it.row["decision_time"] = d["decision"], d["created"]
        self.window.settings.operator = self.operator_edit.text().strip()
        self.show_item(it)  # the banner now shows the operator's decision as the final state
        self.decision_label.setText(f"Recorded: {decision} of {d['pad_verdict']} by {d['operator'] or '—'} "
                                    f"at {d['created']}")
        if it in self._items:
            r = len(self._items) - 1 - self._items.index(it)
            li = self.recent.item(r)
            if li is not None:
                li.setText(recent_text(it.row, getattr(it, "arrived", ""), self._relative(it.row.get("path") or "")))
        self.note_edit.clear()
        return d


def watch_dialog(window: Window, panel: DeskPanel, dock) -> None:
    folder = QFileDialog.getExistingDirectory(window, "Scanner folder to watch",
                                              window.settings.watch_folder or window.settings.last_open_dir)
    if folder:
        dock.show()
        dock.raise_()
        panel.start(folder)


def _connect_pad_panel(window: Window, panel: PadPanel, ctl: CaseController) -> None:
    """Keep the analysis panel's confirm/override decisions (``PadPanel.decisionRecorded``) in
    the case too. A print that is not in the case yet is added with the window's analysis of it, so
    the decision always has its print and scores beside it in the audit trail."""

    def on_decision(d: dict) -> None:
        sha, _, idx = str(d.get("print_key") or d.get("sha256") or "").partition(":")
        if not sha:
            return
        try:
            res = window.last_analysis()
            if res is not None and res.image.sha256 == sha and res.image.index == int(idx or 0):
                ids = ctl.record_shown_analysis(res)  # the decision is made on the analysis on screen
            else:  # not the print on screen: its newest analysis in the case, if it is there
                store = ctl.ensure()
                pid = store.print_id(sha, int(idx or 0))
                ids = (pid, store.analysis_id(pid, any_inputs=True)) if pid is not None else None
                if ids is None:
                    window.status.message("Decision not stored in the case: the print's analysis is not available.")
            if ids is None:
                return
            action = "confirm" if d.get("action") == "confirmed" else f"override: {d.get('final_verdict', '')}"
            ctl.add_decision(ids[0], action, str(d.get("operator", "")), str(d.get("note", "")), analysis_id=ids[1])
        except FpError as exc:
            window.notifications.notify(f"Decision not stored in the case: {exc.user_message}", "error")

    panel.decisionRecorded.connect(on_decision)

    def show_case_decision(*_args: Any) -> None:
        """The PAD dock's decision line shows what the *current case* holds for the print shown
        (after New Case that is nothing), never a decision made in another case."""
        label = panel.decision_label
        im = window.current_print()
        store = ctl.store
        pid = store.print_id(im.sha256, im.index) if (store is not None and im is not None) else None
        decs = store.decisions(pid) if pid is not None else []
        d = last_operator_decision(decs)
        if d is None:
            label.setText("")
            return
        label.setText(f"In case {store.name}: {d['decision']} by {d['operator'] or 'an unnamed operator'} "
                      f"at {d['created']}" + (f" ({len(decs)} decisions)" if len(decs) > 1 else ""))

    ctl.caseChanged.connect(show_case_decision)
    ctl.decisionAdded.connect(show_case_decision)
    for sig in (window.printShown, window.analysisFinished, window.printCleared):
        sig.connect(show_case_decision)


def install(window: Window, pad: PadPanel | None = None) -> tuple[DeskPanel, QDockWidget]:
    """Add Tools → Watch Scanner Folder… and the Desk dock to ``window``; return the panel and its
    dock. ``pad``: the Liveness dock's panel, whose confirm/override decisions go into the case too."""
    panel = DeskPanel(window)
    # scrollable, so its minimum height never grows the window past the screen (it shares the
    # right-hand column with the PAD and gender docks)
    area = QScrollArea()
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.Shape.NoFrame)
    area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    area.setWidget(panel)
    dock = window.add_dock(area, "Scanner desk", Qt.DockWidgetArea.RightDockWidgetArea)
    # the desk shares a tab with the PAD dock (it shows the same verdict, larger): opened, it takes
    # most of the right-hand column, and the PAD panel is one click away
    pad_dock = next((d for d in window.findChildren(QDockWidget) if d.objectName() == "dock_LivenessPAD"), None)
    if pad_dock is not None:
        window.tabifyDockWidget(pad_dock, dock)

    def on_shown(visible: bool) -> None:
        if visible:
            dock.raise_()
            others = [d for d in window.findChildren(QDockWidget) if d is not dock and d.isVisible()
                      and window.dockWidgetArea(d) == Qt.DockWidgetArea.RightDockWidgetArea
                      and d not in window.tabifiedDockWidgets(dock)]
            h = max(window.height(), 400)
            if others:
                window.resizeDocks([dock, *others], [int(h * 0.8), *[int(h * 0.2 / len(others))] * len(others)],
                                   Qt.Orientation.Vertical)

    dock.visibilityChanged.connect(on_shown)
    dock.hide()
    act = QAction("&Watch Scanner Folder…", window)
    act.setToolTip("Analyse every new scan dropped into a folder; confirm or override its verdict")
    act.triggered.connect(lambda: watch_dialog(window, panel, dock))
    window.menu("&Tools").addAction(act)
    stop = QAction("Stop &Watching", window)
    stop.triggered.connect(panel.stop)
    window.menu("&Tools").addAction(stop)
    if pad is not None:
        _connect_pad_panel(window, pad, panel.case)
    return panel, dock
