"""pad-livdet v2: minutiae patches vs grid patches vs whole print vs score fusion, NESTED leave-one-subject-out.

    OMP_NUM_THREADS=1 nice -n 5 python training/train_pad_livdet_v2.py \
        --data /work/shared/data/livdet2015-hiscan --dpi 1000 [--ship]

Per print (cached under --cache, one .npz per image): the local texture evidence of
``fpstation.ml.classifiers.pad_local`` (366-value LBP/LPQ/WLD/grey-level histograms of the whole
foreground, of up to 48 96-px patches on a grid, and of up to 48 patches centred on NIST mindtct
minutiae, all at 1000 dpi) and NFIQ 2.

Protocol (every choice inside the outer fold):

- outer loop: leave one subject out (7 folds); the test subject is never seen by anything below;
- inner loop on the 6 training subjects: leave one of them out, giving inner out-of-fold (OOF)
  scores of every training print for every candidate setting:
  - patch approaches (``minutiae``, ``grid``, ``both`` = the two patch sets in one model): L2
    logistic regression on patches (label = the
    print's; at most 24 patches per print in training), C in --cs, print logit = a patch fusion
    rule in pad_local.FUSIONS;
  - ``whole``: the shipped v1 recipe (same histograms over the whole foreground), C in --cs;
  - ``novelty``: a live-only model (PCA + Mahalanobis distance of the whole-print histogram from
    the live training prints): an attack unlike every training spoof still looks unlike a finger;
  - ``fusion``: logistic regression over the calibrated logits of minutiae, grid, whole and novelty
    (``fusion_q``: plus NFIQ 2; ``fusion_p``: minutiae, grid, whole), its own scores out of fold by
    a second leave-one-subject-out over the inner OOF; C and the feature set (366 values, or 350
    without the grey-level histogram) are chosen like the rest;
  the setting with the lowest inner APCER at inner BPCER <= 1 % (then highest AUC) is kept, its
  Platt calibration fitted on the inner OOF logits, its threshold = the lowest with inner BPCER
  <= 1 %, its uncertain band [lo, hi] and transaction rule chosen on inner OOF transactions
  (fpstation.core.pad_transaction); ``selected`` = the approach with the best inner criterion;
- the outer model is refitted on all 6 subjects with the kept setting and scores the test subject.

Pooled out-of-fold figures (95 % Clopper-Pearson), APCER per material, DET points (and a PNG),
per-attempt and per-transaction APCER/BPCER and the mean attempts of live users go to --results
(default bench/results/pad_livdet_loso_v2.json). With --ship, the same recipe on all 7 subjects
(calibration, threshold and band from their inner OOF) writes models/pad-livdet.npz + .json for
the approach that compared best on the outer folds (--approach auto), if it beats the shipped v1
(pooled half total error, and no higher BPCER) on the outer figures.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from fpstation.core.stats import rate  # noqa: E402

PATCH_TRAIN_PER_PRINT = 24
#: feature sets tried: all 366 values, or the 350 texture-code values without the grey-level histogram
#: (--bsif: also all 622, the 366 and the 256 BSIF values, docs/adr/0274)
FEATURE_SETS = (366, 350)
BSIF = {"on": False}


# ------------------------------------------------------------------------------ evidence cache
def evidence_for(items: list[dict], dpi: float, cache: Path, log) -> list[dict]:
    import cv2

    from fpstation.core.matching.quality import nfiq2
    from fpstation.ml.classifiers.pad_local import N_FEATURES_BSIF, print_evidence

    cache.mkdir(parents=True, exist_ok=True)
    out = []
    t0 = time.perf_counter()
    for i, it in enumerate(items):
        f = cache / f"{it['label']}_{it.get('attack_type') or 'live'}_{Path(it['path']).stem}.npz"
        if f.is_file():
            with np.load(f, allow_pickle=False) as z:
                rec = {k: z[k] for k in z.files}
            if BSIF["on"] and len(rec["whole"]) != N_FEATURES_BSIF:
                raise SystemExit(f"{f} holds evidence without BSIF codes: give --bsif its own --cache folder")
            if PORES["on"] and "pores" not in rec:   # sweat-pore densities (ADR 0270), added to the cache
                from fpstation.ml.classifiers.pad_local import pore_features

                rec["pores"] = pore_features(cv2.imread(it["path"], cv2.IMREAD_GRAYSCALE), dpi)
                np.savez(f, **rec)
            out.append(rec)
            if (i + 1) % 100 == 0:
                log(f"  evidence {i + 1}/{len(items)}  ({time.perf_counter() - t0:.0f} s)")
            continue
        px = cv2.imread(it["path"], cv2.IMREAD_GRAYSCALE)
        t = time.perf_counter()
        ev = print_evidence(px, dpi, bsif=BSIF["on"])
        sec = time.perf_counter() - t
        half = cv2.resize(px, (round(px.shape[1] * 500 / dpi), round(px.shape[0] * 500 / dpi)),
                          interpolation=cv2.INTER_AREA)
        try:
            q = float(nfiq2(half).score)
        except Exception:  # noqa: BLE001 - NFIQ 2 failing on a print is itself a quality value
            q = 0.0
        rec = {"whole": ev["whole"], "grid": ev["grid"], "minutiae": ev["minutiae"],
               "n_minutiae": np.array(ev["n_minutiae"]), "nfiq2": np.array(q), "seconds": np.array(sec)}
        if PORES["on"]:
            from fpstation.ml.classifiers.pad_local import pore_features

            rec["pores"] = pore_features(px, dpi)
        np.savez(f, **rec)
        out.append(rec)
        if (i + 1) % 25 == 0:
            log(f"  evidence {i + 1}/{len(items)}  ({time.perf_counter() - t0:.0f} s)")
    return out


# ------------------------------------------------------------------------------ statistics
#: how thresholds are set on out-of-fold scores (--threshold-rule): "pooled" = the lowest with BPCER
#: <= 1 % over all bona fide prints; "subject" = that and BPCER <= MAX_SUBJECT_BPCER within every subject
THRESHOLD = {"rule": "pooled", "max_subject_bpcer": 0.02, "tie": "lowest"}
#: --pores: the sweat-pore part and its fusion with the grid patches are candidates too (docs/adr/0270)
PORES = {"on": False}
#: how a transaction combines its attempts (--aggregate): "mean" (probabilities), "logit" (their
#: evidence added, docs/adr/0268) or "choose" (either, by the inner transaction criterion)
AGGREGATE = {"mode": "mean"}


def threshold(s: np.ndarray, y: np.ndarray, groups: np.ndarray) -> float:
    """The operating threshold on out-of-fold scores ``s`` of the subjects ``groups`` (see THRESHOLD)."""
    from fpstation.ml.classifiers import metrics as cm

    return cm.threshold_for_bpcer(s, y, 0.01, groups if THRESHOLD["rule"] == "subject" else None,
                                  THRESHOLD["max_subject_bpcer"], tie=THRESHOLD["tie"])


#: what the card of a "subject"-rule model says of the pooled-rule model it replaced (docs/adr/0262)
REPLACES = {
    "model": "pad-livdet v2 (grid patches, pooled threshold rule; bench/results/pad_livdet_loso_v2.json)",
    "why": "the desk's operating point is BPCER <= 1 %, then the fewest spoofs passing; neither meets BPCER <= 1 %, "
           "v3 comes closer on the constraint that fails (per transaction 4/350 = 1.1 % against 9/350 = 2.6 %) "
           "with APCER inside the targets (3/160 per attempt, 2/160 per transaction; v2 0/160), and the fully "
           "nested figures improve (APCER per attempt 10.0 % -> 1.9 % at the same BPCER 3.7 %). The rule was "
           "introduced after v2's outer figures showed 10 of its 11 bona fide errors in one subject: the comparison "
           "of the two rules is optimistic by that one choice. docs/adr/0262-pad-threshold-per-subject.md",
}


def threshold_rule_text(what: str = "lowest threshold with BPCER") -> str:
    tie = (", then moved to the middle (in log-odds) of the gap up to the next attack score"
           if THRESHOLD["tie"] == "margin" and what.startswith("lowest") else "")
    if THRESHOLD["rule"] == "subject":
        return (f"{what} <= 1 % over all bona fide prints and <= {100 * THRESHOLD['max_subject_bpcer']:g} % "
                f"within every subject{tie}")
    return f"{what} <= 1 %{tie}"


def criterion(s: np.ndarray, y: np.ndarray, groups: np.ndarray) -> tuple[float, float]:
    """(APCER at the operating threshold, -AUC) on scores s: smaller is better."""
    from fpstation.ml.classifiers import metrics as cm

    t = threshold(s, y, groups)
    return float((s[y == 1] < t).mean()), -cm.roc_auc(s, y)


# ------------------------------------------------------------------------------ models
def fit_linear(x: np.ndarray, y: np.ndarray, c: float, groups: np.ndarray | None = None, nuisance_k: int = 0):
    from fpstation.ml.classifiers.patches import LinearModel

    return LinearModel(c=c).fit(x, y, groups=groups, nuisance_k=nuisance_k)


def patch_train_rows(ev: list[dict], idx: np.ndarray, y: np.ndarray, part: str, seed: int = 0,
                     with_groups: bool = False):
    """Training rows of ``part`` (at most PATCH_TRAIN_PER_PRINT patches a print) and their labels;
    ``with_groups``: also each row's print index."""
    from fpstation.ml.classifiers.pad_local import part_rows

    rng = np.random.default_rng(seed)
    xs, ys, gs = [], [], []
    for i in idx:
        p = part_rows(ev[i], part)
        if len(p) > PATCH_TRAIN_PER_PRINT:
            p = p[np.sort(rng.choice(len(p), PATCH_TRAIN_PER_PRINT, replace=False))]
        xs.append(p)
        ys.append(np.full(len(p), y[i]))
        gs.append(np.full(len(p), i))
    if with_groups:
        return np.concatenate(xs), np.concatenate(ys), np.concatenate(gs)
    return np.concatenate(xs), np.concatenate(ys)


