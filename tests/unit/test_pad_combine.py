"""Several PAD models side by side: the combined verdict rules (core/pad.py) and the pipeline."""

from __future__ import annotations

import numpy as np

from fpstation.core.pad import combine_pad, pad_dict, pad_from_dict
from fpstation.core.pipeline import Analyzers, analyse
from fpstation.core.types import FingerprintImage, ModelRef, PadResult


def _r(name: str, verdict: str, score: float, in_domain: bool = True, seen=("x",)) -> PadResult:
    return PadResult(score, 0.5, verdict, ModelRef(name, "1"), 0.01, tuple(seen), in_domain,
                     "" if in_domain else "outside the sensor/resolution it was validated on: 1000 dpi")


def test_any_attack_inside_domain_is_attack():
    c = combine_pad([_r("alt", "LIVE", 0.1), _r("spoof", "ATTACK", 0.9, seen=("gelatine",))])
    assert c.verdict == "ATTACK"
    assert c.attack_score == 0.9
    assert c.in_domain
    assert c.model.name == "combined: alt + spoof"
    assert c.attack_types_seen == ("x", "gelatine")


def test_uncertain_model_makes_combined_uncertain():
    assert combine_pad([_r("alt", "LIVE", 0.1), _r("spoof", "UNCERTAIN", 0.52)]).verdict == "UNCERTAIN"
    # an attack still wins over an uncertain model
    assert combine_pad([_r("alt", "ATTACK", 0.8), _r("spoof", "UNCERTAIN", 0.52)]).verdict == "ATTACK"


def test_out_of_domain_model_is_not_checked_but_listed():
    c = combine_pad([_r("alt", "UNCERTAIN", 0.95, in_domain=False, seen=("z-cut",)), _r("spoof", "LIVE", 0.05)])
    assert c.verdict == "LIVE"  # the in-domain model checked it and says live
    assert "not checked by alt" in c.domain_reason
    assert "z-cut" in c.domain_reason
    # an out-of-domain model's high score never makes a confident ATTACK
    assert c.attack_score == 0.05


def test_every_model_out_of_domain_is_uncertain():
    c = combine_pad([_r("alt", "UNCERTAIN", 0.9, False), _r("spoof", "UNCERTAIN", 0.1, False)])
    assert c.verdict == "UNCERTAIN"
    assert not c.in_domain
    assert c.domain_reason.startswith("no PAD model was validated on prints like this one")


def test_single_model_passes_through_and_dict_round_trip():
    r = _r("alt", "LIVE", 0.2)
    assert combine_pad([r]) is r
    assert combine_pad([]) is None
    back = pad_from_dict(pad_dict(_r("alt", "UNCERTAIN", 0.3, False)))
    assert back.verdict == "UNCERTAIN"
    assert not back.in_domain
    assert back.model.name == "alt"


def test_pipeline_combines_a_sequence_and_keeps_single_results():
    im = FingerprintImage(np.full((20, 20), 200, np.uint8), None, "x.png", "ab")
    res = analyse(im, Analyzers(pad=lambda _im: (_r("alt", "LIVE", 0.1), _r("spoof", "ATTACK", 0.7))))
    assert res.pad.verdict == "ATTACK"
    assert len(res.pad_models) == 2
    single = analyse(im, Analyzers(pad=lambda _im: _r("alt", "LIVE", 0.1)))
    assert single.pad.model.name == "alt"
    assert single.pad_models == (single.pad,)
