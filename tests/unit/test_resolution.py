"""fpstation.core.resolution and the card's ``domain.resolution`` check (docs/adr/0271): a print's
ridge spacing and fine detail must fit the dpi it is said to have."""

import cv2
import numpy as np
import pytest

from fpstation.core.domain import CardDomain, check_domain
from fpstation.core.errors import CardError
from fpstation.core.resolution import resample_to, resolution_rule, ridge_spectrum
from fpstation.core.types import FingerprintImage


def _ridges(size: int, period_px: float, noise: float = 12.0, seed: int = 0) -> np.ndarray:
    """Curved ridges (concentric arcs) of ``period_px`` with pixel noise, like a sensor at its own dpi."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size].astype(np.float64)
    r = np.hypot(y - size * 1.3, x - size * 0.4)
    img = 128 + 70 * np.sin(2 * np.pi * r / period_px) + rng.normal(0, noise, (size, size))
    return np.clip(img, 0, 255).astype(np.uint8)


def _print(px: np.ndarray, dpi: float) -> FingerprintImage:
    return FingerprintImage(px, None, "x.png", "0" * 64).with_stated_dpi(dpi)


def test_ridge_period_is_measured_in_mm():
    sp = ridge_spectrum(_ridges(640, 18.0), 1000.0)        # 18 px at 1000 dpi = 0.457 mm
    assert sp.tiles >= 4
    assert sp.period_mm == pytest.approx(18 * 25.4 / 1000, rel=0.08)
    half = ridge_spectrum(_ridges(640, 9.0), 1000.0)       # the same finger at 500 dpi, said to be 1000
    assert half.period_mm == pytest.approx(sp.period_mm / 2, rel=0.1)


def test_an_enlarged_print_has_no_fine_detail():
    native = _ridges(640, 18.0)
    small = _ridges(320, 9.0)                              # sampled at half the resolution
    enlarged = cv2.resize(small, (640, 640), interpolation=cv2.INTER_CUBIC)
    a, b = ridge_spectrum(native, 1000.0), ridge_spectrum(enlarged, 1000.0)
    assert b.period_mm == pytest.approx(a.period_mm, rel=0.1)   # the ridges are where they should be
    assert b.detail < a.detail / 5                            # but little finer than the old limit


def test_faint_print_still_measured_and_tiny_print_is_not():
    faint = (_ridges(512, 18.0, noise=2.0).astype(np.float32) * 0.1 + 120).astype(np.uint8)  # std ~5: "no finger"
    sp = ridge_spectrum(faint, 1000.0)
    assert sp.tiles == 4 and sp.period_mm == pytest.approx(0.457, rel=0.1)
    assert ridge_spectrum(np.full((100, 100), 128, np.uint8), 1000.0).period_mm is None


def _card_domain(rule: dict) -> dict:
    return {"dpi": {"nominal": 1000, "min": 900, "max": 1100, "unknown": "outside"}, "resolution": rule}


def test_card_check_flags_wrong_resolution_with_a_reason():
    train = [ridge_spectrum(_ridges(512, p, seed=i), 1000.0) for i, p in enumerate((15.0, 17.0, 19.0, 21.0))]
    rule = resolution_rule(train)
    lo, hi = rule["ridge_period_mm"]
    assert lo == pytest.approx(0.9 * min(s.period_mm for s in train), rel=1e-3)
    assert hi == pytest.approx(1.1 * max(s.period_mm for s in train), rel=1e-3)
    dom = _card_domain(rule)
    assert check_domain(dom, _print(_ridges(512, 18.0, seed=9), 1000), model_dpi=1000).in_domain

    misstated = check_domain(dom, _print(_ridges(512, 8.5, seed=9), 1000), model_dpi=1000)
    assert not misstated.in_domain and "is the resolution right?" in misstated.reason

    enlarged = cv2.resize(_ridges(256, 9.0, seed=9), (512, 512), interpolation=cv2.INTER_CUBIC)
    c = check_domain(dom, _print(enlarged, 1000), model_dpi=1000)
    assert not c.in_domain and "enlarged from a lower resolution" in c.reason

    # a print at another dpi is resampled to the model's before it is measured
    at_500 = cv2.resize(_ridges(512, 18.0, seed=9), (256, 256), interpolation=cv2.INTER_AREA)
    assert resample_to(at_500, 500, 1000).shape == (512, 512)
    assert "ridges repeat" not in check_domain(dom, _print(at_500, 500), model_dpi=1000).reason


def test_bad_resolution_entries_are_card_errors():
    with pytest.raises(CardError, match="ridge_period_mm"):
        CardDomain.parse({"resolution": {"ridge_period_mm": 0.3, "detail_min": 1e-4}})
    with pytest.raises(CardError, match="detail_min"):
        CardDomain.parse({"resolution": {"ridge_period_mm": [0.2, 0.6]}})
    with pytest.raises(ValueError, match="finger area"):
        resolution_rule([])
