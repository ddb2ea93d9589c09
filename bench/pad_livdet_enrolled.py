"""pad-livdet for an enrolled person (docs/adr/0276): the attack score relative to the mean logit of
the person's supervised enrolment prints, judged on the nested leave-one-subject-out of v3.

    python bench/pad_livdet_enrolled.py --results bench/results/pad_livdet_loso_v3_inner.json \
        --out bench/results/pad_livdet_enrolled.json

Reads a train_pad_livdet_v2.py results file written with ``--keep-inner``: per outer fold, the
grid part's calibrated inner out-of-fold logits of the 6 training subjects and the calibrated
logits of the test subject, plus every print's outer score, threshold and band (``out_of_fold``).
Nothing is refitted.

- Enrolment: impression 0 of each of a person's live fingers; the reference r = the mean of their
  logits; a print's normalised attack score is sigmoid(z - r). Enrolment prints are never scored.
- Test prints: every other live impression and every cast; subject S's casts are scored against
  S's reference (an impostor with a cast of S's finger claims S's identity).
- Inside each outer fold, on the inner logits (each inner subject normalised by its own
  enrolment): the threshold by v3's rule and the transaction band by v3's ``choose_rule``.
- Baseline: v3 as shipped (each fold's global threshold and band) on the same test prints.

Writes both approaches' pooled per-attempt and per-transaction figures (95 % Clopper-Pearson),
per fold, the ADR's adoption rule applied, and the issue's targets in this mode.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "training"))

import train_pad_livdet_v2 as v2  # noqa: E402


def items_from(oof: dict) -> list[dict]:
    """The items of a results file's ``out_of_fold`` columns (LivDet layout paths, relative)."""
    out = []
    for p, s, y in zip(oof["path"], oof["subject"], oof["y"], strict=True):
        parts = Path(p).parts
        out.append({"path": p, "subject": str(s), "label": "live" if y == 0 else "spoof",
                    "attack_type": parts[-2].lower() if y else None})
    return out


def enrolment_mask(items: list[dict]) -> np.ndarray:
    """Live impression 0 of every finger: the person's supervised enrolment prints."""
    from fpstation.core.pad_transaction import finger_and_impression

    return np.array([it["label"] == "live" and (finger_and_impression(it["path"]) or ("", "", -1))[2] == 0
                     for it in items])


def references(z: np.ndarray, idx: np.ndarray, subj: np.ndarray, enrol: np.ndarray) -> dict[str, float]:
    """Each subject's reference among ``idx``: the mean logit ``z`` (aligned with ``idx``) of
    their enrolment prints."""
    ref = {}
    for u in sorted(set(subj[idx])):
        m = (subj[idx] == u) & enrol[idx]
        if not m.any():
            raise SystemExit(f"subject {u} has no enrolment print (live impression 0)")
        ref[u] = float(np.mean(z[m]))
    return ref


