"""Inference facade: restore(), pad(), gender() -> typed results; default_analyzers() for pipelines.

Heavy modules (TensorFlow, pyfing) are imported inside the functions, so importing this module is
cheap. Implementations live in:
- ``ml/classical.py``    pyfing classical enhancement (segmentation + orientation + frequency + GBFEN/SNFEN)
- ``ml/restoration.py``  trained restorers (U-Net, reference encoder-decoder), tiling, dpi handling
- ``ml/classifiers.py``  PAD and gender CNNs, calibration, Grad-CAM/occlusion maps
All inference runs on the single-thread inference pool in the GUI (workers.Pools.inference).
"""

from __future__ import annotations

from fpstation.core.pipeline import Analyzers
from fpstation.core.types import FingerprintImage, GenderResult, PadResult, RestorationResult

#: restoration methods the GUI offers, in menu order (label, key)
RESTORERS = [("U-Net (trained)", "unet"), ("Encoder-decoder baseline", "autoencoder"),
             ("Classical (pyfing)", "classical")]


def restore(image: FingerprintImage, method: str = "unet") -> RestorationResult:
    """Restore/enhance one print; output has the input's size and alignment."""
    if method == "classical":
        from fpstation.ml.classical import enhance

        return enhance(image)
    from fpstation.ml.restoration import restore_with_model

    return restore_with_model(image, method)


def pad(image: FingerprintImage, model_key: str = "", threshold: float | None = None,
        uncertain_band: float = 0.1) -> PadResult:
    from fpstation.ml.classifiers import pad_predict

    return pad_predict(image, model_key=model_key, threshold=threshold, uncertain_band=uncertain_band)


def gender(image: FingerprintImage, model_key: str = "", uncertain_band: float = 0.1) -> GenderResult:
    from fpstation.ml.classifiers import gender_predict

    return gender_predict(image, model_key=model_key, uncertain_band=uncertain_band)


def default_analyzers(settings=None, *, restoration: bool = True, pad_: bool = True,
                      gender_: bool = True, quality: bool = True) -> Analyzers:
    """The analysers configured by ``settings`` (a :class:`fpstation.settings.Settings`).

    Called on a worker thread (or in the CLI) before the first analysis: it first loads
    TensorFlow's native libraries without the GIL (a no-op after the first call and off Linux),
    which shortens the GUI stall of the later ``import tensorflow``.
    """
    from fpstation.ml.preload import preload_tensorflow_libraries
    from fpstation.settings import Settings

    preload_tensorflow_libraries()

    s = settings or Settings()
    return Analyzers(
        restore=(lambda im: restore(im, s.restorer)) if restoration else None,
        pad=(lambda im: pad(im, s.pad_model, s.pad_threshold, s.uncertain_band)) if pad_ else None,
        gender=(lambda im: gender(im, s.gender_model, s.uncertain_band)) if gender_ else None,
        quality=_nfiq2 if quality else None,
        not_fingerprint=not_fingerprint,
    )


def _nfiq2(image: FingerprintImage):
    """NFIQ 2 (NIST, native; no TensorFlow)."""
    from fpstation.core.matching.quality import nfiq2

    return nfiq2(image)


def not_fingerprint(image: FingerprintImage) -> str | None:
    """Why a fingerprint model should not judge ``image`` (a face photograph), or None.

    The face-vs-fingerprint check of ml/face/modality.py: a detected face with no ridge pattern.
    Without dlib installed the check is skipped (None)."""
    try:
        from fpstation.ml.face.modality import FACE, check
    except ImportError:
        return None
    try:
        m = check(image.pixels)
    except ImportError:  # dlib missing: no face detector
        return None
    return m.reason if m.kind == FACE else None
