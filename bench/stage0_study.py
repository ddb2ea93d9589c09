"""Stage-0 design study for 1:N search (issue #24): how often the mate passes the prefilter, by design.

Stage 0 (:mod:`fpstation.core.matching.packed`) ranks every template by the local similarity of
the probe's ``P`` best cylinders with the template's ``M`` first ones, and passes the best share on.
This script scores every probe of a fold against the first ``--size`` templates of that fold's
packed gallery (built by ``bench/search_scale.py``) under several ``(P, M)`` designs, and records
the mate's stage-0 rank under each, and the seconds per probe on one thread. A design is to be
chosen on fold A and then judged on fold B, so the figure for fold B is not tuned on it.

    nice python bench/stage0_study.py --data ../shared/data --work /work/cache/search --size 100000

``--cascade M1 [M2 ...]`` studies a cheaper two-step stage 0 instead: a first pass with only the
template's ``M1`` first cylinders over every template, then the full 12x12 pass on the best share
``q`` of each block (a per-block cut keeps it independent of how the gallery is sharded). For each
probe it records the mate's rank under 12x12 and its rank inside its own block under the first
pass; the mate is lost by the cascade when that block rank exceeds ``q`` x BLOCK.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.search_scale import FOLDS, load  # noqa: E402
from fpstation.core.matching import cylinders as cy  # noqa: E402
from fpstation.core.matching import evaluation as ev  # noqa: E402
from fpstation.core.matching import packed as pk  # noqa: E402
from fpstation.core.stats import rate  # noqa: E402

DESIGNS = [(12, 12), (24, 12), (40, 12), (12, 20), (24, 20), (40, 20), (40, 40)]


def stage0(g: pk.PackedGallery, enc: cy.Encoded, P: int, M: int, size: int) -> np.ndarray:
    pe = cy.Encoded(enc.bits[:P], enc.counts[:P], enc.xy[:P], enc.theta[:P])
    src_b, src_c = (g.a["pre_bits"], g.a["pre_counts"]) if M <= pk.PRE_M else (g.a["bits"], g.a["counts"])
    out = np.zeros(size, np.float32)
    for s in range(0, size, pk.BLOCK):
        e = min(s + pk.BLOCK, size)
        out[s:e] = cy.scores(pe, np.ascontiguousarray(src_b[s:e, :M]), np.ascontiguousarray(src_c[s:e, :M]),
                             np.minimum(np.asarray(g.a["ncyl"][s:e]), M))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    ap.add_argument("--work", default="/work/cache/search")
    ap.add_argument("--size", type=int, default=100000)
    ap.add_argument("--folds", nargs="+", default=["A", "B"])
    ap.add_argument("--designs", nargs="+", default=[f"{p}x{m}" for p, m in DESIGNS])
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "stage0_study.json"))
    ap.add_argument("--cascade", nargs="*", type=int, default=None, metavar="M1",
                    help="study a two-step stage 0 whose first pass uses M1 template cylinders (see above)")
    args = ap.parse_args(argv)
    if args.cascade is not None:
        return cascade_study(args, argv)
    designs = [tuple(int(v) for v in d.split("x")) for d in args.designs]
    work = Path(args.work)
    cache = ev.TemplateCache(work / "templates")
    out = {"command": "python bench/stage0_study.py " + " ".join(argv if argv is not None else sys.argv[1:]),
           "size": args.size, "pre_rate": pk.PRE_RATE, "k0": pk.stage0_candidates(args.size), "folds": {}}
    for name in args.folds:
        own, _ = FOLDS[name]
        recs = load(Path(args.data), own, cache)
        mated = [r for r in recs if r[1] == 1]
        probes = [r for r in recs if r[1] != 1]
        names = [f for f, _, _ in mated]
        g = pk.PackedGallery(work / f"gallery-{name}.fpg")
        size = min(args.size, len(g))
        k0 = pk.stage0_candidates(size)
        fold = {"probes": len(probes), "size": size, "designs": {}}
        encs = [cy.encode(t) for _, _, t in probes]
        for P, M in designs:
            t0 = time.perf_counter()
            ranks = []
            for (f, _, _), enc in zip(probes, encs, strict=True):
                s0 = stage0(g, enc, P, M, size)
                ranks.append(int(np.sum(s0 > s0[names.index(f)])) + 1)
            secs = (time.perf_counter() - t0) / len(probes)
            r = np.array(ranks)
            fold["designs"][f"{P}x{M}"] = {
                "mate_kept_at_k0": rate(int(np.sum(r <= k0)), len(r)),
                "mate_kept_at_2k0": rate(int(np.sum(r <= 2 * k0)), len(r)),
                "mate_rank_q90": float(np.quantile(r, 0.9)), "mate_rank_max": int(r.max()),
                "seconds_per_probe_1thread": round(secs, 3), "mate_ranks": ranks}
            print(name, f"{P}x{M}", "kept", int(np.sum(r <= k0)), "/", len(r), "q90", np.quantile(r, 0.9),
                  f"{secs:.3f}s", flush=True)
            out["folds"][name] = fold
            Path(args.out).write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    return 0


CASCADE_SHARES = (0.1, 0.2, 0.3, 0.4, 0.5)


def cascade_study(args: argparse.Namespace, argv: list[str] | None) -> int:
    """The mate's fate under a per-block two-step stage 0 (module docstring), fold by fold."""
    work = Path(args.work)
    cache = ev.TemplateCache(work / "templates")
    firsts = args.cascade or [2, 3, 4, 6]
    k0, k1 = pk.stage0_candidates(args.size), pk.stage0_candidates(args.size, pre_rate=pk.EXPAND_RATE)
    out = {"command": "python bench/stage0_study.py " + " ".join(argv if argv is not None else sys.argv[1:]),
           "size": args.size, "block": pk.BLOCK, "k0": k0, "k_expanded": k1,
           "cost_relative_to_12x12": {f"{m}|{q}": round(m / pk.PRE_M + q * (pk.PRE_M - m) / pk.PRE_M, 3)
                                      for m in firsts for q in CASCADE_SHARES}, "folds": {}}
    for name in args.folds:
        own, _ = FOLDS[name]
        recs = load(Path(args.data), own, cache)
        names = [f for f, c, _ in recs if c == 1]
        probes = [r for r in recs if r[1] != 1]
        g = pk.PackedGallery(work / f"gallery-{name}.fpg")
        size = min(args.size, len(g))
        full_ranks, block_ranks = [], {m: [] for m in firsts}
        for f, _, t in probes:
            enc = cy.encode(t)
            mate = names.index(f)
            s0 = stage0(g, enc, pk.PRE_P, pk.PRE_M, size)
            full_ranks.append(int(np.sum(s0 > s0[mate])) + 1)
            b0 = (mate // pk.BLOCK) * pk.BLOCK
            for m in firsts:
                sa = stage0(g, enc, pk.PRE_P, m, size)
                block_ranks[m].append(int(np.sum(sa[b0:b0 + pk.BLOCK] > sa[mate])) + 1)
        fr = np.array(full_ranks)
        fold = {"probes": len(probes), "size": size, "mate_within_k0_12x12": int(np.sum(fr <= k0)),
                "mate_within_expanded_12x12": int(np.sum(fr <= k1)), "first_pass": {}}
        for m in firsts:
            br = np.array(block_ranks[m])
            fold["first_pass"][f"{m}"] = {
                f"q{q}": {"lost_of_mates_within_k0": int(np.sum((br > q * pk.BLOCK) & (fr <= k0))),
                          "lost_of_mates_within_expanded": int(np.sum((br > q * pk.BLOCK) & (fr <= k1)))}
                for q in CASCADE_SHARES} | {"mate_block_ranks": block_ranks[m]}
            print(name, m, {q: v for q, v in fold["first_pass"][f"{m}"].items() if q != "mate_block_ranks"}, flush=True)
        fold["mate_ranks_12x12"] = full_ranks
        out["folds"][name] = fold
        Path(args.out).write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
