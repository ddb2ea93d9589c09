"""Pack what ``training/device_train.py`` needs into ``training/device/`` (git-ignored), to carry to a
lent GPU machine, which reaches neither ../shared/data nor any package registry.

The device tool carries at most 64 MiB of ignored paths, so the pack holds the *clean sources*
(not patches): every FVC training print and a deterministic sample (by hash) of SOCOFing Real
prints and Altered→Real pairs, re-encoded as PNG, plus the validation patches as one compressed
array. The device degrades the sources itself (``fpstation.ml.restoration.degrade``, same seeds
by file path, a fresh tag per round), so it trains on more damage variety than a fixed patch set.
The split is the one ``train_restoration.py`` uses (``rd.split_sources``, subject-disjoint; the
``--holdout-dbs`` FVC sets are left out of training and validation).

    python training/device_pack.py --holdout-dbs fvc2002-db3b fvc2004-db2b     # then device_train.sh
    python training/device_pack.py --tiny                                      # a few prints (tests)
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fpstation import paths  # noqa: E402
from fpstation.ml.restoration import data as rd  # noqa: E402

#: the carry limit of the device tool is 64 MiB for all paths: leave room for the wheels
DEFAULT_MAX_MB = 52.0


def _png(img: np.ndarray) -> bytes:
    import cv2

    ok, buf = cv2.imencode(".png", img, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    if not ok:
        raise RuntimeError("PNG encoding failed")
    return buf.tobytes()


def pack(data: Path, out: Path, *, holdout: list[str], val_fraction: float = 0.2, seed: int = 0,
         max_mb: float = DEFAULT_MAX_MB, max_val: int = 400, tiny: bool = False, recipe: str = "wide") -> dict:
    """Write ``out/sources/*.png``, ``out/sources.json`` and ``out/val.npz``; return the manifest."""
    sources = [s for s in rd.collect_sources(data) if not (s.kind == "fvc" and s.rel.split("/")[0] in holdout)]
    train, val, train_subj, val_subj = rd.split_sources(sources, val_fraction, seed)
    # FVC first (many patches per print), then SOCOFing in a stable order by hash until the budget is used
    order = sorted(train, key=lambda s: (s.kind != "fvc", rd.stable_seed("pack", s.rel)))
    if tiny:
        order = [s for s in order if s.kind == "fvc"][:6] + [s for s in order if s.kind != "fvc"][:10]
        max_val = 16
    if out.exists():
        shutil.rmtree(out / "sources", ignore_errors=True)
    (out / "sources").mkdir(parents=True, exist_ok=True)
    budget = max_mb * 1e6
    xv, yv = rd.make_patches(rd.select_eval(val)[: 200 if not tiny else 8], 96, tag="val", per_image={
        "fvc": (1, 4), "socofing": (1, 1), "altered": (1, 1)}, recipe=recipe)
    if len(xv) > max_val:
        keep = np.linspace(0, len(xv) - 1, max_val).astype(int)
        xv, yv = xv[keep], yv[keep]
    np.savez_compressed(out / "val.npz", x=xv, y=yv)
    used = (out / "val.npz").stat().st_size
    entries, by_kind = [], {"fvc": 0, "socofing": 0, "altered": 0}
    for i, s in enumerate(order):
        files = {"clean": s.clean, **({"degraded": s.degraded} if s.degraded else {})}
        blobs = {k: _png(rd.read_gray(v)) for k, v in files.items()}
        size = sum(len(b) for b in blobs.values())
        if used + size > budget:
            break
        entry = {"rel": s.rel, "subject": s.subject, "kind": s.kind, "dpi": s.dpi}
        for k, b in blobs.items():
            name = f"sources/{i:05d}_{k}.png"
            (out / name).write_bytes(b)
            entry[k] = name
        entries.append(entry)
        by_kind[s.kind] += 1
        used += size
    manifest = {"what": "clean training sources for training/device_train.py (restoration)",
                "data_root": "../shared/data", "holdout_dbs": sorted(holdout), "val_fraction": val_fraction,
                "seed": seed, "recipe": recipe, "counts": by_kind,
                "train_sources_available": len(train), "train_subjects": len(train_subj),
                "validation_subjects": len(val_subj), "val_patches": int(len(xv)),
                "file_list_sha256": rd.sources_sha256([s for s in order if s.rel in {e["rel"] for e in entries}],
                                                      data),
                "bytes": int(used), "tiny": tiny, "sources": entries}
    (out / "sources.json").write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    return manifest


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=None, help="shared data root (default ../shared/data)")
    ap.add_argument("--out", default=str(ROOT / "training" / "device" / "pack"))
    ap.add_argument("--holdout-dbs", nargs="*", default=["fvc2002-db3b", "fvc2004-db2b"],
                    help="FVC sets left out (the v3 self-check holds out two scanners; [] = train on all)")
    ap.add_argument("--max-mb", type=float, default=DEFAULT_MAX_MB)
    ap.add_argument("--recipe", choices=["v2", "wide"], default="wide")
    ap.add_argument("--tiny", action="store_true", help="a few prints only (to test the device script here)")
    args = ap.parse_args(argv)
    unknown = [d for d in args.holdout_dbs if d not in rd.FVC_DPI]
    if unknown:
        ap.error(f"unknown FVC sets {unknown}; choose from {', '.join(sorted(rd.FVC_DPI))}")
    data = Path(args.data) if args.data else paths.shared_data_dir()
    if data is None or not data.is_dir():
        print("shared data not found (../shared/data)", file=sys.stderr)
        return 2
    m = pack(data, Path(args.out), holdout=args.holdout_dbs, max_mb=args.max_mb, tiny=args.tiny, recipe=args.recipe)
    print(f"packed {sum(m['counts'].values())} sources {m['counts']} + {m['val_patches']} validation patches, "
          f"{m['bytes'] / 1e6:.1f} MB -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
