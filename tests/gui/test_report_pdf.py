"""Issue 25 item 10: the PDF report reads like a forensic document. Its pages are rendered to PNG
(docs/screenshots/report_page_N.png) and checked: no image across a page break, the two prints
side by side with a scale, numbers formatted, only the PDF written."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from fpstation.core.report import print_report_text
from fpstation.core.samples import sample_file
from fpstation.core.store import AnalysisInputs, CaseStore, StepRecord
from fpstation.core.types import ModelRef, RestorationResult

ROOT = Path(__file__).resolve().parents[2]
#: where the screenshots go: FPSTATION_SCREENSHOTS=docs/screenshots to refresh the committed ones
SHOTS_ENV = "FPSTATION_SCREENSHOTS"


def _shots(tmp_path: Path) -> Path:
    d = Path(os.environ[SHOTS_ENV]) if os.environ.get(SHOTS_ENV) else tmp_path / "shots"
    d.mkdir(parents=True, exist_ok=True)
    return d


def _case(tmp_path, big=False):
    from fpstation.core.imageio import read_prints, write_image

    src = sample_file()
    if big:  # a 1000 dpi-sized print (LivDet HiScan prints are 1000×1000)
        im = read_prints(src)[0]
        px = np.kron(im.pixels, np.ones((2, 2), np.uint8))[:1000, :1000]
        src = tmp_path / "big.png"
        write_image(src, px, dpi=1000)
    im = read_prints(str(src))[0]
    st = CaseStore(tmp_path / "c.db")
    recs = [StepRecord("quality", ModelRef("NFIQ 2", "2.3"), 41.0, "41"),
            StepRecord("pad", ModelRef("pad-livdet", "2", ""), 0.953, "ATTACK",
                       {"threshold": 0.5, "in_domain": True, "models": [
                           {"model": "pad-socofing", "version": "3", "verdict": "UNCERTAIN", "attack_score": 0.4,
                            "threshold": 0.5, "in_domain": False,
                            "domain_reason": "outside the 450–550 dpi it was validated on",
                            "attack_types_seen": ["obliteration"]},
                           {"model": "pad-livdet", "version": "2", "verdict": "ATTACK", "attack_score": 0.953,
                            "threshold": 0.5, "in_domain": True, "attack_types_seen": ["gelatine"]}]})]
    pid = st.record_print(im, recs, inputs=AnalysisInputs(restorer="classical"))
    return st, pid


def _html(st, pid):
    from fpstation.gui.case import PDF_IMAGE_PX

    def negative(im):
        return RestorationResult(255 - im.pixels, "test-negative", ModelRef("neg", "1"))

    return print_report_text(st, pid, restore=negative, max_image_width=PDF_IMAGE_PX)


def _image_lines(html: str):
    """(top, bottom) in document px of every line that holds an image, and the page height."""
    from PySide6.QtGui import QImage, QTextDocument

    from fpstation.gui.case import _page_layout

    probe = QImage(10, 10, QImage.Format.Format_RGB32)
    dpm = int(round(150 / 0.0254))
    probe.setDotsPerMeterX(dpm)
    probe.setDotsPerMeterY(dpm)
    doc = QTextDocument()
    _w, h = _page_layout(doc, probe)
    doc.setHtml(html)
    lay = doc.documentLayout()
    spans = []
    b = doc.begin()
    while b.isValid():
        has_image = any(it.fragment().charFormat().isImageFormat() for it in _fragments(b))
        if has_image:
            r = lay.blockBoundingRect(b)
            tl = b.layout()
            for i in range(tl.lineCount()):
                ln = tl.lineAt(i)
                spans.append((r.top() + ln.y(), r.top() + ln.y() + ln.height()))
        b = b.next()
    return spans, h, doc.pageCount()


def _fragments(block):
    it = block.begin()
    while not it.atEnd():
        yield it
        it += 1


@pytest.mark.parametrize("big", [False, True])
def test_pdf_pages_keep_images_whole_side_by_side_with_a_scale(qapp, tmp_path, big):
    from fpstation.gui.case import report_pages

    st, pid = _case(tmp_path, big)
    html = _html(st, pid)
    assert html.count("alt='scale bar'") == 2
    assert "5 mm" in html
    assert "41.0000" not in html
    assert "<b>41</b>" in html
    assert "outside: outside" not in html
    assert "Print quality (NFIQ 2)" in html
    spans, page_h, n = _image_lines(html)
    assert spans
    assert n >= 2
    for top, bottom in spans:
        assert int(top // page_h) == int((bottom - 1) // page_h), (top, bottom, page_h)
    pages = report_pages(html)
    assert len(pages) == n
    shots = _shots(tmp_path)
    if big:
        for i, img in enumerate(pages):
            img.save(str(shots / f"report_page_{i + 1}.png"))
    st.close()


def test_saving_as_pdf_writes_only_the_pdf(qapp, tmp_path):
    from fpstation.gui.case import html_to_pdf

    st, pid = _case(tmp_path)
    out = tmp_path / "out" / "r.pdf"
    out.parent.mkdir()
    html_to_pdf(_html(st, pid), str(out))
    assert out.read_bytes()[:5] == b"%PDF-"
    assert [p.name for p in out.parent.iterdir()] == ["r.pdf"]
    st.close()
