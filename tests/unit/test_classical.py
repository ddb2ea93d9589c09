"""ml/classical: pyfing enhancement of a bundled sample (real pyfing + Keras: slow)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from fpstation.core.jobs import Cancelled, CancelToken
from fpstation.core.samples import load_sample

pytestmark = pytest.mark.slow


def test_enhance_sample(fake_progress):
    from fpstation.ml.classical import enhance

    image = load_sample()
    res = enhance(image, progress=fake_progress)
    assert res.method == "classical"
    assert res.pixels.dtype == np.uint8
    assert res.pixels.shape == image.pixels.shape
    assert not np.array_equal(res.pixels, image.pixels)
    mask = res.extras["mask"]
    assert mask.shape == image.pixels.shape
    assert 0.2 < res.extras["foreground_fraction"] < 0.95
    assert (res.pixels[mask == 0] == 255).all()  # background white
    fg = res.pixels[mask > 0]
    assert (fg < 64).mean() > 0.2
    assert (fg > 192).mean() > 0.2  # ridges and valleys, high contrast
    assert "note" not in res.extras
    assert res.extras["dpi_used"] == 500.0
    assert fake_progress.last == 1.0
    fr = [f for f, _ in fake_progress.calls]
    assert fr == sorted(fr)


def test_unknown_dpi_is_noted_and_other_dpi_keeps_size():
    from fpstation.ml.classical import enhance

    image = load_sample()
    res = enhance(dataclasses.replace(image, dpi=None))
    assert res.extras["note"] == "dpi unknown: assumed 500 for enhancement"
    hi = enhance(dataclasses.replace(image, dpi=1000.0), method="SNFEN")
    assert hi.pixels.shape == image.pixels.shape
    assert hi.extras["enhancer"] == "SNFEN"
    assert hi.extras["resampled_to"] == [image.width // 2, image.height // 2]


def test_cancel_and_bad_method():
    from fpstation.ml.classical import EnhancementError, enhance

    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        enhance(load_sample(), cancel=token)
    with pytest.raises(EnhancementError):
        enhance(load_sample(), method="MAGIC")


def test_analyze_cli_with_classical_restorer(capsys, tmp_path):
    import json

    from fpstation import cli
    from fpstation.core.imageio import write_image
    from fpstation.core.samples import sample_file

    nodpi = write_image(tmp_path / "nodpi.pgm", load_sample().pixels)
    rc = cli.main(["analyze", str(sample_file()), str(nodpi), "--restorer", "classical", "--no-pad",
                   "--no-gender", "--json", "-"])
    assert rc == 0
    first, second = json.loads(capsys.readouterr().out)["results"]
    rest = first["computed"]["restoration"]
    assert rest["method"] == "classical"
    assert rest["enhancer"] == "GBFEN"
    assert (rest["width"], rest["height"]) == (first["width"], first["height"])
    assert set(rest["stage_seconds"]) >= {"segmentation", "orientation", "frequency", "enhancement"}
    assert first["errors"] == {}
    assert first["timings"]["restoration"] > 0
    assert second["dpi"] is None
    assert second["computed"]["restoration"]["note"] == "dpi unknown: assumed 500 for enhancement"


def test_graph_mode_networks_match_eager_keras():
    """classical.py calls pyfing's networks through tf.function; the result must be what pyfing's
    own eager calls give, and the graph path must really be in use (no silent fallback)."""
    from fpstation.ml import classical

    image = load_sample("fvc2002_db3b_101_1")
    graph = classical.enhance(image, method="SNFEN").pixels
    nets = [classical._algorithm(n).model for n in ("SUFS", "SNFOE", "SNFFE", "SNFEN")]
    assert all(isinstance(m, classical._GraphModel) and not m._eager for m in nets)
    try:
        for m in nets:
            m._eager = True
        eager = classical.enhance(image, method="SNFEN").pixels
    finally:
        for m in nets:
            m._eager = False
    assert np.abs(graph.astype(int) - eager.astype(int)).max() <= 1