#: --nap: the numbers of nuisance directions tried for ``grid_nap`` (docs/adr/0275)
NAP = {"ks": ()}


def part_logits(ev, tr, te, y, part, c, rules, subj: np.ndarray | None = None) -> tuple[dict[str, np.ndarray], object]:
    """Raw print logits of ``te`` from a model of ``part`` fitted on ``tr``: ({rule: logits}, model).
    ``c`` = (C, number of leading features used: 366 = all, 350 = texture codes without the
    grey-level histogram[, nuisance directions for ``grid_nap``, which needs every print's ``subj``])."""
    from fpstation.ml.classifiers.pad_local import NoveltyModel, fuse, part_rows

    cval, nf = c[:2]
    if part == "pores":
        m = fit_linear(np.stack([ev[i]["pores"] for i in tr]), y[tr], cval)
        m.n_features = len(ev[tr[0]]["pores"])
        return {"-": m.decision(np.stack([ev[i]["pores"] for i in te]))}, m
    if part in ("whole", "novelty"):
        x = np.stack([ev[i]["whole"][:nf] for i in tr])
        m = fit_linear(x, y[tr], cval) if part == "whole" else NoveltyModel().fit(x, y[tr])
        m.n_features = nf
        return {"-": m.decision(np.stack([ev[i]["whole"][:nf] for i in te]))}, m
    if part == "grid_nap":  # c = (C, features, nuisance directions)
        xr, yr, pr = patch_train_rows(ev, tr, y, part, with_groups=True)
        m = fit_linear(xr[:, :nf], yr, cval, groups=subj[pr], nuisance_k=c[2])
    else:
        xr, yr = patch_train_rows(ev, tr, y, part)
        m = fit_linear(xr[:, :nf], yr, cval)
    m.n_features = nf
    z = [m.decision(part_rows(ev[i], part)[:, :nf]) for i in te]
    return {r: np.array([fuse(zi, r) for zi in z]) for r in rules}, m


