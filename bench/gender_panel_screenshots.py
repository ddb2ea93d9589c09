"""Screenshots of the gender dock in each state, with the shipped model on real prints ->
docs/screenshots/gender_*.png. Run under a display (CI/headless: ``xvfb-run -a``):

    xvfb-run -a .venv/bin/python bench/gender_panel_screenshots.py

States: a SOCOFing print the model leans on; one inside the uncertain band; an FVC2002 optical
print (outside the domain: no percentage); the combined estimate over a subject's ten fingers.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> int:
    import tempfile

    from PySide6.QtWidgets import QApplication

    from fpstation.core.imageio import read_print
    from fpstation.core.types import AnalysisResult
    from fpstation.gui.analysis_panel import GenderPanel
    from fpstation.ml.classifiers import gender_combined, gender_predict, load_classifier
    from fpstation.paths import shared_data_dir
    from fpstation.settings import Settings

    sd = shared_data_dir()
    if sd is None:
        raise SystemExit("../shared/data is absent")
    app = QApplication.instance() or QApplication(sys.argv)
    card = load_classifier("gender").card.data
    out = ROOT / "docs" / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    real = sorted((sd / "socofing" / "Real").glob("*.BMP"))
    settings = Settings.load(Path(tempfile.mkdtemp()) / "settings.json")

    def panel() -> GenderPanel:
        p = GenderPanel(settings)
        p.set_card(card)
        p.resize(440, 560)
        return p

    def shot(p: GenderPanel, name: str) -> None:
        p.show()
        app.processEvents()
        p.grab().save(str(out / f"gender_{name}.png"))
        print("wrote", out / f"gender_{name}.png")
        p.close()

    # a clear lean and an uncertain one among the first prints
    lean = unsure = None
    for path in real[:400]:
        im = read_print(path)
        g = gender_predict(im)
        if lean is None and g.in_domain and g.label == "female" and g.p_female > 0.8:
            lean = (im, g)
        if unsure is None and g.in_domain and g.label == "uncertain":
            unsure = (im, g)
        if lean and unsure:
            break
    for name, pair in (("lean", lean), ("uncertain", unsure)):
        if pair is None:
            print("no print found for", name)
            continue
        p = panel()
        p.show_result(AnalysisResult(image=pair[0], gender=pair[1]))
        shot(p, name)
    fvc = read_print(sorted((sd / "fvc2002-db1b" / "images").glob("*.png"))[0])
    p = panel()
    p.show_result(AnalysisResult(image=fvc, gender=gender_predict(fvc)))
    shot(p, "out_of_domain")
    # the combined estimate: the ten fingers of the subject of the lean print (or of the first subject)
    stem = (Path(lean[0].source).name if lean else real[0].name).split("__")[0]
    fingers = [read_print(q) for q in real if q.name.startswith(stem + "__")]
    p = panel()
    p.show_result(AnalysisResult(image=fingers[0], gender=gender_predict(fingers[0])))
    p.set_group(fingers, stem)
    p.show_combined(gender_combined(fingers))
    shot(p, "combined")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
