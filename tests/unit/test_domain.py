"""fpstation.core.domain: the domain check every model verdict passes first."""

import numpy as np
import pytest

from fpstation.core.domain import check_domain, fit_stats
from fpstation.core.types import FingerprintImage

DOMAIN = {"dpi": {"nominal": 500, "min": 450, "max": 550, "unknown": "assume"},
          "size_px": {"height": [90, 110], "width": [85, 105]}}


def _img(h, w, dpi=None):
    return FingerprintImage(np.full((h, w), 200, np.uint8), dpi, "x.png", "0" * 64)


def test_inside_and_unknown_dpi_assumed():
    assert check_domain(DOMAIN, _img(103, 96)).in_domain
    assert check_domain(DOMAIN, _img(103, 96, 500)).in_domain
    assert check_domain(None, _img(5, 5)).in_domain


def test_wrong_size_and_dpi_are_outside_with_reasons():
    c = check_domain(DOMAIN, _img(374, 388))
    assert not c.in_domain
    assert "height 374" in c.reason
    c = check_domain(DOMAIN, _img(103, 96).with_stated_dpi(1000))
    assert not c.in_domain
    assert "1000 dpi (stated)" in c.reason
    # resampled to the model's 500 dpi a 1000 dpi print of twice the size fits
    assert check_domain({"size_px": DOMAIN["size_px"]}, _img(206, 192, 1000), model_dpi=500).in_domain
    assert not check_domain({**DOMAIN, "dpi": {"unknown": "outside"}}, _img(103, 96)).in_domain


def test_stated_dpi_is_kept_apart_from_the_file():
    im = _img(10, 10)
    assert im.dpi_text == "unknown"
    st = _img(10, 10, 500).with_stated_dpi(1000)
    assert st.dpi == 1000
    assert st.dpi_source == "stated"
    assert st.file_dpi == 500
    assert st.dpi_text == "1000 dpi (stated)"
    with pytest.raises(ValueError):
        _img(10, 10).with_stated_dpi(3)


def test_mahalanobis_stats_flag_outliers():
    rng = np.random.default_rng(0)
    feats = rng.normal(size=(500, 4))
    stats = fit_stats(feats, "test features")
    dom = {"stats": stats}
    assert check_domain(dom, _img(5, 5), features=feats[0]).in_domain
    c = check_domain(dom, _img(5, 5), features=np.full(4, 8.0))
    assert not c.in_domain
    assert "test features" in c.reason