# ------------------------------------------------------------------------------ main
def main() -> None:  # noqa: C901 - one protocol, read top to bottom
    from fpstation.paths import shared_data_dir

    sd = shared_data_dir()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str(sd / "livdet2015-hiscan") if sd else None)
    p.add_argument("--dpi", type=float, default=1000)
    p.add_argument("--cache", default="/work/cache/h21/evidence")
    p.add_argument("--cs", default="0.01,0.1,1", help="C values tried for the linear models")
    p.add_argument("--results", default=str(REPO / "bench" / "results" / "pad_livdet_loso_v2.json"))
    p.add_argument("--extract-only", action="store_true")
    p.add_argument("--folds", type=int, default=0, help="development: first N outer folds only")
    p.add_argument("--limit", type=int, default=0, help="development: first N prints of each class only")
    p.add_argument("--approach", default="auto", help="approach shipped with --ship (auto = best on the outer folds)")
    p.add_argument("--ship-only", action="store_true", help="only train the shipped model, from the comparison "
                                                             "recorded in --results")
    p.add_argument("--ship", action="store_true", help="also train the shipped model (if it beats v1)")
    p.add_argument("--out", default=str(REPO / "models"))
    p.add_argument("--threshold-rule", choices=["pooled", "subject"], default="pooled",
                   help="operating threshold on out-of-fold scores: lowest with BPCER <= 1 %% (pooled), or that "
                        "and BPCER <= --max-subject-bpcer within every subject (subject)")
    p.add_argument("--max-subject-bpcer", type=float, default=0.02)
    p.add_argument("--threshold-tie", choices=["lowest", "margin"], default="lowest",
                   help="among thresholds with the same out-of-fold APCER: the lowest (its BPCER bound just met), "
                        "or the middle of the gap up to the next attack score (docs/adr/0273)")
    p.add_argument("--aggregate", choices=["mean", "logit", "choose"], default="mean",
                   help="how a transaction combines its attempts: mean probability, mean logit (evidence added), "
                        "or either chosen inside the fold (docs/adr/0268)")
    p.add_argument("--pores", action="store_true", help="also try the sweat-pore part and its fusion with the grid "
                                                          "patches (docs/adr/0270)")
    p.add_argument("--bsif", action="store_true",
                   help="add BSIF codes (resources/bsif_ica_13x13_8.npz) to the texture descriptors; the feature "
                        "sets tried become 622 (with BSIF), 366 and 350 (docs/adr/0274). Needs its own --cache")
    p.add_argument("--nap", default="", metavar="K[,K...]",
                   help="also try grid_nap: the grid patches with K nuisance directions (between-subject variation "
                        "of each class) projected out, K chosen inside the fold (docs/adr/0275)")
    p.add_argument("--keep-inner", action="store_true",
                   help="also keep, per outer fold, the grid part's calibrated logits: inner out-of-fold for the "
                        "training prints, and the test prints' (folds[].logits; docs/adr/0276)")
    p.add_argument("--resolution-check", action="store_true",
                   help="write domain.resolution into the card: ridge period and fine-detail range of the training "
                        "prints (docs/adr/0271; not adopted for the shipped card)")
    args = p.parse_args()
    global PARTS, APPROACHES
    if args.pores:
        PORES["on"] = True
        PARTS = (*PARTS, "pores")
        APPROACHES = (*PARTS, "fusion", "fusion_q", "fusion_p", "fusion_pores")
    if args.nap:
        NAP["ks"] = tuple(int(k) for k in args.nap.split(","))
        PARTS = (*PARTS, "grid_nap")
        APPROACHES = (*APPROACHES, "grid_nap")
    if args.bsif:
        global FEATURE_SETS
        BSIF["on"] = True
        FEATURE_SETS = (622, 366, 350)
    THRESHOLD.update(rule=args.threshold_rule, max_subject_bpcer=args.max_subject_bpcer, tie=args.threshold_tie)
    AGGREGATE.update(mode=args.aggregate)
    if not args.data or not Path(args.data).is_dir():
        raise SystemExit(f"dataset folder not found: {args.data}")
    log = lambda *a: print(*a, flush=True)  # noqa: E731
    t_start = time.perf_counter()
    from fpstation.ml.datasets import scan_livdet

    items, _ = scan_livdet(args.data)
    items.sort(key=lambda it: it["path"])
    if args.limit:
        items = [it for it in items if it["label"] == "live"][: args.limit] + \
                [it for it in items if it["label"] != "live"][: args.limit]
    log(f"{len(items)} prints")
    ev = evidence_for(items, args.dpi, Path(args.cache), log)
    t_ev = time.perf_counter() - t_start
    log(f"evidence ready ({t_ev:.0f} s)")
    if args.extract_only:
        return
    if args.ship_only:  # the comparison of an earlier run decides; only the shipped model is trained
        from fpstation.ml.classifiers.pad_local import FUSIONS

        results = json.loads(Path(args.results).read_text(encoding="utf-8"))
        y = np.array([0 if it["label"] == "live" else 1 for it in items])
        subj = np.array([str(it["subject"]) for it in items])
        types = [it.get("attack_type") if it["label"] != "live" else None for it in items]
        ship_and_record(args, items, ev, y, subj, types, results["candidates"]["C"], list(FUSIONS), results, log)
        return
    run_nested(args, items, ev, t_start, t_ev, log)



# ------------------------------------------------------------------------------ nested protocol
PARTS = ("minutiae", "grid", "both", "whole", "novelty")
APPROACHES = PARTS + ("fusion", "fusion_q", "fusion_p")


def sequences(items: list[dict], idx: np.ndarray, max_attempts: int = 3) -> list[list[int]]:
    """Simulated transactions: for each finger (subject, finger, live or spoof) with impressions
    i_0 < ... < i_{n-1}, the n cyclic sequences (i_j, i_{j+1}, i_{j+2}) (mod n): every impression
    is the first attempt of exactly one transaction. Entries are indices into ``items``
    (:func:`fpstation.core.pad_transaction.cyclic_sequences`)."""
    from fpstation.core.pad_transaction import cyclic_sequences

    groups: dict[tuple, list[tuple[int, int]]] = {}
    for i in idx:
        st = Path(items[i]["path"]).stem.split("_")
        groups.setdefault((items[i]["label"], items[i].get("attack_type"), st[0], st[1]), []).append((int(st[2]), int(i)))
    return cyclic_sequences(groups, max_attempts)


def simulate_rule(s: np.ndarray, y: np.ndarray, seqs: list[list[int]], rule) -> dict:
    """Per-transaction figures of ``rule`` on scores ``s`` (indexed like ``seqs``' entries)."""
    from fpstation.core.pad_transaction import ATTACK, LIVE, simulate

    live = [q for q in seqs if y[q[0]] == 0]
    att = [q for q in seqs if y[q[0]] == 1]
    vl, nl = simulate([[s[i] for i in q] for q in live], rule)
    va, na = simulate([[s[i] for i in q] for q in att], rule)
    return {"bpcer_k": sum(v == ATTACK for v in vl), "n_live": len(live), "apcer_k": sum(v == LIVE for v in va),
            "n_attack": len(att), "attempts_live": nl, "attempts_attack": na, "verdicts_attack": va,
            "verdicts_live": vl}