def main() -> None:  # noqa: C901 - one protocol, read top to bottom
    from fpstation.core.pad_transaction import TransactionRule
    from fpstation.core.stats import rate
    from fpstation.ml.classifiers import metrics as cm
    from fpstation.ml.classifiers.metrics import sigmoid

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--results", default=str(REPO / "bench" / "results" / "pad_livdet_loso_v3_inner.json"))
    p.add_argument("--out", default=str(REPO / "bench" / "results" / "pad_livdet_enrolled.json"))
    args = p.parse_args()
    res = json.loads(Path(args.results).read_text(encoding="utf-8"))
    if not all("logits" in f for f in res["folds"]):
        raise SystemExit(f"{args.results} has no inner logits: re-run train_pad_livdet_v2.py with --keep-inner")
    v2.THRESHOLD.update(res["threshold_rule"])
    v2.AGGREGATE.update(mode=res.get("transaction_aggregate", "mean"))
    oof = res["out_of_fold"]
    items = items_from(oof)
    n = len(items)
    y = np.array(oof["y"], np.int64)
    subj = np.array([it["subject"] for it in items])
    types = [it["attack_type"] for it in items]
    enrol = enrolment_mask(items)
    col = lambda name: np.array([np.nan if v is None else v for v in oof[name]["grid"]], np.float64)  # noqa: E731
    s_v3 = col("score")
    keys = ("v3", "enrolled")
    pool = v2.OuterPool(keys, n)
    folds = []
    for f in res["folds"]:
        lg = f["logits"]["grid"]
        tr, te = np.array(lg["train_index"]), np.array(lg["test_index"])
        z_tr, z_te = np.array(lg["train"]), np.array(lg["test"])
        # inside the fold: normalise each inner subject by its own enrolment, choose threshold and band
        ref_in = references(z_tr, tr, subj, enrol)
        keep_in = ~enrol[tr]
        tri = tr[keep_in]
        s_in = sigmoid(z_tr[keep_in] - np.array([ref_in[u] for u in subj[tri]]))
        thr = v2.threshold(s_in, y[tri], subj[tri])
        seqs_in = [[int(np.searchsorted(tri, i)) for i in q] for q in v2.sequences(items, tri)]
        rule = v2.choose_rule(s_in, y[tri], seqs_in, thr, groups=subj[tri])
        # the test subject, against their own enrolment
        ref_te = references(z_te, te, subj, enrol)
        keep_te = ~enrol[te]
        tei = te[keep_te]
        s_te = sigmoid(z_te[keep_te] - np.array([ref_te[u] for u in subj[tei]]))
        seqs_te = v2.sequences(items, tei)
        fe = pool.add("enrolled", y, tei, s_te, thr, rule, seqs_te)
        t = f["test_subject"]
        # v3 as shipped on the same prints: its fold's global threshold and band (full precision from
        # the fold's record; out_of_fold keeps 6 decimals, used here only as a check)
        s3 = sigmoid(z_te[keep_te])
        if not np.allclose(s_v3[tei], s3, atol=2e-6):
            raise SystemExit(f"fold {t}: the kept logits do not give the fold's outer scores")
        g = f["approaches"]["grid"]
        r3 = TransactionRule(float(g["lo"]), float(g["threshold"]), float(g["hi"]), 3, g.get("aggregate", "mean"))
        f3 = pool.add("v3", y, tei, s3, r3.threshold, r3, seqs_te)
        folds.append({"test_subject": t, "reference_logit": ref_te[str(t)],
                      "inner_references": ref_in, "enrolled": fe, "v3": f3})
        print(f"fold {t}: ref {ref_te[str(t)]:+.2f} | enrolled thr {thr:.3f} "
              f"apcer {fe['apcer_attempt']['errors']}/{fe['apcer_attempt']['n']} "
              f"bpcer {fe['bpcer_attempt']['errors']}/{fe['bpcer_attempt']['n']} | v3 "
              f"apcer {f3['apcer_attempt']['errors']}/{f3['apcer_attempt']['n']} "
              f"bpcer {f3['bpcer_attempt']['errors']}/{f3['bpcer_attempt']['n']}", flush=True)
    done = np.nonzero(~np.isnan(pool.score["enrolled"]))[0]
    rep = {a: pool.report(items, y, types, done, a) for a in keys}
    e, b = rep["enrolled"], rep["v3"]

    def k(r: dict, side: str, what: str) -> int:
        d = r[side]["apcer_all_attacks" if side == "per_attempt" and what == "apcer" else what]
        return int(d["errors"])

    tx_le = (k(e, "per_transaction", "bpcer") <= k(b, "per_transaction", "bpcer")
             and k(e, "per_transaction", "apcer") <= k(b, "per_transaction", "apcer"))
    tx_lt = (k(e, "per_transaction", "bpcer") < k(b, "per_transaction", "bpcer")
             or k(e, "per_transaction", "apcer") < k(b, "per_transaction", "apcer"))
    adoption = {
        "per_transaction_both_le_v3_one_lower": bool(tx_le and tx_lt),
        "per_attempt_bpcer_le_v3": k(e, "per_attempt", "bpcer") <= k(b, "per_attempt", "bpcer"),
        "per_attempt_apcer_le_5pct": e["per_attempt"]["apcer_all_attacks"]["value"] <= 0.05,
        "mean_live_attempts_le_1_3": (e["per_transaction"]["mean_attempts_live"] or 0) <= 1.3,
    }
    adoption["adopted"] = all(adoption.values())
    targets = {
        "per_attempt_apcer_le_5pct_at_bpcer_le_1pct": e["per_attempt"]["apcer_all_attacks"]["value"] <= 0.05
        and e["per_attempt"]["bpcer"]["value"] <= 0.01,
        "per_transaction_apcer_le_2pct_at_bpcer_le_1pct": e["per_transaction"]["apcer"]["value"] <= 0.02
        and e["per_transaction"]["bpcer"]["value"] <= 0.01,
        "mean_live_attempts_le_1_3": adoption["mean_live_attempts_le_1_3"],
    }
    # how sure 7 people can make a BPCER: whole subjects resampled (their prints are correlated)
    def boot(err: np.ndarray, live: np.ndarray) -> list[float]:
        idx = np.nonzero(live)[0]
        return cm.subject_bootstrap(lambda r: float(err[idx][r].mean()), subj[idx], n_boot=10000)

    intervals = {a: boot(pool.score[a] >= pool.thr[a], (y == 0) & ~np.isnan(pool.score[a])) for a in keys}
    live_all = (y == 0) & ~np.isnan(col("threshold"))
    err_all = s_v3 >= col("threshold")
    v3_all = {**rate(int(err_all[live_all].sum()), int(live_all.sum())), "subject_bootstrap95": boot(err_all, live_all),
              "note": "v3's per-attempt BPCER on all 350 live prints (enrolment prints included) at each fold's "
                      "threshold, from out_of_fold (6 decimals)"}
    out = {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "python " + " ".join(sys.argv),
        "adr": "docs/adr/0276-pad-livdet-enrolled-person-normalisation.md",
        "source": str(Path(args.results).resolve().relative_to(REPO)) if Path(args.results).resolve().is_relative_to(REPO)
        else args.results,
        "protocol": ("v3's nested leave-one-subject-out scores (grid part, calibrated logits, nothing refitted); "
                     "enrolment = live impression 0 of each finger (never scored); normalised attack score "
                     "sigmoid(z - mean enrolment logit of the person); the person's casts are scored against "
                     "their reference; threshold (" + v2.threshold_rule_text() + ") and band chosen inside each "
                     "outer fold on the inner out-of-fold logits normalised the same way; v3 = each fold's "
                     "global threshold and band on the same test prints"),
        "test_prints": {"bona_fide": int((y[done] == 0).sum()), "attacks": int((y[done] == 1).sum()),
                        "enrolment_prints_not_scored": int(enrol.sum())},
        "approaches": rep, "folds": folds, "adoption_rule": adoption, "targets_in_this_mode": targets,
        "bpcer_attempt_subject_bootstrap95": {"on_the_test_prints": intervals, "v3_all_live_prints": v3_all,
                                              "method": "fpstation.ml.classifiers.metrics.subject_bootstrap, "
                                                        "10000 resamples of whole subjects, seed 0"},
    }
    Path(args.out).write_text(json.dumps(out, indent=1, default=float), encoding="utf-8")
    for a in keys:
        pa, pt = rep[a]["per_attempt"], rep[a]["per_transaction"]
        print(f"POOLED {a:9s} attempt apcer {pa['apcer_all_attacks']['errors']}/{pa['apcer_all_attacks']['n']} "
              f"bpcer {pa['bpcer']['errors']}/{pa['bpcer']['n']} auc {pa['auc_pooled']:.4f} | tx apcer "
              f"{pt['apcer']['errors']}/{pt['apcer']['n']} bpcer {pt['bpcer']['errors']}/{pt['bpcer']['n']} "
              f"attempts(live) {pt['mean_attempts_live']:.2f}")
    print(f"v3 per-attempt BPCER on all live prints {v3_all['errors']}/{v3_all['n']}, subject-bootstrap 95 % "
          f"{v3_all['subject_bootstrap95']}")
    print("adoption:", adoption, "\ntargets in this mode:", targets, f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
