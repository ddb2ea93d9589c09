"""1:N search at scale (issue 24): the cylinder matcher, the packed memory-mapped gallery, its
three-stage search, Ray sharding, the case's packed cache, the distractor generator and the CLI."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest

from fpstation.core.jobs import Cancelled, CancelToken
from fpstation.core.matching import cylinders as cy
from fpstation.core.matching import packed as pk
from fpstation.core.matching.distractors import distractors, make_distractor
from tests.unit.test_matching import moved, synthetic


def _gallery(tmp_path, n=300, name="g.fpg"):
    ts = [synthetic(1000 + k, n=36) for k in range(n)]
    return pk.PackedGallery.build(tmp_path / name, ((7000 + k, t) for k, t in enumerate(ts)), extractor="synthetic",
                                  total=n), ts


def test_cylinders_are_packed_bits_best_quality_first():
    t = synthetic(5, n=30)
    e = cy.encode(t)
    assert 0 < e.n <= cy.MAX_CYL
    assert e.bits.shape == (e.n, cy.NBYTES) and e.bits.dtype == np.uint8
    assert np.array_equal(e.counts, np.unpackbits(e.bits, axis=1).sum(axis=1))
    q = t.minutiae[:, 4]
    # the centre minutiae are in quality order: each kept one is at least as good as the next
    kept_q = [q[np.argmin(np.hypot(t.minutiae[:, 0] - x, -t.minutiae[:, 1] - y))] for x, y in e.xy]
    assert all(a >= b for a, b in zip(kept_q, kept_q[1:], strict=False))
    assert cy.encode(T_empty()).n == 0


def test_a_stack_scores_each_template_as_one_to_one_whatever_the_block():
    ts = [synthetic(400 + k, n=32) for k in range(9)] + [T_empty()]
    st = cy.Stack.of([cy.encode(t) for t in ts])
    assert len(st) == 10 and st.bits.shape == (10, cy.MAX_CYL, cy.NBYTES)
    probe = moved(ts[4], seed=9)
    e = cy.encode(probe)
    one = [cy.match(probe, t) for t in ts]
    for block in (1, 3, 256):
        assert np.allclose(st.scores(e, block=block), one, atol=1e-6)
    assert int(np.argmax(one)) == 4 and one[-1] == 0.0


def T_empty():
    from fpstation.core.matching.template import Template

    return Template(np.zeros((0, 5)), 100, 100)


def test_search_finds_the_mate_and_ranks_by_the_final_matcher(tmp_path):
    g, ts = _gallery(tmp_path)
    assert len(g) == 300
    for k in (0, 123, 299):
        r = g.search(moved(ts[k], seed=k), top=5)
        assert r.hits[0].index == k and r.hits[0].id == 7000 + k
        assert [h.score for h in r.hits] == sorted((h.score for h in r.hits), reverse=True)
        assert r.hits[0].pairs  # the consensus matcher's charted pairs
    # no pruning gives the same best candidate
    assert g.search(moved(ts[5], seed=1), top=1, exhaustive=True).hits[0].index == 5
    # a smaller gallery inside the larger one
    r = g.search(moved(ts[250], seed=2), top=3, limit=100)
    assert r.gallery_size == 100 and all(h.index < 100 for h in r.hits)


def test_packed_gallery_reopens_memory_mapped_and_keeps_templates(tmp_path):
    g, ts = _gallery(tmp_path, n=40)
    g2 = pk.PackedGallery(tmp_path / "g.fpg")
    assert isinstance(g2.a["bits"], np.memmap)
    t = g2.template(7)
    assert np.allclose(t.minutiae, ts[7].minutiae, atol=1e-3)
    assert (t.width, t.height, t.dpi) == (ts[7].width, ts[7].height, ts[7].dpi)
    assert g2.nbytes() < g2.nbytes(scanned_only=False)


def test_a_cancelled_build_leaves_the_previous_gallery(tmp_path):
    g, _ = _gallery(tmp_path, n=20)
    tok = CancelToken()

    def items():
        for k in range(500):
            if k == 100:
                tok.cancel()
            yield k, synthetic(k)

    with pytest.raises(Cancelled):
        pk.PackedGallery.build(tmp_path / "g.fpg", items(), cancel=tok)
    assert len(pk.PackedGallery(tmp_path / "g.fpg")) == 20
    assert not (tmp_path / "g.fpg.building").exists()


def test_search_reports_progress_and_stops_at_cancel(tmp_path):
    g, ts = _gallery(tmp_path, n=600)
    seen = []
    g.search(ts[0], progress=lambda f, m: seen.append(f), pre_rate=0.0)
    assert seen and seen[-1] == 1.0
    tok = CancelToken()
    tok.cancel()
    with pytest.raises(Cancelled):
        g.search(ts[0], cancel=tok)


def test_stage0_reads_its_own_contiguous_copy_of_the_first_cylinders(tmp_path):
    g, ts = _gallery(tmp_path, n=50)
    a = g.a
    assert np.array_equal(a["pre_bits"], a["bits"][:, :pk.PRE_M])
    assert np.array_equal(a["pre_counts"], a["counts"][:, :pk.PRE_M])
    # stage 0 scores = the local similarity of the probe's best PRE_P with the first PRE_M of the full rows
    e = cy.encode(moved(ts[3], seed=3))
    pe = cy.Encoded(e.bits[:pk.PRE_P], e.counts[:pk.PRE_P], e.xy[:pk.PRE_P], e.theta[:pk.PRE_P])
    ref = cy.scores(pe, np.asarray(a["bits"][:, :pk.PRE_M]), np.asarray(a["counts"][:, :pk.PRE_M]),
                    np.minimum(np.asarray(a["ncyl"]), pk.PRE_M))
    assert np.array_equal(g.pre_scores(e), ref)
    assert int(np.argmax(ref)) == 3
    # what stage 0 reads for every template is a small part of the gallery; stage 1 reads whole rows
    assert g.nbytes() == len(g) * (pk.PRE_M * (cy.NBYTES + 2) + 1)
    assert g.row_nbytes() == cy.MAX_CYL * (cy.NBYTES + 2 + 4 + 1) + 1


def test_cylinders_encoded_elsewhere_pack_the_same(tmp_path):
    ts = [synthetic(300 + k, n=30) for k in range(12)]
    a = pk.PackedGallery.build(tmp_path / "a.fpg", ((k, t) for k, t in enumerate(ts)))
    b = pk.PackedGallery.build(tmp_path / "b.fpg", ((k, t, cy.encode(t)) for k, t in enumerate(ts)))
    for name in pk.ARRAYS:
        assert np.array_equal(a.a[name], b.a[name]), name


def test_a_gallery_of_the_old_format_asks_to_be_built_again(tmp_path):
    g, _ = _gallery(tmp_path, n=5)
    meta = json.loads((g.folder / "meta.json").read_text())
    meta["format"] = "fpstation packed gallery 1"
    (g.folder / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(pk.GalleryFileError, match="another format.*build it again"):
        pk.PackedGallery(g.folder)


def test_not_a_gallery_is_a_clear_error(tmp_path):
    with pytest.raises(pk.GalleryFileError, match="not a packed gallery"):
        pk.PackedGallery(tmp_path)
    g, _ = _gallery(tmp_path, n=5)
    meta = json.loads((g.folder / "meta.json").read_text())
    meta["cylinders"]["ns"] = 99
    (g.folder / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(pk.GalleryFileError, match="other cylinder parameters"):
        pk.PackedGallery(g.folder)


def test_kernel_model_is_current_and_matches_numpy():
    import base64

    from fpstation.core.matching import kernel

    pytest.importorskip("onnx")
    assert base64.b64decode(kernel.MODEL_B64) == kernel.build_model()
    assert base64.b64decode(kernel.MODEL_LOCAL_B64) == kernel.build_model(local=True)
    rng = np.random.default_rng(0)
    gb = np.packbits(rng.random((7, 5, cy.NBITS)) < 0.2, axis=2)
    gb[3, 2:] = 0  # padding rows
    gc = np.unpackbits(gb, axis=2, count=cy.NBITS).sum(axis=2).astype(np.uint16)
    pb = np.packbits(rng.random((4, cy.NBITS)) < 0.2, axis=1)
    pc = np.unpackbits(pb, axis=1, count=cy.NBITS).sum(axis=1).astype(np.uint16)
    a = kernel.best_matches(gb, gc, pb, pc, cy.NBITS)
    b = kernel.best_matches_numpy(gb, gc, pb, pc, cy.NBITS)
    for x, y in zip(a, b, strict=True):
        assert x.shape == y.shape and np.array_equal(x, y)
    loc = kernel.best_local(gb, gc, pb, pc, cy.NBITS)
    assert np.array_equal(loc[0], b[0]) and np.array_equal(loc[1], b[2])


def test_top_k_and_merge_break_ties_by_position_however_the_scores_are_cut():
    s = np.array([0.5, 0.9, 0.5, 0.9, 0.1, 0.5], np.float32)
    idx, val = pk.top_k(s, 4)
    assert idx.tolist() == [1, 3, 0, 2]
    parts = [pk.top_k(s[:3], 4), pk.top_k(s[3:], 4, offset=3)]
    assert pk.merge_top(parts, 4)[0].tolist() == [1, 3, 0, 2]
    sh = pk.shards(10 * pk.BLOCK + 5, 3)
    assert len(sh) == 3 and sh[0][0] == 0 and sh[-1][1] == 10 * pk.BLOCK + 5
    assert all(lo % pk.BLOCK == 0 for lo, _ in sh)
    assert len(pk.shards(3 * pk.BLOCK, 2)) == 2 and len(pk.shards(pk.BLOCK, 4)) == 1
    assert all(a[1] == b[0] for a, b in zip(sh, sh[1:], strict=False))


def _in_process(fn, args):
    return [fn(*a) for a in args]


def test_shards_give_the_candidates_of_a_local_search(tmp_path, monkeypatch):
    """The driver's sharded search (every round), run here instead of on Ray workers, equals the
    local search: without expansion, with it (no sure candidate), and without pruning."""
    monkeypatch.setattr(pk, "PRE_MIN", 10)
    monkeypatch.setattr(pk, "BLOCK", 128)  # several shards of a small gallery (all in this process)
    g, ts = _gallery(tmp_path, n=700)
    probe = moved(ts[650], seed=3)
    e = cy.encode(probe)
    n, k = len(g), 30
    parts_of = pk.shards(n, 3)
    assert len(parts_of) == 3
    where = str(g.folder)
    for rate, expand, sure in ((0.25, 0.1, 0.2), (0.05, 0.4, 2.0), (0.05, 0.4, 0.0)):
        local = g.search(probe, top=30, rerank=30, pre_rate=rate, expand_rate=expand, sure=sure)
        k0 = pk.stage0_candidates(n, k, rate)
        k1 = max(k0, pk.stage0_candidates(n, k, expand)) if expand > rate else k0
        idx, val, scored = pk._sharded_top(_in_process, where, e, parts_of, k0, k1, sure, k, n)
        assert idx.tolist() == local.shortlist[0].tolist()
        assert np.array_equal(val, local.shortlist[1])
        assert scored == local.stage1_candidates
    ex = g.search(probe, top=30, rerank=30, exhaustive=True)
    full = pk._sharded_top(_in_process, where, e, parts_of, n, n, 0.2, k, n)
    assert full[0].tolist() == ex.shortlist[0].tolist() and full[2] == n == ex.stage1_candidates


def test_stage1_goes_further_only_without_a_sure_candidate(tmp_path, monkeypatch):
    """With no candidate at ``sure`` or above among stage 0's first ``pre_rate``, stage 1 scores
    down stage 0's order to ``expand_rate``; with one, it stops there."""
    monkeypatch.setattr(pk, "PRE_MIN", 10)
    g, ts = _gallery(tmp_path, n=400)
    probe = moved(ts[321], seed=5)
    e = cy.encode(probe)
    stop = g.search(probe, top=5, pre_rate=0.05, expand_rate=0.5, sure=0.0)
    assert not stop.expanded and stop.stage1_candidates == 30  # max(k=30, 5 % of 400 = 20)
    assert stop.hits[0].index == 321
    go = g.search(probe, top=5, pre_rate=0.05, expand_rate=0.5, sure=2.0)  # nothing scores 2
    assert go.expanded and go.stage1_candidates == 200
    cand, _ = pk.top_k(g.pre_scores(e), 200)
    ref = pk.merge_top([(cand, g.full_scores_at(e, cand))], 30)
    assert go.shortlist[0].tolist() == ref[0].tolist() and go.hits[0].index == 321
    never = g.search(probe, top=5, pre_rate=0.05, expand_rate=0.05, sure=2.0)  # expand_rate <= pre_rate
    assert not never.expanded and never.stage1_candidates == 30