def choose_rule(s: np.ndarray, y: np.ndarray, seqs: list[list[int]], thr: float, max_bpcer: float = 0.01,
                max_mean_attempts: float = 1.3, groups: np.ndarray | None = None):
    """(lo, hi) around ``thr`` minimising the transaction APCER subject to transaction BPCER <=
    ``max_bpcer`` (and, with the "subject" threshold rule and ``groups``, <= the per-subject bound
    within every subject) and mean attempts of live users <= ``max_mean_attempts`` (then fewer
    attempts, then a narrower band, then the "mean" aggregate); the aggregate is AGGREGATE's, or
    either with "choose"; a single-attempt rule (lo = hi = thr) when nothing else qualifies."""
    from fpstation.core.pad_transaction import AGGREGATES, ATTACK, TransactionRule

    per_subject = THRESHOLD["rule"] == "subject" and groups is not None
    # the subject of each live transaction, in simulate_rule's order of them
    live_subject = np.array([str(groups[q[0]]) for q in seqs if y[q[0]] == 0]) if per_subject else np.zeros(0)

    q = np.linspace(0, 1, 17)
    below, above = s[s <= thr], s[s >= thr]
    los = np.unique(np.concatenate([[thr], np.quantile(below, q) if below.size else []]))
    his = np.unique(np.concatenate([[thr], np.quantile(above, q) if above.size else []]))
    aggregates = AGGREGATES if AGGREGATE["mode"] == "choose" else (AGGREGATE["mode"],)
    best, best_key = TransactionRule(thr, thr, thr, aggregate=aggregates[0]), None
    for agg, lo, hi in ((g, a, b) for g in aggregates for a in los[los <= thr] for b in his[his >= thr]):
        rule = TransactionRule(float(lo), thr, float(hi), aggregate=agg)
        r = simulate_rule(s, y, seqs, rule)
        if r["n_live"] and r["bpcer_k"] / r["n_live"] > max_bpcer:
            continue
        if per_subject:
            rejected = np.array([v == ATTACK for v in r["verdicts_live"]])
            if any(rejected[live_subject == u].mean() > THRESHOLD["max_subject_bpcer"] for u in set(live_subject)):
                continue
        ma = float(np.mean(r["attempts_live"])) if r["attempts_live"] else 1.0
        if ma > max_mean_attempts:
            continue
        key = (r["apcer_k"] / max(r["n_attack"], 1), ma, hi - lo, AGGREGATES.index(agg))
        if best_key is None or key < best_key:
            best, best_key = rule, key
    return best


def stack(xi: np.ndarray, xt: np.ndarray, y_in: np.ndarray, g_in: np.ndarray):
    """Score fusion: logistic regression (C = 1) over calibrated logits ``xi`` of the training prints
    (subjects ``g_in``); its own out-of-fold scores by leave-one-subject-out, Platt-calibrated on
    them. Returns (calibrated OOF logits, calibrated logits of ``xt``, the stacker, the calibration)."""
    from fpstation.ml.classifiers import metrics as cm

    so = np.zeros(len(xi))
    for u in sorted(set(g_in)):
        m = g_in == u
        so[m] = fit_linear(xi[~m], y_in[~m], 1.0).decision(xi[m])
    cal = cm.platt_fit(so, y_in)
    stacker = fit_linear(xi, y_in, 1.0)
    return cm.apply_calibration(so, cal), cm.apply_calibration(stacker.decision(xt), cal), stacker, cal


def fit_stage(items, ev, y, subj, train_idx, test_idx, cs, rules, log, tag=""):
    """Inner leave-one-subject-out on ``train_idx``; every approach's choice, calibration, inner
    OOF scores and test scores (models refitted on all of ``train_idx``)."""
    from fpstation.ml.classifiers import metrics as cm

    inner_subjects = sorted(set(subj[train_idx]), key=lambda s: (len(s), s))
    yin, gin = y[train_idx], subj[train_idx]
    res: dict = {}
    zin_parts, zte_parts = {}, {}
    for part in PARTS:
        part_cs = [(c, nf) for c in (cs if part != "novelty" else [0.0])
                   for nf in (FEATURE_SETS if part != "pores" else (0,))]
        if part == "grid_nap":
            part_cs = [(c, nf, k) for c, nf in part_cs for k in NAP["ks"]]
        part_rules = rules if part in ("minutiae", "grid", "both", "grid_nap") else ["-"]
        oof = {(c, r): np.zeros(len(train_idx)) for c in part_cs for r in part_rules}
        for u in inner_subjects:
            m_in = subj[train_idx] == u
            for c in part_cs:
                z, _ = part_logits(ev, train_idx[~m_in], train_idx[m_in], y, part, c, part_rules, subj)
                for r, v in z.items():
                    oof[(c, r)][m_in] = v
        crit = {k: criterion(v, yin, gin) for k, v in oof.items()}
        best = min(crit, key=lambda k: crit[k])
        cal = cm.platt_fit(oof[best], yin)
        z, model = part_logits(ev, train_idx, test_idx, y, part, best[0], [best[1]], subj)
        zin_parts[part] = cm.apply_calibration(oof[best], cal)
        zte_parts[part] = cm.apply_calibration(z[best[1]], cal)
        res[part] = {"zin": zin_parts[part], "zte": zte_parts[part], "model": model,
                     "choice": {"C": best[0][0] if part != "novelty" else None,
                                "patch_fusion": best[1] if best[1] != "-" else None,
                                "calibration": {"a": cal["a"], "b": cal["b"]},
                                "features": best[0][1],
                                **({"nuisance_directions": best[0][2]} if part == "grid_nap" else {}),
                                "inner_candidates": {f"C={k[0][0]:g} features={k[0][1]}"
                                                     + (f" nap={k[0][2]}" if part == "grid_nap" else "")
                                                     + f" {k[1]}": {"apcer_at_bpcer1": v[0], "auc": -v[1]}
                                                     for k, v in crit.items()}}}
        log(f"    {tag} {part:8s} C={best[0][0]:g} nf={best[0][1]} rule={best[1]} inner apcer@bpcer1 {crit[best][0]:.3f} "
            f"auc {-crit[best][1]:.3f}")
    q_in = np.array([float(ev[i]["nfiq2"]) for i in train_idx])
    q_te = np.array([float(ev[i]["nfiq2"]) for i in test_idx])
    from fpstation.ml.classifiers.pad_local import FUSION_SETS

    for name, inputs in FUSION_SETS.items():
        if name not in APPROACHES:
            continue
        with_q = name == "fusion_q"
        xi = np.column_stack([zin_parts[p] for p in inputs] + ([q_in] if with_q else []))
        xt = np.column_stack([zte_parts[p] for p in inputs] + ([q_te] if with_q else []))
        zin, zte, stacker, cal = stack(xi, xt, yin, gin)
        res[name] = {"zin": zin, "zte": zte, "model": stacker, "choice": {"C": 1.0, "inputs": list(inputs) + (["nfiq2"] if with_q else []),
                                                  "weights": stacker.w.tolist(),
                                                  "calibration": {"a": cal["a"], "b": cal["b"]}}}
        c = criterion(cm.sigmoid(res[name]["zin"]), yin, gin)
        log(f"    {tag} {name:8s} inner apcer@bpcer1 {c[0]:.3f} auc {-c[1]:.3f}")
    seqs_in = [[int(np.searchsorted(train_idx, i)) for i in q] for q in sequences(items, train_idx)]
    for name in APPROACHES:
        s_in = cm.sigmoid(res[name]["zin"])
        thr = threshold(s_in, yin, gin)
        res[name]["threshold"] = thr
        res[name]["rule"] = choose_rule(s_in, yin, seqs_in, thr, groups=gin)
        res[name]["criterion"] = criterion(s_in, yin, gin)
        res[name]["s_in"] = s_in
    res["selected"] = min(APPROACHES, key=lambda a: res[a]["criterion"])
    return res


