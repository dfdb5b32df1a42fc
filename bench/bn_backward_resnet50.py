"""BN's gradient in closed form against op by op, on the ResNet-50-shaped net: per-tensor gradients and
Hessian-vector products (GraSP's H g) of the first twelve conv weights, and their dot with the weights.

    python samples/make_resnet50.py && python bench/bn_backward_resnet50.py --batch-size 2

Each form runs in its own process (the op-by-op one with graph/autodiff/standardize.py switched off);
prints the largest per-tensor relative difference and both dots. GraSP sums such dots over every weight,
with both signs, so its value moves more than these do."""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def child(model_path: str, b: int, form: str, out: str) -> None:
    import numpy as np
    import onnx
    import onnxruntime as ort
    from onnx import helper, numpy_helper

    sys.path.insert(0, str(ROOT))
    from onnxscore.graph.autodiff import add_cross_entropy, append_backward, standardize
    from onnxscore.graph.batchnorm import use_batch_statistics
    if form == "op-by-op":
        standardize.find = lambda em, nodes: {}
    m = onnx.load(model_path)
    m.graph.input[0].type.tensor_type.shape.dim[0].dim_value = b
    m = onnx.shape_inference.infer_shapes(m)
    use_batch_statistics(m)
    loss = add_cross_entropy(m, m.graph.output[0].name)
    weights = [t.name for t in m.graph.initializer if t.name.endswith(("conv1.weight", "conv2.weight"))][:12]
    g = append_backward(m, loss, weights)
    terms = []
    for w in weights:  # sq = sum_w <g_w, g_w>; d sq / dW = 2 H g
        m.graph.node.extend([helper.make_node("Mul", [g[w], g[w]], [f"{w}_gg"]),
                             helper.make_node("ReduceSum", [f"{w}_gg"], [f"{w}_ggs"], keepdims=0)])
        terms.append(f"{w}_ggs")
    m.graph.node.append(helper.make_node("Sum", terms, ["sq"]))
    h = append_backward(m, "sq", weights)
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    s = ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    x = rng.standard_normal((b, 3, 224, 224)).astype(np.float32)
    y = rng.integers(0, 1000, b).astype(np.int64)
    got = s.run([g[w] for w in weights] + [h[w] for w in weights],
                {i.name: (x if "float" in i.type else y) for i in s.get_inputs()})
    np.savez(out, *got, *[numpy_helper.to_array(t) for w in weights for t in m.graph.initializer if t.name == w])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=str(ROOT / "samples" / "resnet50.onnx"))
    ap.add_argument("--batch-size", type=int, default=2)
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        child(a.model, a.batch_size, *a.child)
        return
    import tempfile

    import numpy as np
    arrays = {}
    with tempfile.TemporaryDirectory() as d:
        for form in ("closed", "op-by-op"):
            out = str(Path(d) / f"{form}.npz")
            subprocess.run([sys.executable, __file__, "--model", a.model, "--batch-size", str(a.batch_size),
                            "--child", form, out], check=True)
            z = np.load(out)
            arrays[form] = [z[k].astype(np.float64) for k in z.files]
    k = len(arrays["closed"]) // 3
    rel = [float(np.abs(p - q).max() / np.abs(q).max()) for p, q in zip(arrays["closed"][:2 * k], arrays["op-by-op"])]
    dots = {f: -sum(float((w * hv).sum()) for w, hv in zip(v[2 * k:], v[k:2 * k])) for f, v in arrays.items()}
    print(json.dumps({"batch_size": a.batch_size, "tensors": k, "max_rel_gradient": max(rel[:k]),
                      "max_rel_hvp": max(rel[k:]), "dot_closed": dots["closed"], "dot_op_by_op": dots["op-by-op"]}))


if __name__ == "__main__":
    main()
