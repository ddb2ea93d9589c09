"""The face gallery: known people's face templates, enrolled from a folder, kept in the case store.

Enrolment takes a folder with one sub-folder per person (the sub-folder's name is the identity)
and stores one embedding per image in the case (``face_templates`` table of
:class:`~fpstation.core.store.CaseStore`). Templates are per embedding model, so switching models
means enrolling again, but adding or removing a person never needs any retraining.

Search: cosine similarity of the probe to every template; an identity's score is the best of its
templates. A matrix product, so 10k identities cost milliseconds (bench/face_bench.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fpstation.core.errors import DatasetError, FpError
from fpstation.core.jobs import NEVER_CANCELLED, CancelToken, Progress, null_progress

IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".pgm", ".pnm", ".ppm", ".gif", ".webp"}


@dataclass
class Gallery:
    """Templates of one embedding model: ``vectors[i]`` belongs to ``labels[i]``."""

    model: str
    vectors: np.ndarray  # (N, d) float32 unit rows
    labels: list[str]
    paths: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.identities: list[str] = sorted(set(self.labels))
        index = {name: i for i, name in enumerate(self.identities)}
        self._label_idx = np.array([index[x] for x in self.labels], np.int64)

    def __len__(self) -> int:
        return len(self.identities)

    def scores(self, probes: np.ndarray) -> np.ndarray:
        """(P, d) probes -> (P, identities) best cosine similarity per identity."""
        probes = np.atleast_2d(np.asarray(probes, np.float32))
        if not self.identities:
            return np.zeros((len(probes), 0), np.float32)
        sims = probes @ self.vectors.T
        out = np.full((len(probes), len(self.identities)), -np.inf, np.float32)
        np.maximum.at(out.T, self._label_idx, sims.T)
        return out

    def search(self, probe: np.ndarray, top: int = 5) -> list[tuple[str, float]]:
        s = self.scores(probe)[0]
        order = np.argsort(-s)[:max(1, top)]
        return [(self.identities[i], float(s[i])) for i in order]


def natural_key(name: str) -> tuple:
    """"2.pgm" before "10.pgm"."""
    import re

    return tuple(int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", name))


def person_folders(root: str | Path) -> list[tuple[str, list[Path]]]:
    """``(identity, image files)`` per sub-folder of ``root`` that holds images."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"The gallery folder “{root}” does not exist or is not a folder.", path=str(root))
    out = []
    for d in sorted((p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")),
                    key=lambda p: natural_key(p.name)):
        files = sorted((f for f in d.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_EXTS),
                       key=lambda f: natural_key(f.name))
        if files:
            out.append((d.name, files))
    if not out:
        raise DatasetError(f"“{root}” has no sub-folders with face images. A gallery folder holds one "
                           "sub-folder per person, named after the person, with that person's images.",
                           path=str(root))
    return out


@dataclass
class EnrolReport:
    identities: int
    templates: int
    whole_image: int  # images used whole because no face was detected (small cropped faces)
    skipped: list[tuple[str, str]]  # (path, reason)
    model: str

    def to_dict(self) -> dict[str, Any]:
        return {"identities": self.identities, "templates": self.templates, "whole_image": self.whole_image,
                "skipped": [{"path": p, "reason": r} for p, r in self.skipped], "model": self.model}


def embed_folder(root: str | Path, embedder: Any, progress: Progress = null_progress,
                 cancel: CancelToken = NEVER_CANCELLED) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
    """Embed every image under ``root``'s person sub-folders. A bad file is reported and skipped."""
    from fpstation.core.imageio import read_print
    from fpstation.ml.face.modality import FINGERPRINT, check

    folders = person_folders(root)
    total = sum(len(f) for _, f in folders)
    rows: list[dict[str, Any]] = []
    skipped: list[tuple[str, str]] = []
    done = 0
    for identity, files in folders:
        for f in files:
            cancel.raise_if_cancelled()
            progress(done / max(total, 1), f"{identity}/{f.name}")
            done += 1
            try:
                im = read_print(f)
                e = embedder.embed(im.pixels)
                if e.face.box.method == "whole image" and check(im.pixels, faces_found=0).kind == FINGERPRINT:
                    raise FpError("this looks like a fingerprint, not a face")
            except FpError as exc:
                skipped.append((str(f), exc.user_message))
                continue
            rows.append({"identity": identity, "model": embedder.key, "model_sha256": embedder.sha256,
                         "dim": int(e.vector.size), "vector": e.vector.astype("<f4").tobytes(),
                         "path": str(f), "image_sha256": im.sha256, "box": e.face.box.to_dict()})
    progress(1.0, "done")
    return rows, skipped


def enroll_folder(root: str | Path, store: Any, embedder: Any, progress: Progress = null_progress,
                  cancel: CancelToken = NEVER_CANCELLED) -> EnrolReport:
    """Enrol every person sub-folder of ``root`` into the case ``store`` (a CaseStore)."""
    rows, skipped = embed_folder(root, embedder, progress, cancel)
    store.add_face_templates(rows)
    return EnrolReport(len({r["identity"] for r in rows}), len(rows),
                       sum(r["box"]["method"] == "whole image" for r in rows), skipped, embedder.key)


def gallery_from_rows(model: str, rows: list[dict[str, Any]], model_sha256: str | None = None) -> Gallery:
    """A :class:`Gallery` from stored rows; rows enrolled with other weights are refused."""
    if model_sha256 is not None:
        stale = [r for r in rows if r["model_sha256"] != model_sha256]
        if stale:
            raise FpError(f"{len(stale)} gallery template(s) were enrolled with a different version of the "
                          f"face model “{model}”. Enrol the gallery again.")
    if not rows:
        return Gallery(model, np.zeros((0, 1), np.float32), [], [])
    vecs = np.stack([np.frombuffer(r["vector"], "<f4") for r in rows]).astype(np.float32)
    return Gallery(model, vecs, [r["identity"] for r in rows], [r.get("path") or "" for r in rows])


def load_gallery(store: Any, embedder: Any) -> Gallery:
    """The case's gallery for this embedder's model."""
    return gallery_from_rows(embedder.key, store.face_templates(embedder.key), embedder.sha256)