def det_points(s: np.ndarray, y: np.ndarray, n: int = 120) -> dict:
    ts = np.unique(np.quantile(s, np.linspace(0, 1, n)))
    return {"threshold": ts.tolist(), "apcer": [float((s[y == 1] < t).mean()) for t in ts],
            "bpcer": [float((s[y == 0] >= t).mean()) for t in ts]}


def pooled_report(items, y, types, idx_done, score, thr, lo, hi, tx) -> dict:
    from fpstation.ml.classifiers import metrics as cm

    s, t, yy = score[idx_done], thr[idx_done], y[idx_done]
    ty = [types[i] for i in idx_done]
    pred = s >= t
    apcer = {}
    for m in sorted({x for x, a in zip(ty, yy, strict=True) if a}):
        sel = np.array([x == m for x in ty]) & (yy == 1)
        apcer[m] = rate(int((~pred[sel]).sum()), int(sel.sum()))
    bp = rate(int(pred[yy == 0].sum()), int((yy == 0).sum()))
    three = {}
    for cls, v in (("bona_fide", 0), ("attack", 1)):
        sel = yy == v
        three[cls] = {"LIVE": int((s[sel] < lo[idx_done][sel]).sum()),
                      "UNCERTAIN": int(((s[sel] >= lo[idx_done][sel]) & (s[sel] < hi[idx_done][sel])).sum()),
                      "ATTACK": int((s[sel] >= hi[idx_done][sel]).sum())}
    att_all = rate(int((~pred[yy == 1]).sum()), int((yy == 1).sum()))
    return {"per_attempt": {"apcer": apcer, "apcer_all_attacks": att_all, "bpcer": bp,
                            "hter": 0.5 * (att_all["value"] + bp["value"]),
                            "three_way_at_band": three, "auc_pooled": cm.roc_auc(s, yy)},
            "per_transaction": {"apcer": rate(tx["apcer_k"], tx["n_attack"]), "bpcer": rate(tx["bpcer_k"], tx["n_live"]),
                                "mean_attempts_live": float(np.mean(tx["attempts_live"])) if tx["attempts_live"] else None,
                                "mean_attempts_attack": float(np.mean(tx["attempts_attack"])) if tx["attempts_attack"] else None,
                                "attempts_live_histogram": {str(k): int(np.sum(np.array(tx["attempts_live"]) == k))
                                                            for k in (1, 2, 3)}},
            "det": det_points(s, yy)}


class OuterPool:
    """Each approach's outer test scores, thresholds and bands (per print) and simulated
    transactions, pooled over the outer folds."""

    def __init__(self, keys: tuple[str, ...], n: int) -> None:
        self.score, self.thr, self.lo, self.hi = ({a: np.full(n, np.nan) for a in keys} for _ in range(4))
        self.tx = {a: {"bpcer_k": 0, "n_live": 0, "apcer_k": 0, "n_attack": 0, "attempts_live": [],
                       "attempts_attack": []} for a in keys}

    def add(self, a: str, y: np.ndarray, te: np.ndarray, s_te: np.ndarray, thr: float, rule, seqs_te) -> dict:
        """Record approach ``a``'s scores ``s_te`` of the outer test prints ``te`` at its fold's
        threshold and transaction ``rule``; returns the fold's figures."""
        self.score[a][te], self.thr[a][te] = s_te, thr
        self.lo[a][te], self.hi[a][te] = rule.lo, rule.hi
        full = np.full(len(y), np.nan)
        full[te] = s_te
        tx = simulate_rule(full, y, seqs_te, rule)
        for key in ("bpcer_k", "n_live", "apcer_k", "n_attack"):
            self.tx[a][key] += tx[key]
        self.tx[a]["attempts_live"] += tx["attempts_live"]
        self.tx[a]["attempts_attack"] += tx["attempts_attack"]
        yt = y[te]
        return {"threshold": thr, "lo": rule.lo, "hi": rule.hi,
                "apcer_attempt": rate(int((s_te[yt == 1] < thr).sum()), int((yt == 1).sum())),
                "bpcer_attempt": rate(int((s_te[yt == 0] >= thr).sum()), int((yt == 0).sum())),
                "apcer_transaction": rate(tx["apcer_k"], tx["n_attack"]),
                "bpcer_transaction": rate(tx["bpcer_k"], tx["n_live"])}

    def report(self, items, y, types, done: np.ndarray, a: str) -> dict:
        """Approach ``a``'s pooled figures over the scored prints ``done``."""
        return pooled_report(items, y, types, done, self.score[a], self.thr[a], self.lo[a], self.hi[a], self.tx[a])


