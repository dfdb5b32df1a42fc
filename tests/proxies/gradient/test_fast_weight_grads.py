"""The MatMul form of run-time-kernel Convs computes what onnxruntime's Conv computes."""
from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from onnxscore.proxies.gradient.fast_weight_grads import speed_up_weight_grads


def conv_model(xs, ws, bias, **attrs) -> onnx.ModelProto:
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, xs),
              helper.make_tensor_value_info("w", TensorProto.FLOAT, ws)]
    inits = [numpy_helper.from_array(bias, "b")] if bias is not None else []
    node = helper.make_node("Conv", ["x", "w"] + (["b"] if bias is not None else []), ["y"], **attrs)
    g = helper.make_graph([node], "c", inputs, [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 10
    return m


CASES = [  # (x shape, w shape, attrs): weight-gradient shapes, a kernel larger than the output
    ((16, 8, 12, 12), (4, 8, 12, 12), dict(pads=[1, 1, 1, 1])),
    ((3, 6, 11, 10), (4, 3, 5, 4), dict(group=2, strides=[2, 1], dilations=[2, 2], pads=[1, 0, 2, 1])),
    ((2, 4, 9), (6, 2, 7), dict(group=2, dilations=[1], pads=[1, 2])),
]


@pytest.mark.parametrize("xs,ws,attrs", CASES)
@pytest.mark.parametrize("with_bias", [False, True])
def test_rewrite_matches_conv(xs, ws, attrs, with_bias):
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal(xs).astype(np.float32), rng.standard_normal(ws).astype(np.float32)
    bias = rng.standard_normal(ws[0]).astype(np.float32) if with_bias else None
    ref_model, model = conv_model(xs, ws, bias, **attrs), conv_model(xs, ws, bias, **attrs)
    assert speed_up_weight_grads(model) == 1
    assert "Conv" not in {n.op_type for n in model.graph.node}
    run = lambda m: ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(  # noqa: E731
        None, {"x": x, "w": w})[0]
    ref, got = run(ref_model), run(model)
    assert got.shape == ref.shape and np.abs(got - ref).max() <= 1e-5 * np.abs(ref).max()


def test_ordinary_convs_are_left_alone():
    m = conv_model((2, 3, 8, 8), (4, 3, 3, 3), None, pads=[1, 1, 1, 1])
    assert speed_up_weight_grads(m) == 0
