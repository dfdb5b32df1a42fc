"""Peak activation memory estimate on graphs whose liveness can be followed by hand."""
from __future__ import annotations

import numpy as np
from onnx import TensorProto, helper, numpy_helper

from onnxscore.edge.memory import peak_activation_memory, topological_order


def _model(nodes, x_shape, inits=(), outputs=("y",), elem=TensorProto.FLOAT):
    g = helper.make_graph(
        nodes, "t", [helper.make_tensor_value_info("x", elem, x_shape)],
        [helper.make_tensor_value_info(o, elem, None) for o in outputs],
        [numpy_helper.from_array(a, n) for n, a in inits],
    )
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 10
    return m


T = 4 * 8 * 8 * 4  # bytes of one float32 [1,4,8,8] tensor


def test_chain_frees_after_last_use():
    # x -> a -> y: at most two tensors alive at once
    m = _model([helper.make_node("Relu", ["x"], ["a"]), helper.make_node("Relu", ["a"], ["y"])], ["N", 4, 8, 8])
    r = peak_activation_memory(m)
    assert r.peak_bytes == 2 * T
    assert r.unknown_tensors == []


def test_branch_keeps_input_alive():
    # a = relu(x); b = sigmoid(x); y = a + b: x, a, b alive while b is computed
    nodes = [helper.make_node("Relu", ["x"], ["a"]), helper.make_node("Sigmoid", ["x"], ["b"]),
             helper.make_node("Add", ["a", "b"], ["y"])]
    r = peak_activation_memory(_model(nodes, ["N", 4, 8, 8]))
    assert r.peak_bytes == 3 * T


def test_weights_reported_apart_and_conv_shapes():
    w = np.zeros((8, 4, 3, 3), np.float32)
    nodes = [helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1])]
    r = peak_activation_memory(_model(nodes, ["N", 4, 8, 8], [("w", w)]))
    assert r.peak_bytes == T + 2 * T  # input (4 ch) + output (8 ch)
    assert r.weight_bytes == w.nbytes


def test_dtype_and_static_batch():
    nodes = [helper.make_node("Relu", ["x"], ["y"])]
    half = peak_activation_memory(_model(nodes, [1, 4, 8, 8], elem=TensorProto.FLOAT16))
    assert half.peak_bytes == T  # two tensors of half the size
    batch4 = peak_activation_memory(_model(nodes, [4, 4, 8, 8]))
    assert batch4.peak_bytes == 2 * T  # per sample


def test_graph_outputs_stay_alive():
    # a is a graph output too, so it is still alive when y is computed after b
    nodes = [helper.make_node("Relu", ["x"], ["a"]), helper.make_node("Relu", ["a"], ["b"]),
             helper.make_node("Relu", ["b"], ["y"])]
    r = peak_activation_memory(_model(nodes, ["N", 4, 8, 8], outputs=("y", "a")))
    assert r.peak_bytes == 3 * T


def test_topological_order_sorts_shuffled_nodes():
    nodes = [helper.make_node("Relu", ["a"], ["y"], name="second"),
             helper.make_node("Relu", ["x"], ["a"], name="first")]
    m = _model(nodes, ["N", 4, 8, 8])
    assert [n.name for n in topological_order(m.graph)] == ["first", "second"]
    assert peak_activation_memory(m).peak_bytes == 2 * T