def run_nested(args, items, ev, t_start, t_ev, log) -> None:  # noqa: C901

    y = np.array([0 if it["label"] == "live" else 1 for it in items])
    subj = np.array([str(it["subject"]) for it in items])
    types = [it.get("attack_type") if it["label"] != "live" else None for it in items]
    subjects = sorted(set(subj), key=lambda s: (len(s), s))
    cs = [float(c) for c in args.cs.split(",")]
    from fpstation.ml.classifiers.pad_local import FUSIONS

    rules = list(FUSIONS)
    n = len(items)
    keys = APPROACHES + ("selected",)
    pool = OuterPool(keys, n)
    folds = []
    for k, t in enumerate(subjects[: args.folds or None]):
        te_idx = np.nonzero(subj == t)[0]
        tr_idx = np.nonzero(subj != t)[0]
        log(f"outer fold {k + 1}/{len(subjects)}: test subject {t}  ({time.perf_counter() - t_start:.0f} s)")
        res = fit_stage(items, ev, y, subj, tr_idx, te_idx, cs, rules, log, tag=f"[{t}]")
        fold = {"test_subject": t, "selected": res["selected"], "approaches": {}}
        seqs_te = sequences(items, te_idx)
        for a in keys:
            src = res[res["selected"]] if a == "selected" else res[a]
            from fpstation.ml.classifiers import metrics as cm

            s_te = cm.sigmoid(src["zte"])
            yt = y[te_idx]
            # the rule's threshold is src["threshold"] (choose_rule)
            f = pool.add(a, y, te_idx, s_te, src["threshold"], src["rule"], seqs_te)
            f.update({"aggregate": src["rule"].aggregate,
                      "inner_apcer_at_bpcer1": src["criterion"][0], "inner_auc": -src["criterion"][1],
                      "test_attack_scores_median": float(np.median(s_te[yt == 1])) if (yt == 1).any() else None,
                      "test_live_scores_median": float(np.median(s_te[yt == 0]))})
            if a != "selected":
                f["choice"] = src["choice"]
            fold["approaches"][a] = f
        if args.keep_inner:  # for per-person studies without refitting (docs/adr/0276)
            fold["logits"] = {"grid": {"train_index": tr_idx.tolist(), "train": res["grid"]["zin"].tolist(),
                                       "test_index": te_idx.tolist(), "test": res["grid"]["zte"].tolist()}}
        folds.append(fold)
        sel = fold["approaches"]["selected"]
        log(f"  fold {t}: selected {res['selected']}: apcer {sel['apcer_attempt']['value']:.3f} "
            f"bpcer {sel['bpcer_attempt']['value']:.3f} | tx apcer {sel['apcer_transaction']['value']} "
            f"bpcer {sel['bpcer_transaction']['value']:.3f}")
    score, thr, lo, hi = pool.score, pool.thr, pool.lo, pool.hi
    done = np.nonzero(~np.isnan(score["selected"]))[0]
    approaches = {a: pool.report(items, y, types, done, a) for a in keys}
    for a, r in approaches.items():
        pa, pt = r["per_attempt"], r["per_transaction"]
        log(f"POOLED {a:9s} attempt apcer {pa['apcer_all_attacks']['value']:.3f} bpcer {pa['bpcer']['value']:.3f} "
            f"auc {pa['auc_pooled']:.3f} | tx apcer {pt['apcer']['value']:.3f} bpcer {pt['bpcer']['value']:.3f} "
            f"attempts(live) {pt['mean_attempts_live']:.2f}")
    v1 = json.loads((REPO / "bench" / "results" / "pad_livdet_loso.json").read_text())["approaches"]["classical"]["pooled"]
    v1_hter = 0.5 * (v1["apcer"]["gelatine"]["value"] + v1["bpcer"]["value"])
    # the approach compared best on the outer folds (pooled half total error at the folds' own
    # thresholds, then AUC): a choice among len(APPROACHES) candidates made on the outer figures
    best = min(APPROACHES, key=lambda a: (approaches[a]["per_attempt"]["hter"], -approaches[a]["per_attempt"]["auc_pooled"]))
    if args.approach != "auto":
        best = args.approach
    shipped = approaches[best]["per_attempt"]
    beats = bool(shipped["hter"] < v1_hter and shipped["bpcer"]["value"] <= v1["bpcer"]["value"])
    targets = {k: target_check(approaches[k]) for k in (best, "selected")}
    results = {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "python " + " ".join(shlex.quote(a) for a in sys.argv),
        "protocol": ("nested leave-one-subject-out: outer = one test subject (7 folds); inside the outer fold "
                     "only, an inner leave-one-subject-out over the 6 training subjects chooses each approach's "
                     "C and patch fusion rule (lowest inner APCER at the operating threshold, then AUC), fits its "
                     "Platt calibration, its threshold (" + threshold_rule_text() + " on the inner out-of-fold "
                     "scores) and its transaction band (inner simulated transactions: " +
                     threshold_rule_text("BPCER") + ", mean live attempts <= 1.3, lowest APCER); "
                     "'selected' = the approach with the best inner criterion in each fold; figures pooled over "
                     "the outer test prints at their own fold's threshold; ci95 = Clopper-Pearson"),
        "transactions": ("each finger (subject, finger, live or spoof) with impressions i_0..i_{n-1} gives n "
                         "transactions (i_j, i_j+1, i_j+2 mod n); rule: fpstation.core.pad_transaction"),
        "data": {"root": str(Path(args.data).resolve()), "dpi_stated": args.dpi, "prints": n,
                 "bona_fide": int((y == 0).sum()), "attacks": int((y == 1).sum()),
                 "materials": sorted({t for t in types if t}), "subjects": subjects,
                 "unseen_materials": "none in this folder (only gelatine): latex, Ecoflex, wood glue, Play-Doh "
                                     "and others are NOT measured here"},
        "threshold_rule": dict(THRESHOLD),
        "transaction_aggregate": AGGREGATE["mode"],
        "candidates": {"C": cs, "patch_fusion": rules, "patch_px_at_1000dpi": 96, "max_patches": 48,
                       "patches_per_print_in_training": PATCH_TRAIN_PER_PRINT,
                       "minutiae": "NIST mindtct (fpstation.core.matching, 'mindtct') on the print at 500 dpi"},
        "approaches": approaches, "folds": folds,
        # every print's outer-fold score (its own fold's model) and its fold's threshold and band, by
        # column: later rules (transactions, per-person offsets) can be studied without refitting
        "out_of_fold": out_of_fold(items, args.data, subj, y, {"score": score, "threshold": thr, "lo": lo, "hi": hi}),
        "v1_shipped_loso": {"source": "bench/results/pad_livdet_loso.json (classical, pooled)",
                            "apcer_gelatine": v1["apcer"]["gelatine"], "bpcer": v1["bpcer"], "hter": v1_hter},
        "best_outer_approach": best,
        "comparison_rule": ("the shipped approach = lowest pooled outer half total error (APCER+BPCER)/2 at the "
                            "folds' own thresholds, then AUC, among " + ", ".join(APPROACHES) + "; this one choice "
                            "is made on the outer figures, so its figures are optimistic by that selection; "
                            "'selected' (the approach chosen inside each fold by the inner criterion) has fully "
                            "nested figures"),
        "shipped_beats_v1": beats,
        "targets": targets,
        "subject_statistics": subject_stats(items, ev, y, subj),
        "evidence_seconds": round(t_ev, 1),
        "load_average": os.getloadavg(),
    }
    results["total_seconds"] = round(time.perf_counter() - t_start, 1)
    out = Path(args.results)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1, default=float), encoding="utf-8")
    det_png(approaches, out.with_name(out.stem + "_det.png"))
    log(f"wrote {out}  ({results['total_seconds']:.0f} s)")
    if args.ship:
        ship_and_record(args, items, ev, y, subj, types, cs, rules, results, log)


def out_of_fold(items: list[dict], data: str, subj: np.ndarray, y: np.ndarray,
                columns: dict[str, dict[str, np.ndarray]]) -> dict:
    """Per print, by column: its path (relative to ``data``), subject, label and, for each approach,
    each of ``columns`` (outer-fold score, that fold's threshold, band); None where not scored."""
    return {"path": [os.path.relpath(str(it["path"]), str(data)) for it in items],
            "subject": [str(s) for s in subj], "y": [int(v) for v in y],
            **{name: {a: [None if np.isnan(x) else round(float(x), 6) for x in v] for a, v in col.items()}
               for name, col in columns.items()}}


def ship_and_record(args, items, ev, y, subj, types, cs, rules, results, log) -> None:
    """Train the shipped model (see :func:`ship`) and add its summary to the results JSON."""
    t0 = time.perf_counter()
    results["final"] = ship(args, items, ev, y, subj, types, cs, rules, results["shipped_beats_v1"], results, log,
                            results["best_outer_approach"] if args.approach == "auto" else args.approach)
    results["final"]["seconds"] = round(time.perf_counter() - t0, 1)
    results["final"]["command"] = "python " + " ".join(shlex.quote(a) for a in sys.argv)
    Path(args.results).write_text(json.dumps(results, indent=1, default=float), encoding="utf-8")
    log(f"updated {args.results}")


