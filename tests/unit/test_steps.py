"""One step table (fpstation.core.steps): the analysers, the result fields, the batch "missing
steps" and the case store all use its names."""

from __future__ import annotations

from dataclasses import fields

import numpy as np
import pytest

from fpstation.core.pipeline import Analyzers, analyse, analysis_steps
from fpstation.core.steps import STEP_NAMES
from fpstation.core.types import AnalysisResult, FingerprintImage


def _img() -> FingerprintImage:
    return FingerprintImage(np.full((40, 40), 128, np.uint8), 500.0, "x.png", "ab")


def _all() -> Analyzers:
    return Analyzers(**{n: (lambda im, n=n: f"{n} result") for n in STEP_NAMES})


def test_analyzers_have_one_attribute_per_step_in_table_order():
    assert [f.name for f in fields(Analyzers) if f.name != "not_fingerprint"] == list(STEP_NAMES)


@pytest.mark.parametrize("name", STEP_NAMES)
def test_each_step_is_a_result_field(name):
    assert name in {f.name for f in fields(AnalysisResult)}


def test_analysis_steps_follow_the_table():
    assert [n for n, _ in analysis_steps(_all())] == list(STEP_NAMES)


@pytest.mark.parametrize("name", ["quality", "restoration", "gender"])
def test_each_result_lands_in_the_field_of_its_name(name):
    res = analyse(_img(), Analyzers(**{name: lambda im: f"{name} result"}))
    assert getattr(res, name) == f"{name} result"


def test_without_drops_exactly_the_done_steps():
    rest = _all().without({"pad", "quality"})
    assert [n for n, _ in analysis_steps(rest)] == ["restoration", "gender"]


def test_without_keeps_the_gate():
    gate = lambda im: None  # noqa: E731
    assert Analyzers(pad=lambda im: None, not_fingerprint=gate).without({"pad"}).not_fingerprint is gate


def test_restore_is_the_old_name_of_restoration():
    fn = lambda im: None  # noqa: E731
    assert Analyzers(restore=fn).restoration is fn


def test_unknown_step_is_refused():
    with pytest.raises(KeyError, match="steps are"):
        _all().step("restore")
