"""Local texture PAD (ml/classifiers/pad_local.py): code maps, patch centres, fusion, model file."""

from __future__ import annotations

import numpy as np
import pytest

from fpstation.ml.classifiers.pad_local import (
    GREY_BINS,
    LABELS,
    N_FEATURES,
    PATCH,
    LocalPadModel,
    NoveltyModel,
    code_maps,
    fuse,
    grid_centres,
    minutiae_centres,
    part_rows,
    print_evidence,
    region_features,
)
from fpstation.ml.classifiers.patches import LinearModel


def _print(seed: int = 0, size: int = 500) -> np.ndarray:
    """A synthetic ridge pattern (curved ridges, ~10 px period) on white paper."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    r = np.hypot(yy - size * 0.6, xx - size * 0.45)
    img = 255 - 110 * (1 + np.sin(2 * np.pi * r / 10 + rng.uniform(0, 6))) + rng.normal(0, 8, (size, size))
    paper = np.full((size, size), 250.0)
    inside = ((yy - size / 2) / (0.4 * size)) ** 2 + ((xx - size / 2) / (0.3 * size)) ** 2 < 1
    return np.clip(np.where(inside, img, paper), 0, 255).astype(np.uint8)


def test_region_features_are_366_values():
    assert region_features(code_maps(_print(), 1000)).shape == (N_FEATURES,)


def test_bsif_codes_add_a_histogram_after_the_366(tmp_path):
    """docs/adr/0274: BSIF codes (8 ICA filters from the shipped resource) are a 256-bin histogram after
    the 366 values, which stay as they were; a model with more than 366 features asks for them."""
    from fpstation.ml.classifiers.pad_local import BSIF_BINS, N_FEATURES_BSIF, bsif_filters
    from fpstation.ml.classifiers.patches import bsif_codes

    f = bsif_filters()
    assert f.shape == (8, 13, 13) and np.allclose(f.sum(axis=(1, 2)), 0, atol=1e-5)
    codes = bsif_codes(_print(), f)
    assert codes.min() >= 0 and codes.max() < 256 and len(np.unique(codes)) > 32
    assert (bsif_codes(np.full((40, 40), 120, np.uint8), f) == 0).all()    # flat: every response 0 -> 0
    plain, with_b = print_evidence(_print(), 1000, ("grid",)), print_evidence(_print(), 1000, ("grid",), bsif=True)
    assert with_b["whole"].shape == (N_FEATURES_BSIF,) and with_b["grid"].shape[1] == N_FEATURES + BSIF_BINS
    assert np.allclose(with_b["whole"][:N_FEATURES], plain["whole"])
    assert np.isclose((with_b["whole"][N_FEATURES:].astype(np.float64) ** 2).sum(), 1.0)


def test_each_histogram_sums_to_one():
    f = region_features(code_maps(_print(), 1000)).astype(np.float64) ** 2
    sums = [f[a:a + n].sum() for a, n in zip(np.cumsum((0, *LABELS[:-1])), LABELS, strict=True)]
    assert np.allclose(sums, 1.0)


def test_grey_histogram_of_white_paper_is_in_the_last_bin():
    cm = code_maps(_print(), 1000)
    sel = np.zeros_like(cm.mask)
    sel[:5, :5] = True
    assert region_features(cm, sel)[-1] ** 2 == pytest.approx(1.0)
    assert GREY_BINS == 16


def test_grid_centres_lie_on_the_foreground():
    cm = code_maps(_print(), 1000)
    c = grid_centres(cm)
    assert cm.mask[c[:, 0], c[:, 1]].all()


def test_minutiae_centres_give_at_least_four_patches():
    im = _print()
    cm = code_maps(im, 1000)
    c, _ = minutiae_centres(cm, 1000, im)
    assert len(c) >= 4


def test_resampling_a_500_dpi_print_doubles_its_patch_side_in_output_pixels():
    ev = print_evidence(_print(size=250), 500, parts=("grid",))
    assert ev["patch_side"] == PATCH // 2


def test_both_part_stacks_minutiae_and_grid_rows():
    ev = {"minutiae": np.zeros((3, 4)), "grid": np.ones((2, 4))}
    assert part_rows(ev, "both").shape == (5, 4)


@pytest.mark.parametrize(("rule", "expected"), [("mean", 2.2), ("trimmed", 2.0), ("top25", 4.0)])
def test_patch_fusion_rules(rule, expected):
    assert fuse(np.array([0.0, 1.0, 2.0, 3.0, 5.0]), rule) == pytest.approx(expected)


def test_unknown_fusion_rule_is_refused():
    with pytest.raises(ValueError):
        fuse(np.zeros(3), "max")


def test_novelty_is_larger_far_from_the_live_prints():
    rng = np.random.default_rng(0)
    live = rng.normal(0, 1, (200, 6))
    m = NoveltyModel(k=4).fit(np.vstack([live, live + 10]), np.r_[np.zeros(200), np.ones(200)])
    assert m.decision(np.full((1, 6), 8.0))[0] > m.decision(np.zeros((1, 6)))[0]


def test_saved_model_gives_the_same_logit(tmp_path):
    rng = np.random.default_rng(1)
    ev = print_evidence(_print(), 1000)
    x = rng.normal(0, 1, (60, N_FEATURES))
    y = np.r_[np.zeros(30), np.ones(30)]
    grid = LinearModel(0.1).fit(x, y)
    whole = LinearModel(0.1).fit(x[:, :350], y)
    nov = NoveltyModel(4).fit(x, y)
    fusion = LinearModel(1.0).fit(rng.normal(0, 1, (60, 3)), y)
    m = LocalPadModel("fusion", {"grid": grid, "whole": whole, "novelty": nov}, {"grid": "top25"},
                      {p: {"a": 0.5, "b": 0.1} for p in ("grid", "whole", "novelty")}, fusion, False,
                      {"grid": N_FEATURES, "whole": 350, "novelty": N_FEATURES})
    m.save(tmp_path / "m.npz")
    assert LocalPadModel.load(tmp_path / "m.npz").logit(ev) == pytest.approx(m.logit(ev))


def _image(dpi=None):
    from fpstation.core.types import FingerprintImage

    return FingerprintImage(pixels=_print(size=800), dpi=dpi, source="synthetic.png", sha256="0" * 64,
                            format="PNG")


def test_shipped_v2_model_never_says_live_without_a_dpi():
    from fpstation.ml.classifiers import pad_predict

    r = pad_predict(_image(), "pad-livdet")
    assert (r.verdict, r.in_domain) == ("UNCERTAIN", False)


def test_shipped_v2_model_scores_a_stated_1000_dpi_print():
    from fpstation.ml.classifiers import pad_predict

    r = pad_predict(_image().with_stated_dpi(1000), "pad-livdet")
    assert r.in_domain
    assert 0.0 <= r.attack_score <= 1.0


def test_shipped_v2_card_holds_a_transaction_rule():
    from fpstation.core.pad_transaction import TransactionRule
    from fpstation.ml.registry import get_registry

    rule = TransactionRule.from_card(get_registry().card("pad-livdet").data)
    assert rule.max_attempts == 3


def _ridges(pores: bool) -> np.ndarray:
    """A 400×400 print at 1000 dpi: dark horizontal ridges every 18 px on a white valley, with
    (``pores``) a bright 2-px dot every 20 px along each ridge's centre line."""
    yy, xx = np.mgrid[:400, :400]
    img = (128 + 100 * np.cos(2 * np.pi * yy / 18.0)).astype(np.float64)   # ridges (dark) at y = 9, 27, ...
    if pores:
        for cy in range(9, 400, 18):
            for cx in range(10, 400, 20):
                img[(yy - cy) ** 2 + (xx - cx) ** 2 <= 4] = 235
    noise = np.random.default_rng(0).normal(0, 3, img.shape)
    return np.clip(img + noise, 0, 255).astype(np.uint8)


