"""The classical texture PAD model as an installed model: .npz weights verified by the registry,
inference with the stated dpi and its domain, the per-patch heat map (no TensorFlow)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np

from fpstation.core.types import FingerprintImage
from fpstation.ml.classifiers.patches import LinearModel
from tests.unit.test_patches import _print


def _install(tmp_path, **card_entries):
    """A texture PAD model with random weights in a fresh registry; ``card_entries`` replace the card's."""
    from fpstation.ml.registry import Registry, sha256_file

    rng = np.random.default_rng(0)
    m = LinearModel()
    m.mean, m.scale, m.w, m.b = np.zeros(350), np.ones(350), rng.normal(0, 0.1, 350), 0.0
    d = tmp_path / "models"
    d.mkdir()
    m.save(d / "pad-tex.npz")
    card = {"name": "pad-tex", "task": "pad", "version": "1", "file": "pad-tex.npz",
            "sha256": sha256_file(d / "pad-tex.npz"), "architecture": "pad_texture_linear",
            "input": {"shape": None, "dpi": 1000, "patches": False},
            "calibration": {"a": 1.0, "b": 0.0}, "threshold": {"value": 0.5}, "attack_types_seen": ["gelatine"],
            "domain": {"dpi": {"nominal": 1000, "min": 900, "max": 1100, "unknown": "assume"},
                       "size_px": {"height": [300, 1500], "width": [300, 1500]}}}
    (d / "pad-tex.json").write_text(json.dumps({**card, **card_entries}))
    return Registry(shipped_dir=d, user_dir=tmp_path / "user")


def test_texture_model_predicts_explains_and_checks_its_domain(tmp_path):
    from fpstation.ml.classifiers import pad_explain, pad_predict

    reg = _install(tmp_path)
    im = FingerprintImage(_print(), None, "x.png", "ab").with_stated_dpi(1000)
    r = pad_predict(im, "pad-tex", registry=reg)
    assert r.in_domain
    assert 0 <= r.attack_score <= 1
    assert r.attack_types_seen == ("gelatine",)
    low = pad_predict(FingerprintImage(_print(), None, "x.png", "ab").with_stated_dpi(500), "pad-tex", registry=reg)
    assert not low.in_domain
    assert low.verdict == "UNCERTAIN"
    heat = pad_explain(im, "pad-tex", registry=reg)
    assert heat.shape == im.pixels.shape
    assert heat.max() <= 1


def test_a_tampered_texture_model_is_refused(tmp_path):
    import pytest

    from fpstation.core.errors import ModelIntegrityError
    from fpstation.ml.classifiers import pad_predict

    reg = _install(tmp_path)
    (tmp_path / "models" / "pad-tex.npz").write_bytes(b"not the weights")
    with pytest.raises(ModelIntegrityError):
        pad_predict(FingerprintImage(_print(), 1000.0, "x.png", "ab"), "pad-tex", registry=reg)


def test_texture_inference_does_not_import_tensorflow(tmp_path):
    code = ("import sys, numpy as np\n"
            "from tests.unit.test_texture_model import _install\n"
            "from pathlib import Path\n"
            "from fpstation.core.types import FingerprintImage\n"
            "from fpstation.ml.classifiers import pad_predict\n"
            f"reg = _install(Path({str(tmp_path)!r}))\n"
            "from tests.unit.test_patches import _print\n"
            "pad_predict(FingerprintImage(_print(), 1000.0, 'x.png', 'ab'), 'pad-tex', registry=reg)\n"
            "assert 'tensorflow' not in sys.modules, 'tensorflow imported'\n")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=str(__import__("pathlib").Path(__file__).parents[2]))
