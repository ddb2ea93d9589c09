"""Test-wide setup: offscreen Qt, a temporary user home, fake progress/cancel helpers."""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import pytest  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture(autouse=True)
def _fp_home(tmp_path_factory, monkeypatch):
    """Every test gets its own user data/config dir: settings and trained models never leak."""
    home = tmp_path_factory.mktemp("fphome")
    monkeypatch.setenv("FPSTATION_HOME", str(home))
    return home


class FakeProgress:
    """Records every progress call; asserts fractions are monotone within [0, 1]."""

    def __init__(self):
        self.calls: list[tuple[float, str]] = []

    def __call__(self, fraction: float, message: str = "") -> None:
        assert 0.0 <= fraction <= 1.0 + 1e-9, fraction
        self.calls.append((fraction, message))

    @property
    def last(self) -> float:
        return self.calls[-1][0] if self.calls else 0.0


@pytest.fixture
def fake_progress():
    return FakeProgress()


@pytest.fixture
def cancel_token():
    from fpstation.core.jobs import CancelToken

    return CancelToken()


@pytest.fixture
def sync_pools(qapp):
    """Pools that run tasks synchronously in the test thread."""
    from fpstation.workers import Pools

    return Pools(sync=True)


@pytest.fixture
def shared_data():
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not present")
    return SHARED_DATA


def pytest_report_header(config):
    return [f"python {sys.version.split()[0]}; shared data: {'yes' if SHARED_DATA.is_dir() else 'no'}"]
