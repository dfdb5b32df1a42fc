"""The activation-site table: which ops count, which tensor is binarised, merge detection."""
from __future__ import annotations

import numpy as np
from onnx import TensorProto, helper, numpy_helper

from onnxscore.graph.sites import find_sites
from onnxscore.graph.view import GraphView
from tests.models import make_model

X = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])


def _chain(nodes, inits=(), opset=17, out="y"):
    y = helper.make_tensor_value_info(out, TensorProto.FLOAT, ["N", 4])
    return GraphView(make_model(nodes, [X], [y], list(inits), opset))


def _scalar(v, name):
    return numpy_helper.from_array(np.array(v, dtype=np.float32), name)


def test_relu_clip0_leaky_prelu_are_sites_in_order():
    nodes = [
        helper.make_node("Relu", ["x"], ["a"]),
        helper.make_node("Clip", ["a", "zero", "six"], ["b"]),
        helper.make_node("LeakyRelu", ["b"], ["c"], alpha=0.1),
        helper.make_node("PRelu", ["c", "slope"], ["y"]),
    ]
    inits = [_scalar(0, "zero"), _scalar(6, "six"), numpy_helper.from_array(np.full(4, 0.2, np.float32), "slope")]
    sites = find_sites(_chain(nodes, inits))
    assert [s.op_type for s in sites] == ["Relu", "Clip", "LeakyRelu", "PRelu"]
    assert [s.tensor for s in sites] == ["a", "b", "c", "y"]  # outputs: same sign as the input


def test_clip_min_from_constant_node_and_old_opset_attribute():
    nodes = [helper.make_node("Constant", [], ["zero"], value=numpy_helper.from_array(np.array(0, np.float32))),
             helper.make_node("Clip", ["x", "zero"], ["y"])]
    assert len(find_sites(_chain(nodes))) == 1
    old = [helper.make_node("Clip", ["x"], ["y"], min=0.0, max=6.0)]
    assert len(find_sites(_chain(old, opset=10))) == 1


def test_clip_not_at_zero_is_not_a_site():
    nodes = [helper.make_node("Clip", ["x", "lo", "hi"], ["y"])]
    assert find_sites(_chain(nodes, [_scalar(-1, "lo"), _scalar(1, "hi")])) == []


def test_negative_slope_prelu_binarises_its_input():
    nodes = [helper.make_node("PRelu", ["x", "slope"], ["y"])]
    inits = [numpy_helper.from_array(np.full(4, -0.5, np.float32), "slope")]
    assert find_sites(_chain(nodes, inits))[0].tensor == "x"


def test_extended_activations_only_on_request():
    nodes = [helper.make_node("Sigmoid", ["x"], ["s"]), helper.make_node("Mul", ["x", "s"], ["m"]),
             helper.make_node("HardSwish", ["m"], ["y"])]
    view = _chain(nodes)
    assert find_sites(view) == []
    ext = find_sites(view, "extended")
    assert [(s.op_type, s.tensor) for s in ext] == [("Swish", "x"), ("HardSwish", "m")]


def test_relu_read_by_two_matmuls_is_flagged_as_merged():
    w = numpy_helper.from_array(np.eye(4, dtype=np.float32), "w")
    nodes = [helper.make_node("Relu", ["x"], ["r"]), helper.make_node("MatMul", ["r", "w"], ["a"]),
             helper.make_node("MatMul", ["r", "w"], ["b"]), helper.make_node("Add", ["a", "b"], ["y"])]
    (site,) = find_sites(_chain(nodes, [w]))
    assert site.merged_consumers == 2


def test_clip_bounds_seen_through_cast_and_castlike_make_relu6_a_site():
    """torch dynamo writes ReLU6's bounds as Constant -> CastLike; that is still a site."""
    nodes = [helper.make_node("Constant", [], ["z64"], value=numpy_helper.from_array(np.array(0.0))),
             helper.make_node("CastLike", ["z64", "x"], ["zero"]),
             helper.make_node("Constant", [], ["s"], value=numpy_helper.from_array(np.array([6], np.int64))),
             helper.make_node("Cast", ["s"], ["s32"], to=TensorProto.FLOAT),
             helper.make_node("Squeeze", ["s32"], ["six"]),
             helper.make_node("Clip", ["x", "zero", "six"], ["y"])]
    view = _chain(nodes)
    assert float(view.constant_value("six")) == 6.0 and view.constant_value("zero").dtype == np.float32
    assert [s.op_type for s in find_sites(view)] == ["Clip"]
