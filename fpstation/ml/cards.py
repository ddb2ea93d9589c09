"""Model cards, parsed once at load into frozen dataclasses.

A model card is the JSON beside a weights file (see :mod:`fpstation.ml.registry` for the whole
format). Inference reads only the typed fields below; the raw JSON stays in ``ModelCard.data`` for
the reports and dialogs that show a card's figures (metrics, data, split) as they are written.

A malformed card raises :class:`CardError` with the file and the entry that is wrong, e.g.
``Model card “pad-x.json” is malformed: input.shape must be [H, W, C] …``.

The dpi rules have one home here: :meth:`ModelCard.input_dpi_for` (the dpi a print is taken to
have: the file's or stated dpi, else the card's nominal training dpi, else the model's own dpi) and
:meth:`ModelCard.scale_for` (the resampling factor to the model's dpi).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fpstation.core.domain import CardDomain, number_field, object_field
from fpstation.core.errors import CardError
from fpstation.core.types import FingerprintImage

__all__ = ["CardCalibration", "CardDomain", "CardError", "CardInput", "CardOnnx", "CardRoc", "CardSplit", "ModelCard",
           "card_of", "parse_card"]

#: architectures that are not TensorFlow graphs (classical texture PAD, numpy feature gender)
TEXTURE_ARCHITECTURE = "pad_texture_linear"
#: every classical texture PAD (.npz weights): whole-print and local-patch (ml/classifiers/pad_local.py)
TEXTURE_ARCHITECTURES = (TEXTURE_ARCHITECTURE, "pad_local_texture")


@dataclass(frozen=True)
class CardInput:
    """``input``: what the model is fed."""

    shape: tuple[int | None, ...] | None = None  # (H, W, C); None sizes = any size
    dpi: float | None = None  # dpi the model resamples prints to; None = no resampling
    patches: bool = False  # texture-patch model: print logit = mean patch logit
    kind: str = "image"  # "image" or "features" (a numpy feature model)
    guidance: tuple[str, ...] = ()  # restorers: guidance channels after the print
    mirror: bool = False  # whole-print classifier: logit = mean of the print's and its left-right mirror's

    def hw(self, default: tuple[int, int]) -> tuple[int, int]:
        """(H, W) of a fixed-size input; ``default`` when the card states none."""
        if self.shape and self.shape[0] and self.shape[1]:
            return int(self.shape[0]), int(self.shape[1])
        return default

    @classmethod
    def parse(cls, value: Any, where: str = "input") -> CardInput:
        d = object_field(value, where)
        shape = d.get("shape")
        if shape is not None:
            if not isinstance(shape, (list, tuple)) or not 2 <= len(shape) <= 3 or not all(
                    v is None or (isinstance(v, int) and not isinstance(v, bool) and v > 0) for v in shape):
                raise CardError(f"{where}.shape must be [H, W, C] (positive sizes or null), not {shape!r}")
            shape = tuple(shape)
        guidance = d.get("guidance") or ()
        if isinstance(guidance, str) or not all(isinstance(g, str) for g in guidance):
            raise CardError(f"{where}.guidance must be a list of channel names, not {guidance!r}")
        mirror = d.get("mirror", False)
        if not isinstance(mirror, bool):
            raise CardError(f"{where}.mirror must be true or false, not {mirror!r}")
        return cls(shape, number_field(d.get("dpi"), f"{where}.dpi", positive=True), bool(d.get("patches", False)),
                   str(d.get("kind", "image")), tuple(guidance), mirror)


@dataclass(frozen=True)
class CardCalibration:
    """``calibration``: calibrated logit = a·logit + b (Platt scaling on validation)."""

    a: float = 1.0
    b: float = 0.0

    def apply(self, logits: np.ndarray | float) -> np.ndarray:
        return self.a * np.asarray(logits, np.float64) + self.b

    @classmethod
    def parse(cls, value: Any, where: str = "calibration") -> CardCalibration | None:
        d = object_field(value, where)
        if not d:
            return None
        a, b = number_field(d.get("a", 1.0), f"{where}.a"), number_field(d.get("b", 0.0), f"{where}.b")
        return cls(1.0 if a is None else a, 0.0 if b is None else b)


@dataclass(frozen=True)
class CardRoc:
    """The validation ROC of a PAD card (``roc``, or ``metrics.roc`` in cards written by training).

    ``threshold`` descending; ``tpr`` = 1 - APCER, ``fpr`` = BPCER; ``apcer_by_type`` per attack type.
    """

    threshold: np.ndarray = field(compare=False)
    tpr: np.ndarray = field(compare=False)
    fpr: np.ndarray = field(compare=False)
    apcer_by_type: Mapping[str, np.ndarray] = field(default_factory=dict, compare=False)

    @classmethod
    def parse(cls, value: Any, where: str = "roc") -> CardRoc | None:
        d = object_field(value, where)
        if not d or not d.get("threshold"):
            return None
        try:
            thr = np.asarray(d["threshold"], np.float64)
            tpr = np.asarray(d["tpr"], np.float64)
            fpr = np.asarray(d["fpr"], np.float64)
            by_type = {str(k): np.asarray(v, np.float64) for k, v in object_field(
                d.get("apcer_by_type"), f"{where}.apcer_by_type").items()}
        except (KeyError, TypeError, ValueError) as exc:
            raise CardError(f"{where} needs numeric threshold, tpr and fpr lists ({exc})") from exc
        if not (len(thr) == len(tpr) == len(fpr)) or any(len(v) != len(thr) for v in by_type.values()):
            raise CardError(f"{where}: threshold, tpr, fpr and apcer_by_type must have the same length")
        return cls(thr, tpr, fpr, by_type)


@dataclass(frozen=True)
class CardOnnx:
    """``onnx``: the ONNX export of the weights that inference runs, checked against Keras."""

    file: str
    sha256: str
    max_abs_diff_vs_keras: float | None = None
    opset: int | None = None

    @classmethod
    def parse(cls, value: Any, where: str = "onnx") -> CardOnnx | None:
        d = object_field(value, where)
        if not d:
            return None
        if not isinstance(d.get("file"), str) or not d.get("file"):
            raise CardError(f"{where}.file must name the ONNX file")
        if not isinstance(d.get("sha256"), str) or len(d["sha256"]) != 64:
            raise CardError(f"{where}.sha256 must be the file's 64-hex-digit sha256")
        opset = d.get("opset")
        return cls(d["file"], d["sha256"], number_field(d.get("max_abs_diff_vs_keras"), f"{where}.max_abs_diff_vs_keras"),
                   int(opset) if isinstance(opset, int) else None)


@dataclass(frozen=True)
class CardSplit:
    """Which subjects a model was trained and validated on (``split``, and ``data.layout``)."""

    layout: str = ""  # folder layout of the training data ("socofing", "livdet", …)
    train_subjects: frozenset[str] | None = None  # None: the card lists only a count
    val_subjects: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, split: Any, data: Any) -> CardSplit:
        s, d = object_field(split, "split"), object_field(data, "data")
        # cards written by training/train_*.py list both id sets; cards from ml/training.train() list
        # the validation ids ("val_subject_ids") and only the number of training subjects
        train = s.get("train_subjects")
        val = s.get("val_subjects") if isinstance(s.get("val_subjects"), list) else s.get("val_subject_ids")
        layout = d.get("layout")
        return cls(layout if isinstance(layout, str) else "",
                   frozenset(str(x) for x in train) if isinstance(train, list) else None,
                   frozenset(str(x) for x in val or ()))


@dataclass(frozen=True)
class ModelCard:
    """One model: identity, weights file and the entries inference reads, typed."""

    name: str
    task: str
    file: Path  # absolute path of the weights file
    sha256: str
    version: str
    shipped: bool
    data: dict[str, Any] = field(default_factory=dict, hash=False, compare=False, repr=False)
    architecture: str = field(default="", compare=False)
    runtime: str = field(default="", compare=False)  # "" (Keras/numpy/ONNX by file) or "dlib"
    default: bool = field(default=False, compare=False)
    input: CardInput = field(default=CardInput(), compare=False)
    domain: CardDomain = field(default=CardDomain(), compare=False)
    calibration: CardCalibration | None = field(default=None, compare=False)
    threshold: float | None = field(default=None, compare=False)  # PAD: operating threshold (score)
    similarity_threshold: float | None = field(default=None, compare=False)  # face: open-set threshold
    roc: CardRoc | None = field(default=None, compare=False, repr=False)
    onnx: CardOnnx | None = field(default=None, compare=False)
    attack_types_seen: tuple[str, ...] = field(default=(), compare=False)
    split: CardSplit = field(default=CardSplit(), compare=False, repr=False)
    #: gender: width of the "uncertain" band around 0.5, for one print and for a person's prints
    uncertain_band: float | None = field(default=None, compare=False)
    uncertain_band_combined: float | None = field(default=None, compare=False)
    #: cross-validated balanced accuracy per metrics level (``metrics.<level>.balanced_accuracy``):
    #: level -> (value, ci95 low, ci95 high), or () for a level measured without a confidence interval
    cv_balanced_accuracy: Mapping[str, tuple[float, ...]] = field(default_factory=dict, compare=False)
    #: restoration: why this model is (or is not) the default, and what it does to matching, in words
    #: (the GUI shows both beside the restorer; issue #20)
    why_default: str = field(default="", compare=False)
    matching_note: str = field(default="", compare=False)

    @property
    def key(self) -> str:
        """Unique id used in settings: ``name`` for shipped, ``name@vN`` for user versions."""
        return self.name if self.shipped else f"{self.name}@v{self.version}"

    @property
    def display(self) -> str:
        origin = "shipped" if self.shipped else "trained"
        return f"{self.name} v{self.version} ({origin})"

    @property
    def is_texture(self) -> bool:
        """A classical texture PAD model (LBP/LPQ/WLD histograms + linear models, .npz): the whole-print
        ``pad_texture_linear`` or the local-patch ``pad_local_texture``."""
        return self.architecture in TEXTURE_ARCHITECTURES

    @property
    def onnx_path(self) -> Path | None:
        """Where the card's ONNX export lies (beside the weights), or None."""
        return (self.file.parent / self.onnx.file).resolve() if self.onnx else None

    def input_dpi_for(self, image: FingerprintImage) -> float | None:
        """The dpi ``image`` is taken to have: its own (file or stated), else the card's nominal
        training dpi (``domain.dpi.nominal``), else the dpi the model works at (``input.dpi``)."""
        return image.dpi or self.domain.dpi.nominal or self.input.dpi

    def scale_for(self, image: FingerprintImage) -> float | None:
        """Resampling factor model dpi / image dpi; None when either is unknown (the whole print is
        then fitted to the input, as in training)."""
        if self.input.dpi and image.dpi:
            return float(self.input.dpi) / float(image.dpi)
        return None

    def calibrate(self, logits: np.ndarray | float) -> np.ndarray:
        """Calibrated logits (identity when the card has no calibration)."""
        return self.calibration.apply(logits) if self.calibration else np.asarray(logits, np.float64)


