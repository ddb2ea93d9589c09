"""``fpstation selftest [--no-gui]``: prove that this installation (source tree or bundle) works.

Prints ``fpstation <version> running from <package folder>`` first (the bundle smoke test reads
that line to prove the code came from the bundle), then one ``OK``/``FAIL``/``SKIP`` line per
check with its time:

* the bundled sample prints load (through ``paths.samples_dir()``);
* a sample is written and read back in every supported format — PNG, BMP, TIFF 8- and 16-bit,
  JPEG, PGM, WSQ, and ANSI/NIST-ITL (Type-14 WSQ with two prints, Type-14 uncompressed, Type-4
  WSQ) — comparing pixels (exactly for lossless formats, mean absolute error for JPEG/WSQ),
  dpi and finger positions;
* bad input gives the typed errors (empty, truncated, text named .png);
* one sample is enhanced with the classical pyfing pipeline (SKIP without TensorFlow: pyfing runs
  Keras networks, so the classical restorer needs the ``train`` extra);
* every model in the registry loads (the sha256 of its weights and of its ONNX export checked) and
  runs once on a sample where an inference function exists for its task (on onnxruntime when its
  card lists an ONNX export: no TensorFlow);
* a sample goes through the analysis pipeline (restoration with the default restorer, or the
  classical one when no trained restorer is installed; PAD and gender when their models are);
* unless ``--no-gui``: the main window opens (offscreen when there is no display) and shows a sample.

Exit code 0 only when every check passed.
"""

from __future__ import annotations

import importlib.util
import inspect
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import numpy as np

#: mean-absolute-error limits (grey levels) for lossy round trips; measured on the samples:
#: JPEG q95 ≈ 0.6, WSQ 0.75 bpp ≈ 4.0 (see the selftest output)
JPEG_MAE_LIMIT = 2.0
WSQ_MAE_LIMIT = 8.0
GUI_TIMEOUT_S = 120


class _Skip(Exception):  # noqa: N818 - a check that does not apply here; not a failure
    pass


def add_parser(sub) -> None:
    p = sub.add_parser("selftest", help="check that this installation works (formats, enhancement, models, window)")
    p.add_argument("--no-gui", action="store_true", help="do not open the main window")
    p.set_defaults(func=run)


class _Runner:
    def __init__(self, debug: bool = False, out=None) -> None:
        self.debug = debug
        self.out = out or sys.stdout
        self.failed: list[str] = []
        self.count = 0

    def check(self, name: str, fn: Callable[[], str | None]) -> bool:
        self.count += 1
        t0 = time.perf_counter()
        status, detail = "OK", ""
        try:
            detail = fn() or ""
        except _Skip as exc:
            status, detail = "SKIP", str(exc)
        except Exception as exc:  # noqa: BLE001 - a failing check is reported, the others still run
            status = "FAIL"
            detail = getattr(exc, "user_message", None) or f"{type(exc).__name__}: {exc}"
            if self.debug:
                traceback.print_exc()
        ms = (time.perf_counter() - t0) * 1000
        print(f"{status:<4}  {name:<34} {ms:9.1f} ms  {detail}".rstrip(), file=self.out, flush=True)
        if status == "FAIL":
            self.failed.append(name)
        return status != "FAIL"


def _mae(a: np.ndarray, b: np.ndarray) -> float:
    if a.shape != b.shape:
        raise AssertionError(f"size changed: {b.shape[1]}x{b.shape[0]} → {a.shape[1]}x{a.shape[0]}")
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


def _expect(cond: bool, message: str) -> None:
    if not cond:
        raise AssertionError(message)


