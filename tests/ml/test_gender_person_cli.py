"""The per-person gender estimate end to end: ``gender_combined`` (fingers used, interval, evidence),
``analyze --subject`` (one row per person, in the table and the JSON) and ``batch --persons``
(a person column and one row per person). Generated prints and a model fitted on them."""

from __future__ import annotations

import csv
import json
import math

import pytest

from tests.ml.classifier_fixtures import install_feature_gender_model, make_socofing


@pytest.fixture(scope="module")
def soco(tmp_path_factory):
    return make_socofing(tmp_path_factory.mktemp("soco") / "SOCOFing", subjects=4)


@pytest.fixture(scope="module")
def models(soco, tmp_path_factory):
    d = tmp_path_factory.mktemp("models")
    # its own name: the registry caches loaded models by name, and other test modules fit
    # "gender-features-tiny" on other prints in the same process
    install_feature_gender_model(d, soco, name="gender-features-person")
    return d


@pytest.fixture
def env(models, monkeypatch):
    monkeypatch.setenv("FPSTATION_MODELS_DIR", str(models))
    return models


def _prints(soco, subject):
    return sorted((soco / "Real").glob(f"{subject}__*.BMP"))


def _read(paths):
    from fpstation.core.imageio import read_print

    return [read_print(p) for p in paths]


def test_combined_counts_the_fingers_used(env, soco):
    from fpstation.ml.classifiers import gender_combined

    g = gender_combined(_read(_prints(soco, 2)[:3]))
    assert g.n_prints == 3


def test_combined_says_how_many_fingers_were_combined(env, soco):
    from fpstation.ml.classifiers import gender_combined

    assert gender_combined(_read(_prints(soco, 2)[:3])).evidence == "3 fingers combined"


def test_combined_interval_holds_the_estimate(env, soco):
    from fpstation.ml.classifiers import gender_combined

    g = gender_combined(_read(_prints(soco, 2)[:3]))
    assert g.interval[0] <= g.p_female <= g.interval[1]


def test_one_print_is_weak_evidence_when_the_card_sets_no_confident_level(env, soco):
    from fpstation.ml.classifiers import gender_predict

    assert gender_predict(_read(_prints(soco, 2)[:1])[0]).evidence == "weak evidence"


def test_analyze_subject_prints_one_person_line(env, soco, capsys):
    from fpstation.cli import main

    files = [str(p) for p in _prints(soco, 2)[:3]]
    assert main(["analyze", *files, "--subject", "Doe", "--no-restore", "--no-pad", "--no-quality"]) == 0
    assert "person Doe: " in capsys.readouterr().out


def test_analyze_subject_json_gives_fingers_and_interval(env, soco, tmp_path):
    from fpstation.cli import main

    files = [str(p) for p in _prints(soco, 2)[:3]]
    out = tmp_path / "a.json"
    main(["analyze", *files, "--subject", "Doe", "--json", str(out), "--no-restore", "--no-pad", "--no-quality"])
    person = json.loads(out.read_text())["persons"][0]
    assert (person["person"], person["n_fingers"], len(person["p_female_interval"])) == ("Doe", 3, 2)


def test_analyze_subject_auto_gives_one_row_per_socofing_subject(env, soco, tmp_path):
    from fpstation.cli import main

    files = [str(p) for p in _prints(soco, 1)[:2] + _prints(soco, 2)[:2]]
    out = tmp_path / "a.json"
    main(["analyze", *files, "--subject", "auto", "--json", str(out), "--no-restore", "--no-pad", "--no-quality"])
    assert sorted(e["person"] for e in json.loads(out.read_text())["persons"]) == ["subject 1", "subject 2"]


def _batch_rows(tmp_path, monkeypatch):
    from fpstation.cli import main
    from fpstation.core.batch import TEST_ANALYZERS_ENV
    from tests.unit.bad_corpus import good_files

    monkeypatch.setenv(TEST_ANALYZERS_ENV, "fake")
    folder = tmp_path / "in"
    (folder / "alice").mkdir(parents=True)
    (folder / "bob").mkdir()
    good_files(folder / "alice", 3)
    good_files(folder / "bob", 2, start_seed=10)
    out = tmp_path / "r.csv"
    assert main(["batch", str(folder), "--out", str(out), "--case", str(tmp_path / "c.db"), "--persons",
                 "--quiet", "--no-restore", "--no-pad"]) == 0
    return list(csv.DictReader(out.open()))


def test_batch_persons_adds_one_row_per_sub_folder(tmp_path, monkeypatch):
    rows = _batch_rows(tmp_path, monkeypatch)
    assert sorted(r["person"] for r in rows if r["status"] == "person") == ["alice", "bob"]


def test_batch_print_rows_name_their_person(tmp_path, monkeypatch):
    rows = _batch_rows(tmp_path, monkeypatch)
    assert sorted(r["person"] for r in rows if r["status"] != "person") == ["alice"] * 3 + ["bob"] * 2


def test_batch_person_row_combines_its_prints(tmp_path, monkeypatch):
    rows = _batch_rows(tmp_path, monkeypatch)
    alice = [float(r["p_female"]) for r in rows if r["status"] != "person" and r["person"] == "alice"]
    person = next(r for r in rows if r["status"] == "person" and r["person"] == "alice")
    mean_logit = sum(math.log(p / (1 - p)) for p in alice) / len(alice)
    assert (int(person["n_fingers"]), float(person["p_female"])) == (3, pytest.approx(1 / (1 + math.exp(-mean_logit)),
                                                                                       abs=1e-5))


def test_batch_without_persons_keeps_the_plain_table(tmp_path, monkeypatch):
    from fpstation.cli import main
    from fpstation.core.batch import TEST_ANALYZERS_ENV
    from tests.unit.bad_corpus import good_files

    monkeypatch.setenv(TEST_ANALYZERS_ENV, "fake")
    folder = tmp_path / "in"
    folder.mkdir()
    good_files(folder, 2)
    out = tmp_path / "r.csv"
    main(["batch", str(folder), "--out", str(out), "--case", str(tmp_path / "c.db"), "--quiet"])
    assert "person" not in next(csv.reader(out.open()))
