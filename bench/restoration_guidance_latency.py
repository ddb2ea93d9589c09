"""Latency of guidance channels and of guided restorers -> bench/results/restoration_guidance_latency.json.

Median of warm calls on the shipped 388×374 sample print (500 dpi): pyfing's classical guidance
(``guidance_channels`` with mask, orientation, frequency), the shipped U-Net v2, and any restorer
cards in ``--models DIR`` (e.g. the guided pilot models), through the application's path
(``restore_with_model``, onnxruntime when the card lists an ONNX export).

    python bench/restoration_guidance_latency.py [--models DIR] [--repeats 15]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _median_ms(fn, repeats: int) -> dict:
    fn()
    fn()  # warm-up: model load, first trace
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return {"median_ms": round(1000 * statistics.median(ts), 1), "min_ms": round(1000 * min(ts), 1),
            "repeats": repeats}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="*", default=[])
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "restoration_guidance_latency.json"))
    args = ap.parse_args(argv)

    from fpstation.core.imageio import read_print
    from fpstation.core.samples import sample_file
    from fpstation.ml.registry import Registry
    from fpstation.ml.restoration import restore_with_model
    from fpstation.ml.restoration.guidance import CHANNELS, guidance_channels

    im = read_print(sample_file())
    res = {"print": f"{im.width}x{im.height} sample ({Path(im.source).name}), {im.dpi} dpi"}
    res["guidance_all"] = _median_ms(lambda: guidance_channels(im.pixels, tuple(CHANNELS)), args.repeats)
    res["unet_v2"] = _median_ms(lambda: restore_with_model(im, "unet"), args.repeats)
    res["unet_v2"]["runtime"] = restore_with_model(im, "unet").extras.get("runtime")
    for folder in args.models:
        reg = Registry(shipped_dir=Path(folder), user_dir=Path(folder) / "_user")
        for card in reg.cards("restoration"):
            r = _median_ms(lambda reg=reg, card=card: restore_with_model(im, card.key, registry=reg), args.repeats)
            r["runtime"] = restore_with_model(im, card.key, registry=reg).extras.get("runtime")
            r["guidance"] = (card.data.get("input") or {}).get("guidance")
            res[card.name] = r
    doc = {"results": res, "target_ms_388x374": 100, "machine": {"platform": platform.platform()},
           "note": "shared 2-core CPU with other jobs running: medians are indicative"}
    out = Path(args.out)
    out.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