def _format_checks(r: _Runner, tmp: Path, samples: list) -> None:
    from fpstation.core.imageio import read_print, read_prints, write_image, write_nist

    base = samples[0].pixels
    other = samples[1 % len(samples)].pixels

    def image_case(name: str, fname: str, pixels: np.ndarray, dpi_in, dpi_out, mae_limit: float | None,
                   expect: np.ndarray | None = None) -> Callable[[], str]:
        def fn() -> str:
            path = write_image(tmp / fname, pixels, dpi=dpi_in)
            t0 = time.perf_counter()
            im = read_print(path)
            load_ms = (time.perf_counter() - t0) * 1000
            want = base if expect is None else expect
            err = _mae(im.pixels, want)
            if mae_limit is None:
                _expect(err == 0.0, f"pixels differ after the round trip (mean error {err:.3f})")
            else:
                _expect(err <= mae_limit, f"mean error {err:.2f} > {mae_limit}")
            _expect(im.dpi == dpi_out, f"dpi {im.dpi} read back, expected {dpi_out}")
            _expect(im.format == name.split()[0], f"format {im.format}")
            return (f"load {load_ms:.1f} ms, {im.width}x{im.height}, dpi {format(im.dpi, 'g') if im.dpi else 'unknown'}"
                    + (f", mean error {err:.2f}" if mae_limit is not None else ", identical"))
        return fn

    r.check("format PNG", image_case("PNG", "s.png", base, 500, 500.0, None))
    r.check("format BMP", image_case("BMP", "s.bmp", base, 500, 500.0, None))
    r.check("format TIFF 8-bit", image_case("TIFF", "s8.tif", base, 500, 500.0, None))
    r.check("format TIFF 16-bit", image_case("TIFF", "s16.tiff", base.astype(np.uint16) * 257, 500, 500.0, None))
    r.check("format JPEG", image_case("JPEG", "s.jpg", base, 500, 500.0, JPEG_MAE_LIMIT))
    r.check("format PGM (no dpi field)", image_case("PGM", "s.pgm", base, None, None, None))
    r.check("format WSQ", image_case("WSQ", "s.wsq", base, 500, 500.0, WSQ_MAE_LIMIT))

    def nist_case(fname: str, compression: str, record_type: int, limit: float | None) -> Callable[[], str]:
        def fn() -> str:
            prints = [(base, 500.0, 2), (other, 500.0, 7)]
            path = write_nist(tmp / fname, prints, compression=compression, record_type=record_type)
            t0 = time.perf_counter()
            got = read_prints(path)
            load_ms = (time.perf_counter() - t0) * 1000
            _expect(len(got) == 2, f"{len(got)} prints read back, expected 2")
            errs = []
            for im, (px, dpi, fgp) in zip(got, prints, strict=True):
                err = _mae(im.pixels, px)
                errs.append(err)
                _expect(err == 0.0 if limit is None else err <= limit, f"print {im.index}: mean error {err:.2f}")
                _expect(im.finger_position == fgp, f"finger position {im.finger_position}, expected {fgp}")
                _expect(im.dpi == dpi, f"dpi {im.dpi}, expected {dpi}")
                _expect(im.record == f"Type-{record_type}", im.record)
            return (f"load {load_ms:.1f} ms, 2 prints (fingers 2, 7), dpi 500"
                    + (", identical" if limit is None else f", mean error {max(errs):.2f}"))
        return fn

    r.check("format NIST Type-14 WSQ", nist_case("s14w.eft", "wsq", 14, WSQ_MAE_LIMIT))
    r.check("format NIST Type-14 uncompressed", nist_case("s14n.an2", "none", 14, None))
    r.check("format NIST Type-4 WSQ", nist_case("s4w.nist", "wsq", 4, WSQ_MAE_LIMIT))

    def bad_input() -> str:
        from fpstation.core.errors import EmptyFileError, TruncatedFileError, UnsupportedFormatError

        (tmp / "empty.png").write_bytes(b"")
        (tmp / "text.png").write_text("this is not an image\n", encoding="utf-8")
        whole = (tmp / "s.png").read_bytes()
        (tmp / "cut.png").write_bytes(whole[: len(whole) // 2])
        for fname, err in (("empty.png", EmptyFileError), ("text.png", UnsupportedFormatError),
                           ("cut.png", TruncatedFileError)):
            try:
                read_print(tmp / fname)
            except err:
                continue
            except Exception as exc:  # noqa: BLE001
                raise AssertionError(f"{fname}: {type(exc).__name__} instead of {err.__name__}") from exc
            raise AssertionError(f"{fname} was accepted")
        return "empty, text named .png, truncated PNG → clear errors"

    r.check("bad input rejected", bad_input)


def _enhance_check(r: _Runner, sample) -> None:
    def fn() -> str:
        from fpstation.ml.classical import enhance

        if importlib.util.find_spec("keras") is None or importlib.util.find_spec("tensorflow") is None:
            raise _Skip("pyfing's networks need TensorFlow, which is not installed here (the train extra)")
        res = enhance(sample)
        _expect(res.pixels.shape == sample.pixels.shape, f"output {res.pixels.shape} ≠ input {sample.pixels.shape}")
        _expect(res.pixels.dtype == np.uint8, str(res.pixels.dtype))
        _expect(not np.array_equal(res.pixels, sample.pixels), "output identical to the input")
        t = res.extras.get("timings", {})
        return (f"{res.extras.get('enhancer')} on {sample.label}: {res.seconds * 1000:.0f} ms "
                f"(of which loading pyfing {t.get('load', 0) * 1000:.0f} ms), "
                f"foreground {res.extras.get('foreground_fraction', 0):.0%}")
    r.check("enhance (classical pyfing)", fn)


def _run_model(card, image) -> str:
    """Run the task's inference function once with this card's model; '' if none exists."""
    if card.task == "pad":
        from fpstation.ml.classifiers import pad_predict

        res = pad_predict(image, model_key=card.key)
        return f"PAD on sample: {res.verdict} (attack score {res.attack_score:.3f})"
    if card.task == "gender":
        from fpstation.ml.classifiers import gender_predict

        res = gender_predict(image, model_key=card.key)
        return f"gender on sample: {res.label} (P(female) {res.p_female:.3f})"
    if card.task == "face":
        return _identify_sample_face(card)
    if card.task == "restoration":
        try:
            from fpstation.ml import restoration
        except ModuleNotFoundError as exc:
            if exc.name == "fpstation.ml.restoration":
                return ""
            raise
        fn = getattr(restoration, "restore_with_model", None)
        if fn is None:
            return ""
        params = inspect.signature(fn).parameters
        method = card.architecture or card.name
        res = fn(image, method, model_key=card.key) if "model_key" in params else fn(image, method)
        _expect(res.pixels.shape == image.pixels.shape, f"restored {res.pixels.shape} ≠ input {image.pixels.shape}")
        runtime = (res.extras or {}).get("runtime", "?")
        # a card with an ONNX export must run on onnxruntime: a bundle that lost onnxruntime would
        # otherwise fall back to TensorFlow silently, correct but slower (ADR 0090)
        _expect(card.onnx is None or runtime == "onnx",
                f"the card lists an ONNX export but the restorer ran on {runtime}")
        return f"restored sample ({res.method}, {runtime}) in {res.seconds * 1000:.0f} ms"
    return ""


def _identify_sample_face(card) -> str:
    """Enrol two bundled sample people (one image each) and identify another image of the first."""
    from fpstation import paths
    from fpstation.core.imageio import read_print
    from fpstation.ml.face.embed import get_embedder
    from fpstation.ml.face.gallery import Gallery
    from fpstation.ml.face.identify import identify

    d = paths.samples_dir() / "faces"
    emb = get_embedder(card.key)
    g = Gallery(card.key, np.stack([emb.embed(read_print(d / f"orl_{n}.png").pixels).vector
                                    for n in ("s1_1", "s2_1")]), ["s1", "s2"])
    res = identify(read_print(d / "orl_s1_2.png").pixels, g, emb)
    _expect(res.verdict == "s1", f"sample face identified as {res.verdict!r}, expected 's1'")
    return (f"sample face identified: {res.verdict} (similarity {res.candidates[0][1]:.3f}, threshold "
            f"{res.threshold}, box by {res.box.method}) in {res.seconds['total'] * 1000:.0f} ms")


def _model_checks(r: _Runner, sample) -> None:
    from fpstation.ml.registry import get_registry

    reg = get_registry()
    cards = reg.cards()
    if not cards:
        r.check("models", lambda: f"none installed (looked in {reg.shipped_dir} and {reg.user_dir})")
        return
    for card in cards:
        def fn(card=card) -> str:
            t0 = time.perf_counter()
            if card.onnx is not None and card.file.suffix == ".keras":
                reg.verify(card)  # the Keras weights against the card; inference runs the ONNX file:
                reg.onnx_file(card)  # verified too, and no TensorFlow is needed to load it
            else:
                reg.load(card.key)  # verifies the sha256 of the weights against the card
            load_ms = (time.perf_counter() - t0) * 1000
            ran = _run_model(card, sample)
            return (f"{card.display}, task {card.task}: loaded (sha256 ok) in {load_ms:.0f} ms; "
                    + (ran or "no inference function for this task yet"))
        r.check(f"model {card.key}", fn)


def _analysis_check(r: _Runner, sample, tmp: Path) -> None:
    """The per-print pipeline (as ``analyze``/batch/GUI run it) with every task that has a model."""
    def fn() -> str:
        from fpstation.core.pipeline import analyse
        from fpstation.ml.inference import default_analyzers
        from fpstation.ml.registry import get_registry
        from fpstation.settings import Settings

        reg = get_registry()
        settings = Settings.load(tmp / "analysis-settings.json")  # defaults, not the user's choices
        have = {task: bool(reg.cards(task)) for task in ("restoration", "pad", "gender")}
        if not have["restoration"]:
            settings.restorer = "classical"  # no trained restorer installed: the classical one still must work
        analyzers = default_analyzers(settings, restoration=True, pad_=have["pad"], gender_=have["gender"])
        res = analyse(sample, analyzers)
        if res.errors:
            raise AssertionError("; ".join(f"{k}: {v}" for k, v in res.errors.items()))
        parts = [f"restoration {res.restoration.method} {res.timings['restoration'] * 1000:.0f} ms"]
        if res.pad is not None:
            parts.append(f"PAD {res.pad.verdict} {res.pad.attack_score:.2f}")
        if res.gender is not None:
            parts.append(f"gender {res.gender.label} {res.gender.p_female:.2f}")
        parts += [f"no {t} model installed" for t in ("pad", "gender") if not have[t]]
        return ", ".join(parts)
    r.check("analyse sample (pipeline)", fn)


def _gui_check(r: _Runner, sample_path: Path, tmp: Path) -> None:
    def fn() -> str:
        if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        try:
            from fpstation.gui import main_window
        except ModuleNotFoundError as exc:
            if exc.name == "fpstation.gui.main_window":
                raise _Skip("main window not available in this version") from None
            raise
        from PySide6.QtCore import QEventLoop, QTimer
        from PySide6.QtWidgets import QApplication

        from fpstation.settings import Settings
        from fpstation.workers import Pools

        app = QApplication.instance() or QApplication(["fpstation-selftest"])
        settings = Settings.load(tmp / "gui-settings.json")  # never touches the user's settings
        pools = Pools(io_threads=2)
        win = main_window.MainWindow(settings, pools)
        shown: list = []
        loop = QEventLoop()
        win.printShown.connect(lambda im: (shown.append(im), loop.quit()))
        try:
            win.show()
            win.open_paths([str(sample_path)])
            QTimer.singleShot(GUI_TIMEOUT_S * 1000, loop.quit)
            if not shown:
                loop.exec()
            visible = win.isVisible()
        finally:
            pools.drain(30000)
            win.close()
            win.deleteLater()
            app.processEvents()
        _expect(visible, "the main window was not visible")
        _expect(bool(shown), f"the window did not show {sample_path.name} within {GUI_TIMEOUT_S} s")
        return f"main window ({app.platformName()}) showed {shown[0].label}"
    r.check("main window", fn)


def run(args) -> int:
    import fpstation
    from fpstation import __version__

    print(f"fpstation {__version__} running from {Path(fpstation.__file__).resolve().parent}", flush=True)
    r = _Runner(debug=bool(getattr(args, "debug", False)))
    samples: list = []
    sample_paths: list[Path] = []

    def load_samples() -> str:
        from fpstation.core.imageio import read_print
        from fpstation.core.samples import sample_files
        from fpstation.paths import samples_dir

        files = sample_files()
        _expect(len(files) > 0, f"no sample prints in {samples_dir()}")
        for f in files:
            im = read_print(f)
            samples.append(im)
            sample_paths.append(f)
        return f"{len(files)} prints from {samples_dir()}: " + ", ".join(
            f"{p.name} {im.width}x{im.height} {im.dpi:g} dpi" if im.dpi else f"{p.name} dpi unknown"
            for p, im in zip(sample_paths, samples, strict=True))

    ok = r.check("bundled samples", load_samples)
    with tempfile.TemporaryDirectory(prefix="fpstation-selftest-") as td:
        tmp = Path(td)
        if ok:
            _format_checks(r, tmp, samples)
            _enhance_check(r, samples[0])
            _model_checks(r, samples[0])
            _analysis_check(r, samples[0], tmp)
            if not args.no_gui:
                _gui_check(r, sample_paths[0], tmp)
    if r.failed:
        print(f"selftest FAILED: {len(r.failed)} of {r.count} checks ({', '.join(r.failed)})", flush=True)
        return 1
    print(f"selftest passed: {r.count} checks", flush=True)
    return 0
