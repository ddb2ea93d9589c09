"""Per-print analysis shared by the single-print view, batch, scanner watch and the CLI.

core/ never imports TensorFlow: the analysers are plain callables injected by the caller
(``fpstation.ml.inference.default_analyzers()`` builds the real ones).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from fpstation.core.errors import FpError
from fpstation.core.jobs import NEVER_CANCELLED, CancelToken, Progress, null_progress
from fpstation.core.types import (
    AnalysisResult,
    FingerprintImage,
    GenderResult,
    PadResult,
    RestorationResult,
)


@dataclass
class Analyzers:
    """The analysis steps to run; any may be ``None`` (skipped)."""

    restore: Callable[[FingerprintImage], RestorationResult] | None = None
    #: one PadResult, or one per PAD model (then combined by fpstation.core.pad.combine_pad)
    pad: Callable[[FingerprintImage], PadResult | Sequence[PadResult]] | None = None
    gender: Callable[[FingerprintImage], GenderResult] | None = None
    #: print quality (NFIQ 2, ``fpstation.core.matching.quality.nfiq2``)
    quality: Callable[[FingerprintImage], object] | None = None
    #: returns why the image is not a fingerprint (e.g. "it looks like a photograph of a face"),
    #: or None; when it gives a reason no fingerprint model judges the image
    not_fingerprint: Callable[[FingerprintImage], str | None] | None = None


def analysis_steps(analyzers: Analyzers) -> list[tuple[str, Callable]]:
    """The steps ``analyzers`` asks for, in the order :func:`analyse` runs them, as (name, callable)."""
    return [(n, f) for n, f in (("quality", analyzers.quality), ("restoration", analyzers.restore),
                                ("pad", analyzers.pad), ("gender", analyzers.gender)) if f is not None]


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
    out: dict[str, object] = {}
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
            return AnalysisResult(image=image, restoration=None, pad=None, gender=None, timings=timings,
                                  errors={name: msg for name, _ in steps})
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
    return AnalysisResult(image=image, restoration=out.get("restoration"), pad=pad,  # type: ignore[arg-type]
                          gender=out.get("gender"), timings=timings, errors=errors, pad_models=pad_models,
                          quality=out.get("quality"))
