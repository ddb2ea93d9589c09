"""Open-set identification of one face image against a gallery."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fpstation.core.errors import FpError
from fpstation.ml.face.detect import FaceBox, NoFaceError
from fpstation.ml.face.gallery import Gallery
from fpstation.ml.face.modality import FINGERPRINT, ModalityCheck, check

NOT_IN_GALLERY = "not in the gallery"


class NotAFaceError(NoFaceError):
    title = "Not a face"


@dataclass
class FaceIdentification:
    """What the face panel and ``face identify`` show."""

    source: str
    box: FaceBox
    landmarks: np.ndarray
    candidates: list[tuple[str, float]]  # top-k (identity, similarity), best first
    threshold: float | None
    model: str
    modality: ModalityCheck
    seconds: dict[str, float]
    gallery_size: int
    notes: list[str] = field(default_factory=list)

    @property
    def best(self) -> tuple[str, float] | None:
        return self.candidates[0] if self.candidates else None

    @property
    def in_gallery(self) -> bool:
        """Best score at or above the open-set threshold (no threshold: closed-set, always True)."""
        if not self.candidates:
            return False
        return self.threshold is None or self.candidates[0][1] >= self.threshold

    @property
    def verdict(self) -> str:
        if not self.candidates:
            return "the gallery is empty"
        return self.candidates[0][0] if self.in_gallery else NOT_IN_GALLERY

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "verdict": self.verdict, "in_gallery": self.in_gallery,
                "threshold": self.threshold, "model": self.model, "gallery_identities": self.gallery_size,
                "candidates": [{"identity": i, "similarity": round(s, 4)} for i, s in self.candidates],
                "box": self.box.to_dict(), "landmarks": np.round(self.landmarks, 1).tolist(),
                "modality": self.modality.to_dict(),
                "seconds": {k: round(v, 4) for k, v in self.seconds.items()}, "notes": list(self.notes)}


def identify(pixels: np.ndarray, gallery: Gallery, embedder: Any, *, top: int = 5, source: str = "",
             threshold: float | None = None) -> FaceIdentification:
    """Detect, align, embed and rank the gallery's identities.

    ``threshold`` defaults to the embedder card's open-set threshold (``threshold.similarity``).

    Raises
    ------
    NotAFaceError
        The image is a fingerprint (ridge pattern) or holds no face.
    """
    if top < 1:
        raise FpError("--top must be at least 1.")
    t0 = time.perf_counter()
    try:
        emb = embedder.embed(pixels)
    except NoFaceError as exc:
        mod = check(pixels, faces_found=0)
        if mod.kind == FINGERPRINT:
            raise NotAFaceError(f"This is not a face: {mod.reason}.") from exc
        raise
    mod = check(pixels, faces_found=emb.face.faces_found if emb.face.box.method != "whole image" else 0)
    if mod.kind == FINGERPRINT and emb.face.box.method == "whole image":
        raise NotAFaceError(f"This is not a face: {mod.reason}.")
    t1 = time.perf_counter()
    cands = gallery.search(emb.vector, top) if len(gallery) else []
    t2 = time.perf_counter()
    notes = list(emb.face.notes)
    thr = embedder.threshold if threshold is None else threshold
    if thr is None:
        notes.append("this model has no open-set threshold: the best match is always named")
    return FaceIdentification(source=source, box=emb.face.box, landmarks=emb.face.landmarks, candidates=cands,
                              threshold=thr, model=embedder.key, modality=mod,
                              seconds={"embed": emb.seconds, "search": t2 - t1, "total": t2 - t0},
                              gallery_size=len(gallery), notes=notes)
