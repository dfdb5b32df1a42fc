"""Inputs besides the scored one: a symbolic first dim follows the scored batch, a static one is kept."""
from __future__ import annotations

from onnx import TensorProto, helper

from onnxscore.inputs import other_inputs


def test_static_first_dim_is_kept_symbolic_follows_the_batch():
    g = helper.make_graph(
        [helper.make_node("Mul", ["x", "scale"], ["m"]), helper.make_node("Add", ["m", "extra"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3]),
         helper.make_tensor_value_info("scale", TensorProto.FLOAT, [1, 3]),
         helper.make_tensor_value_info("extra", TensorProto.FLOAT, ["N", 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])])
    feeds = other_inputs(helper.make_model(g), "x", rows=16, seed=0)
    assert feeds["scale"].shape == (1, 3)
    assert feeds["extra"].shape == (16, 3)
