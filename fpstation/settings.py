"""Typed, versioned user preferences stored as JSON in the user config dir (no Qt).

Window geometry stays in QSettings (gui/). Settings are constructed once by app.py / cli.py and
passed in; widgets never construct them (tests pass one backed by a temp dir).
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from fpstation import paths

log = logging.getLogger(__name__)
SCHEMA_VERSION = 1


@dataclass
class Settings:
    version: int = SCHEMA_VERSION
    #: restoration method for the right-hand view: "unet" | "autoencoder" | "classical" | a registry
    #: key of a trained restorer. Default: the shipped U-Net (restore-unet v2 beats the degraded input
    #: on SSIM/PSNR for every kind of validation pair; bench/results/restoration.json, docs/adr/0080).
    restorer: str = "unet"
    #: registry keys of the selected models ("" = the shipped default for the task)
    pad_model: str = ""
    gender_model: str = ""
    #: PAD models run side by side (registry keys; empty = every shipped PAD model)
    pad_models: list[str] = field(default_factory=list)
    #: operator's PAD threshold override (None = the model card's operating threshold)
    pad_threshold: float | None = None
    #: half-width of the "uncertain" band around the PAD threshold and around 0.5 for gender
    uncertain_band: float = 0.1
    last_open_dir: str = ""
    watch_folder: str = ""
    current_case: str = ""
    batch_extensions: list[str] = field(default_factory=lambda: [
        ".png", ".bmp", ".tif", ".tiff", ".jpg", ".jpeg", ".pgm", ".wsq", ".eft", ".an2", ".nist"])
    io_threads: int = 4
    #: Analyse Folder's engine: "local" (this process) or "ray" (Ray workers; fpstation.core.cluster)
    batch_engine: str = "local"
    #: Ray cluster to join ("" = start Ray on this computer; "auto"; "ray://host:10001")
    ray_address: str = ""
    #: the operator's name or id, written with every PAD decision (PAD dock and Scanner desk)
    operator: str = ""
    #: the training dialog's last task and data folder
    train_task: str = ""
    train_folder: str = ""

    _path: Path | None = field(default=None, repr=False, compare=False)

    @classmethod
    def load(cls, path: str | Path | None = None) -> Settings:
        """Read settings; a missing or damaged file gives defaults (and is logged, not fatal)."""
        p = Path(path) if path else paths.user_config_dir() / "settings.json"
        s = cls()
        if p.is_file():
            try:
                data = json.loads(p.read_text(encoding="utf-8"))
                known = {f.name for f in fields(cls) if not f.name.startswith("_")}
                for k, v in data.items():
                    if k in known and k != "version":
                        setattr(s, k, v)
            except (OSError, ValueError) as exc:
                log.warning("settings file %s unreadable (%s); using defaults", p, exc)
        s._path = p
        return s

    def save(self) -> None:
        p = self._path or paths.user_config_dir() / "settings.json"
        data = {k: v for k, v in asdict(self).items() if not k.startswith("_")}
        data["version"] = SCHEMA_VERSION
        tmp = p.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2), encoding="utf-8")
        tmp.replace(p)
