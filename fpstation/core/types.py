"""Value types shared by core, ml, CLI and GUI. Frozen dataclasses; images are numpy arrays.

An image inside the app is always ``numpy.ndarray`` of dtype uint8, shape (H, W), row-major, with
its dpi alongside (``None`` = unknown, never guessed).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True, eq=False)
class FingerprintImage:
    """One print as loaded from a file.

    Attributes
    ----------
    pixels : uint8 array, H×W, 0 = black ridge ink, 255 = white background (as stored).
    dpi : resolution used for this print: from the file's metadata, or stated by the user
        (``dpi_source == "stated"``), or ``None`` when neither says.
    source : path of the file it came from.
    sha256 : hex SHA-256 of the *file bytes* (identifies the evidence, not the decoded pixels).
    format : short format name ("PNG", "WSQ", "NIST", ...).
    index : position of this print inside a multi-print file (NIST), else 0.
    finger_position : ANSI/NIST finger position code (1 = right thumb ... 10 = left little), if known.
    record : for NIST files, e.g. "Type-4" or "Type-14"; empty otherwise.
    """

    pixels: np.ndarray
    dpi: float | None
    source: str
    sha256: str
    format: str = ""
    index: int = 0
    finger_position: int | None = None
    record: str = ""
    notes: tuple[str, ...] = ()
    #: where ``dpi`` came from: "file" (metadata), "stated" (the user said so), "" (unknown)
    dpi_source: str = "file"
    #: the dpi the file's metadata gave (even when a stated dpi overrides it), else None
    file_dpi: float | None = None

    def __post_init__(self) -> None:
        if self.dpi is None and self.dpi_source == "file":
            object.__setattr__(self, "dpi_source", "")
        if self.dpi is not None and self.dpi_source == "file" and self.file_dpi is None:
            object.__setattr__(self, "file_dpi", self.dpi)

    def with_stated_dpi(self, dpi: float | None) -> FingerprintImage:
        """This print with a resolution stated by the user (``None`` = keep what the file says)."""
        from dataclasses import replace

        if dpi is None:
            return self
        if not 50 <= float(dpi) <= 5000:
            raise ValueError(f"{dpi:g} dpi is not a plausible scanner resolution (50–5000)")
        return replace(self, dpi=float(dpi), dpi_source="stated", file_dpi=self.file_dpi)

    @property
    def dpi_text(self) -> str:
        """"1000 dpi (stated)", "500 dpi (file)" or "unknown"."""
        if self.dpi is None:
            return "unknown"
        return f"{self.dpi:g} dpi ({'stated' if self.dpi_source == 'stated' else 'file'})"

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])

    @property
    def label(self) -> str:
        """Short display name: file name, plus the print index for multi-print files."""
        from pathlib import Path

        name = Path(self.source).name
        if self.record:
            pos = f" finger {self.finger_position}" if self.finger_position is not None else ""
            return f"{name} [{self.record} #{self.index}{pos}]"
        return name

    @property
    def key(self) -> str:
        """Identity of this print: file hash plus index within the file."""
        return f"{self.sha256}:{self.index}"


@dataclass(frozen=True)
class ModelRef:
    """Which model produced a result (name, version, sha256 of its weights)."""

    name: str
    version: str = ""
    sha256: str = ""


@dataclass(frozen=True, eq=False)
class RestorationResult:
    pixels: np.ndarray  # uint8, same H×W as the input
    method: str  # "unet", "autoencoder", "classical", ...
    model: ModelRef | None = None
    seconds: float = 0.0
    extras: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PadResult:
    """Presentation-attack detection: ``attack_score`` in [0, 1] (calibrated probability of attack)."""

    attack_score: float
    threshold: float
    verdict: str  # "LIVE" | "ATTACK" | "UNCERTAIN"
    model: ModelRef | None = None
    seconds: float = 0.0
    attack_types_seen: tuple[str, ...] = ()
    #: False when the print is outside the sensor/resolution/size/statistics the model was
    #: validated on (fpstation.core.domain); the verdict is then "UNCERTAIN", whatever the score
    in_domain: bool = True
    domain_reason: str = ""


@dataclass(frozen=True)
class GenderResult:
    """Calibrated P(female); P(male) = 1 - p_female. ``label`` is "female", "male" or "uncertain"."""

    p_female: float
    label: str
    model: ModelRef | None = None
    seconds: float = 0.0
    #: False when outside the model's validated domain (fpstation.core.domain): label "uncertain"
    in_domain: bool = True
    domain_reason: str = ""
    #: (low, high) P(female) over the model's members (10–90 %): model uncertainty; () when unknown
    p_range: tuple[float, ...] = ()
    #: how many prints of one person the estimate combines
    n_prints: int = 1
    #: the model's cross-validated balanced accuracy at this level (one print / combined):
    #: (value, ci95 low, ci95 high); () when its card states none
    cv_balanced_accuracy: tuple[float, ...] = ()
    #: (low, high) P(female), 5–95 % over the members and a bootstrap of the prints combined
    #: (fpstation.core.gender_person); () when none can be given
    interval: tuple[float, ...] = ()
    #: "weak evidence" (one print, not beyond the card's confident level), "confident single print",
    #: or "N fingers combined"; "" when not judged
    evidence: str = ""

    @property
    def p_male(self) -> float:
        return 1.0 - self.p_female


@dataclass(frozen=True, eq=False)
class AnalysisResult:
    """Everything computed for one print; missing parts are ``None`` with a reason in ``errors``."""

    image: FingerprintImage
    restoration: RestorationResult | None = None
    #: the combined PAD verdict over every PAD model (fpstation.core.pad.combine_pad); with one
    #: model, that model's own result
    pad: PadResult | None = None
    gender: GenderResult | None = None
    timings: dict[str, float] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    #: each PAD model's own result (alteration, material spoof, ...), in display order
    pad_models: tuple[PadResult, ...] = ()
    #: NFIQ 2 (``fpstation.core.matching.quality.Nfiq2``: score, name, version, actionable, note)
    quality: Any = None
