"""How often the shipped gender model abstains ("outside what this model was validated on") on prints
from other sensors, other resolutions and on face photos -> bench/results/classifiers/gender_domain.json.

Each image goes through ``fpstation.ml.classifiers.gender_scores`` (the inference path of the GUI and
CLI: features, the card's domain check). Sets:

- FVC2002 DB1–DB4 and FVC2004 DB2, DB4 (the developer ``images/`` of each), as read (no dpi in the
  files), and also centre-cropped to SOCOFing's 103×96 px, so only the input statistic can catch them;
- LivDet 2015 HiScan-PRO (1000 dpi, 1000×1000), as read and with the 1000 dpi stated;
- ORL face photos (92×112), as read and resized to 103×96;
- the SOCOFing Altered prints (same subjects as training: damaged prints from the training sensor).

The rate on SOCOFing prints of subjects the model never saw is measured out of fold by
training/train_gender_v2.py (card ``metrics.domain_abstained_oof``) and copied here.

    nice -n 5 .venv/bin/python bench/gender_domain.py
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

IMAGE_EXT = {".png", ".bmp", ".pgm", ".tif", ".tiff", ".jpg", ".jpeg"}


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_EXT)


def main() -> int:
    import cv2

    from fpstation.core.imageio import read_print
    from fpstation.core.types import FingerprintImage
    from fpstation.ml.classifiers import gender_scores, load_classifier
    from fpstation.paths import shared_data_dir

    sd = shared_data_dir()
    if sd is None:
        raise SystemExit("../shared/data is absent")
    loaded = load_classifier("gender")
    t0 = time.time()

    def crop(im: FingerprintImage) -> FingerprintImage:
        h, w = im.pixels.shape
        y0, x0 = max(0, (h - 103) // 2), max(0, (w - 96) // 2)
        px = np.ascontiguousarray(im.pixels[y0:y0 + 103, x0:x0 + 96])
        return FingerprintImage(pixels=px, dpi=None, source=im.source, sha256=im.sha256)

    def resize(im: FingerprintImage) -> FingerprintImage:
        px = cv2.resize(im.pixels, (96, 103), interpolation=cv2.INTER_AREA)
        return FingerprintImage(pixels=px, dpi=None, source=im.source, sha256=im.sha256)

    def stated(dpi: float):
        return lambda im: im.with_stated_dpi(dpi)

    sets = []
    for name in ("fvc2002-db1b", "fvc2002-db2b", "fvc2002-db3b", "fvc2002-db4b", "fvc2004-db2b", "fvc2004-db4b"):
        sets.append((f"{name} as read", _files(sd / name / "images"), None, True))
        sets.append((f"{name} cropped to 103x96", _files(sd / name / "images"), crop, False))
    liv = _files(sd / "livdet2015-hiscan")
    sets += [("livdet2015-hiscan as read", liv, None, True),
             ("livdet2015-hiscan stated 1000 dpi", liv, stated(1000), True),
             ("orl_faces as read", _files(sd / "orl_faces"), None, True),
             ("orl_faces resized to 103x96", _files(sd / "orl_faces"), resize, False),
             ("socofing Altered (training subjects, damaged prints)", _files(sd / "socofing" / "Altered"), None, False)]
    results = {}
    for name, files, transform, target in sets:
        ims = []
        for p in files:
            try:
                im = read_print(p)
            except Exception:  # noqa: BLE001 - unreadable files are not part of the measure
                continue
            ims.append(transform(im) if transform else im)
        outside, reasons = 0, {"dpi": 0, "size": 0, "statistic": 0}
        for i in range(0, len(ims), 64):
            _, _, checks, _ = gender_scores(ims[i:i + 64])
            for c in checks:
                outside += not c.in_domain
                text = c.reason
                reasons["dpi"] += "dpi" in text
                reasons["size"] += " px " in text
                reasons["statistic"] += "unlike the training prints" in text
        results[name] = {"n": len(ims), "abstained": outside, "abstained_fraction": outside / max(len(ims), 1),
                         "reasons": reasons, "target_all_abstained": target}
        print(f"{name:55s} {outside}/{len(ims)} abstained  {reasons}", flush=True)
    card = loaded.card.data
    out = {"model": {"name": loaded.card.name, "version": loaded.card.version, "sha256": loaded.card.sha256},
           "sets": results,
           "all_targets_abstained": all(r["abstained"] == r["n"] for r in results.values()
                                        if r["target_all_abstained"]),
           "socofing_new_subjects_abstained_oof": (card.get("metrics") or {}).get("domain_abstained_oof"),
           "seconds": round(time.time() - t0, 1),
           "command": "python bench/gender_domain.py"}
    dest = ROOT / "bench" / "results" / "classifiers" / "gender_domain.json"
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps(out, indent=2), encoding="utf-8")
    print(f"wrote {dest}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
