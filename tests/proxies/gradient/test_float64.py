"""The float64 rewrite synflow runs on: Conv (groups, strides, dilations, asymmetric pads, bias),
AveragePool and GlobalAveragePool as double-capable ops, exact against float64 references."""
from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from onnxscore.proxies.gradient import gradient_scores
from onnxscore.proxies.gradient.float64 import cast_to_double, rewrite_for_double

RNG = np.random.default_rng(3)
P = {"w1": RNG.standard_normal((6, 2, 3, 3)), "b1": RNG.standard_normal(6), "w2": RNG.standard_normal((4, 6, 2, 2)),
     "fc": RNG.standard_normal((5, 4)), "fcb": RNG.standard_normal(5)}


def model() -> onnx.ModelProto:
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], group=2, strides=[2, 1], dilations=[1, 2],
                         pads=[1, 2, 0, 1]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("AveragePool", ["r1"], ["p1"], kernel_shape=[3, 3], pads=[1, 1, 1, 1], count_include_pad=0),
        helper.make_node("AveragePool", ["p1"], ["p2"], kernel_shape=[2, 2], strides=[2, 2], pads=[0, 1, 1, 0],
                         count_include_pad=1),
        helper.make_node("Conv", ["p2", "w2"], ["c2"], auto_pad="SAME_UPPER"),
        helper.make_node("GlobalAveragePool", ["c2"], ["g"]),
        helper.make_node("Flatten", ["g"], ["f"]),
        helper.make_node("Gemm", ["f", "fc", "fcb"], ["logits"], transB=1),
    ]
    g = helper.make_graph(nodes, "f64", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 4, 9, 8])],
                          [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [2, 5])],
                          [numpy_helper.from_array(v.astype(np.float32), k) for k, v in P.items()])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 10
    return m


def run(m, x):
    s = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    return s.run(None, {"x": x})[0]


def test_rewrite_is_the_same_function_in_double():
    x = RNG.standard_normal((2, 4, 9, 8))
    ref = run(model(), x.astype(np.float32))
    m = model()
    cast_to_double(m)
    rewrite_for_double(m)
    assert not {"Conv", "AveragePool", "GlobalAveragePool"} & {n.op_type for n in m.graph.node}
    got = run(m, x)
    assert got.dtype == np.float64 and np.abs(got - ref).max() <= 1e-5 * np.abs(ref).max()


def test_synflow_matches_pytorch_float64():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    t = {k: torch.from_numpy(np.abs(v.astype(np.float32)).astype(np.float64)).requires_grad_(k in ("w1", "w2", "fc"))
         for k, v in P.items()}
    h = F.conv2d(F.pad(torch.ones(1, 4, 9, 8, dtype=torch.float64), [2, 1, 1, 0]), t["w1"], t["b1"],
                 stride=(2, 1), dilation=(1, 2), groups=2)
    h = F.avg_pool2d(F.relu(h), 3, 1, 1, count_include_pad=False)
    h = F.avg_pool2d(F.pad(h, [1, 0, 0, 1]), 2, 2)  # count_include_pad=1: the padding counts
    h = F.conv2d(F.pad(h, [0, 1, 0, 1]), t["w2"])
    r = F.linear(h.mean((2, 3)), t["fc"], t["fcb"]).sum()
    ws = [t["w1"], t["w2"], t["fc"]]
    gs = torch.autograd.grad(r, ws)
    s = sum((w * g).abs().sum().item() for w, g in zip(ws, gs))
    got = gradient_scores(model(), np.zeros((2, 4, 9, 8), np.float32), None, ["synflow"])["synflow"]
    assert got.reason is None and got.value == pytest.approx(np.log(s), rel=1e-12)
