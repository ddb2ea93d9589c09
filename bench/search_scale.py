"""1:N search against gallery size -> bench/results/search_scale.json (issue #24).

Two folds by FVC set: in each, the mated gallery is impression 1 of every finger of three sets and
the probes are their other impressions; the distractors (bench galleries of 10k, 100k, 1M) are
made from the templates of the *other* three sets (:mod:`fpstation.core.matching.distractors`:
two fingers mixed, then perturbed), so no distractor holds a probe's finger. The mated templates
come first in the packed gallery, so the gallery of size S is its first S templates and one gallery
per fold serves every size.

For each fold and size: stage-1 (``cylinder``) and final (``consensus`` on the ``--rerank`` best)
rank-1, the penetration rate (templates scored by the final matcher / gallery size), latency
(median and max over the probes) for the local engine and, with ``--ray-workers``, for Ray, the
bytes stage 1 scans, and the process's peak memory. At the smallest size the reference is
exhaustive ``consensus`` (every template scored by it), and at every size up to
``--exhaustive-stage1-max`` the search is repeated without pruning (stage 1 on every template), the
reference for the issue's "rank-1 within 1 point of exhaustive". Before that: the probes' stage-1 and
consensus scores against distractors and against real non-mates (quantiles, Kolmogorov-Smirnov),
to check that the distractors look like real non-mates.

    nice python bench/search_scale.py --data ../shared/data --work /work/cache/search --sizes 10000 100000 1000000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fpstation.core.matching import cylinders as cy  # noqa: E402
from fpstation.core.matching import evaluation as ev  # noqa: E402
from fpstation.core.matching import matchers as mt  # noqa: E402
from fpstation.core.matching import packed as pk  # noqa: E402
from fpstation.core.matching.distractors import distractors  # noqa: E402
from fpstation.core.stats import clopper_pearson, rate  # noqa: E402

FOLDS = {"A": (["fvc2002-db1b", "fvc2002-db2b", "fvc2002-db3b"], ["fvc2002-db4b", "fvc2004-db2b", "fvc2004-db4b"]),
         "B": (["fvc2002-db4b", "fvc2004-db2b", "fvc2004-db4b"], ["fvc2002-db1b", "fvc2002-db2b", "fvc2002-db3b"])}


def log(msg: str) -> None:
    print(time.strftime("%H:%M:%S"), msg, flush=True)


def load(data: Path, sets: list[str], cache: ev.TemplateCache):
    out = []
    for s in sets:
        for p in ev.fvc_prints(data / s):
            out.append((f"{s}/{p.finger}", p.impression, cache.get(p.path, "leader")))
    return out


def ks(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sample Kolmogorov-Smirnov statistic."""
    a, b = np.sort(a), np.sort(b)
    x = np.concatenate([a, b])
    return float(np.max(np.abs(np.searchsorted(a, x, "right") / len(a) - np.searchsorted(b, x, "right") / len(b))))


def quantiles(v: np.ndarray) -> dict:
    return {f"q{q}": float(np.quantile(v, q / 100)) for q in (50, 90, 99, 99.9)} | {"n": int(len(v))}


