"""Classical fingerprint enhancement with pyfing: the "classical" restorer.

Pipeline: SUFS segmentation → SNFOE orientation field → SNFFE ridge-period map → GBFEN (Gabor
filter bank) or SNFEN (small network) enhancement. pyfing and Keras are imported lazily inside
:func:`enhance`; its algorithm objects (SUFS/SNFOE/SNFFE/SNFEN hold Keras models) are built once
per process and cached.

Resolution: pyfing's networks and Gabor bank are tuned for 500 dpi. Rather than relying on each
pyfing stage to rescale internally (GBFEN's rescaling does not rescale the orientation and period
maps it is given), the print is resampled to 500 dpi once here, processed at 500 dpi, and the
result resampled back to the input's H×W. When the dpi is unknown the print is processed as if
it were 500 dpi and the result says so in ``extras["note"]``.

Output convention matches the input: dark ridges on white; outside the segmentation mask is white.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np

from fpstation.core.errors import FpError
from fpstation.core.jobs import NEVER_CANCELLED, CancelToken, Progress, null_progress
from fpstation.core.types import FingerprintImage, ModelRef, RestorationResult

#: enhancement methods offered (pyfing names)
METHODS = ("GBFEN", "SNFEN")
#: resolution pyfing's models and filters are built for
WORKING_DPI = 500.0
#: below this relative dpi difference no resampling is done (interpolation would only blur)
_RESAMPLE_TOLERANCE = 0.02

_build_lock = threading.Lock()
_run_lock = threading.Lock()  # Keras models are not documented as safe for concurrent calls
_algorithms: dict[str, Any] = {}


class EnhancementError(FpError):
    """pyfing failed on a print (for example an image too small for its networks)."""

    title = "Enhancement failed"


class _GraphModel:
    """A Keras model called through ``tf.function`` (graph mode) instead of eagerly.

    pyfing calls ``self.model(x, training=False).numpy()``. Graph mode gave identical output and,
    in the interleaved A/B of bench/io_enhance_bench.py (bench/results/io_enhance.json,
    "graph_vs_eager", 388x374 print, shared 2-core machine), SUFS 385 → 196 ms,
    SNFOE 740 → 430 ms, SNFFE 735 → 453 ms (medians). The graph is traced once per (rank, dtype)
    with every dimension left open, so prints of any size share one trace. If a graph call ever
    fails, the model is called eagerly from then on (correctness first).
    """

    def __init__(self, model: Any) -> None:
        self._model = model
        self._fns: dict[tuple[int, str], Any] = {}
        self._eager = False

    def _fn(self, x: np.ndarray) -> Any:
        key = (x.ndim, str(x.dtype))
        fn = self._fns.get(key)
        if fn is None:
            import tensorflow as tf

            model = self._model
            spec = tf.TensorSpec([None] * x.ndim, x.dtype)
            fn = tf.function(lambda t: model(t, training=False), input_signature=[spec])
            self._fns[key] = fn
        return fn

    def __call__(self, x: Any, training: bool = False) -> Any:
        if not self._eager and not training:
            try:
                arr = np.asarray(x)
                return self._fn(arr)(arr)
            except Exception:  # noqa: BLE001 - fall back to the path pyfing was written for
                self._eager = True
        return self._model(x, training=training)

    def __getattr__(self, name: str) -> Any:  # inputs, layers, predict ... for pyfing's other paths
        return getattr(self._model, name)


def _algorithm(name: str) -> Any:
    """The cached pyfing algorithm object ``name`` (built on first use, thread-safe)."""
    alg = _algorithms.get(name)
    if alg is not None:
        return alg
    with _build_lock:
        alg = _algorithms.get(name)
        if alg is None:
            import pyfing

            alg = {"SUFS": pyfing.Sufs, "SNFOE": pyfing.Snfoe, "SNFFE": pyfing.Snffe,
                   "GBFEN": pyfing.Gbfen, "SNFEN": pyfing.Snfen}[name]()
            if getattr(alg, "model", None) is not None:
                alg.model = _GraphModel(alg.model)
            _algorithms[name] = alg
    return alg


def warm_up(method: str = "GBFEN") -> float:
    """Build (load) the pyfing algorithms for ``method`` now; returns the seconds it took."""
    t0 = time.perf_counter()
    for name in ("SUFS", "SNFOE", "SNFFE", method.upper()):
        _algorithm(name)
    return time.perf_counter() - t0


def enhance(image: FingerprintImage, method: str = "GBFEN", progress: Progress = null_progress,
            cancel: CancelToken = NEVER_CANCELLED) -> RestorationResult:
    """Segment, estimate orientation and ridge period, and enhance one print with pyfing.

    Parameters
    ----------
    image : the print (uint8 H×W, dark ridges on white).
    method : "GBFEN" (Gabor filter bank, default) or "SNFEN" (pyfing's enhancement network).
    progress : receives fractions in [0, 1] and the stage name.
    cancel : checked between stages; a cancelled token raises :class:`~fpstation.core.jobs.Cancelled`.

    Returns
    -------
    RestorationResult
        ``method="classical"``, ``pixels`` uint8 with the input's H×W (dark ridges on white,
        background outside the mask white), ``model=ModelRef("pyfing-<METHOD>", pyfing version)``,
        ``seconds`` = total time, ``extras`` with ``mask`` (uint8 0/255, input size),
        ``enhancer``, ``dpi_used``, ``timings`` per stage, ``foreground_fraction``
        and ``note`` when the dpi was unknown.

    Raises
    ------
    EnhancementError
        Unknown method, or pyfing failed on this print.
    Cancelled
        ``cancel`` was set.
    """
    import cv2

    m = method.upper()
    if m not in METHODS:
        raise EnhancementError(f"Unknown enhancement method “{method}” (choose {' or '.join(METHODS)}).")
    t_start = time.perf_counter()
    src = np.ascontiguousarray(image.pixels, dtype=np.uint8)
    if src.ndim != 2 or min(src.shape) < 32:
        raise EnhancementError(f"The print is {src.shape[1] if src.ndim > 1 else '?'}×{src.shape[0]} pixels; "
                               "classical enhancement needs a grey image of at least 32×32.")
    h0, w0 = src.shape
    extras: dict[str, Any] = {"enhancer": m}
    if image.dpi is None:
        dpi = WORKING_DPI
        extras["note"] = "dpi unknown: assumed 500 for enhancement"
    else:
        dpi = float(image.dpi)
    extras["dpi_used"] = dpi
    timings: dict[str, float] = {}

    progress(0.0, "loading pyfing")
    cancel.raise_if_cancelled()
    t = time.perf_counter()
    try:
        import pyfing

        seg, ori, freq, enh = (_algorithm(n) for n in ("SUFS", "SNFOE", "SNFFE", m))
    except ImportError as exc:
        # pyfing runs Keras networks: without TensorFlow (no train extra; the packaged application)
        # it is unavailable, the model restorers (U-Net, encoder-decoder) are not: they need onnxruntime
        raise EnhancementError("Classical (pyfing) enhancement runs pyfing's Keras networks, which need "
                               "pyfing and TensorFlow: install the training extra, pip install "
                               "'fpstation[train]' (the packaged application does not include them). "
                               "The U-Net and encoder-decoder restorers work without them.",
                               detail=str(exc)) from exc
    timings["load"] = time.perf_counter() - t

    scale = WORKING_DPI / dpi
    work = src
    if abs(scale - 1.0) > _RESAMPLE_TOLERANCE:
        interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
        work = cv2.resize(src, (max(32, round(w0 * scale)), max(32, round(h0 * scale))), interpolation=interp)
        extras["resampled_to"] = [int(work.shape[1]), int(work.shape[0])]

    def stage(name: str, frac: float, fn):
        cancel.raise_if_cancelled()
        progress(frac, name)
        t0 = time.perf_counter()
        try:
            with _run_lock:
                out = fn()
        except FpError:
            raise
        except Exception as exc:  # noqa: BLE001 - pyfing/Keras errors are not typed; report in words
            raise EnhancementError(f"Classical enhancement failed during {name}: {type(exc).__name__}: {exc}",
                                   path=image.source, detail=repr(exc)) from exc
        timings[name] = time.perf_counter() - t0
        return out

    wd = int(WORKING_DPI)
    seg.parameters.image_dpi = wd  # SUFS reads the dpi from its parameters; we always work at 500
    mask = stage("segmentation", 0.1, lambda: seg.run(work))
    orientation = stage("orientation", 0.35, lambda: ori.run(work, mask, wd)[0])
    periods = stage("frequency", 0.6, lambda: freq.run(work, mask, orientation, wd))
    enhanced = stage("enhancement", 0.8, lambda: enh.run(work, mask, orientation, periods, wd))
    cancel.raise_if_cancelled()

    # pyfing gives white ridges on black; the app shows prints as scanned: dark ridges on white.
    out = 255 - np.asarray(enhanced, dtype=np.uint8)
    out[mask == 0] = 255
    if out.shape != (h0, w0):
        out = cv2.resize(out, (w0, h0), interpolation=cv2.INTER_LINEAR)
        mask = cv2.resize(mask, (w0, h0), interpolation=cv2.INTER_NEAREST)
        out[mask == 0] = 255
    extras["mask"] = mask
    extras["foreground_fraction"] = float(np.count_nonzero(mask)) / mask.size
    extras["timings"] = timings
    progress(1.0, "done")
    return RestorationResult(pixels=np.ascontiguousarray(out, dtype=np.uint8), method="classical",
                             model=ModelRef(f"pyfing-{m}", getattr(pyfing, "__version__", "")),
                             seconds=time.perf_counter() - t_start, extras=extras)
