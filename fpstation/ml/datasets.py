"""Dataset loaders and subject-disjoint splits (SOCOFing, FVC, LivDet-style, paired, class folders).

Splits are always by subject (SOCOFing subject id; FVC finger id; LivDet: by file stem prefix when
known) — never by image. A score from a leaky split is worthless.

This module is shared: classification loaders (SOCOFing labels, LivDet, class folders) and
restoration loaders (paired degraded/clean, FVC, SOCOFing Altered→Real pairs) live side by side.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from fpstation.core.errors import DatasetError

SOCOFING_RE = re.compile(
    r"^(?P<subject>\d+)__(?P<gender>[MF])_(?P<hand>Left|Right)_(?P<finger>thumb|index|middle|ring|little)_finger"
    r"(?:_(?P<alter>CR|Obl|Zcut))?$",
    re.IGNORECASE,
)
FVC_RE = re.compile(r"^(?P<finger>\d+)_(?P<impression>\d+)$")


def dataset_root(root: str | Path) -> Path:
    """``root`` as a Path; a training task's scan starts here.

    Raises
    ------
    DatasetError
        The folder does not exist.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"The dataset folder “{root}” does not exist.", path=str(root))
    return root


@dataclass(frozen=True)
class SocofingName:
    subject: int
    gender: str  # "M" | "F"
    hand: str
    finger: str
    alter: str | None  # "CR" | "Obl" | "Zcut" | None for real prints

    @property
    def stem_real(self) -> str:
        return f"{self.subject}__{self.gender}_{self.hand}_{self.finger}_finger"


def parse_socofing_name(path: str | Path) -> SocofingName | None:
    """Parse ``12__F_Left_index_finger[_CR].BMP``; None when the name does not follow the scheme."""
    m = SOCOFING_RE.match(Path(path).stem)
    if not m:
        return None
    alter = m.group("alter")
    if alter:
        alter = {"cr": "CR", "obl": "Obl", "zcut": "Zcut"}[alter.lower()]
    return SocofingName(int(m.group("subject")), m.group("gender").upper(), m.group("hand").capitalize(),
                        m.group("finger").lower(), alter)


