"""core/matching: templates (ISO 19794-2, Type-9), matchers, evaluation, gallery, quality."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from fpstation import paths
from fpstation.core.jobs import Cancelled, CancelToken
from fpstation.core.matching import evaluation as ev
from fpstation.core.matching import gallery as G
from fpstation.core.matching import matchers as M
from fpstation.core.matching import template as T


def synthetic(seed: int, n: int = 40, w: int = 360, h: int = 400) -> T.Template:
    rng = np.random.default_rng(seed)
    m = np.column_stack([rng.uniform(40, w - 40, n), rng.uniform(40, h - 40, n), rng.uniform(0, 360, n),
                         rng.integers(1, 3, n), rng.integers(20, 100, n)])
    return T.Template(m, width=w, height=h, dpi=500.0, extractor="synthetic", extractor_version="1")


def moved(t: T.Template, deg: float = 12.0, dx: float = 15.0, dy: float = -10.0, noise: float = 2.0,
          drop: int = 8, seed: int = 0) -> T.Template:
    """The same finger seen again: rotated (image frame), shifted, jittered, some minutiae lost."""
    rng = np.random.default_rng(seed)
    m = t.minutiae.copy()
    c = np.array([t.width / 2, t.height / 2])
    r = np.radians(deg)
    rot = np.array([[np.cos(r), -np.sin(r)], [np.sin(r), np.cos(r)]])  # y down: clockwise on screen
    m[:, :2] = (m[:, :2] - c) @ rot.T + c + [dx, dy] + rng.normal(0, noise, (len(m), 2))
    m[:, 2] = (m[:, 2] - deg) % 360  # angles are counter-clockwise with y up
    keep = np.sort(rng.permutation(len(m))[: len(m) - drop])
    return T.Template(m[keep], width=t.width, height=t.height, dpi=500.0, extractor="synthetic")


# ---- templates ---------------------------------------------------------------------------------

def test_iso_round_trip_is_exact_at_iso_precision():
    t = synthetic(1)
    b = T.to_iso19794_2(t)
    assert b[:8] == b"FMR\x00 20\x00"
    assert int.from_bytes(b[8:12], "big") == len(b)
    assert int.from_bytes(b[18:20], "big") == 197  # 500 dpi in pixels per centimetre
    r = T.from_iso19794_2(b)
    assert r.n == t.n
    assert (r.width, r.height, r.dpi) == (t.width, t.height, 500.0)
    assert np.abs(r.minutiae[:, :2] - np.round(t.minutiae[:, :2])).max() == 0
    dang = np.abs((r.minutiae[:, 2] - t.minutiae[:, 2] + 180) % 360 - 180)
    assert dang.max() <= 1.40625 / 2 + 1e-9
    assert (r.minutiae[:, 3] == t.minutiae[:, 3]).all()
    assert T.to_iso19794_2(r) == b  # a second round trip changes nothing


def test_iso_rejects_other_files_clearly():
    with pytest.raises(T.TemplateError, match="not an ISO"):
        T.from_iso19794_2(b"\x89PNG\r\n\x1a\n" + bytes(40))
    good = T.to_iso19794_2(synthetic(2))
    with pytest.raises(T.TemplateError, match="truncated"):
        T.from_iso19794_2(good[:40])


@pytest.mark.data
def test_iso_reads_fvc_templates_byte_exact():
    data = paths.shared_data_dir()
    if data is None:
        pytest.skip("shared data absent")
    files = sorted((data / "fvc2002-db1b" / "iso_templates").glob("*.iso"))[:10]
    assert files
    for f in files:
        raw = f.read_bytes()
        t = T.from_iso19794_2(raw)
        assert t.n > 0
        assert t.dpi == 500.0
        assert T.to_iso19794_2(t) == raw


def test_type9_round_trip_within_type9_precision():
    a, b = synthetic(3), synthetic(4)
    data = T.to_ansi_nist_type9([a, b])
    assert data.startswith(b"1.001:")
    back = T.from_ansi_nist_type9(data, width=a.width, height=a.height, dpi=500)
    assert len(back) == 2
    for orig, r in zip((a, b), back, strict=True):
        assert r.n == orig.n
        assert np.abs(r.minutiae[:, :2] - orig.minutiae[:, :2]).max() < 0.6  # 0.01 mm = 0.2 px at 500 dpi
        assert np.abs((r.minutiae[:, 2] - orig.minutiae[:, 2] + 180) % 360 - 180).max() <= 0.5 + 1e-9
        assert (r.minutiae[:, 3] == orig.minutiae[:, 3]).all()
    # each record's LEN field counts its own bytes
    first_len = int(data[6:data.index(b"\x1d")])
    assert data[first_len:first_len + 6] == b"9.001:"


def test_type9_without_minutiae_record_is_a_clear_error():
    with pytest.raises(T.TemplateError):
        T.from_ansi_nist_type9(b"not a nist file")


# ---- matchers ----------------------------------------------------------------------------------

@pytest.mark.parametrize("matcher", ["consensus", "cylinder", "geometric", "bozorth3", "fusion"])
def test_matchers_separate_genuine_from_impostor(matcher):
    a = synthetic(10)
    genuine = M.compare(a, moved(a, seed=1), matcher).score
    impostors = [M.compare(a, moved(synthetic(20 + k), seed=k), matcher).score for k in range(4)]
    assert genuine > max(impostors)


@pytest.mark.parametrize("matcher", ["consensus", "geometric"])
def test_pairs_are_the_true_correspondences(matcher):
    a = synthetic(11, n=30)
    b = T.Template(a.minutiae[::-1].copy(), a.width, a.height)  # same minutiae, reversed order
    c = M.compare(a, b, matcher)
    assert c.score == pytest.approx(1.0)
    assert len(c.pairs) == a.n
    assert all(j == a.n - 1 - i for i, j in c.pairs)
    m = moved(a, deg=20, dx=30, dy=5, noise=1.0, drop=0)
    c2 = M.compare(a, m, matcher)
    assert sum(i == j for i, j in c2.pairs) >= 0.9 * a.n  # still finds who is who after moving


def test_empty_templates_score_zero_and_unknown_matcher_is_refused():
    e = T.Template(np.zeros((0, 5)), 300, 300)
    assert M.compare(e, synthetic(1), "fusion").score == 0.0
    with pytest.raises(M.MatcherError):
        M.compare(synthetic(1), synthetic(2), "nonsense")


def test_decision_uses_the_calibrated_threshold(tmp_path, monkeypatch):
    from fpstation.core import matching

    (tmp_path / matching.OPERATING_POINTS_FILE).write_text(json.dumps(
        {"operating_points": {"synthetic+geometric": {"fmr1000": {"threshold": 0.5}}}}))
    monkeypatch.setattr(paths, "models_dir", lambda: tmp_path)
    a = synthetic(12)
    yes = matching.decide(M.compare(a, moved(a), "geometric"), "synthetic")
    no = matching.decide(M.compare(a, synthetic(13), "geometric"), "synthetic")
    assert yes.match is True
    assert no.match is False
    assert yes.threshold == 0.5
    none = matching.decide(M.compare(a, a, "bozorth3"), "synthetic")
    assert none.match is None
    assert "no calibrated" in none.verdict


# ---- evaluation --------------------------------------------------------------------------------

def test_error_rates_on_known_scores():
    g = np.array([0.9, 0.8, 0.7, 0.2])
    i = np.array([0.1, 0.15, 0.3, 0.05, 0.25, 0.12, 0.11, 0.13, 0.14, 0.16])
    r = ev.error_rates(g, i)
    assert r["eer"] == pytest.approx(0.175, abs=0.08)  # one genuine (0.2) below 2 impostors
    assert r["fmr100"] == pytest.approx(0.25)  # at FMR 0 (<=1 %): threshold above 0.3 -> 0.2 is lost
    assert r["n_genuine"] == 4
    assert r["n_impostor"] == 10
    perfect = ev.error_rates(np.array([0.9, 0.8]), np.array([0.1, 0.2]))
    assert perfect["eer"] == 0.0
    assert perfect["fmr1000"] == 0.0


def test_threshold_at_fmr_keeps_the_false_match_rate():
    imp = np.random.default_rng(0).random(10000)
    for target in (0.01, 0.001):
        thr = ev.threshold_at_fmr(imp, target)
        assert np.mean(imp >= thr) <= target
        assert np.mean(imp >= np.nextafter(thr, -1) - 1e-3) > target * 0.5


def _fvc_folder(tmp_path: Path, fingers: int = 3, impressions: int = 3) -> Path:
    """An FVC-layout folder made from the bundled samples: impressions = small rotations/shifts."""
    from scipy import ndimage

    from fpstation.core.imageio import read_print, write_image
    from fpstation.core.samples import sample_files

    src = sample_files()[:fingers]
    img = tmp_path / "fvc" / "images"
    img.mkdir(parents=True)
    for f, s in enumerate(src, start=101):
        px = read_print(s).pixels
        for k in range(1, impressions + 1):
            out = ndimage.shift(ndimage.rotate(px, 4.0 * (k - 1), reshape=False, cval=255), (3 * k, -2 * k), cval=255)
            write_image(img / f"{f}_{k}.png", out.astype(np.uint8), dpi=500)
    return img.parent


def test_evaluate_folder_mindtct_bozorth3(tmp_path):
    folder = _fvc_folder(tmp_path)
    rep = ev.evaluate_folder(folder, "mindtct", "bozorth3", cache_dir=tmp_path / "cache")
    assert rep["n_genuine"] == 9
    assert rep["n_impostor"] == 27
    assert rep["eer"] < 0.2
    assert rep["rank1"] == 1.0
    assert {"fmr100", "fmr1000", "det"} <= set(rep)
    assert len(list((tmp_path / "cache").rglob("*.json"))) == 9  # templates cached: a re-run only compares
    with pytest.raises(Exception, match="FVC-layout"):
        ev.evaluate_folder(tmp_path / "cache", "mindtct", "bozorth3")


# ---- gallery -----------------------------------------------------------------------------------

def test_cylinder_matcher_is_rotation_and_translation_invariant():
    from fpstation.core.matching import cylinders as cy

    a = synthetic(30)
    b = moved(a, deg=30, dx=40, noise=0.0, drop=0)
    c = synthetic(31)
    same, other = cy.match(a, b), cy.match(a, c)
    assert same > 0.6
    assert other < same - 0.3
    assert cy.match(a, T.Template(np.zeros((0, 5)), 100, 100)) == 0.0


def test_gallery_search_ranks_the_mate_first():
    gal = [synthetic(100 + k) for k in range(60)]
    gi = G.GalleryIndex(list(range(60)), gal, [f"g{k}" for k in range(60)])
    for k in (0, 17, 59):
        cands = gi.search(moved(gal[k], seed=k), top=5, shortlist=20, matcher="fusion")
        assert cands[0].print_id == k
        assert len(cands) == 5
        assert cands[0].score >= cands[1].score
    assert G.GalleryIndex([], []).search(gal[0]) == []


def test_enroll_stores_templates_resumes_and_cancels(tmp_path):
    from fpstation.core.samples import sample_files
    from fpstation.core.store import CaseStore

    files = list(sample_files())
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    with CaseStore(tmp_path / "case.sqlite") as store:
        token = CancelToken()

        def progress(f, msg=""):
            if "files" in msg and not msg.startswith("0/"):
                token.cancel()  # after the first file is handed to the writer

        with pytest.raises(Cancelled):
            G.enroll(store, files + [bad], "mindtct", progress=progress, cancel=token, workers=1)
        # cancelled after the 1st file: what was finished is committed, the rest is not
        done = len(store.templates("mindtct"))
        assert 1 <= done < len(files)
        rep = G.enroll(store, files + [bad], "mindtct")
        assert rep.skipped == done
        assert rep.enrolled == len(files) - done
        assert rep.failed
        assert rep.failed[0][0] == str(bad)
        rows = store.templates("mindtct")
        assert len(rows) == len(files)
        assert rows[0]["extractor_version"].startswith("nbis-py ")
        again = G.enroll(store, files, "mindtct")
        assert again.enrolled == 0
        assert again.skipped == len(files)  # never recomputed needlessly
        gi = G.load_gallery(store, "mindtct")
        assert len(gi) == len(files)
        probe = gi.templates[1]
        assert gi.search(probe, top=3)[0].print_id == gi.ids[1]


# ---- quality and extraction ---------------------------------------------------------------------

def test_nfiq2_and_extractors_on_a_sample():
    from fpstation.core.matching import extract
    from fpstation.core.matching.quality import NFIQ2_NAME, local_quality_map, nfiq2
    from fpstation.core.samples import load_sample

    img = load_sample()
    q = nfiq2(img)
    assert 0 <= q.score <= 100
    assert q.name == NFIQ2_NAME
    assert q.version.startswith("nbis-py")
    for name in ("mindtct", "leader"):
        t = extract(img, name)
        assert t.n > 5
        assert t.extractor == name
        assert (t.minutiae[:, 0] < img.width).all()
        assert (t.minutiae[:, 1] < img.height).all()
    qm = local_quality_map(img.pixels)
    assert qm.shape == img.pixels.shape
    assert 0 <= qm.min()
    assert qm.max() <= 1
    blank = np.full((200, 200), 255, np.uint8)
    assert local_quality_map(blank).max() == 0.0


def test_cli_compare_enroll_search(tmp_path, capsys):
    from fpstation.cli import main
    from fpstation.core.samples import sample_files

    files = list(sample_files())
    out = tmp_path / "c.json"
    assert main(["compare", str(files[0]), str(files[0]), "--extractor", "mindtct", "--json", str(out)]) == 0
    d = json.loads(out.read_text())
    assert d["a"]["minutiae"] > 0
    assert d["score"] > 0.9
    assert len(d["pairs"]) > 5
    iso = tmp_path / "a.iso"
    from fpstation.core.matching import extract
    from fpstation.core.samples import load_sample

    iso.write_bytes(T.to_iso19794_2(extract(load_sample(), "mindtct")))
    assert main(["compare", str(iso), str(files[1]), "--extractor", "mindtct", "--matcher", "bozorth3"]) == 0
    case = tmp_path / "case.sqlite"
    folder = tmp_path / "prints"
    folder.mkdir()
    for f in files:
        shutil.copy(f, folder / f.name)
    assert main(["enroll", str(folder), "--case", str(case), "--extractor", "mindtct"]) == 0
    case2 = tmp_path / "case2.sqlite"
    assert main(["enroll", "--case", str(case2)]) == 2  # nothing in the case to enrol yet
    assert main(["batch", str(folder), "--case", str(case2), "--out", str(tmp_path / "rows.csv"), "--no-restore",
                 "--no-pad", "--no-gender", "--no-quality"]) == 0
    assert main(["enroll", "--case", str(case2), "--extractor", "mindtct"]) == 0  # the case's own prints
    from fpstation.core.store import CaseStore

    with CaseStore(case2) as st:
        assert len(st.templates("mindtct")) == len(files)
    js = tmp_path / "s.json"
    assert main(["search", str(files[2]), "--case", str(case), "--extractor", "mindtct", "--top", "2",
                 "--json", str(js)]) == 0
    s = json.loads(js.read_text())
    assert s["gallery_size"] == len(files)
    assert s["candidates"][0]["path"].endswith(files[2].name)
    capsys.readouterr()
    assert main(["search", str(files[0]), "--case", str(tmp_path / "none.sqlite")]) == 2
    assert "no case file" in capsys.readouterr().err.lower()


def test_evaluate_folder_applies_a_restorer_to_probes_only(tmp_path):
    folder = _fvc_folder(tmp_path, fingers=2, impressions=3)
    seen = []

    def prepare(image):
        seen.append(Path(image.source).stem)
        return image

    rep = ev.evaluate_folder(folder, "mindtct", "consensus", prepare=prepare, prepare_tag="test")
    assert sorted(seen) == ["101_2", "101_3", "102_2", "102_3"]  # impression 1 is the untouched gallery
    assert rep["prepare"] == "test"
    assert rep["n_genuine"] == 6
