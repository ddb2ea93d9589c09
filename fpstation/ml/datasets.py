"""Dataset loaders and subject-disjoint splits (SOCOFing, FVC, LivDet-style, paired, class folders).

Splits are always by subject (SOCOFing subject id; FVC finger id; LivDet: by file stem prefix when
known) — never by image. A score from a leaky split is worthless.

This module is shared: classification loaders (SOCOFing labels, LivDet, class folders) and
restoration loaders (paired degraded/clean, FVC, SOCOFing Altered→Real pairs) live side by side.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

SOCOFING_RE = re.compile(
    r"^(?P<subject>\d+)__(?P<gender>[MF])_(?P<hand>Left|Right)_(?P<finger>thumb|index|middle|ring|little)_finger"
    r"(?:_(?P<alter>CR|Obl|Zcut))?$",
    re.IGNORECASE,
)
FVC_RE = re.compile(r"^(?P<finger>\d+)_(?P<impression>\d+)$")


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


def file_list_sha256(files: Iterable[str | Path], root: str | Path | None = None) -> str:
    """Hash of the sorted relative file list: identifies which files a model was trained on."""
    rootp = Path(root) if root else None
    names = sorted(str(Path(f).relative_to(rootp)) if rootp else str(f) for f in files)
    return hashlib.sha256("\n".join(names).encode()).hexdigest()
