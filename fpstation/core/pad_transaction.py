"""A liveness transaction at the desk: up to 3 presentations of the same finger, one verdict (no Qt).

ISO/IEC 30107-3 distinguishes the presentation (one attempt) from the transaction (the attempts
the system combines into one decision). The rule (docs/adr/0102, card ``transaction``):

- every attempt gives a calibrated attack score s_i from the PAD model in its domain;
- after attempt n the running combined score m_n decides. ``aggregate`` says how attempts combine:
  ``"mean"``, the mean of the probabilities; ``"logit"``, sigmoid(mean(logit(s_i))): the evidence
  of the attempts added (their log-likelihood ratios) and scaled back to one attempt (docs/adr/0268);
  ATTACK when m_n >= ``hi``; LIVE when m_n < ``lo``; otherwise, before the last attempt,
  PRESENT AGAIN (the operator asks for the same finger once more, "present again (2/3)");
- at the last attempt (``max_attempts``, 3) the mean is compared with the operating threshold:
  ATTACK when m_n >= ``threshold``, else LIVE;
- an attempt the model could not check (outside its domain: unknown dpi, other sensor) ends the
  transaction as NOT CHECKED — never LIVE; an in-domain ATTACK from any other PAD model ends it as
  ATTACK.

``lo <= threshold <= hi`` are chosen out of fold (training/train_pad_livdet_v2.py) for BPCER <= 1 %
per transaction with at most 1.3 attempts on average for live users.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import PurePath

LIVE = "LIVE"
ATTACK = "ATTACK"
AGAIN = "PRESENT AGAIN"
NOT_CHECKED = "NOT CHECKED"
AGGREGATES = ("mean", "logit")
_EPS = 1e-6


def combine(scores: Sequence[float], aggregate: str = "mean") -> float:
    """The attempts' combined attack score: mean probability, or the probability of the mean logit."""
    if aggregate == "mean":
        return float(sum(scores)) / len(scores)
    if aggregate == "logit":
        ps = [min(max(float(s), _EPS), 1.0 - _EPS) for s in scores]
        z = sum(math.log(p / (1.0 - p)) for p in ps) / len(ps)
        return 1.0 / (1.0 + math.exp(-z))
    raise ValueError(f"unknown transaction aggregate {aggregate!r} (one of {', '.join(AGGREGATES)})")


@dataclass(frozen=True)
class TransactionRule:
    """The band and threshold of a transaction on the calibrated attack score."""

    lo: float
    threshold: float
    hi: float
    max_attempts: int = 3
    aggregate: str = "mean"

    def __post_init__(self) -> None:
        if self.aggregate not in AGGREGATES:
            raise ValueError(f"unknown transaction aggregate {self.aggregate!r} (one of {', '.join(AGGREGATES)})")
        if not (self.lo <= self.threshold <= self.hi):
            raise ValueError(f"transaction rule needs lo <= threshold <= hi, got {self.lo}, {self.threshold}, "
                             f"{self.hi}")
        if self.max_attempts < 1:
            raise ValueError("a transaction needs at least one attempt")

    @classmethod
    def from_card(cls, card_data: dict, threshold: float | None = None) -> TransactionRule:
        """The card's ``transaction`` entry; without one, a single-attempt rule at the threshold.

        An operator ``threshold`` moves the band with it (same widths below and above)."""
        thr0 = float((card_data.get("threshold") or {}).get("value", 0.5))
        tx = card_data.get("transaction") or {}
        lo, hi = float(tx.get("lo", thr0)), float(tx.get("hi", thr0))
        n = int(tx.get("max_attempts", 3 if tx else 1))
        agg = str(tx.get("aggregate", "mean"))
        if threshold is None:
            return cls(min(lo, thr0), thr0, max(hi, thr0), n, agg)
        t = float(threshold)
        return cls(t - max(thr0 - lo, 0.0), t, t + max(hi - thr0, 0.0), n, agg)

    def attempt_verdict(self, score: float) -> str:
        """One presentation on its own: "ATTACK" from ``hi``, "LIVE" below ``lo``, else "UNCERTAIN"."""
        return "ATTACK" if score >= self.hi else "LIVE" if score < self.lo else "UNCERTAIN"

    def to_dict(self) -> dict:
        return {"lo": self.lo, "threshold": self.threshold, "hi": self.hi, "max_attempts": self.max_attempts,
                "aggregate": self.aggregate, "rule": describe(self)}


def describe(rule: TransactionRule) -> str:
    what = ("the mean attack score m of the attempts so far" if rule.aggregate == "mean" else
            "the combined attack score m of the attempts so far (m = sigmoid of the mean logit: their evidence "
            "added)")
    return (f"after each attempt, {what}: ATTACK if m >= {rule.hi:.3f}, "
            f"LIVE if m < {rule.lo:.3f}, otherwise present the same finger again; at attempt "
            f"{rule.max_attempts}: ATTACK if m >= {rule.threshold:.3f}, else LIVE. An attempt outside the "
            "model's domain ends the transaction as NOT CHECKED (never LIVE).")


def decide(scores: Sequence[float], rule: TransactionRule) -> str:
    """LIVE / ATTACK / PRESENT AGAIN after the attempts ``scores`` (calibrated attack scores)."""
    if not scores:
        return AGAIN
    n = len(scores)
    m = combine(scores, rule.aggregate)
    if m >= rule.hi:
        return ATTACK
    if m < rule.lo:
        return LIVE
    if n >= rule.max_attempts:
        return ATTACK if m >= rule.threshold else LIVE
    return AGAIN