@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="ray (the [cluster] extra) is not installed")
@pytest.mark.slow
def test_ray_engine_is_identical_to_local(tmp_path, monkeypatch):
    monkeypatch.setattr(pk, "PRE_MIN", 10)  # prune (the driver passes the same k0 to the workers)
    g, ts = _gallery(tmp_path, n=2 * pk.BLOCK + 100)  # three blocks: two shards
    probe = moved(ts[444], seed=4)
    a = g.search(probe, top=10, pre_rate=0.3)
    b = g.search(probe, top=10, pre_rate=0.3, engine="ray", workers=2)
    assert b.engine == "ray" and b.workers == 2
    assert [(h.index, h.score) for h in a.hits] == [(h.index, h.score) for h in b.hits]
    # no sure candidate: a third round on the next candidates, as locally
    a = g.search(probe, top=10, pre_rate=0.05, expand_rate=0.5, sure=2.0)
    b = g.search(probe, top=10, pre_rate=0.05, expand_rate=0.5, sure=2.0, engine="ray", workers=2)
    assert a.expanded and b.expanded and a.stage1_candidates == b.stage1_candidates
    assert [(h.index, h.score) for h in a.hits] == [(h.index, h.score) for h in b.hits]


def test_distractors_are_deterministic_mixed_and_not_copies():
    src = [synthetic(50 + k) for k in range(6)]
    fingers = ["a", "a", "b", "b", "c", "c"]
    d1 = list(distractors(src, fingers, 5, seed=3))
    d2 = list(distractors(src, fingers, 5, seed=3))
    assert all(np.array_equal(x.minutiae, y.minutiae) for x, y in zip(d1, d2, strict=True))
    # any range on its own (the benchmark makes ranges in several processes)
    d3 = list(distractors(src, fingers, 2, seed=3, start=3))
    assert all(np.array_equal(x.minutiae, y.minutiae) for x, y in zip(d1[3:], d3, strict=True))
    for d in d1:
        assert d.n > 10
        assert max(cy.match(d, s) for s in src) < 0.9  # never a copy of a source
    with pytest.raises(ValueError):
        list(distractors(src[:2], ["a", "a"], 1))
    m = make_distractor(src[0], src[2], np.random.default_rng(0), drop=0.0, spurious=0.0, jitter=0.0, turn=0.0)
    assert 0 < m.n < src[0].n + src[2].n