def distractor_check(mated, probes, srcs, n_d: int, n_probe: int, seed: int) -> dict:
    """The probes' scores against distractors and against real non-mates (stage 1 and consensus)."""
    src_t, src_f = [t for _, _, t in srcs], [f for f, _, _ in srcs]
    dis = list(distractors(src_t, src_f, n_d, seed=seed + 99))
    st_d = cy.Stack.of([cy.encode(t) for t in dis])
    pr = probes[:: max(1, len(probes) // n_probe)][:n_probe]
    out = {"distractors": n_d, "probes": len(pr)}
    for name in ("cylinder", "consensus"):
        real, synth = [], []
        for f, _, t in pr:
            e = cy.encode(t)
            for g, _, u in mated:
                if g != f:
                    real.append(cy.match(t, u) if name == "cylinder" else mt.score_only(t, u, "consensus"))
            if name == "cylinder":
                synth.extend(st_d.scores(e).tolist())
            else:
                synth.extend(mt.score_only(t, dis[k], "consensus") for k in range(0, len(dis), max(1, len(dis) // 60)))
        real, synth = np.array(real), np.array(synth)
        out[name] = {"real_non_mates": quantiles(real), "distractors": quantiles(synth), "ks": ks(real, synth)}
        log(f"  {name}: real non-mates {out[name]['real_non_mates']} vs distractors {out[name]['distractors']} "
            f"KS {out[name]['ks']:.3f}")
    out["minutiae_per_template"] = {"real": float(np.mean([t.n for _, _, t in srcs])),
                                    "distractors": float(np.mean([t.n for t in dis]))}
    return out


ALL_SETS = ["fvc2002-db1b", "fvc2002-db2b", "fvc2002-db3b", "fvc2002-db4b", "fvc2004-db2b", "fvc2004-db4b"]


def matcher_eer(data: Path, cache: ev.TemplateCache) -> dict:
    """1:1 figures of the fast matcher against consensus on every visible FVC set (the protocol of
    fpstation.core.matching.evaluation), and each one's comparisons per second on one core."""
    from fpstation.core.matching import kernel  # noqa: F401  (the session is made before timing)

    out: dict = {"sets": {}}
    t_cyl = t_con = 0.0
    n_cmp = 0
    for name in ALL_SETS:
        prints = ev.fvc_prints(data / name)
        ts = [cache.get(p.path, "leader") for p in prints]
        enc = [cy.encode(t) for t in ts]
        n = len(ts)
        st = cy.Stack.of(enc)
        sc = np.full((n, n), np.inf)
        t0 = time.perf_counter()
        for a in range(n):  # one probe against the whole set, as in 1:N (both orders; the larger kept)
            sc[a] = st.scores(enc[a])
        t_cyl += time.perf_counter() - t0
        sc = np.maximum(sc, sc.T)
        np.fill_diagonal(sc, np.inf)
        t0 = time.perf_counter()
        con = ev.score_matrix(ts, lambda x, y: mt.score_only(x, y, "consensus"))
        t_con += time.perf_counter() - t0
        n_cmp += n * n
        r_cyl, r_con = ev.summarise(sc, prints), ev.summarise(con, prints)
        out["sets"][name] = {m_: {"eer": r["eer"], "fmr100": r["fmr100"], "fmr1000": r["fmr1000"], "rank1": r["rank1"]}
                             for m_, r in (("cylinder", r_cyl), ("consensus", r_con))}
        log(f"  {name}: EER cylinder {r_cyl['eer']:.4f}, consensus {r_con['eer']:.4f}")
    for m_ in ("cylinder", "consensus"):
        out[f"mean_eer_{m_}"] = float(np.mean([v[m_]["eer"] for v in out["sets"].values()]))
    out["eer_gap_points"] = 100 * (out["mean_eer_cylinder"] - out["mean_eer_consensus"])
    out["comparisons_per_s_one_core"] = {"cylinder (1:N blocks of one set)": n_cmp / t_cyl,
                                         "consensus (pair by pair)": n_cmp / 2 / t_con}
    return out


_SRC: tuple = ()


def _init_sources(src_t, src_f, seed) -> None:
    global _SRC
    _SRC = (src_t, src_f, seed)


def _distractor_chunk(lo_hi: tuple[int, int]) -> list:
    """Distractors ``lo:hi`` with their cylinders, made in a worker process (the i-th depends only
    on the seed and i, so the gallery is the same however many processes made it)."""
    src_t, src_f, seed = _SRC
    lo, hi = lo_hi
    return [(10_000_000 + lo + j, t, cy.encode(t))
            for j, t in enumerate(distractors(src_t, src_f, hi - lo, seed=seed, start=lo))]


def build(folder: Path, mated, srcs, size: int, seed: int, jobs: int = 1) -> pk.PackedGallery:
    if (folder / "meta.json").is_file():
        try:
            g = pk.PackedGallery(folder)
            if len(g) >= size:
                return g
        except pk.GalleryFileError as exc:
            log(f"  {exc}: building it again")
    src_t, src_f = [t for _, _, t in srcs], [f for f, _, _ in srcs]
    n_d = size - len(mated)
    items = [(k, t) for k, (_, _, t) in enumerate(mated)]
    chunk = 2000

    def gen():
        yield from items
        ranges = [(lo, min(lo + chunk, n_d)) for lo in range(0, n_d, chunk)]
        if jobs > 1:
            import multiprocessing as mp

            with mp.get_context("fork").Pool(jobs, _init_sources, (src_t, src_f, seed)) as pool:
                for part in pool.imap(_distractor_chunk, ranges):
                    yield from part
        else:
            _init_sources(src_t, src_f, seed)
            for r in ranges:
                yield from _distractor_chunk(r)

    t0 = time.perf_counter()

    said = set()

    def prog(f, m):
        if int(f * 20) not in said:  # every 5 %
            said.add(int(f * 20))
            log(f"  build {m} ({time.perf_counter() - t0:.0f} s)")

    g = pk.PackedGallery.build(folder, gen(), extractor="leader", total=size, progress=prog)
    log(f"  built {len(g)} templates in {time.perf_counter() - t0:.0f} s ({jobs} processes)")
    return g


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _status_mb(key: str) -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return None


def reset_peak_rss() -> bool:
    """Start the process's peak resident memory (VmHWM) again from its current size (Linux)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def run_size(g: pk.PackedGallery, mated, probes, size: int, args, exhaustive: bool) -> dict:
    names = [f for f, _, _ in mated]
    res = {"size": size, "probes": len(probes), "rerank": args.rerank,
           "penetration_rate_final_matcher": min(1.0, args.rerank / size)}
    hits1 = hitsF = 0
    ok = []
    times = []
    reset = reset_peak_rss()
    stage = {"stage1": [], "stage2": []}
    expanded, scored = [], []
    for f, _, t in probes:
        r = g.search(t, top=1, rerank=args.rerank, limit=size, threads=args.threads)
        times.append(r.seconds["total"])
        expanded.append(r.expanded)
        scored.append(r.stage1_candidates)
        for k in stage:
            stage[k].append(r.seconds[k])
        ok.append(r.hits[0].index < len(mated) and names[r.hits[0].index] == f)
        hitsF += ok[-1]
        # stage 1 alone: the best fast score
        b1 = int(r.shortlist[0][0]) if len(r.shortlist[0]) else -1  # stage 1's best
        hits1 += 0 <= b1 < len(mated) and names[b1] == f
    res["_ok"] = ok
    # the index's own figure, for every probe: is the mate among the candidates that stage 0 passes on?
    k0 = pk.stage0_candidates(size)
    kept = 0
    ranks = []
    for f, _, t in probes:
        s0 = g.pre_scores(cy.encode(t), 0, size, threads=args.threads or os.cpu_count() or 1)
        mate = names.index(f)
        ranks.append(int(np.sum(s0 > s0[mate])) + 1)
        kept += ranks[-1] <= k0
    ex = np.array(expanded)
    tm = np.array(times)
    res["expansion"] = {
        "what": f"stage 1 went on to the best {pk.EXPAND_RATE:.1%} of stage 0 (no candidate of the first "
                f"{pk.PRE_RATE:.1%} scored {pk.SURE} or more)",
        "searches_expanded": rate(int(ex.sum()), len(ex)),
        "stage1_candidates_median": float(np.median(scored)), "stage1_candidates_max": int(max(scored)),
        "latency_s_median_not_expanded": float(np.median(tm[~ex])) if (~ex).any() else None,
        "latency_s_median_expanded": float(np.median(tm[ex])) if ex.any() else None,
        "latency_s_max_expanded": float(tm[ex].max()) if ex.any() else None}
    k1 = pk.stage0_candidates(size, pre_rate=pk.EXPAND_RATE)
    res["stage0"] = {"candidates": k0, "penetration_rate": k0 / size, "mate_kept": rate(kept, len(probes)),
                     "candidates_expanded": k1, "mate_within_expanded": rate(sum(r_ <= k1 for r_ in ranks), len(probes)),
                     "mate_rank_median": float(np.median(ranks)), "mate_rank_max": int(max(ranks)),
                     "mate_ranks": ranks}
    res["rank1_ci95"] = clopper_pearson(hitsF, len(probes))
    res.update({"rank1": hitsF / len(probes), "rank1_stage1_alone": hits1 / len(probes), "latency_s": {"median": float(np.median(times)), "max": float(max(times)),
                "stage1_median": float(np.median(stage["stage1"])), "stage2_median": float(np.median(stage["stage2"]))}})
    res["scanned_bytes"] = int(g.nbytes() * size / len(g))
    res["stage1_bytes_per_search"] = int(g.row_nbytes() * k0)
    # memory of the searches above (the gallery's pages they touched + the process), before the no-pruning runs
    res["memory_mb"] = {"rss_after_searches": _status_mb("VmRSS"),
                        "peak_rss_during_searches": _status_mb("VmHWM") if reset else None,
                        "how": "VmRSS / VmHWM of this process (/proc/self/status); the peak was reset before this "
                               "size's pruned searches (clear_refs 5); mapped gallery pages count once touched"}
    if size <= args.exhaustive_stage1_max:
        # the pruning (stage 0) against none: stage 1 on every template, same stage 2
        ok_x, tx = [], []
        for f, _, t in probes[: args.exhaustive_stage1_probes]:
            r = g.search(t, top=1, rerank=args.rerank, limit=size, exhaustive=True, threads=args.threads)
            tx.append(r.seconds["total"])
            ok_x.append(bool(r.hits[0].index < len(mated) and names[r.hits[0].index] == f))
        n_x = min(len(probes), args.exhaustive_stage1_probes)
        ok_p = res.pop("_ok")[:n_x]
        pruned = sum(int(r_ok) for r_ok in ok_p)
        res["no_pruning"] = {"probes": n_x, "rank1": sum(ok_x) / n_x, "rank1_with_pruning_same_probes": pruned / n_x,
                             "rank1_ci95": clopper_pearson(sum(ok_x), n_x),
                             "only_without_pruning": int(sum(x and not p_ for x, p_ in zip(ok_x, ok_p, strict=True))),
                             "only_with_pruning": int(sum(p_ and not x for x, p_ in zip(ok_x, ok_p, strict=True))),
                             "latency_s_median": float(np.median(tx))}
    res.pop("_ok", None)
    if args.ray_workers:
        rt, rx = [], []
        same = True
        for _f, _, t in probes[: args.ray_probes]:
            a = g.search(t, top=10, rerank=args.rerank, limit=size)
            b = g.search(t, top=10, rerank=args.rerank, limit=size, engine="ray", workers=args.ray_workers)
            rt.append(b.seconds["total"])
            rx.append(bool(b.expanded))
            same &= [h.index for h in a.hits] == [h.index for h in b.hits] and \
                [h.score for h in a.hits] == [h.score for h in b.hits]
        res["ray"] = {"workers": args.ray_workers, "probes": len(rt), "latency_s_median": float(np.median(rt)),
                      "latency_s_max": float(max(rt)), "identical_to_local": bool(same),
                      "latency_s_each": [round(float(v), 4) for v in rt], "expanded_each": rx,
                      "note": "the first search also starts Ray (and its workers) when no cluster runs yet"}
    if exhaustive:
        hitsE = 0
        t0 = time.perf_counter()
        for f, _, t in probes:
            best, bi = -1.0, -1
            for k in range(size):
                s = mt.score_only(t, g.template(k), "consensus")
                if s > best:
                    best, bi = s, k
            hitsE += bi < len(mated) and names[bi] == f
        res["exhaustive_consensus_rank1"] = hitsE / len(probes)
        res["exhaustive_consensus_seconds_per_probe"] = (time.perf_counter() - t0) / len(probes)
    res["peak_rss_mb"] = peak_rss_mb()
    log(f"  size {size}: rank-1 {res['rank1']:.3f}, latency median {res['latency_s']['median']:.3f} s"
        + (f", exhaustive consensus rank-1 {res['exhaustive_consensus_rank1']:.3f}" if exhaustive else "")
        + (f", ray {res['ray']['latency_s_median']:.3f} s identical={res['ray']['identical_to_local']}"
           if "ray" in res else ""))
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    ap.add_argument("--work", required=True, help="folder for the template cache and the packed galleries")
    ap.add_argument("--sizes", nargs="+", type=int, default=[10000, 100000, 1000000])
    ap.add_argument("--folds", nargs="+", default=["A", "B"], choices=sorted(FOLDS))
    ap.add_argument("--max-size", nargs="*", default=[], metavar="FOLD=N",
                    help="cap the gallery of a fold (e.g. B=100000: the 1M gallery is built for fold A only)")
    ap.add_argument("--probes", type=int, default=60, help="probes per fold (every k-th non-first impression)")
    ap.add_argument("--rerank", type=int, default=30)
    ap.add_argument("--exhaustive-size", type=int, default=2000,
                    help="gallery size at which every template is also scored by consensus (0 = none)")
    ap.add_argument("--exhaustive-probes", type=int, default=20)
    ap.add_argument("--check-distractors", type=int, default=2000)
    ap.add_argument("--exhaustive-stage1-max", type=int, default=1000000,
                    help="largest size at which the search is repeated without pruning (stage 1 on all)")
    ap.add_argument("--exhaustive-stage1-probes", type=int, default=20)
    ap.add_argument("--no-matcher-eer", dest="matcher_eer", action="store_false",
                    help="skip the 1:1 EER of cylinder against consensus")
    ap.add_argument("--threads", type=int, default=None, help="threads of the local engine (default: cores)")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="processes that make the distractors")
    ap.add_argument("--ray-workers", type=int, default=0)
    ap.add_argument("--ray-probes", type=int, default=5)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "search_scale.json"))
    args = ap.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    data, work = Path(args.data), Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    cache = ev.TemplateCache(work / "templates")
    out = {"command": "python bench/search_scale.py " + " ".join(argv if argv is not None else sys.argv[1:]),
           "machine": {"cpu": platform.machine(), "cores_visible": os.cpu_count(),
                       "load_average_at_start": list(os.getloadavg())},
           "matcher_stage1": "cylinder (fpstation.core.matching.cylinders)", "matcher_final": "consensus",
           "cylinder_params": pk.cylinder_params(), "threads": args.threads or os.cpu_count(),
           "stage0": {"probe_cylinders": pk.PRE_P, "template_cylinders": pk.PRE_M, "pre_rate": pk.PRE_RATE,
                      "pre_min": pk.PRE_MIN, "expand_rate": pk.EXPAND_RATE, "sure": pk.SURE}, "folds": {}}
    if args.matcher_eer:
        log("1:1: cylinder against consensus on every visible FVC set")
        out["matcher_eer"] = matcher_eer(data, cache)
    for name in args.folds:
        own, other = FOLDS[name]
        log(f"fold {name}: mated {own}, distractor sources {other}")
        recs = load(data, own, cache)
        srcs = load(data, other, cache)
        mated = [r for r in recs if r[1] == 1]
        allp = [r for r in recs if r[1] != 1]
        probes = allp[:: max(1, len(allp) // args.probes)][: args.probes]
        fold = {"mated_sets": own, "distractor_sources": other, "gallery_mated": len(mated), "probes": len(probes)}
        if args.check_distractors:
            fold["distractor_check"] = distractor_check(mated, probes, srcs, args.check_distractors, 20,
                                                        seed=1 if name == "A" else 2)
        caps = dict(item.split("=") for item in args.max_size)
        cap = int(caps.get(name, max(args.sizes)))
        g = build(work / f"gallery-{name}.fpg", mated, srcs, min(cap, max(args.sizes)),
                  seed=1 if name == "A" else 2, jobs=args.jobs)
        fold["gallery_build_seconds"] = g.meta.get("built_seconds")
        fold["bytes_per_template_scanned"] = g.nbytes() / len(g)  # stage 0, every template
        fold["bytes_per_candidate_stage1"] = g.row_nbytes()
        fold["bytes_per_template_on_disk"] = g.nbytes(scanned_only=False) / len(g)
        sizes = sorted(s_ for s_ in set(args.sizes) | ({args.exhaustive_size} if args.exhaustive_size else set())
                       if s_ <= len(g))
        fold["sizes"] = {}
        for size in sizes:
            ex_here = size == args.exhaustive_size
            pr = probes[: args.exhaustive_probes] if ex_here else probes
            fold["sizes"][str(size)] = run_size(g, mated, pr, size, args, ex_here)
            Path(args.out).write_text(json.dumps({**out, "folds": {**out["folds"], name: fold}}, indent=1) + "\n",
                                      encoding="utf-8")
            fold["load_average_at_end"] = list(os.getloadavg())
        out["folds"][name] = fold
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    log(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