@dataclass
class Attempt:
    """One presentation: its score, the per-attempt verdict, and whether the model checked it."""

    score: float
    verdict: str
    in_domain: bool = True
    other_attack: bool = False   #: another PAD model inside its domain said ATTACK
    label: str = ""              #: the print's name / case id, for the record


@dataclass
class Transaction:
    """The attempts of one transaction and its state; feed attempts with :meth:`add`."""

    rule: TransactionRule
    attempts: list[Attempt] = field(default_factory=list)
    verdict: str = AGAIN

    @property
    def done(self) -> bool:
        return self.verdict != AGAIN

    @property
    def next_attempt(self) -> int:
        """Number of the attempt the desk waits for (1-based)."""
        return len(self.attempts) + 1

    def add(self, attempt: Attempt) -> str:
        """Record one attempt; returns the transaction state after it."""
        if self.done:
            raise ValueError("this transaction is finished: start a new one")
        self.attempts.append(attempt)
        if not attempt.in_domain:
            self.verdict = NOT_CHECKED
        elif attempt.other_attack:
            self.verdict = ATTACK
        else:
            self.verdict = decide([a.score for a in self.attempts], self.rule)
        return self.verdict

    def prompt(self) -> str:
        """What the desk shows: "present again (2/3)" or the final verdict."""
        if not self.done:
            return f"present again ({self.next_attempt}/{self.rule.max_attempts})"
        return f"{self.verdict} after {len(self.attempts)} attempt{'s' if len(self.attempts) > 1 else ''}"

    def to_dict(self) -> dict:
        return {"verdict": self.verdict, "attempts": [
            {"n": i + 1, "score": round(a.score, 6), "verdict": a.verdict, "in_domain": a.in_domain,
             "other_attack": a.other_attack, "label": a.label} for i, a in enumerate(self.attempts)],
            "rule": self.rule.to_dict()}


def simulate(sequences: Sequence[Sequence[float]], rule: TransactionRule) -> tuple[list[str], list[int]]:
    """Final verdict and number of attempts of each transaction whose attempt scores, in order, are
    ``sequences`` (each at least ``rule.max_attempts`` long, or as long as the finger allows)."""
    verdicts, used = [], []
    for seq in sequences:
        v, n = AGAIN, 0
        fits = replace(rule, max_attempts=max(1, min(rule.max_attempts, len(seq))))
        for n in range(1, len(seq) + 1):
            v = decide(list(seq[:n]), fits)
            if v != AGAIN:
                break
        verdicts.append(v)
        used.append(n)
    return verdicts, used


def run_sequence(scores: Sequence[float], rule: TransactionRule, in_domain: Sequence[bool] | None = None,
                 ) -> tuple[str, int]:
    """Final verdict and attempts used of one transaction whose attempts, in order, have ``scores``
    (and ``in_domain`` flags: an attempt outside the model's domain ends it NOT CHECKED), with at
    most as many attempts as the sequence holds."""
    fits = replace(rule, max_attempts=max(1, min(rule.max_attempts, len(scores))))
    tx = Transaction(fits)
    for i, sc in enumerate(scores):
        ok = True if in_domain is None else bool(in_domain[i])
        tx.add(Attempt(float(sc), fits.attempt_verdict(float(sc)), in_domain=ok))
        if tx.done:
            break
    return tx.verdict, len(tx.attempts)


def attempt_from_results(results: Sequence, model_name: str, label: str = "") -> Attempt | None:
    """The attempt one analysed print gives to a transaction run on the PAD model ``model_name``
    (``results``: every PAD model's :class:`~fpstation.core.types.PadResult` for the print).

    None when that model gave no result. ``other_attack`` = another PAD model inside its domain
    said ATTACK (that ends the transaction as ATTACK, as in the combined verdict, docs/adr/0101)."""
    own = next((r for r in results if r is not None and r.model is not None and r.model.name == model_name), None)
    if own is None:
        return None
    other = any(r is not own and r is not None and r.in_domain and r.verdict == ATTACK for r in results)
    return Attempt(score=float(own.attack_score), verdict=own.verdict, in_domain=bool(own.in_domain),
                   other_attack=other, label=label)


def finger_and_impression(path: str | PurePath) -> tuple[str, str, int] | None:
    """(subject, finger, impression) of a LivDet-style name ``SSS_F_I.png``; None for other names."""
    parts = PurePath(path).stem.split("_")
    if len(parts) < 3 or not parts[-1].isdigit():
        return None
    return "_".join(parts[:-2]), parts[-2], int(parts[-1])


def cyclic_sequences(groups: Mapping[Hashable, Sequence[tuple[int, int]]], max_attempts: int = 3) -> list[list[int]]:
    """Simulated transactions (docs/adr/0102): ``groups`` maps each finger (e.g. subject, finger, live
    or spoof) to its (impression number, index) pairs; for impressions i_0 < ... < i_{n-1}, the n
    cyclic sequences (i_j, i_{j+1}, i_{j+2}) (mod n), so that every impression is the first attempt
    of exactly one transaction. Entries are the indices; fingers in the order of ``str(key)``."""
    out: list[list[int]] = []
    for _, g in sorted(groups.items(), key=lambda kv: str(kv[0])):
        ids = [i for _, i in sorted(g)]
        n = len(ids)
        out += [[ids[(j + k) % n] for k in range(min(max_attempts, n))] for j in range(n)]
    return out
