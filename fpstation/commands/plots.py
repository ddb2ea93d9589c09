"""Small grey PNG plots (ROC / DET-style curves, confusion matrices, histograms) drawn with OpenCV.

matplotlib is not a dependency: these are drawn on a numpy canvas with ``cv2`` line/text
primitives and saved through :func:`fpstation.core.imageio.write_image` (the only file writer).
Grey only (core/imageio writes grey images): curves are told apart by line style.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

W, H = 520, 460
ML, MR, MT, MB = 70, 20, 40, 60  # margins


def _canvas() -> np.ndarray:
    return np.full((H, W), 255, np.uint8)


def _text(img: np.ndarray, s: str, org: tuple[int, int], scale: float = 0.45, thick: int = 1) -> None:
    import cv2

    cv2.putText(img, s, org, cv2.FONT_HERSHEY_SIMPLEX, scale, 0, thick, cv2.LINE_AA)


def _axes(img: np.ndarray, title: str, xlabel: str, ylabel: str, ticks: Sequence[float] = (0, .25, .5, .75, 1),
          fmt: str = "{:.2f}", labels: Sequence[str] | None = None) -> None:
    import cv2

    x0, y0, x1, y1 = ML, H - MB, W - MR, MT
    cv2.rectangle(img, (x0, y1), (x1, y0), 0, 1)
    for k, t in enumerate(ticks):
        lab = labels[k] if labels else fmt.format(t)
        xx = int(x0 + t * (x1 - x0))
        yy = int(y0 - t * (y0 - y1))
        cv2.line(img, (xx, y0), (xx, y0 + 5), 0, 1)
        cv2.line(img, (x0 - 5, yy), (x0, yy), 0, 1)
        cv2.line(img, (xx, y1), (xx, y0), 225, 1)
        cv2.line(img, (x0, yy), (x1, yy), 225, 1)
        _text(img, lab, (xx - 14, y0 + 20), 0.4)
        _text(img, lab, (8, yy + 4), 0.4)
    _text(img, title, (ML, 25), 0.55, 1)
    _text(img, xlabel, (ML + 120, H - 15), 0.5)
    # vertical label written horizontally above the axis (cv2 has no rotated text)
    _text(img, ylabel, (8, MT - 8), 0.45)


def _xy(x: float, y: float) -> tuple[int, int]:
    return (int(ML + x * (W - ML - MR)), int(H - MB - y * (H - MB - MT)))


def _polyline(img: np.ndarray, xs: Sequence[float], ys: Sequence[float], dashed: bool = False, thick: int = 2) -> None:
    import cv2

    pts = [_xy(float(x), float(y)) for x, y in zip(xs, ys, strict=True)]
    for i in range(len(pts) - 1):
        if dashed and i % 2:
            continue
        cv2.line(img, pts[i], pts[i + 1], 0, thick, cv2.LINE_AA)


LOG_FLOOR = 1e-3  # DET axes run from 0.1 % to 100 %


def _log01(v: Sequence[float] | float) -> np.ndarray:
    """Map rates in [LOG_FLOOR, 1] to [0, 1] on a log scale (values below the floor sit at 0)."""
    a = np.clip(np.asarray(v, np.float64), LOG_FLOOR, 1.0)
    return (np.log10(a) - np.log10(LOG_FLOOR)) / -np.log10(LOG_FLOOR)


def roc_plot(path: str | Path, curves: dict[str, tuple[Sequence[float], Sequence[float]]], title: str,
             xlabel: str = "false positive rate", ylabel: str = "true positive rate",
             point: tuple[float, float, str] | None = None, log_axes: bool = False) -> Path:
    """ROC curves ``{legend: (x, y)}``; ``point`` = (x, y, label) marks an operating point.

    ``log_axes``: DET-style plot of two error rates on log axes (0.1 % … 100 %), no diagonal.
    """
    import cv2

    from fpstation.core.imageio import write_image

    img = _canvas()
    if log_axes:
        _axes(img, title, xlabel, ylabel, ticks=(0, 1 / 3, 2 / 3, 1), labels=("0.1%", "1%", "10%", "100%"))
        fx = fy = _log01
    else:
        _axes(img, title, xlabel, ylabel)
        _polyline(img, [0, 1], [0, 1], dashed=True, thick=1)
        fx = fy = lambda v: np.asarray(v, np.float64)  # noqa: E731
    for i, (name, (xs, ys)) in enumerate(curves.items()):
        order = np.argsort(np.asarray(xs), kind="stable")
        _polyline(img, fx(np.asarray(xs)[order]), fy(np.asarray(ys)[order]), dashed=bool(i % 2))
        _text(img, ("-- " if i % 2 else "__ ") + name, (ML + 170, MT + 20 + 18 * i) if log_axes
              else (ML + 170, H - MB - 20 - 18 * i), 0.45)
    if point is not None:
        px, py = _xy(float(fx(point[0])), float(fy(point[1])))
        cv2.circle(img, (px, py), 6, 0, 2)
        _text(img, point[2], (px + 8, py - 8), 0.4)
    return write_image(path, img)


def confusion_plot(path: str | Path, matrix: Sequence[Sequence[int]], labels: Sequence[str], title: str) -> Path:
    """Confusion matrix (rows = truth, columns = prediction), cells shaded by row share."""
    import cv2

    from fpstation.core.imageio import write_image

    m = np.asarray(matrix, np.float64)
    k = m.shape[0]
    img = _canvas()
    _text(img, title, (ML, 25), 0.55)
    x0, y0 = 140, 80
    cell = min((W - x0 - 20) // k, (H - y0 - 60) // k)
    rows = m.sum(1, keepdims=True)
    share = np.divide(m, rows, out=np.zeros_like(m), where=rows > 0)
    for i in range(k):
        _text(img, f"true {labels[i]}", (10, y0 + i * cell + cell // 2), 0.45)
        _text(img, f"pred {labels[i]}", (x0 + i * cell + 10, y0 - 10), 0.45)
        for j in range(k):
            shade = int(255 - 150 * share[i, j])
            cv2.rectangle(img, (x0 + j * cell, y0 + i * cell), (x0 + (j + 1) * cell, y0 + (i + 1) * cell), shade, -1)
            cv2.rectangle(img, (x0 + j * cell, y0 + i * cell), (x0 + (j + 1) * cell, y0 + (i + 1) * cell), 0, 1)
            _text(img, f"{int(m[i, j])}", (x0 + j * cell + cell // 3, y0 + i * cell + cell // 2), 0.7, 2)
            _text(img, f"{share[i, j] * 100:.1f}%", (x0 + j * cell + cell // 3, y0 + i * cell + cell // 2 + 24), 0.45)
    return write_image(path, img)


def histogram_plot(path: str | Path, bins: Sequence[float], series: dict[str, Sequence[int]], title: str,
                   threshold: float | None = None) -> Path:
    """Score histograms (normalised per series) with an optional threshold line."""
    import cv2

    from fpstation.core.imageio import write_image

    img = _canvas()
    _axes(img, title, "score", "share of class")
    b = np.asarray(bins, np.float64)
    centers = (b[:-1] + b[1:]) / 2
    for i, (name, counts) in enumerate(series.items()):
        c = np.asarray(counts, np.float64)
        c = c / c.sum() if c.sum() else c
        _polyline(img, centers, np.clip(c / max(c.max(), 1e-9), 0, 1), dashed=bool(i % 2))
        _text(img, ("-- " if i % 2 else "__ ") + name, (ML + 170, MT + 20 + 18 * i), 0.45)
    if threshold is not None:
        cv2.line(img, _xy(threshold, 0), _xy(threshold, 1), 80, 1)
        _text(img, f"threshold {threshold:.3f}", (_xy(threshold, 1)[0] + 4, MT + 70), 0.4)
    return write_image(path, img)


def cmc_plot(path: str | Path, curves: dict[str, Sequence[float]], title: str) -> Path:
    """Cumulative match characteristic: identification rate (y) at rank 1 … k (x, labelled by rank)."""
    import cv2

    from fpstation.core.imageio import write_image

    img = _canvas()
    _axes(img, title, "rank", "identification rate")
    cv2.rectangle(img, (0, H - MB + 6), (W - 1, H - MB + 26), 255, -1)  # rank labels replace the 0–1 ticks
    k = max((len(c) for c in curves.values()), default=1)
    step = max(1, (k + 9) // 10)
    for r in range(1, k + 1, step):
        x = (r - 1) / max(k - 1, 1)
        _text(img, str(r), (_xy(x, 0)[0] - 4, H - MB + 20), 0.4)
    for i, (name, ys) in enumerate(curves.items()):
        xs = [(r - 1) / max(len(ys) - 1, 1) for r in range(1, len(ys) + 1)]
        _polyline(img, xs, ys, dashed=bool(i % 2))
        _text(img, ("-- " if i % 2 else "__ ") + name, (ML + 170, H - MB - 20 - 18 * i), 0.45)
    return write_image(path, img)
