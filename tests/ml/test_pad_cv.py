"""training/train_pad_cv.py on a generated SOCOFing folder: every print is tested once, by a fold
that never saw its subject; finished folds are reused by --resume and refused for another recipe."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.ml.classifier_fixtures import make_socofing
from tests.scripts import load_script

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def _load():
    return load_script("training/train_pad_cv.py")


def test_outer_folds_are_a_balanced_partition_of_subjects():
    cv = _load()
    subjects = [str(i) for i in range(1, 24)]
    f = cv.outer_folds(subjects, 5, seed=0)
    assert set(f) == set(subjects)
    sizes = [sum(v == k for v in f.values()) for k in range(5)]
    assert max(sizes) - min(sizes) <= 1
    assert f == cv.outer_folds(list(reversed(subjects)), 5, seed=0)  # order of listing does not matter
    assert f != cv.outer_folds(subjects, 5, seed=1)


def test_inner_folds_partition_each_outer_folds_training_subjects():
    """--inner-folds K: the K runs' inner validation subjects cover the fold's training subjects once."""
    cv = _load()
    items = [{"subject": str(s), "path": f"{s}_{i}.BMP"} for s in range(1, 31) for i in range(2)]
    fold_of = cv.outer_folds(sorted({it["subject"] for it in items}), 5, seed=0)
    for k in range(5):
        parts = [cv.fold_parts(items, fold_of, k, 0.2, 0, inner=(4, j)) for j in range(4)]
        test_s = {it["subject"] for it in parts[0][0]}
        vals = [p[3] for p in parts]
        assert sum(len(v) for v in vals) == len(set().union(*vals)) == 30 - len(test_s)
        assert not set().union(*vals) & test_s
        for tr, va in ((p[2], p[3]) for p in parts):
            assert not tr & va and len(tr | va) == 30 - len(test_s)
    assert cv.fold_parts(items, fold_of, 0, 0.2, 0, inner=(4, 1))[3] != cv.fold_parts(items, fold_of, 1, 0.2, 0,
                                                                                          inner=(4, 1))[3]


def test_every_print_is_scored_once_by_a_fold_blind_to_its_subject(tmp_path):
    cv = _load()
    data = make_socofing(tmp_path / "soco", subjects=12)
    args = ["--data", str(data), "--work", str(tmp_path / "w"), "--record", str(tmp_path / "rec"),
            "--folds", "3", "--epochs", "1", "--results", str(tmp_path / "r.json")]
    assert cv.main(args) == 0
    r = json.loads((tmp_path / "r.json").read_text())
    assert r["complete"] and r["folds_finished"] == [0, 1, 2]
    folds = [json.loads((tmp_path / "rec" / f"fold{k}.json").read_text()) for k in range(3)]
    tested = [row["path"] for f in folds for row in f["test"]]
    n_files = len(list(data.rglob("*.BMP")))
    assert len(tested) == len(set(tested)) == n_files
    for f in folds:
        s = f["subjects"]
        assert s["train"] + s["inner_val"] + s["test"] == 12  # the test subjects are in neither inner part
        inner = f["inner"]  # the inner validation prints' logits, by column
        assert len(inner["y"]) == len(inner["z"]) == len(inner["z_mirror"]) == len(inner["subject"])
        assert len(set(inner["subject"])) == s["inner_val"] and not set(inner["subject"]) & {r["subject"] for r in f["test"]}
    pooled = r["pooled"]["plain"]
    assert pooled["bpcer"]["n"] == sum(not row["y"] for f in folds for row in f["test"])
    assert set(pooled["apcer"]) == {"central rotation", "obliteration", "z-cut"}
    # --resume reuses the finished folds (no training: the work folder's checkpoints are not needed)
    for p in (tmp_path / "w").glob("fold*.keras"):
        p.unlink()
    assert cv.main([*args, "--resume"]) == 0
    assert json.loads((tmp_path / "r.json").read_text())["pooled"] == r["pooled"]
    # ... but not for another recipe
    with pytest.raises(SystemExit, match="another recipe"):
        cv.main([*args[:-4], "--epochs", "2", "--results", str(tmp_path / "r.json"), "--resume"])


def test_recipe_names_synthetic_flaps_only_when_used():
    """The shipped recipe's committed fold records stay valid; a candidate with flaps is another recipe."""
    cv = _load()
    import argparse

    base = dict(epochs=14, batch_size=64, lr=1e-3, width=16, convs_per_block=2, max_bpcer=0.01,
                val_fraction=0.2, seed=0, folds=5, limit=0)
    assert "synth_alter" not in cv.recipe_of(argparse.Namespace(**base, synth_alter=0.0, alter_map=0.0, attack_weight=[]))
    assert cv.recipe_of(argparse.Namespace(**base, synth_alter=0.5, alter_map=0.0, attack_weight=[]))["synth_alter"] == 0.5
    assert cv.recipe_of(argparse.Namespace(**base, synth_alter=0.0, alter_map=1.0, attack_weight=[]))["alter_map"] == 1.0
    shipped = json.loads((ROOT / "training" / "checkpoints" / "pad-socofing-cv" / "fold0.json").read_text())["recipe"]
    assert shipped == cv.recipe_of(argparse.Namespace(**base, synth_alter=0.0, alter_map=0.0, attack_weight=[]))
    weighted = cv.recipe_of(argparse.Namespace(**base, synth_alter=0.0, alter_map=0.0, attack_weight=["z-cut/Easy=3"]))
    assert weighted["attack_weights"] == {"z-cut/Easy": 3.0}
    for bad in (["z-cut/Easy"], ["z-cut=0"], ["=3"], ["z-cut=x"]):
        with pytest.raises(SystemExit, match="expected TYPE"):
            cv.parse_weights(bad)


