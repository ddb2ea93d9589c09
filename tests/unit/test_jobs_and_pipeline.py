import pytest

from fpstation.core.errors import ImageReadError
from fpstation.core.jobs import Cancelled, CancelToken, wrap_progress
from fpstation.core.pipeline import Analyzers, analyse
from fpstation.core.types import FingerprintImage, RestorationResult


def _img():
    import numpy as np

    return FingerprintImage(np.zeros((4, 5), np.uint8), None, "x.png", "ab" * 32)


def test_wrap_progress_maps_range(fake_progress):
    sub = wrap_progress(fake_progress, 0.5, 0.75)
    sub(0.0)
    sub(1.0, "end")
    sub(2.0)
    assert [c[0] for c in fake_progress.calls] == [0.5, 0.75, 0.75]


def test_cancel_token():
    t = CancelToken()
    t.raise_if_cancelled()
    t.cancel()
    with pytest.raises(Cancelled):
        t.raise_if_cancelled()


def test_analyse_keeps_going_after_a_failing_step(fake_progress):
    def bad(_):
        raise ImageReadError("broken model input")

    res = analyse(_img(), Analyzers(restore=lambda im: RestorationResult(im.pixels, "id"), pad=bad), fake_progress)
    assert res.restoration is not None
    assert res.pad is None
    assert res.errors == {"pad": "broken model input"}
    assert fake_progress.last == 1.0


def test_analyse_cancel():
    t = CancelToken()
    t.cancel()
    with pytest.raises(Cancelled):
        analyse(_img(), Analyzers(restore=lambda im: None), cancel=t)
