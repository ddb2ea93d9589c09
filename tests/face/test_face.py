"""Face identification (ml/face): detection, modality check, gallery, open-set identify, metrics, CLI.

Runs on the three bundled sample faces (resources/samples/faces) and a sample print, without the
research data; dlib and its weights come from pip packages.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from fpstation import paths
from fpstation.core.imageio import read_print

pytest.importorskip("dlib")

FACES = paths.samples_dir() / "faces"


def face(name: str) -> np.ndarray:
    return read_print(FACES / f"orl_{name}.png").pixels


@pytest.fixture
def people(tmp_path) -> Path:
    """A gallery folder: s1 (image 1) and s2 (image 1)."""
    root = tmp_path / "gallery"
    for person, img in (("s1", "s1_1"), ("s2", "s2_1")):
        (root / person).mkdir(parents=True)
        shutil.copy(FACES / f"orl_{img}.png", root / person / f"{img}.png")
    (root / "s2" / "notes.txt").write_text("not an image")
    (root / "empty").mkdir()
    return root


def test_detector_finds_the_sample_face_and_aligns_it():
    from fpstation.ml.face.detect import CHIP_SIZE, align, detect_faces

    boxes = detect_faces(face("s1_1"))
    assert len(boxes) == 1
    assert boxes[0].method.startswith("hog")
    b = boxes[0]
    assert 0 <= b.left < b.right <= 92
    assert 0 <= b.top < b.bottom <= 112
    assert b.width > 40
    a = align(face("s1_1"))
    assert a.chip.shape == (CHIP_SIZE, CHIP_SIZE, 3)
    assert a.landmarks.shape == (5, 2)
    assert not a.notes


def test_small_image_without_detection_is_used_whole_and_says_so_large_one_is_refused():
    from fpstation.ml.face.detect import NoFaceError, align

    flat = np.full((112, 92), 128, np.uint8)
    a = align(flat)
    assert a.box.method == "whole image"
    assert (a.box.width, a.box.height) == (92, 112)
    assert any("used whole" in n for n in a.notes)
    with pytest.raises(NoFaceError, match="No face"):
        align(np.full((600, 500), 128, np.uint8))
    with pytest.raises(NoFaceError):
        align(flat, allow_whole_image=False)


def test_modality_tells_faces_from_fingerprints():
    from fpstation.core.samples import load_sample
    from fpstation.ml.face.modality import FACE, FINGERPRINT, UNKNOWN, check

    assert check(face("s1_1")).kind == FACE
    assert check(face("s2_1")).kind == FACE
    fp = check(load_sample().pixels)
    assert fp.kind == FINGERPRINT
    assert "ridge" in fp.reason
    assert check(np.full((120, 100), 200, np.uint8)).kind == UNKNOWN


def test_embedding_is_unit_length_same_person_scores_higher():
    from fpstation.ml.face.embed import get_embedder

    e = get_embedder()
    assert e.key == "face-dlib-resnet"
    assert e.threshold is not None
    v11, v12, v21 = (e.embed(face(n)).vector for n in ("s1_1", "s1_2", "s2_1"))
    assert v11.shape == (128,)
    assert abs(float(np.linalg.norm(v11)) - 1) < 1e-4
    assert float(v11 @ v12) > float(v11 @ v21)
    assert float(v11 @ v12) >= e.threshold > float(v11 @ v21)


def test_enrol_identify_then_remove_a_person_without_retraining(people, tmp_path, fake_progress):
    from fpstation.core.store import CaseStore
    from fpstation.ml.face.embed import get_embedder
    from fpstation.ml.face.gallery import enroll_folder, load_gallery
    from fpstation.ml.face.identify import NOT_IN_GALLERY, identify

    e = get_embedder()
    with CaseStore(tmp_path / "case.db") as store:
        rep = enroll_folder(people, store, e, progress=fake_progress)
        assert (rep.identities, rep.templates, rep.skipped) == (2, 2, [])
        assert fake_progress.last == 1.0
        g = load_gallery(store, e)
        res = identify(face("s1_2"), g, e, top=5, source="s1_2")
        assert res.verdict == "s1"
        assert res.in_gallery
        assert [c[0] for c in res.candidates] == ["s1", "s2"]
        assert res.candidates[0][1] > res.candidates[1][1]
        d = res.to_dict()
        assert d["verdict"] == "s1"
        assert d["box"]["method"].startswith("hog")
        assert d["modality"]["kind"] == "face"
        # remove s1: the same probe is now "not in the gallery"
        assert store.remove_face_identity("s1") == 1
        g2 = load_gallery(store, e)
        assert g2.identities == ["s2"]
        res2 = identify(face("s1_2"), g2, e)
        assert res2.verdict == NOT_IN_GALLERY
        assert not res2.in_gallery
        # enrolling again is idempotent (same image, same identity)
        enroll_folder(people, store, e)
        assert store.face_identities(e.key) == {"s1": 1, "s2": 1}


def test_identify_refuses_a_fingerprint(people, tmp_path):
    from fpstation.core.samples import load_sample
    from fpstation.ml.face.embed import get_embedder
    from fpstation.ml.face.gallery import Gallery
    from fpstation.ml.face.identify import NotAFaceError, identify

    e = get_embedder()
    g = Gallery(e.key, e.embed(face("s1_1")).vector[None], ["s1"])
    with pytest.raises(NotAFaceError, match="fingerprint"):
        identify(load_sample().pixels, g, e)


def test_stale_templates_are_refused():
    from fpstation.core.errors import FpError
    from fpstation.ml.face.gallery import gallery_from_rows

    row = {"identity": "a", "model_sha256": "old", "vector": np.ones(4, "<f4").tobytes()}
    with pytest.raises(FpError, match="enrolled with a different version"):
        gallery_from_rows("m", [row], model_sha256="new")


def test_gallery_scores_take_the_best_template_per_identity():
    from fpstation.ml.face.gallery import Gallery

    v = np.eye(3, dtype=np.float32)
    g = Gallery("m", v, ["b", "a", "b"])
    s = g.scores(np.array([[0, 0, 1.0]], np.float32))
    assert g.identities == ["a", "b"]
    assert s.tolist() == [[0.0, 1.0]]
    assert g.search(np.array([0, 1.0, 0], np.float32), top=1) == [("a", 1.0)]


def test_metrics_rank_open_set_and_threshold_choice():
    from fpstation.ml.face import metrics as fm

    scores = np.array([[0.9, 0.1, 0.2], [0.5, 0.6, 0.7], [0.3, 0.3, 0.1]])
    ranks = fm.ranks_of_mates(scores, ["a", "b", "c"], ["a", "b", "b"])
    assert ranks.tolist() == [1, 2, 2]  # a tie counts against the probe
    assert fm.cmc(ranks, 3) == [pytest.approx(1 / 3), 1.0, 1.0]
    mated = np.array([0.9, 0.8, 0.95, 0.7])
    mranks = np.array([1, 1, 1, 1])
    non = np.array([0.5, 0.6, 0.65])
    r = fm.open_set(mated, mranks, non, 0.75)
    assert r["fnir"] == 0.25
    assert r["fpir"] == 0.0
    c = fm.choose_threshold(mated, mranks, non, max_fnir=0.0)
    assert c["fnir"] == 0.0
    assert c["fpir"] == 0.0
    assert 0.65 < c["threshold"] <= 0.7
    c2 = fm.choose_threshold(mated, mranks, non, max_fnir=0.25)
    assert c2["fnir"] <= 0.25
    assert c2["fpir"] == 0.0
    assert 0.65 < c2["threshold"] < 0.8


def test_dlib_card_weights_stay_in_the_package_and_are_verified(tmp_path):
    from fpstation.core.errors import ModelIntegrityError
    from fpstation.ml.face import dlib_models
    from fpstation.ml.registry import Registry

    reg = Registry()
    card = reg.card("face-dlib-resnet")
    assert card.file == dlib_models.package_dir() / dlib_models.RESNET
    assert card.data["package"]["version"] == "0.3.0"
    assert "shape_predictor_68_face_landmarks.dat" not in card.data["package"]["files"]
    reg.verify(card)
    bad = json.loads((paths.models_dir() / "face-dlib-resnet.json").read_text())
    bad["sha256"] = "0" * 64
    (tmp_path / "face-dlib-resnet.json").write_text(json.dumps(bad))
    with pytest.raises(ModelIntegrityError):
        Registry(shipped_dir=tmp_path).verify(Registry(shipped_dir=tmp_path).card("face-dlib-resnet"))
    with pytest.raises(ValueError):
        dlib_models.file_path("shape_predictor_68_face_landmarks.dat")


def test_cli_enroll_identify_list_remove_evaluate(people, tmp_path, capsys):
    from fpstation.cli import main

    case = tmp_path / "c.db"
    assert main(["face", "enroll", str(people), "--case", str(case)]) == 0
    out = capsys.readouterr().out
    assert "enrolled 2 image(s) of 2 person(s)" in out
    js = tmp_path / "id.json"
    assert main(["face", "identify", str(FACES / "orl_s1_2.png"), "--case", str(case), "--top", "1",
                 "--json", str(js)]) == 0
    d = json.loads(js.read_text())
    assert d["verdict"] == "s1"
    assert len(d["candidates"]) == 1
    assert main(["face", "list", "--case", str(case)]) == 0
    assert "2 person(s)" in capsys.readouterr().out
    assert main(["face", "remove", "s2", "--case", str(case)]) == 0
    assert main(["face", "remove", "nobody", "--case", str(case)]) == 2
    assert main(["face", "identify", str(FACES / "orl_s1_2.png"), "--case", str(tmp_path / "none.db")]) == 2
    # evaluate: gallery s1, s2; probes: s1 (another image) and s3 (not in the gallery)
    probes = tmp_path / "probes"
    (probes / "s1").mkdir(parents=True)
    (probes / "s3").mkdir()
    shutil.copy(FACES / "orl_s1_2.png", probes / "s1" / "2.png")
    shutil.copy(FACES / "orl_s2_1.png", probes / "s3" / "1.png")  # stand-in stranger
    out_json = tmp_path / "ev" / "face.json"
    assert main(["evaluate", "face", "--gallery", str(people), "--probes", str(probes), "--json", str(out_json)]) == 0
    r = json.loads(out_json.read_text())
    assert r["n"] == 1
    assert r["rank1"] == 1.0
    assert r["rank5"] == 1.0
    assert r["open_set"]["n_nonmated"] == 1
    assert r["open_set"]["n_mated"] == 1
    assert Path(r["plots"]["cmc"]).is_file()
    assert Path(r["plots"]["scores"]).is_file()


def test_fingerprint_models_do_not_judge_a_face_but_do_judge_a_print():
    from fpstation.core.pipeline import Analyzers, analyse
    from fpstation.core.samples import load_sample
    from fpstation.core.types import FingerprintImage
    from fpstation.ml.inference import not_fingerprint

    calls = []
    an = Analyzers(pad=lambda im: calls.append(im) or "pad", not_fingerprint=not_fingerprint)
    img = FingerprintImage(face("s1_1"), None, "s1_1.png", "0" * 64)
    res = analyse(img, an)
    assert not calls
    assert res.pad is None
    assert "face" in res.errors["pad"]
    assert "not judged" in res.errors["pad"]
    res2 = analyse(load_sample(), an)
    assert len(calls) == 1
    assert res2.pad == "pad"
    assert not res2.errors


def test_two_pool_tasks_in_a_row_do_not_hang_in_dlib():
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(root))
    r = subprocess.run([sys.executable, str(Path(__file__).with_name("two_tasks.py"))], env=env,
                       capture_output=True, text=True, timeout=180)
    assert "both done" in r.stdout, r.stderr[-2000:]


def test_batch_and_analyze_keep_the_face_check(tmp_path, capsys):
    from fpstation.cli import main
    from fpstation.core.batch import _missing
    from fpstation.core.pipeline import Analyzers

    def gate(im):
        return "a face"

    assert _missing(Analyzers(pad=lambda im: None, not_fingerprint=gate), set()).not_fingerprint is gate
    main(["analyze", str(FACES / "orl_s1_1.png"), "--no-restore", "--no-gender"])
    assert "pad: not judged: it looks like a photograph of a face" in capsys.readouterr().out
