"""drop_unused_nodes: nodes no output depends on go, nodes read by a kept node's subgraph stay."""
from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper

from onnxscore.graph.dead_nodes import drop_unused_nodes


def _model(with_if: bool) -> onnx.ModelProto:
    nodes = [helper.make_node("Relu", ["x"], ["a"], name="live"),
             helper.make_node("Neg", ["x"], ["dead1"], name="dead1"),
             helper.make_node("Exp", ["dead1"], ["dead2"], name="dead2"),
             helper.make_node("Sigmoid", ["x"], ["outer"], name="read_by_subgraph")]
    if with_if:
        branch = helper.make_graph([helper.make_node("Add", ["a", "outer"], ["b"])], "branch", [],
                                   [helper.make_tensor_value_info("b", TensorProto.FLOAT, [2])])
        nodes += [helper.make_node("ReduceMax", ["x"], ["m"], keepdims=0),
                  helper.make_node("Greater", ["m", "zero"], ["c"]),
                  helper.make_node("If", ["c"], ["y"], then_branch=branch, else_branch=branch)]
    else:
        nodes.append(helper.make_node("Identity", ["a"], ["y"]))
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])],
                          [helper.make_tensor("zero", TensorProto.FLOAT, [], [0.0])])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)


def _run(m: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    return ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]


def test_dead_chain_goes_and_the_outputs_do_not_change():
    m = _model(with_if=False)
    x = np.array([-1.0, 2.0], np.float32)
    before = _run(m, x)
    assert drop_unused_nodes(m) == 3  # dead1, dead2 and the Sigmoid nobody reads
    assert [n.name for n in m.graph.node] == ["live", ""]
    assert np.array_equal(_run(m, x), before)


def test_a_tensor_read_only_inside_a_subgraph_is_kept():
    m = _model(with_if=True)
    x = np.array([-1.0, 2.0], np.float32)
    before = _run(m, x)
    assert drop_unused_nodes(m) == 2
    assert "read_by_subgraph" in [n.name for n in m.graph.node]
    onnx.checker.check_model(m)
    assert np.array_equal(_run(m, x), before)
