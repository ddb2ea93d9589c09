"""Same answers on onnxruntime as on the Keras weights, on the developer evaluation data (issue #23).

For every shipped Keras model that analysis now runs from its ONNX export:

* ``pad-socofing``: SOCOFing prints (the first ``--n`` Real prints and ``--n`` Altered prints, a
  third each of Easy/Medium/Hard, sorted by name). Calibrated attack scores: max |ONNX − Keras|,
  and whether the verdicts (the card's threshold, band 0.1) are identical;
* ``face-mobilenet``: ORL faces (the first ``--faces`` images of each person) detected and aligned
  as in identification. Embeddings: max |ONNX − Keras|, and whether each face's nearest other face
  (cosine) is the same;
* ``restore-unet`` and ``restore-autoencoder``: the first print of each FVC set. Restored pixels
  (uint8): max |ONNX − TensorFlow| and the share of pixels that differ.

Writes ``bench/results/onnx_equivalence.json`` with the load average. Needs TensorFlow (the train
extra) and ../shared/data.

    OMP_NUM_THREADS=1 python bench/onnx_equivalence.py [--n 600] [--faces 4]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DATA = Path(os.environ.get("FPSTATION_DATA", ROOT.parent / "shared" / "data"))


def _registry():
    from fpstation import paths
    from fpstation.ml.registry import Registry

    return Registry(shipped_dir=paths.models_dir(), user_dir=ROOT / "no-user-models")


def pad(reg, n: int) -> dict:
    import keras

    from fpstation.core.imageio import read_print
    from fpstation.ml.classifiers import pad_scores, pad_verdict, prepare

    real = sorted((DATA / "socofing" / "Real").glob("*.BMP"))[:n]
    altered = [p for lvl in ("Easy", "Medium", "Hard")
               for p in sorted((DATA / "socofing" / "Altered" / f"Altered-{lvl}").glob("*.BMP"))[:n // 3]]
    images = [read_print(p) for p in real + altered]
    t0 = time.perf_counter()
    onnx_s, loaded = pad_scores(images, "pad-socofing", reg)
    t_onnx = time.perf_counter() - t0
    card = loaded.card
    model = keras.models.load_model(card.file, compile=False, safe_mode=False)
    x = np.concatenate([prepare(im, card) for im in images])
    t0 = time.perf_counter()
    z = np.concatenate([np.asarray(model(x[i:i + 256], training=False)).reshape(-1) for i in range(0, len(x), 256)])
    t_keras = time.perf_counter() - t0
    keras_s = 1 / (1 + np.exp(-card.calibrate(z)))
    v_onnx = [pad_verdict(s, card.threshold) for s in onnx_s]
    v_keras = [pad_verdict(s, card.threshold) for s in keras_s]
    return {"prints": len(images), "real": len(real), "altered": len(altered),
            "max_abs_score_diff": float(np.abs(onnx_s - keras_s).max()),
            "verdicts_identical": v_onnx == v_keras,
            "verdicts_differing": int(sum(a != b for a, b in zip(v_onnx, v_keras, strict=True))),
            "verdict_counts_onnx": {v: v_onnx.count(v) for v in sorted(set(v_onnx))},
            "seconds_onnx_all": round(t_onnx, 3), "seconds_keras_network_only": round(t_keras, 3)}


def face(reg, per_person: int) -> dict:
    import keras

    from fpstation.core.imageio import read_print
    from fpstation.ml.face.detect import align
    from fpstation.ml.face.embed import chips_to_input, get_embedder, l2n

    emb = get_embedder("face-mobilenet", reg)
    chips, people = [], []
    for person in sorted((DATA / "orl_faces").glob("s*"), key=lambda p: int(p.name[1:])):
        for f in sorted(person.glob("*.pgm"), key=lambda p: int(p.stem))[:per_person]:
            chips.append(align(read_print(f).pixels).chip)
            people.append(person.name)
    chips = np.stack(chips)
    got = emb.embed_chips(chips)
    model = keras.models.load_model(emb.card.file, compile=False, safe_mode=False)
    sub = keras.Model(model.inputs[0], model.get_layer("embedding").output)
    ref = l2n(np.asarray(sub(chips_to_input(chips, emb.size), training=False)))

    def nearest(e):
        s = e @ e.T
        np.fill_diagonal(s, -np.inf)
        return s.argmax(axis=1)

    return {"faces": len(chips), "people": len(set(people)), "runtime": type(emb).__name__,
            "max_abs_embedding_diff": float(np.abs(got - ref).max()),
            "nearest_face_identical": bool((nearest(got) == nearest(ref)).all())}


def restorers(reg) -> dict:
    from fpstation.core.imageio import read_print
    from fpstation.ml.restoration import clear_cache, restore_with_model

    prints = [sorted((DATA / d / "images").glob("*.png"))[0] for d in sorted(os.listdir(DATA))
              if d.startswith("fvc") and (DATA / d / "images").is_dir()]
    out = {}
    for key in ("restore-unet", "restore-autoencoder"):
        worst, differing, total = 0, 0, 0
        for p in prints:
            im = read_print(p)
            clear_cache()
            a = restore_with_model(im, key, registry=reg, runtime="onnx")
            b = restore_with_model(im, key, registry=reg, runtime="tf")
            d = np.abs(a.pixels.astype(np.int16) - b.pixels.astype(np.int16))
            worst = max(worst, int(d.max()))
            differing += int((d > 0).sum())
            total += d.size
        out[key] = {"prints": [p.parent.parent.name + "/" + p.name for p in prints],
                    "max_abs_pixel_diff": worst, "share_of_pixels_differing": differing / total}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=600, help="SOCOFing Real prints (and as many Altered)")
    ap.add_argument("--faces", type=int, default=4, help="ORL images per person")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "onnx_equivalence.json")
    args = ap.parse_args(argv)
    reg = _registry()
    res = {"benchmark": "onnx_equivalence",
           "command": "python bench/onnx_equivalence.py " + " ".join(argv if argv is not None else sys.argv[1:]),
           "measured": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
           "load_average_before": [round(v, 2) for v in os.getloadavg()]}
    res["pad-socofing"] = pad(reg, args.n)
    res["face-mobilenet"] = face(reg, args.faces)
    res.update(restorers(reg))
    res["load_average_after"] = [round(v, 2) for v in os.getloadavg()]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=2) + "\n")
    print(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
