"""vmap over one graph input: one run of the batched graph equals one run of the original per slice,
for every batching rule; a node without a rule is refused by name."""
from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from onnxscore.graph.vmap import VmapError, vmap_input

RNG = np.random.default_rng(0)


def randn(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def node(op, ins, outs, **kw):
    return helper.make_node(op, ins, outs, name=outs[0], **kw)


def model(nodes, inputs, consts, outputs):
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info(k, TensorProto.FLOAT, v) for k, v in inputs],
                          [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outputs],
                          initializer=[numpy_helper.from_array(v, k) for k, v in consts.items()])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 18)])
    m.ir_version = 9
    return m


def run(m, feeds, outputs):
    so = ort.SessionOptions()
    so.log_severity_level = 3
    return ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"]).run(outputs, feeds)


CONSTS = {
    "x": randn(2, 4, 5, 5),          # an unbatched activation
    "w": randn(6, 4, 3, 3),          # a Conv weight
    "fc": randn(3, 6),               # a Gemm weight (transB)
    "mask": (randn(2, 6, 5, 5) > 0).astype(np.float32),
    "shape": np.array([2, 150], np.int64),
    "starts": np.array([1], np.int64), "ends": np.array([4], np.int64), "axes": np.array([1], np.int64),
    "pads": np.array([0, 1, 0, 0, 0, 2, 0, 0], np.int64),
    "raxes": np.array([2, 3], np.int64),
    "eshape": np.array([2, 6, 5, 5], np.int64),
}
NODES = [
    node("Conv", ["s", "w"], ["c"], pads=[1, 1, 1, 1]),                    # batched data
    node("Mul", ["c", "mask"], ["cm"]),                                     # broadcast against unbatched
    node("Relu", ["cm"], ["r"]),
    node("ReduceSum", ["r", "raxes"], ["pooled"], keepdims=0),              # [2, 6]
    node("Gemm", ["pooled", "fc"], ["logits"], transB=1),                   # [2, 3]
    node("Softmax", ["logits"], ["sm"], axis=1),
    node("Transpose", ["r"], ["rt"], perm=[1, 0, 2, 3]),                     # [6, 2, 5, 5]
    node("Transpose", ["x"], ["xt"], perm=[1, 0, 2, 3]),                     # [4, 2, 5, 5], unbatched
    node("Conv", ["xt", "rt"], ["wg"], pads=[1, 1, 1, 1]),                  # batched kernel: a weight gradient
    node("Conv", ["s", "w2"], ["cg"], pads=[1, 1, 1, 1], group=2),          # grouped, batched data
    node("Reshape", ["cg", "shape"], ["flat"]),
    node("Slice", ["flat", "starts", "ends", "axes"], ["sl"]),
    node("Pad", ["cg", "pads"], ["pd"]),
    node("Concat", ["cg", "x"], ["cat"], axis=1),                           # unbatched partner tiled
    node("ReduceMean", ["s"], ["m0"], keepdims=1),                          # all axes
    node("Expand", ["m0", "eshape"], ["ex"]),
    node("Shape", ["s"], ["shp"]),
    node("ConstantOfShape", ["shp"], ["zeros"]),
    node("Add", ["zeros", "s"], ["zs"]),
]
CONSTS["w2"] = randn(6, 2, 3, 3)
OUTPUTS = ["sm", "wg", "sl", "pd", "cat", "ex", "zs"]


def test_one_batched_run_equals_a_run_per_slice():
    m = model(NODES, [("s", [2, 4, 5, 5])], CONSTS, OUTPUTS)
    stack = randn(3, 2, 4, 5, 5)
    batched = run(vmap_input(m, "s"), {"s": stack}, OUTPUTS)
    for k in range(3):
        for name, got, want in zip(OUTPUTS, batched, run(m, {"s": stack[k]}, OUTPUTS)):
            assert got.shape[1:] == want.shape, name
            np.testing.assert_allclose(got[k], want, rtol=1e-5, atol=1e-5, err_msg=name)


def test_a_node_without_a_batching_rule_is_named():
    m = model([node("NonZero", ["s"], ["nz"])], [("s", [2, 3])], {}, ["nz"])
    with pytest.raises(VmapError, match="NonZero.*'nz'"):
        vmap_input(m, "s")