def _text(d: Mapping[str, Any], key: str, where: str, required: bool) -> str:
    v = d.get(key)
    if v is None and not required:
        return ""
    if not isinstance(v, str) or (required and not v):
        raise CardError(f"“{key}” must be a non-empty text{where}, not {v!r}")
    return v


def parse_card(d: Any, file: Path | None = None, shipped: bool = True, strict: bool = True) -> ModelCard:
    """Parse card JSON ``d`` into a :class:`ModelCard`.

    Parameters
    ----------
    file : absolute path of the weights file (default: ``d["file"]`` as given).
    strict : require the identity fields (name, task, file, sha256), as the registry does;
        ``False`` parses a partial card (e.g. a dict built in a test or read for a report).

    Raises
    ------
    CardError
        A field has the wrong type or shape; the message names it.
    """
    if not isinstance(d, Mapping):
        raise CardError(f"a model card must be a JSON object, not {type(d).__name__}")
    name = _text(d, "name", "", strict)
    task = _text(d, "task", "", strict)
    fname = _text(d, "file", "", strict)
    sha = _text(d, "sha256", "", strict)
    thr = object_field(d.get("threshold"), "threshold")
    metrics = object_field(d.get("metrics"), "metrics")
    attack = d.get("attack_types_seen") or ()
    if isinstance(attack, str) or not all(isinstance(a, str) for a in attack):
        raise CardError(f"attack_types_seen must be a list of words, not {attack!r}")
    return ModelCard(
        name=name, task=task, file=file if file is not None else Path(fname), sha256=sha,
        version=str(d.get("version", "1")), shipped=shipped, data=dict(d),
        architecture=str(d.get("architecture") or ""), runtime=str(d.get("runtime") or ""),
        default=bool(d.get("default", False)), input=CardInput.parse(d.get("input")),
        domain=CardDomain.parse(d.get("domain")), calibration=CardCalibration.parse(d.get("calibration")),
        threshold=number_field(thr.get("value"), "threshold.value"),
        similarity_threshold=number_field(thr.get("similarity"), "threshold.similarity"),
        roc=CardRoc.parse(d.get("roc")) or CardRoc.parse(metrics.get("roc"), "metrics.roc"),
        onnx=CardOnnx.parse(d.get("onnx")), attack_types_seen=tuple(attack),
        split=CardSplit.parse(d.get("split"), d.get("data")),
        uncertain_band=number_field(d.get("uncertain_band"), "uncertain_band"),
        uncertain_band_combined=number_field(d.get("uncertain_band_combined"), "uncertain_band_combined"),
        cv_balanced_accuracy=_cv_balanced_accuracy(metrics),
        why_default=_text(d, "why_default", "", False), matching_note=_text(d, "matching_note", "", False))


def _cv_balanced_accuracy(metrics: Mapping[str, Any]) -> dict[str, tuple[float, ...]]:
    out: dict[str, tuple[float, ...]] = {}
    for level, m in metrics.items():
        if not isinstance(m, Mapping):
            continue
        ba = m.get("balanced_accuracy")
        if not isinstance(ba, Mapping) or not ba.get("ci95"):
            out[str(level)] = ()
            continue
        try:
            out[str(level)] = (float(ba["value"]), float(ba["ci95"][0]), float(ba["ci95"][1]))
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise CardError(f"metrics.{level}.balanced_accuracy needs a value and ci95 [low, high] ({exc})") from exc
    return out


def card_of(card: ModelCard | Mapping[str, Any]) -> ModelCard:
    """A :class:`ModelCard` for either a parsed card or card JSON (parsed leniently, for callers
    that hold the dict, such as reports and dialogs)."""
    return card if isinstance(card, ModelCard) else parse_card(card, strict=False)
