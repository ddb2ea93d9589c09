"""The desk's liveness transaction (core/pad_transaction.py): up to 3 attempts, one verdict."""

from __future__ import annotations

import pytest

from fpstation.core.pad_transaction import (
    AGAIN,
    ATTACK,
    LIVE,
    NOT_CHECKED,
    Attempt,
    Transaction,
    TransactionRule,
    attempt_from_results,
    combine,
    decide,
    simulate,
)
from fpstation.core.types import ModelRef, PadResult

RULE = TransactionRule(lo=0.2, threshold=0.5, hi=0.8)


def test_low_first_score_is_live_at_once():
    assert decide([0.1], RULE) == LIVE


def test_high_first_score_is_attack_at_once():
    assert decide([0.9], RULE) == ATTACK


def test_score_in_the_band_asks_again():
    assert decide([0.5], RULE) == AGAIN


def test_running_mean_decides_the_second_attempt():
    assert decide([0.3, 0.0], RULE) == LIVE  # mean 0.15 < lo


def test_mean_in_band_at_second_attempt_asks_again():
    assert decide([0.5, 0.1], RULE) == AGAIN  # mean 0.3


def test_last_attempt_is_decided_at_the_threshold():
    assert decide([0.5, 0.5, 0.55], RULE) == ATTACK


def test_last_attempt_below_threshold_is_live():
    assert decide([0.5, 0.4, 0.45], RULE) == LIVE


def test_rule_rejects_a_band_that_does_not_hold_the_threshold():
    with pytest.raises(ValueError):
        TransactionRule(lo=0.6, threshold=0.5, hi=0.8)


def test_transaction_prompts_present_again_two_of_three():
    tx = Transaction(RULE)
    tx.add(Attempt(0.5, "UNCERTAIN"))
    assert tx.prompt() == "present again (2/3)"


def test_transaction_final_verdict_after_three_attempts():
    tx = Transaction(RULE)
    for s in (0.5, 0.6, 0.7):
        tx.add(Attempt(s, "UNCERTAIN"))
    assert tx.prompt() == "ATTACK after 3 attempts"


def test_attempt_outside_the_domain_is_never_live():
    tx = Transaction(RULE)
    tx.add(Attempt(0.0, "UNCERTAIN", in_domain=False))
    assert tx.verdict == NOT_CHECKED


def test_another_models_attack_ends_the_transaction_as_attack():
    tx = Transaction(RULE)
    tx.add(Attempt(0.0, "LIVE", other_attack=True))
    assert tx.verdict == ATTACK


def test_finished_transaction_refuses_more_attempts():
    tx = Transaction(RULE)
    tx.add(Attempt(0.0, "LIVE"))
    with pytest.raises(ValueError):
        tx.add(Attempt(0.0, "LIVE"))


def test_transaction_record_lists_every_attempt():
    tx = Transaction(RULE)
    tx.add(Attempt(0.5, "UNCERTAIN", label="a.png"))
    tx.add(Attempt(0.0, "LIVE", label="b.png"))
    assert [a["label"] for a in tx.to_dict()["attempts"]] == ["a.png", "b.png"]


def test_simulate_counts_attempts_used():
    _, used = simulate([[0.1, 0.9, 0.9], [0.5, 0.5, 0.9]], RULE)
    assert used == [1, 3]


def test_simulate_verdicts():
    verdicts, _ = simulate([[0.1, 0.9, 0.9], [0.5, 0.5, 0.9]], RULE)
    assert verdicts == [LIVE, ATTACK]  # mean of the three = 0.633 >= 0.5


def test_rule_from_card_reads_the_band():
    rule = TransactionRule.from_card({"threshold": {"value": 0.5}, "transaction": {"lo": 0.3, "hi": 0.7}})
    assert (rule.lo, rule.threshold, rule.hi, rule.max_attempts) == (0.3, 0.5, 0.7, 3)


def test_rule_from_card_moves_the_band_with_the_operator_threshold():
    rule = TransactionRule.from_card({"threshold": {"value": 0.5}, "transaction": {"lo": 0.3, "hi": 0.7}}, 0.6)
    assert (round(rule.lo, 6), round(rule.hi, 6)) == (0.4, 0.8)


def test_card_without_transaction_gives_one_attempt():
    assert TransactionRule.from_card({"threshold": {"value": 0.4}}).max_attempts == 1


def test_attempt_from_results_flags_other_models_attack():
    own = PadResult(0.1, 0.5, "LIVE", ModelRef("pad-livdet", "2"))
    other = PadResult(0.9, 0.5, "ATTACK", ModelRef("pad-socofing", "2"))
    assert attempt_from_results([other, own], "pad-livdet").other_attack


