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


def restorer_settings(settings, restorer: str | None):
    """A copy of ``settings`` whose restorer is ``restorer`` when it names one (a report recomputes the
    restored image with the restorer of the analysis it holds, not with today's choice)."""
    import copy

    s = copy.copy(settings)
    if restorer and restorer in {k for _, k in RESTORERS}:
        s.restorer = restorer
    return s


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


def pad_all(image: FingerprintImage, primary: str = "", threshold: float | None = None,
            uncertain_band: float = 0.1, model_keys: tuple[str, ...] = ()) -> tuple[PadResult, ...]:
    """Every shipped PAD model side by side (alteration + material spoof); see core/pad.py."""
    from fpstation.ml.classifiers import pad_predict_all

    return pad_predict_all(image, model_keys, primary, threshold, uncertain_band)


def gender(image: FingerprintImage, model_key: str = "", uncertain_band: float | None = None) -> GenderResult:
    """Gender estimate; ``uncertain_band`` None = the band the model card chose out of fold."""
    from fpstation.ml.classifiers import gender_predict

    return gender_predict(image, model_key=model_key, uncertain_band=uncertain_band)


def default_analyzers(settings=None, *, restoration: bool = True, pad_: bool = True,
                      gender_: bool = True, quality: bool = True) -> Analyzers:
    """The analysers configured by ``settings`` (a :class:`fpstation.settings.Settings`).

    The models run on onnxruntime (or numpy): no TensorFlow. Only the classical (pyfing) restorer
    runs Keras networks; when it is chosen, TensorFlow's native libraries are loaded here first
    without the GIL (a no-op after the first call, off Linux or without TensorFlow), which shortens
    the GUI stall of its later ``import tensorflow``.
    """
    from fpstation.settings import Settings

    s = settings or Settings()
    if restoration and s.restorer == "classical":
        from fpstation.ml.preload import preload_tensorflow_libraries

        preload_tensorflow_libraries()
    return Analyzers(
        restore=(lambda im: restore(im, s.restorer)) if restoration else None,
        pad=(lambda im: pad_all(im, s.pad_model, s.pad_threshold, s.uncertain_band,
                                tuple(getattr(s, "pad_models", ()) or ()))) if pad_ else None,
        # gender: the model card's uncertain band (chosen out of fold), not the PAD-oriented setting
        gender=(lambda im: gender(im, s.gender_model)) if gender_ else None,
        quality=_nfiq2 if quality else None,
        not_fingerprint=not_fingerprint,
    )


def _nfiq2(image: FingerprintImage):
    """NFIQ 2 (NIST, native; no TensorFlow)."""
    from fpstation.core.matching.quality import nfiq2

    return nfiq2(image)


# -- the Ray engine's worker set-up (fpstation.core.cluster) ---------------------------------------
_STEP_TASK = {"restoration": "restoration", "pad": "pad", "gender": "gender"}


def _default_registry():
    from fpstation.ml.registry import get_registry

    return get_registry()


def _selected_cards(settings, steps, registry=None) -> dict:
    """step → the model card ``settings`` selects for it (what inference will load), or None when
    that step needs no model (classical restorer) or none is installed (the rows then carry the
    step's error, as with the local engine)."""
    from fpstation.core.errors import ModelError
    from fpstation.ml.registry import get_registry
    from fpstation.ml.restoration import find_card

    reg = registry or get_registry()
    out: dict = {}
    for step in steps:
        try:
            if step.startswith("pad:"):  # a further PAD model that runs side by side (pad_all)
                out[step] = reg.card(step[4:])
            elif step == "restoration":
                out[step] = None if settings.restorer == "classical" else find_card(settings.restorer, reg)
            else:
                key = settings.pad_model if step == "pad" else settings.gender_model
                out[step] = reg.card(key) if key else reg.default(_STEP_TASK[step])
        except ModelError:
            out[step] = None
    return out


class ClusterSetup:
    """Picklable recipe for a Ray worker's analysers (``fpstation.core.cluster.BatchWorker``).

    Built on the driver, which records the SHA-256 of every model card the settings select. Called
    on each worker: it resolves the same cards from the worker's own installation, refuses to start
    when a card is missing there or differs (different sha256), hashes each weights file (and ONNX
    export) against it, then builds :func:`default_analyzers` — so every row is analysed by a model
    byte-identical to the one the driver's case records.
    """

    def __init__(self, settings=None, *, restoration: bool = True, pad_: bool = True, gender_: bool = True,
                 registry=None, quality: bool = True):
        from fpstation.settings import Settings

        self.settings = settings or Settings()
        # NFIQ 2 (quality) needs no model card: nbis-py's NIST code, the same version on every node
        from fpstation.core.steps import STEP_NAMES

        self.flags = {"restoration": restoration, "pad_": pad_, "gender_": gender_, "quality": quality}
        on = {"quality": quality, "restoration": restoration, "pad": pad_, "gender": gender_}
        #: every step a print must hold to count as done on a re-run (as core.batch.requested_steps)
        self.requested = frozenset(n for n in STEP_NAMES if on[n])
        #: the steps that run a model (their cards are checked on every worker)
        self.steps = self.requested & frozenset(_STEP_TASK)
        cards = _selected_cards(self.settings, self.steps, registry)
        if pad_:  # pad_all runs every shipped PAD model beside the selected one: verify them all
            from fpstation.ml.classifiers import pad_model_keys

            primary = cards.get("pad")
            run = pad_model_keys(registry)
            if self.settings.pad_model:  # the chosen model replaces the default (pad_predict_all)
                default = (registry or _default_registry()).default("pad")
                run = [k for k in run if default is None or k != default.key]
            extra = {f"pad:{k}" for k in run if primary is None or k != primary.key}
            cards.update(_selected_cards(self.settings, extra, registry))
        self.expected = {step: {"key": c.key, "name": c.name, "version": c.version, "sha256": c.sha256}
                         for step, c in cards.items() if c is not None}
        self._verified: list[dict] = []

    def verify(self, registry=None) -> list[dict]:
        """Check this installation's models against the driver's cards. Raises ModelError."""
        from fpstation.core.errors import ModelIntegrityError, ModelNotFoundError
        from fpstation.ml.registry import get_registry

        reg = registry or get_registry()
        here = _selected_cards(self.settings, set(self.expected), reg)
        out = []
        for step, want in sorted(self.expected.items()):
            card = here.get(step)
            if card is None:
                raise ModelNotFoundError(f"The {step} model “{want['name']}” v{want['version']} is not installed "
                                         "on this worker. Install the same fpstation (with its models) on every node.")
            if card.sha256 != want["sha256"]:
                raise ModelIntegrityError(
                    f"The {step} model “{card.name}” on this worker is not the driver's (its card's sha256 "
                    f"{card.sha256[:12]}… differs from {want['sha256'][:12]}…). Install the same models on every node.")
            reg.verify(card)  # the weights file's bytes against the card
            reg.onnx_file(card)  # and its ONNX export (what inference runs), when it has one
            out.append({"step": step, **want})
        return out

    def verified(self) -> list[dict]:
        return list(self._verified)

    def __call__(self) -> Analyzers:
        self._verified = self.verify()
        return default_analyzers(self.settings, **self.flags)


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