def det_png(approaches: dict, path: Path, names: tuple[str, ...] = ("grid", "selected", "minutiae", "whole",
                                                                      "fusion_p")) -> Path:
    """DET curves (APCER against BPCER, log axes) of the pooled out-of-fold scores of ``names``."""
    from fpstation.commands.plots import roc_plot

    curves = {a: (approaches[a]["det"]["bpcer"], approaches[a]["det"]["apcer"]) for a in names if a in approaches}
    return roc_plot(path, curves, "pad-livdet v2, nested LOSO, pooled out-of-fold", xlabel="BPCER",
                    ylabel="APCER (gelatine)", log_axes=True)


def _rel(path: str) -> str:
    p = Path(path).resolve()
    return str(p.relative_to(REPO)) if p.is_relative_to(REPO) else str(p)


def subject_stats(items, ev, y, subj) -> dict:
    """Per subject and class: mean share of foreground pixels at grey 0-15 (black) and 240-255
    (white) (from the whole-print grey-level histogram), NFIQ 2, minutiae found (mindtct)."""
    from fpstation.ml.classifiers.pad_local import GREY_BINS, N_FEATURES

    out: dict = {}
    for s in sorted(set(subj), key=lambda v: (len(v), v)):
        for cls, v in (("bona_fide", 0), ("gelatine", 1)):
            idx = np.nonzero((subj == s) & (y == v))[0]
            if not len(idx):
                continue
            g = np.stack([ev[i]["whole"][N_FEATURES - GREY_BINS:] for i in idx]) ** 2
            out[f"{s}/{cls}"] = {"n": int(len(idx)), "black_share": float(g[:, 0].mean()),
                                 "white_share": float(g[:, -1].mean()),
                                 "nfiq2_mean": float(np.mean([float(ev[i]["nfiq2"]) for i in idx])),
                                 "minutiae_mean": float(np.mean([float(ev[i]["n_minutiae"]) for i in idx]))}
    return out


def ship(args, items, ev, y, subj, types, cs, rules, beats, results, log, approach) -> dict:
    """The recipe once more on ALL subjects (inner leave-one-subject-out over the 7 for the choices,
    calibration, threshold and band); written to --out only when ``beats`` (else to the cache)."""
    from fpstation.ml.classifiers import metrics as cm
    from fpstation.ml.classifiers.pad_local import PARTS_OF, LocalPadModel
    from fpstation.ml.registry import sha256_file

    all_idx = np.arange(len(items))
    log("final model: inner leave-one-subject-out over all subjects")
    res = fit_stage(items, ev, y, subj, all_idx, all_idx[:1], cs, rules, log, tag="[final]")
    a = approach
    parts = PARTS_OF(a)
    models = {p: res[p]["model"] for p in parts}
    model = LocalPadModel(approach="fusion" if a.startswith("fusion") else a, models=models,
                          rules={p: res[p]["choice"].get("patch_fusion") or "" for p in parts},
                          calib={p: res[p]["choice"]["calibration"] for p in parts},
                          fusion=res[a]["model"] if a.startswith("fusion") else None, use_nfiq2=a == "fusion_q",
                          nfeat={p: int(res[p]["model"].n_features) for p in parts})
    out = Path(args.out) if beats else Path(args.cache).parent / "candidate"
    out.mkdir(parents=True, exist_ok=True)
    weights = out / "pad-livdet.npz"
    model.save(weights)
    # the card's calibration turns LocalPadModel.logit into the attack score
    cal = res[a]["choice"]["calibration"] if a.startswith("fusion") else {"a": 1.0, "b": 0.0}
    s_in = res[a]["s_in"]
    thr = res[a]["threshold"]
    rule = res[a]["rule"]
    r = cm.pad_rates(s_in, y, types, thr)
    roc = cm.roc_points(s_in, y, max_points=400)
    roc["apcer_by_type"] = cm.apcer_by_type_at(s_in, y, types, roc["threshold"])
    old = json.loads((REPO / "models" / "pad-livdet.json").read_text(encoding="utf-8"))
    sel = results["approaches"][a]
    card = {k: old[k] for k in ("name", "task", "domain", "data", "attack_types_seen", "attack_kind") if k in old}
    if getattr(args, "resolution_check", False):
        card["domain"] = {**card.get("domain", {}), "resolution": resolution_entry(items, args.dpi)}
    card.update({
        "version": "3" if THRESHOLD["rule"] == "subject" else "2", "architecture": "pad_local_texture", "file": weights.name, "sha256": sha256_file(weights),
        "parameters": int(sum(np.size(v) for v in np.load(weights).values() if v.dtype.kind == "f")),
        "input": {"shape": None, "dpi": 1000, "patches": False, "local_patches": True, "approach": a, "parts": parts,
                  "needs_nfiq2": a == "fusion_q",
                  "preprocessing": "fpstation.ml.classifiers.pad_local.print_evidence(): at 1000 dpi, 366-value "
                                   "histograms (uniform LBP r=1,2,3, LPQ, WLD, grey level) of the foreground, of "
                                   "96-px patches on a grid and centred on mindtct minutiae; patch logits fused per "
                                   "print; parts calibrated and fused (LocalPadModel.logit)"},
        "split": {"rule": "shipped model: trained on all 7 subjects; its choices, calibration, threshold and "
                          "transaction band from their inner leave-one-subject-out scores; the figures under "
                          "metrics.nested_loso come from the nested protocol (" + _rel(args.results) + ")",
                  "train_subjects": sorted(set(subj), key=lambda v: (len(v), v)), "val_subjects": [],
                  "n_train": int(len(items)), "n_val": 0},
        "score": "calibrated probability of a presentation attack; ATTACK when score >= threshold",
        "calibration": {"method": "platt", **cal},
        "threshold": {"value": thr, "rule": threshold_rule_text() + " on the leave-one-subject-out scores of all 7 "
                                            "subjects", "apcer": r["apcer"], "apcer_max": r["apcer_max"],
                      "bpcer": r["bpcer"]},
        "attempt_band": {"lo": rule.lo, "hi": rule.hi,
                           "note": "per attempt: LIVE below lo, ATTACK at or above hi, UNCERTAIN between"},
        "transaction": {**rule.to_dict(), "chosen": "on simulated transactions of the leave-one-subject-out scores: "
                                                     "lowest APCER with " + threshold_rule_text("BPCER") +
                                                     " and <= 1.3 attempts for live users"},
        "roc": roc,
        "metrics": {"nested_loso": {"source": _rel(args.results), "approach": a,
                                    "comparison_rule": results["comparison_rule"],
                                    "fully_nested_selection": {
                                        "per_fold": [f["selected"] for f in results["folds"]],
                                        "per_attempt": {k: results["approaches"]["selected"]["per_attempt"][k]
                                                        for k in ("apcer", "bpcer")},
                                        "per_transaction": results["approaches"]["selected"]["per_transaction"]},
                                    "per_attempt": {k: sel["per_attempt"][k] for k in ("apcer", "bpcer", "hter",
                                                                                       "three_way_at_band")},
                                    "per_transaction": sel["per_transaction"],
                                    "by_approach": {k: {"apcer_attempt": v["per_attempt"]["apcer_all_attacks"],
                                                        "bpcer_attempt": v["per_attempt"]["bpcer"],
                                                        "auc": v["per_attempt"]["auc_pooled"],
                                                        "apcer_transaction": v["per_transaction"]["apcer"],
                                                        "bpcer_transaction": v["per_transaction"]["bpcer"],
                                                        "mean_attempts_live": v["per_transaction"]["mean_attempts_live"]}
                                                    for k, v in results["approaches"].items()},
                                    "protocol": results["protocol"], "transactions": results["transactions"]},
                    "v1_loso": results["v1_shipped_loso"],
                    "choices": {p: res[p]["choice"] for p in (*parts, *([a] if a.startswith("fusion") else []))}},
        "targets": results["targets"][a],
        "findings": findings(results, a),
        **({"replaces": REPLACES} if THRESHOLD["rule"] == "subject" else {}),
        "limits": ["One sensor (Biometrika HiScan-PRO) and one material (gelatine) from 7 subjects: the model says "
                   "nothing measured about other materials (latex, Ecoflex, wood glue, Play-Doh, silicone) or other "
                   "scanners; the held-out materials are not in this folder.",
                   "Prints at another resolution or size, or of unknown dpi, are outside its domain: 'not checked', "
                   "never LIVE.",
                   "The dpi is taken as stated: a 500-dpi print stated as 1000 dpi, or one enlarged to 1000 dpi, is "
                   "scored as if it came from this scanner, and such prints are often called LIVE (583 of 960 FVC "
                   "prints; bench/results/pad_livdet_resolution.json, docs/adr/0271). State the scanner's true dpi."],
        "training": {"command": results["command"], "evidence_cache": str(args.cache)},
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    })
    (out / "pad-livdet.json").write_text(json.dumps(card, indent=1, default=float), encoding="utf-8")
    log(f"final: {a} -> {out}")
    return {"approach": a, "written_to": str(out), "shipped": bool(beats), "threshold": thr,
            "transaction": rule.to_dict()}