def test_attempt_from_results_ignores_an_out_of_domain_attack():
    own = PadResult(0.1, 0.5, "LIVE", ModelRef("pad-livdet", "2"))
    other = PadResult(0.9, 0.5, "UNCERTAIN", ModelRef("pad-socofing", "2"), in_domain=False)
    assert not attempt_from_results([other, own], "pad-livdet").other_attack


def test_attempt_from_results_without_the_model_is_none():
    assert attempt_from_results([PadResult(0.1, 0.5, "LIVE", ModelRef("x"))], "pad-livdet") is None


# --- how attempts combine (docs/adr/0268)
LOGIT = TransactionRule(lo=0.2, threshold=0.5, hi=0.8, aggregate="logit")


def test_logit_aggregate_adds_the_evidence_of_the_attempts():
    # one clearly live attempt and one leaning to attack: their mean probability 0.45 sits in the
    # band (present again), their mean logit (-9.2 + 2.2) / 2 = -3.5 is clearly live (0.03 < lo)
    assert combine([0.0001, 0.9], "mean") == pytest.approx(0.45005)
    assert combine([0.0001, 0.9], "logit") == pytest.approx(1 / (1 + 9 ** -0.5 * 9999 ** 0.5), rel=1e-6)
    assert decide([0.0001, 0.9], LOGIT) == LIVE
    assert decide([0.0001, 0.9], RULE) == AGAIN


def test_logit_aggregate_of_one_attempt_is_the_attempt():
    for s in (0.01, 0.5, 0.93):
        assert combine([s], "logit") == pytest.approx(s)
        assert decide([s], LOGIT) == decide([s], RULE)


def test_logit_aggregate_survives_scores_of_exactly_0_and_1():
    assert 0.0 < combine([0.0, 1.0, 1.0], "logit") < 1.0


def test_unknown_aggregate_is_refused():
    with pytest.raises(ValueError, match="aggregate"):
        TransactionRule(lo=0.2, threshold=0.5, hi=0.8, aggregate="median")


def test_card_aggregate_reaches_the_rule_and_back():
    card = {"threshold": {"value": 0.5}, "transaction": {"lo": 0.2, "hi": 0.8, "max_attempts": 3,
                                                         "aggregate": "logit"}}
    rule = TransactionRule.from_card(card)
    assert rule.aggregate == "logit"
    assert rule.to_dict()["aggregate"] == "logit" and "mean logit" in rule.to_dict()["rule"]
    assert TransactionRule.from_card({"threshold": {"value": 0.5}, "transaction": {"lo": 0.2, "hi": 0.8}}).aggregate == "mean"


def test_simulate_keeps_the_aggregate():
    verdicts, used = simulate([[0.9, 0.9, 0.0001]], TransactionRule(lo=0.05, threshold=0.5, hi=0.95,
                                                                     aggregate="logit"))
    mean_verdicts, _ = simulate([[0.9, 0.9, 0.0001]], TransactionRule(lo=0.05, threshold=0.5, hi=0.95))
    assert verdicts == [LIVE] and mean_verdicts == [ATTACK]


def test_simulated_transactions_shared_by_training_and_evaluate():
    """cyclic_sequences / run_sequence (used by train_pad_livdet_v2.py and ``evaluate pad``)."""
    from fpstation.core.pad_transaction import cyclic_sequences, finger_and_impression, run_sequence

    assert finger_and_impression("Live/003_7_4.png") == ("003", "7", 4)
    assert finger_and_impression("x/some print.png") is None
    # finger A has impressions 2, 0, 1 at indices 10, 11, 12; finger B one impression at index 5
    seqs = cyclic_sequences({("A",): [(2, 10), (0, 11), (1, 12)], ("B",): [(0, 5)]})
    assert seqs == [[11, 12, 10], [12, 10, 11], [10, 11, 12], [5]]
    rule = TransactionRule(lo=0.1, threshold=0.5, hi=0.8)
    for seq in ([0.3, 0.6, 0.9], [0.05], [0.3, 0.3], [0.3, 0.9, 0.9], [0.85]):
        assert run_sequence(seq, rule) == tuple(x[0] for x in simulate([seq], rule))
    # an attempt outside the model's domain ends the transaction NOT CHECKED, never LIVE
    assert run_sequence([0.3, 0.01], rule, [True, False]) == (NOT_CHECKED, 2)
    assert run_sequence([0.01, 0.3], rule, [True, False]) == (LIVE, 1)