def test_attack_weights_train_a_fold(tmp_path):
    cv = _load()
    data = make_socofing(tmp_path / "soco", subjects=12)
    args = ["--data", str(data), "--work", str(tmp_path / "w"), "--record", str(tmp_path / "rec"), "--folds", "3",
            "--only", "0", "--epochs", "1", "--attack-weight", "z-cut=3", "--results", str(tmp_path / "r.json")]
    assert cv.main(args) == 0
    fold = json.loads((tmp_path / "rec" / "fold0.json").read_text())
    assert fold["recipe"]["attack_weights"] == {"z-cut": 3.0} and len(fold["test"]) > 0


def test_an_alteration_map_fold_scores_its_most_altered_cell_too(tmp_path):
    """--alter-map: the fold trains the second output and records a third view, "map" (the highest
    cell logit), with its own inner-split operating point; "chosen" may pick it."""
    cv = _load()
    data = make_socofing(tmp_path / "soco", subjects=12)
    args = ["--data", str(data), "--work", str(tmp_path / "w"), "--record", str(tmp_path / "rec"),
            "--folds", "3", "--only", "0", "--epochs", "1", "--alter-map", "1", "--results", str(tmp_path / "r.json")]
    assert cv.main(args) == 0
    fold = json.loads((tmp_path / "rec" / "fold0.json").read_text())
    assert fold["recipe"]["alter_map"] == 1.0
    assert {"plain", "mirror", "map", "chosen"} <= set(fold["operating_points"])
    assert fold["operating_points"]["chosen"]["view"] in ("plain", "mirror", "map")
    row = fold["test"][0]
    assert {"z", "z_mirror", "z_map", "attack_map", "attack_chosen"} <= set(row)
    assert "map" in json.loads((tmp_path / "r.json").read_text())["pooled"]


def test_inner_fold_options_enter_the_recipe_and_bad_ones_are_refused():
    import argparse

    cv = _load()
    base = dict(epochs=14, batch_size=64, lr=1e-3, width=16, convs_per_block=2, max_bpcer=0.01, val_fraction=0.2,
                seed=0, folds=5, limit=0, synth_alter=0.0, alter_map=1.0)
    assert "inner_folds" not in cv.recipe_of(argparse.Namespace(**base, inner_folds=0, inner_fold=0))
    assert cv.recipe_of(argparse.Namespace(**base, inner_folds=5, inner_fold=2))["inner_folds"] == [5, 2]
    with pytest.raises(SystemExit, match="inner-fold must be"):
        cv.recipe_of(argparse.Namespace(**base, inner_folds=5, inner_fold=5))


def test_a_cross_fitting_run_validates_on_its_inner_part(tmp_path):
    cv = _load()
    data = make_socofing(tmp_path / "soco", subjects=12)
    args = ["--data", str(data), "--work", str(tmp_path / "w"), "--record", str(tmp_path / "rec"), "--folds", "3",
            "--epochs", "1", "--only", "0", "--inner-folds", "4", "--inner-fold", "1", "--results", str(tmp_path / "r.json")]
    assert cv.main(args) == 0
    rec = json.loads((tmp_path / "rec" / "fold0.json").read_text())
    assert rec["recipe"]["inner_folds"] == [4, 1]
    subjects = [str(s) for s in range(1, 13)]  # make_socofing's subject ids
    fold_of = cv.outer_folds(subjects, 3, 0)
    rest = sorted((s for s in subjects if fold_of[s] != 0), key=lambda s: (len(s), s))
    part = cv.outer_folds(rest, 4, 0 + 1000 * (0 + 1))  # seed + 1000 * (outer fold + 1)
    assert set(rec["inner"]["subject"]) == {s for s in rest if part[s] == 1}
    # a later --only run's results still pool every finished fold of the recipe
    assert cv.main([*args[:args.index("--only") + 1], "2", *args[args.index("--only") + 2:]]) == 0
    assert json.loads((tmp_path / "r.json").read_text())["folds_finished"] == [0, 2]