def test_pore_features_see_the_pores_of_live_ridges():
    from fpstation.ml.classifiers.pad_local import PORE_THRESHOLDS, pore_features

    with_pores, smooth = pore_features(_ridges(True), 1000), pore_features(_ridges(False), 1000)
    assert with_pores.shape == smooth.shape == (len(PORE_THRESHOLDS),)
    # one pore per 20 px of ridge: about 2.5 per mm of ridge line, far above a cast's smooth ridges
    assert (with_pores > smooth + 1.0).all()
    assert np.all(np.diff(with_pores) <= 0)     # fewer maxima above each higher threshold


def test_pores_part_scores_through_the_local_model(tmp_path):
    from fpstation.ml.classifiers.pad_local import LocalPadModel
    from fpstation.ml.classifiers.patches import LinearModel

    rng = np.random.default_rng(0)
    x = np.r_[rng.normal(2.5, 0.2, (20, 4)), rng.normal(1.0, 0.2, (20, 4))]
    y = np.r_[np.zeros(20), np.ones(20)].astype(int)
    m = LinearModel(1.0).fit(x, y)
    model = LocalPadModel("pores", {"pores": m}, {"pores": ""}, {"pores": {"a": 1.0, "b": 0.0}}, nfeat={"pores": 4})
    live, cast = ({"pores": np.full(4, v, np.float32)} for v in (2.5, 1.0))
    assert model.logit(live) < 0 < model.logit(cast)
    model.save(tmp_path / "m.npz")
    again = LocalPadModel.load(tmp_path / "m.npz")
    assert again.logit(cast) == model.logit(cast)


def test_grid_nap_model_scores_the_grid_patches_and_paints_its_map(tmp_path):
    """A ``grid_nap`` part (docs/adr/0275) reads the grid rows at inference, saved and loaded."""
    from fpstation.ml.classifiers.pad_local import local_heatmap, local_logits

    rng = np.random.default_rng(3)
    x = rng.normal(0, 1, (80, N_FEATURES))
    y = np.r_[np.zeros(40), np.ones(40)]
    groups = np.repeat(["a", "b", "c", "d"], 20)
    nap = LinearModel(0.1).fit(x, y, groups=groups, nuisance_k=2)
    m = LocalPadModel("grid_nap", {"grid_nap": nap}, {"grid_nap": "mean"}, {"grid_nap": {"a": 1.0, "b": 0.0}},
                      nfeat={"grid_nap": N_FEATURES})
    pixels = _print(size=600)
    z, ev = local_logits(m, {}, pixels, 1000)
    assert len(ev["grid"]) > 0 and "minutiae" not in ev
    assert z == pytest.approx(float(fuse(nap.decision(ev["grid"]), "mean")))
    heat = local_heatmap(m, {}, pixels, 1000)
    assert heat.shape == pixels.shape and heat.max() > 0
    m.save(tmp_path / "m.npz")
    assert LocalPadModel.load(tmp_path / "m.npz").logit(ev) == pytest.approx(z)