def resolution_entry(items: list[dict], dpi: float) -> dict:
    """The card's ``domain.resolution`` (docs/adr/0271): ridge period and fine-detail range of ALL
    training prints at 1000 dpi, by :func:`fpstation.core.resolution.resolution_rule`; what it does
    on new subjects and other sensors: bench/pad_livdet_resolution.py."""
    import cv2

    from fpstation.core.resolution import resample_to, resolution_rule, ridge_spectrum

    spectra = [ridge_spectrum(resample_to(cv2.imread(it["path"], cv2.IMREAD_GRAYSCALE), dpi, 1000.0), 1000.0)
               for it in items]
    return {**resolution_rule(spectra), "validated": "bench/results/pad_livdet_resolution.json"}


def target_check(r: dict) -> dict:
    """Issue 21's targets for one approach's pooled outer figures."""
    pa, pt = r["per_attempt"], r["per_transaction"]
    return {"attempt_apcer_gelatine_le_5pct_at_bpcer_le_1pct": {
                "apcer": pa["apcer"].get("gelatine"), "bpcer": pa["bpcer"],
                "met": bool(pa["apcer"]["gelatine"]["value"] <= 0.05 and pa["bpcer"]["value"] <= 0.01)},
            "transaction_apcer_le_2pct_at_bpcer_le_1pct_attempts_le_1.3": {
                **{k: pt[k] for k in ("apcer", "bpcer", "mean_attempts_live")},
                "met": bool(pt["apcer"]["value"] <= 0.02 and pt["bpcer"]["value"] <= 0.01
                            and pt["mean_attempts_live"] <= 1.3)}}


def findings(results: dict, a: str) -> dict:
    """Why subject 002's spoofs pass and why some live subjects look like spoofs, in numbers from
    the results (subject statistics of the cached evidence, per-fold outer figures of ``a``)."""
    st = results["subject_statistics"]
    spoofs = {k.split("/")[0]: v for k, v in st.items() if k.endswith("/gelatine")}
    others = [v for s, v in spoofs.items() if s != "2"]
    fold = {f["test_subject"]: f["approaches"][a] for f in results["folds"]}
    out = {}
    if "2" in spoofs and others:
        s2 = spoofs["2"]
        f2 = fold.get("2", {})
        whole2 = next((f["approaches"]["whole"]["apcer_attempt"] for f in results["folds"]
                       if f["test_subject"] == "2"), {})
        out["subject_002"] = (
            f"subject 002's gelatine casts are crisp and saturated: {s2['black_share']:.0%} of their foreground "
            f"pixels are at grey 0-15 (other subjects' casts: {min(o['black_share'] for o in others):.1%}-"
            f"{max(o['black_share'] for o in others):.0%}), NFIQ 2 {s2['nfiq2_mean']:.0f} (others "
            f"{min(o['nfiq2_mean'] for o in others):.0f}-{max(o['nfiq2_mean'] for o in others):.0f}); black "
            "ridges with white round bubbles, like a well-pressed live finger, where every other subject's cast "
            "is grey, grainy and low-contrast: a whole-print histogram of them looks live ('whole' here passes "
            f"{whole2.get('errors')}/{whole2.get('n')} of them when subject 002 is left out). "
            f"Outer-fold APCER of {a} on subject 002: {f2.get('apcer_attempt', {}).get('errors')}/"
            f"{f2.get('apcer_attempt', {}).get('n')} per attempt, {f2.get('apcer_transaction', {}).get('errors')}/"
            f"{f2.get('apcer_transaction', {}).get('n')}"
            " per transaction.")
    worst = max((f for f in fold.items()), key=lambda kv: kv[1]["bpcer_attempt"]["value"])
    out["live_errors"] = (
        f"the live subject with the most bona fide errors is {worst[0]} ({worst[1]['bpcer_attempt']['errors']}/"
        f"{worst[1]['bpcer_attempt']['n']} per attempt, {worst[1]['bpcer_transaction']['errors']}/"
        f"{worst[1]['bpcer_transaction']['n']} per transaction): scores shift from subject to subject, so a "
        "threshold set on 6 subjects does not hold BPCER <= 1 % on every 7th")
    return out


if __name__ == "__main__":
    main()
