"""``fpstation evaluate face``: rank-1/rank-5/CMC and open-set FNIR/FPIR of a gallery + probes folder.

Both folders hold one sub-folder per person. Probes of people with no sub-folder in the gallery
are the non-mated searches of the open-set figures (e.g. leave 10 of 40 people out of the gallery).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from fpstation.core.errors import DatasetError
from fpstation.core.jobs import NEVER_CANCELLED, CancelToken, Progress, null_progress, wrap_progress
from fpstation.ml.face import metrics as fm
from fpstation.ml.face.gallery import embed_folder, gallery_from_rows


def evaluate_folders(gallery_dir: str | Path, probes_dir: str | Path, model: str = "",
                     progress: Progress = null_progress, cancel: CancelToken = NEVER_CANCELLED,
                     max_rank: int = 10) -> tuple[dict[str, Any], dict[str, Any]]:
    """Returns (report for the JSON, curves for the plots)."""
    from fpstation.ml.face.embed import get_embedder

    emb = get_embedder(model or None)
    g_rows, g_skip = embed_folder(gallery_dir, emb, wrap_progress(progress, 0.0, 0.5), cancel)
    p_rows, p_skip = embed_folder(probes_dir, emb, wrap_progress(progress, 0.5, 1.0), cancel)
    if not g_rows:
        raise DatasetError(f"No face of the gallery folder “{gallery_dir}” could be used.")
    if not p_rows:
        raise DatasetError(f"No face of the probes folder “{probes_dir}” could be used.")
    gallery = gallery_from_rows(emb.key, g_rows)
    pv = np.stack([np.frombuffer(r["vector"], "<f4") for r in p_rows])
    labels = [r["identity"] for r in p_rows]
    ss = fm.search_scores(gallery, pv, labels)
    ranks = ss["ranks"]
    curve = fm.cmc(ranks, min(max_rank, len(gallery)))
    thr = emb.threshold
    open_set = (fm.open_set(ss["mate_scores"], ranks, ss["nonmated_best"], thr) if thr is not None
                else {"threshold": None, "note": "this model's card has no open-set threshold"})
    if thr is not None and not ss["nonmated"]:
        open_set["note"] = ("every probe's person is in the gallery: FPIR needs probes of people left out "
                            "of the gallery")
    n = len(ranks)
    report: dict[str, Any] = {
        "model": emb.key, "model_sha256": emb.sha256,
        "gallery": {"folder": str(gallery_dir), "identities": len(gallery), "templates": len(g_rows),
                    "whole_image": sum(r["box"]["method"] == "whole image" for r in g_rows)},
        "probes": {"folder": str(probes_dir), "images": len(p_rows),
                   "whole_image": sum(r["box"]["method"] == "whole image" for r in p_rows),
                   "mated": len(ss["mated"]), "nonmated": len(ss["nonmated"])},
        "n": n,
        "rank1": curve[0] if n else None,
        "rank5": (curve[4] if len(curve) >= 5 else curve[-1]) if n else None,
        "cmc": curve,
        "open_set": open_set,
        "skipped": [{"path": p, "reason": r} for p, r in g_skip + p_skip],
        "errors": [{"probe": p_rows[i]["path"], "truth": labels[i], "predicted": ss["predicted"][i],
                    "rank": int(ranks[k])} for k, i in enumerate(ss["mated"]) if ranks[k] != 1],
    }
    curves = {"cmc": curve, "mate_scores": ss["mate_scores"], "nonmated_best": ss["nonmated_best"],
              "threshold": thr}
    return report, curves