def test_case_gallery_is_packed_once_and_again_when_templates_change(tmp_path):
    from fpstation.core.matching.extractors import extractor_version
    from fpstation.core.matching.gallery import packed_for_case
    from fpstation.core.store import CaseStore
    from fpstation.core.types import FingerprintImage

    case = tmp_path / "case.sqlite"
    with CaseStore(case) as st:
        ids = []
        for k in range(3):
            im = FingerprintImage(np.full((64, 64), k * 40, np.uint8), 500.0, str(tmp_path / f"p{k}.png"), f"{k:064x}")
            t = synthetic(200 + k)
            ids += st.put_enrolment([(im, 100, "leader", extractor_version("leader"), json.dumps(t.to_dict()), None,
                                      0.1)])
        g = packed_for_case(st, "leader")
        assert len(g) == 3 and g.folder == tmp_path / "case.leader.fpg"
        assert packed_for_case(st, "leader").meta["built_seconds"] == g.meta["built_seconds"]
        built = (g.folder / "meta.json").stat().st_mtime_ns
        assert (packed_for_case(st, "leader").folder / "meta.json").stat().st_mtime_ns == built  # not packed again
        im = FingerprintImage(np.full((64, 64), 200, np.uint8), 500.0, str(tmp_path / "p9.png"), f"{9:064x}")
        st.put_enrolment([(im, 100, "leader", extractor_version("leader"), json.dumps(synthetic(9).to_dict()), None,
                           0.1)])
        g2 = packed_for_case(st, "leader")
        assert len(g2) == 4
        r = g2.search(moved(synthetic(201), seed=1), top=1)
        assert r.hits[0].id == ids[1]


def test_cli_search_packs_a_case_and_searches_a_packed_gallery(tmp_path, capsys):
    from fpstation.cli import main
    from fpstation.core.matching.template import to_iso19794_2

    g, ts = _gallery(tmp_path, n=50)
    probe = tmp_path / "probe.iso"
    probe.write_bytes(to_iso19794_2(moved(ts[17], seed=5)))
    out = tmp_path / "s.json"
    assert main(["search", str(probe), "--gallery", str(g.folder), "--top", "3", "--json", str(out)]) == 0
    d = json.loads(out.read_text())
    assert d["candidates"][0]["print_id"] == 7017 and d["gallery_size"] == 50 and d["pruned"]
    assert d["stage1_templates"] == 50 and d["stage1_went_further"] is False  # PRE_MIN > 50: all of them
    assert "50 scored by the cylinder matcher" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="PROBE"):
        main(["search", "--gallery", str(g.folder)])
    capsys.readouterr()
    assert main(["search", str(probe), "--gallery", str(tmp_path)]) == 2
    assert "not a packed gallery" in capsys.readouterr().err
