"""The analysis steps, declared once.

Each step's ``name`` is, everywhere, the same word: the :class:`~fpstation.core.pipeline.Analyzers`
attribute that holds its callable, the :class:`~fpstation.core.types.AnalysisResult` field that holds
its result, its key in ``AnalysisResult.errors`` / ``timings``, the step recorded in a case
(:mod:`fpstation.core.store`) and what a batch re-run finds missing. Everything else
(:func:`fpstation.core.pipeline.analysis_steps`, :meth:`Analyzers.without`, the result's
construction, the CLI's "skipped" list, the Ray workers' requested steps) is derived from
:data:`STEPS`; tests/unit/test_steps.py checks the declarations against it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Step:
    """One analysis step: its name (see the module docstring) and the words for it."""

    name: str
    title: str


#: in the order :func:`fpstation.core.pipeline.analyse` runs them
STEPS: tuple[Step, ...] = (
    Step("quality", "NFIQ 2"),
    Step("restoration", "Restoration"),
    Step("pad", "Presentation-attack detection"),
    Step("gender", "Gender estimation"),
)
STEP_NAMES: tuple[str, ...] = tuple(s.name for s in STEPS)
