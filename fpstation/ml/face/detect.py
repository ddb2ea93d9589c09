"""Face detection (dlib HOG) and 5-point alignment into a fixed-size chip.

dlib's HOG detector finds frontal faces down to about 80×80 pixels; on small images it is run a
second time on a 2× upsampled copy. A small image in which no face is found at all is most likely
a face that was already cropped tightly (as in the ORL set, 92×112): then the whole image is used
as the face box and the result says so (``FaceBox.method == "whole image"``) — it is never hidden.
Larger images without a detectable face are refused with :class:`NoFaceError`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from fpstation.core.errors import FpError
from fpstation.ml.face import dlib_models

#: aligned chip side (pixels) — dlib's ResNet expects 150×150 with 25 % padding around the face
CHIP_SIZE = 150
CHIP_PADDING = 0.25
#: images whose longer side is at most this may be used whole when no face is detected
WHOLE_IMAGE_MAX_SIDE = 200
#: HOG is retried on a 2× upsampled copy when the shorter side is below this
UPSAMPLE_BELOW = 400

WHOLE_IMAGE_NOTE = ("no face was detected; the image is small, so it was taken to be a tightly cropped "
                    "face and used whole (alignment is less reliable)")


class NoFaceError(FpError):
    title = "No face found"


@dataclass(frozen=True)
class FaceBox:
    """A face in image coordinates (pixels; right/bottom exclusive)."""

    left: int
    top: int
    right: int
    bottom: int
    score: float  # detector confidence (HOG SVM margin); 0 for a whole-image box
    method: str  # "hog" | "hog (upsampled)" | "whole image"

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def height(self) -> int:
        return self.bottom - self.top

    def to_dict(self) -> dict:
        return {"left": self.left, "top": self.top, "right": self.right, "bottom": self.bottom,
                "score": round(self.score, 4), "method": self.method}


@dataclass(frozen=True)
class AlignedFace:
    box: FaceBox
    landmarks: np.ndarray  # (5, 2) x, y in image coordinates
    chip: np.ndarray  # (CHIP_SIZE, CHIP_SIZE, 3) uint8, aligned
    faces_found: int  # how many faces the detector saw (the largest is used)
    seconds: float
    notes: tuple[str, ...] = ()


def as_gray(pixels: np.ndarray) -> np.ndarray:
    a = np.asarray(pixels)
    if a.ndim == 3:
        a = a[..., :3].mean(axis=2) if a.shape[2] >= 3 else a[..., 0]
    if a.dtype != np.uint8:
        a = np.clip(a, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(a)


def detect_faces(pixels: np.ndarray) -> list[FaceBox]:
    """Every face HOG finds, largest first (no whole-image fallback here)."""
    gray = as_gray(pixels)
    det = dlib_models.hog_detector()
    rects, scores, _ = det.run(gray, 0, 0.0)
    method = "hog"
    if not len(rects) and min(gray.shape) < UPSAMPLE_BELOW:
        rects, scores, _ = det.run(gray, 1, 0.0)
        method = "hog (upsampled)"
    h, w = gray.shape
    boxes = [FaceBox(max(0, r.left()), max(0, r.top()), min(w, r.right() + 1), min(h, r.bottom() + 1),
                     float(s), method) for r, s in zip(rects, scores, strict=False)]
    boxes = [b for b in boxes if b.width > 0 and b.height > 0]
    return sorted(boxes, key=lambda b: -b.width * b.height)


def whole_image_box(pixels: np.ndarray) -> FaceBox:
    h, w = np.asarray(pixels).shape[:2]
    return FaceBox(0, 0, w, h, 0.0, "whole image")


def align(pixels: np.ndarray, box: FaceBox | None = None, *, allow_whole_image: bool = True,
          shape_sha256: str | None = None) -> AlignedFace:
    """Detect (unless ``box`` is given), find 5 landmarks and cut the aligned chip.

    Raises
    ------
    NoFaceError
        No face found in an image too large to be a cropped face.
    """
    dlib = dlib_models.import_dlib()
    t0 = time.perf_counter()
    gray = as_gray(pixels)
    if gray.size == 0 or min(gray.shape) < 16:
        raise NoFaceError(f"The image is too small ({gray.shape[1]}×{gray.shape[0]} px) to hold a face.")
    notes: list[str] = []
    n = 1
    if box is None:
        boxes = detect_faces(gray)
        n = len(boxes)
        if boxes:
            box = boxes[0]
            if n > 1:
                notes.append(f"{n} faces were detected; the largest is used")
        elif allow_whole_image and max(gray.shape) <= WHOLE_IMAGE_MAX_SIDE:
            box = whole_image_box(gray)
            notes.append(WHOLE_IMAGE_NOTE)
        else:
            raise NoFaceError(f"No face was found in the image ({gray.shape[1]}×{gray.shape[0]} px). "
                              "Use a frontal face photograph where the face is at least 80 px wide.")
    rgb = np.ascontiguousarray(np.repeat(gray[:, :, None], 3, axis=2))
    rect = dlib.rectangle(int(box.left), int(box.top), int(box.right) - 1, int(box.bottom) - 1)
    shape = dlib_models.shape_predictor(shape_sha256)(rgb, rect)
    pts = np.array([[shape.part(i).x, shape.part(i).y] for i in range(shape.num_parts)], np.float32)
    chip = np.asarray(dlib.get_face_chip(rgb, shape, size=CHIP_SIZE, padding=CHIP_PADDING), np.uint8)
    return AlignedFace(box, pts, chip, n, time.perf_counter() - t0, tuple(notes))
