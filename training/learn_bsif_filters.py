"""Learn the BSIF filters of pad-livdet's texture codes (docs/adr/0274) by ICA on natural-image patches.

    python training/learn_bsif_filters.py --images ../shared/data/orl_faces --out resources/bsif_ica_13x13_8.npz

BSIF (Kannala & Rahtu 2012) binarises the responses to filters learned by independent component
analysis from natural images, never from the data they will describe; Ghiani et al. (2013) found
it among the best single descriptors for fingerprint liveness. No natural-image set ships with
this project's stack, so the filters are learned from face photographs (ORL, 320 images): natural
images whose ICA components are the same localised, oriented edge and bar detectors. The
fingerprints are not used, so the filters cannot leak anything of the LivDet subjects into the
cross-validation.

Recipe: 50 000 random 13×13 patches (seed 0), each patch's mean removed; PCA whitening to the 8
leading components; symmetric FastICA with g = tanh (numpy, below); filters = unmixing × whitening,
each made zero-sum (so a flat region answers 0 whatever its grey level). 13 px at 1000 dpi is about
the 7 px of Ghiani et al. at 500 dpi.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent


def fast_ica(z: np.ndarray, seed: int = 0, max_iter: int = 500, tol: float = 1e-7) -> np.ndarray:
    """Symmetric FastICA (Hyvärinen 1999) on whitened data ``z`` (n_components, n_samples), g = tanh:
    the (n, n) unmixing matrix, rows in a fixed order (by decreasing kurtosis of the sources)."""
    rng = np.random.default_rng(seed)
    n = z.shape[0]
    w = np.linalg.qr(rng.normal(size=(n, n)))[0]
    for _ in range(max_iter):
        y = w @ z
        g, dg = np.tanh(y), 1 - np.tanh(y) ** 2
        w_new = (g @ z.T) / z.shape[1] - np.diag(dg.mean(axis=1)) @ w
        u, _, vt = np.linalg.svd(w_new)
        w_new = u @ vt                               # symmetric decorrelation: (W W^T)^(-1/2) W
        if np.max(np.abs(np.abs(np.sum(w_new * w, axis=1)) - 1)) < tol:
            w = w_new
            break
        w = w_new
    y = w @ z
    kurt = (y ** 4).mean(axis=1) - 3
    return w[np.argsort(-kurt)]


def learn_filters(images: list[np.ndarray], size: int = 13, n: int = 8, patches: int = 50_000,
                  seed: int = 0) -> np.ndarray:
    """(n, size, size) zero-sum BSIF filters from ``images`` (uint8 grey)."""
    rng = np.random.default_rng(seed)
    rows = []
    per = int(np.ceil(patches / len(images)))
    for im in images:
        h, w = im.shape
        ys, xs = rng.integers(0, h - size + 1, per), rng.integers(0, w - size + 1, per)
        rows.extend(im[y:y + size, x:x + size].astype(np.float64).ravel() for y, x in zip(ys, xs, strict=True))
    x = np.stack(rows[:patches]).T                   # (size*size, N)
    x -= x.mean(axis=0, keepdims=True)               # each patch's mean (DC) removed
    vals, vecs = np.linalg.eigh(np.cov(x))
    order = np.argsort(vals)[::-1][:n]
    v = (vecs[:, order] / np.sqrt(vals[order])).T     # whitening (n, size*size)
    w = fast_ica(v @ x, seed)
    f = (w @ v).reshape(n, size, size)
    f -= f.mean(axis=(1, 2), keepdims=True)
    f /= np.abs(f).sum(axis=(1, 2), keepdims=True)   # scale does not change the signs; keeps numbers tidy
    return f.astype(np.float32)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", default=str(REPO.parent / "shared" / "data" / "orl_faces"))
    p.add_argument("--out", default=str(REPO / "resources" / "bsif_ica_13x13_8.npz"))
    args = p.parse_args()
    import cv2

    files = sorted(Path(args.images).rglob("*.pgm"))
    if not files:
        print(f"no .pgm images under {args.images}", file=sys.stderr)
        return 2
    images = [cv2.imread(str(f), cv2.IMREAD_GRAYSCALE) for f in files]
    f = learn_filters(images)
    info = {"recipe": "training/learn_bsif_filters.py: 50 000 random 13x13 patches (seed 0), patch means removed, "
                      "PCA whitening to 8 components, symmetric FastICA (tanh), zero-sum filters",
            "images": f"{len(files)} ORL face photographs (natural images; no fingerprint)",
            "command": "python training/learn_bsif_filters.py"}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "wb") as fh:
        np.savez(fh, filters=f, info=np.array(json.dumps(info)))
    print(f"{f.shape} filters -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