def subject_split(subjects: Iterable[str | int], val_fraction: float = 0.2, seed: int = 0,
                  ) -> tuple[set[str], set[str]]:
    """Deterministic subject-disjoint split: a subject goes to validation when a salted hash of
    its id falls below ``val_fraction``. Stable across runs, machines and dataset growth."""
    train, val = set(), set()
    for s in {str(x) for x in subjects}:
        h = int(hashlib.sha256(f"{seed}:{s}".encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
        (val if h < val_fraction else train).add(s)
    return train, val


def subject_parts(subjects: Iterable[str | int], k: int, seed: int = 0) -> dict[str, int]:
    """Subject -> part 0..k-1: a seeded permutation of the subjects (naturally sorted) cut in ``k``
    near-equal parts. The outer folds of the PAD cross-validation and the parts of a cross-fitted
    model (every subject validated by the one network that did not see them)."""
    import numpy as np

    order = sorted({str(s) for s in subjects}, key=lambda s: (len(s), s))
    perm = np.random.default_rng(seed).permutation(len(order))
    return {order[int(i)]: j % k for j, i in enumerate(perm)}


def file_list_sha256(files: Iterable[str | Path], root: str | Path | None = None) -> str:
    """Hash of the sorted relative file list: identifies which files a model was trained on."""
    rootp = Path(root) if root else None
    names = sorted(str(Path(f).relative_to(rootp)) if rootp else str(f) for f in files)
    return hashlib.sha256("\n".join(names).encode()).hexdigest()


# --------------------------------------------------------------------------------------------
# Classification loaders (PAD / gender): SOCOFing, LivDet-style Live/Fake, one folder per class.
# Each returns a list of item dicts {"path", "label", "subject", ...extras} plus notes; the
# training tasks (ml/classifiers/tasks.py) split them with subject_split.
# --------------------------------------------------------------------------------------------

#: SOCOFing alteration suffix -> attack type name used in cards, panels and evaluation JSON
SOCOFING_ATTACKS = {"CR": "central rotation", "Obl": "obliteration", "Zcut": "z-cut"}
#: image file extensions the classification loaders consider
IMAGE_EXTS = {".bmp", ".png", ".tif", ".tiff", ".jpg", ".jpeg", ".pgm", ".wsq"}
_LIVE_NAMES = {"live", "real", "bonafide", "bona_fide", "bona-fide", "genuine"}
_FAKE_NAMES = {"fake", "spoof", "spoofs", "attack", "attacks"}
LEADING_ID_RE = re.compile(r"^(?P<id>\d+)(?:[_\-.]|$)")


def image_files(root: Path) -> list[Path]:
    """Every image file under ``root`` (recursive, by extension), sorted."""
    from fpstation.core.imageio import walk_folders  # follows symlinked folders, without loops

    return sorted(d / f for d, names in walk_folders(root) for f in names
                  if os.path.splitext(f)[1].lower() in IMAGE_EXTS and (d / f).is_file())


def scan_socofing(root: str | Path) -> list[dict]:
    """List a SOCOFing-layout folder (``Real/`` and ``Altered/**``).

    Uses the file names (authoritative: ``labels.csv`` is derived from them and may be absent).

    Returns
    -------
    list of dict
        ``path``, ``subject`` (str), ``gender`` ("M"/"F"), ``hand``, ``finger``, ``kind``
        ("real"/"altered"), ``alter`` ("CR"/"Obl"/"Zcut" or None), ``attack_type`` (name or None),
        ``level`` (e.g. "Altered-Easy" or "").
    """
    root = Path(root)
    items = []
    for p in image_files(root):
        n = parse_socofing_name(p)
        if n is None:
            continue
        rel = p.relative_to(root).parts
        in_altered = any(part.lower().startswith("altered") for part in rel[:-1])
        if n.alter is None and in_altered:
            continue  # an unaltered name inside Altered/ is not a usable attack sample
        level = next((part for part in rel[:-1] if part.lower().startswith("altered-")), "")
        items.append({"path": str(p), "subject": str(n.subject), "gender": n.gender, "hand": n.hand,
                      "finger": n.finger, "kind": "altered" if n.alter else "real", "alter": n.alter,
                      "attack_type": SOCOFING_ATTACKS[n.alter] if n.alter else None, "level": level})
    return items


def _folder_class(part: str) -> str | None:
    low = part.lower()
    if low in _LIVE_NAMES:
        return "live"
    if low in _FAKE_NAMES:
        return "fake"
    return None


def scan_livdet(root: str | Path) -> tuple[list[dict], list[str]]:
    """List a LivDet-style folder: ``Live/`` (bona fide) and ``Fake/<material>/`` or ``Spoof/<material>/``.

    Folder names are matched case-insensitively anywhere below ``root``, so nested layouts such as
    ``Train/Live``, ``Digital_Persona/Test/Fake/Latex`` are accepted. Files directly in ``Fake/`` get
    the material "unknown".

    Subjects: LivDet file names usually start with a numeric id (``12_3.png``); when every file
    does, that id (prefixed by the sensor folder, if any) is the subject, so splits keep a finger's
    captures together. Otherwise each file is its own subject and a note says so: the split then
    cannot be guaranteed subject-disjoint.

    Returns
    -------
    items : list of dict with ``path``, ``label`` ("live"/"attack"), ``attack_type`` (material or
        None), ``subject``.
    notes : human-readable remarks for the scan summary.
    """
    root = Path(root)
    items = []
    for p in image_files(root):
        rel = p.relative_to(root).parts[:-1]
        cls_idx = next((i for i, part in enumerate(rel) if _folder_class(part)), None)
        if cls_idx is None:
            continue
        cls = _folder_class(rel[cls_idx])
        material = None
        if cls == "fake":
            material = rel[cls_idx + 1].lower() if len(rel) > cls_idx + 1 else "unknown"
        # sensor = folders above the class folder that are not train/test (ids restart per sensor)
        sensor = "/".join(part for part in rel[:cls_idx] if part.lower() not in {"train", "test", "training",
                                                                                "testing"})
        items.append({"path": str(p), "label": "live" if cls == "live" else "attack",
                      "attack_type": material, "_sensor": sensor, "_stem": p.stem})
    notes: list[str] = []
    ids = [LEADING_ID_RE.match(it["_stem"]) for it in items]
    if items and all(ids):
        for it, m in zip(items, ids, strict=True):
            it["subject"] = f"{it['_sensor']}:{int(m.group('id'))}" if it["_sensor"] else str(int(m.group("id")))
        notes.append("Subjects taken from the leading number of each file name (per sensor folder).")
    else:
        for it in items:
            it["subject"] = str(Path(it["path"]).relative_to(root))
        if items:
            notes.append("File names carry no recognisable subject id: each file is its own subject, so "
                         "the split could NOT be made subject-disjoint (validation may be optimistic).")
    for it in items:
        del it["_sensor"], it["_stem"]
    return items, notes


def scan_class_folders(root: str | Path) -> tuple[list[dict], list[str]]:
    """List a folder holding one sub-folder per class (``root/<class>/**/*.png``).

    Subject: the SOCOFing subject id when the name follows that scheme, else a leading number of
    the file name (within its class folder's parent), else the file itself (with a note).
    """
    root = Path(root)
    items = []
    for cls_dir in sorted(d for d in root.iterdir() if d.is_dir()):
        for p in image_files(cls_dir):
            it = {"path": str(p), "label": cls_dir.name, "attack_type": None}
            n = parse_socofing_name(p)
            m = LEADING_ID_RE.match(p.stem)
            it["subject"] = str(n.subject) if n else (str(int(m.group("id"))) if m else None)
            items.append(it)
    notes: list[str] = []
    if any(it["subject"] is None for it in items):
        notes.append("Some file names carry no subject id: those files are their own subjects, so the "
                     "split could NOT be made fully subject-disjoint.")
        for it in items:
            if it["subject"] is None:
                it["subject"] = str(Path(it["path"]).relative_to(root))
    return items, notes


def detect_layout(root: str | Path) -> str | None:
    """"socofing" (``Real/`` + SOCOFing names), "livdet" (Live/Fake|Spoof folders anywhere),
    "class-folders" (two or more sub-folders with images), or None."""
    root = Path(root)
    if not root.is_dir():
        return None
    subdirs = {d.name.lower(): d for d in root.iterdir() if d.is_dir()}
    if "real" in subdirs and any(parse_socofing_name(p) for p in image_files(subdirs["real"])[:20]):
        return "socofing"
    from fpstation.core.imageio import walk_folders

    dirs = [d for d, _ in walk_folders(root)][1:]
    names = {_folder_class(d.name) for d in dirs}
    if "live" in names and "fake" in names:
        return "livdet"
    with_images = [d for d in subdirs.values() if image_files(d)]
    if len(with_images) >= 2:
        return "class-folders"
    return None


def read_gray(path: str | Path):
    """Decode one file to a uint8 H×W array through core/imageio (the only file reader)."""
    from fpstation.core.imageio import read_print

    return read_print(path).pixels
