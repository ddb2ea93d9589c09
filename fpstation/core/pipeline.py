"""Per-print analysis shared by the single-print view, batch, scanner watch and the CLI.

core/ never imports TensorFlow: the analysers are plain callables injected by the caller
(``fpstation.ml.inference.default_analyzers()`` builds the real ones).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, fields, replace
from typing import Any

from fpstation.core.errors import FpError
from fpstation.core.jobs import NEVER_CANCELLED, CancelToken, Progress, null_progress
from fpstation.core.steps import STEP_NAMES, STEPS
from fpstation.core.types import (
    AnalysisResult,
    FingerprintImage,
    GenderResult,
    PadResult,
    RestorationResult,
)


@dataclass(init=False)
class Analyzers:
    """The analysis steps to run, one attribute per step of :data:`fpstation.core.steps.STEPS`
    (same name); any may be ``None`` (skipped)."""

    #: print quality (NFIQ 2, ``fpstation.core.matching.quality.nfiq2``)
    quality: Callable[[FingerprintImage], object] | None
    restoration: Callable[[FingerprintImage], RestorationResult] | None
    #: one PadResult, or one per PAD model (then combined by fpstation.core.pad.combine_pad)
    pad: Callable[[FingerprintImage], PadResult | Sequence[PadResult]] | None
    gender: Callable[[FingerprintImage], GenderResult] | None
    #: returns why the image is not a fingerprint (e.g. "it looks like a photograph of a face"),
    #: or None; when it gives a reason no fingerprint model judges the image (a gate, not a step)
    not_fingerprint: Callable[[FingerprintImage], str | None] | None

    def __init__(self, restoration: Callable[[FingerprintImage], RestorationResult] | None = None,
                 pad: Callable[[FingerprintImage], PadResult | Sequence[PadResult]] | None = None,
                 gender: Callable[[FingerprintImage], GenderResult] | None = None,
                 quality: Callable[[FingerprintImage], object] | None = None,
                 not_fingerprint: Callable[[FingerprintImage], str | None] | None = None, *,
                 restore: Callable[[FingerprintImage], RestorationResult] | None = None) -> None:
        if restore is not None and restoration is not None:
            raise TypeError("give restoration= (restore= is its old name), not both")
        self.quality = quality
        self.restoration = restoration if restoration is not None else restore
        self.pad = pad
        self.gender = gender
        self.not_fingerprint = not_fingerprint

    @property
    def restore(self) -> Callable[[FingerprintImage], RestorationResult] | None:
        """Old name of :attr:`restoration` (kept while code written against it is merged)."""
        return self.restoration

    def step(self, name: str) -> Callable[[FingerprintImage], Any] | None:
        """The callable of step ``name`` (a :data:`STEP_NAMES` entry), or None when it is skipped."""
        if name not in STEP_NAMES:
            raise KeyError(f"unknown analysis step {name!r}; steps are {', '.join(STEP_NAMES)}")
        return getattr(self, name)

    def without(self, done: Iterable[str]) -> Analyzers:
        """The same analysers less the steps in ``done`` (a batch re-run: only what is missing)."""
        return replace(self, **{n: None for n in set(done) & set(STEP_NAMES)})

    def replace_steps(self, fn: Callable[[str, Callable[[FingerprintImage], Any]], Callable[[FingerprintImage], Any]],
                      ) -> Analyzers:
        """The same analysers with each configured step's callable ``c`` replaced by ``fn(name, c)``."""
        return replace(self, **{n: fn(n, c) for n, c in analysis_steps(self)})


def analysis_steps(analyzers: Analyzers) -> list[tuple[str, Callable]]:
    """The steps ``analyzers`` asks for, in the order :func:`analyse` runs them, as (name, callable)."""
    return [(s.name, f) for s in STEPS if (f := analyzers.step(s.name)) is not None]


def _check_declarations() -> None:
    """The step table and the two classes named after it agree (a new step is added in all three)."""
    from fpstation.core.types import AnalysisResult

    names = [f.name for f in fields(Analyzers) if f.name != "not_fingerprint"]
    result = {f.name for f in fields(AnalysisResult)}
    if names != list(STEP_NAMES) or not set(STEP_NAMES) <= result:
        raise AssertionError(f"Analyzers {names} / AnalysisResult fields do not match STEPS {STEP_NAMES}")


_check_declarations()


def analyse(
    image: FingerprintImage,
    analyzers: Analyzers,
    progress: Progress = null_progress,
    cancel: CancelToken = NEVER_CANCELLED,
) -> AnalysisResult:
    """Run every configured analyser on one print.

    A failing step does not stop the others: its message goes to ``errors[step]``.
    Cancellation is checked between steps and raises :class:`~fpstation.core.jobs.Cancelled`.
    """
    steps = analysis_steps(analyzers)
    out: dict[str, Any] = {}
    timings: dict[str, float] = {}
    errors: dict[str, str] = {}
    if steps and analyzers.not_fingerprint is not None:
        t0 = time.perf_counter()
        try:
            why = analyzers.not_fingerprint(image)
        except Exception:  # noqa: BLE001 - a failing check must not stop the fingerprint analysis
            why = None
        timings["modality"] = time.perf_counter() - t0
        if why:
            progress(1.0, "not a fingerprint")
            msg = f"not judged: {why}"
            return AnalysisResult(image=image, timings=timings, errors={name: msg for name, _ in steps})
    for i, (name, fn) in enumerate(steps):
        cancel.raise_if_cancelled()
        progress(i / max(len(steps), 1), name)
        t0 = time.perf_counter()
        try:
            out[name] = fn(image)
        except FpError as exc:
            errors[name] = exc.user_message
        except Exception as exc:  # noqa: BLE001 - one broken model must not lose the other results
            errors[name] = f"{type(exc).__name__}: {exc}"
        timings[name] = time.perf_counter() - t0
    progress(1.0, "done")
    pad = out.get("pad")
    pad_models: tuple[PadResult, ...] = ()
    if isinstance(pad, tuple | list):  # one result per PAD model: combine them (core/pad.py)
        from fpstation.core.pad import combine_pad

        pad_models = tuple(pad)
        pad = combine_pad(pad_models)
    elif isinstance(pad, PadResult):
        pad_models = (pad,)
    out["pad"] = pad
    return AnalysisResult(image=image, timings=timings, errors=errors, pad_models=pad_models,
                          **{name: out.get(name) for name in STEP_NAMES})
