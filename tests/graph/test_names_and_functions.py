"""Models with local functions score, and user tensors named like onnxscore's internal ones are
neither broken nor silently replaced (issue 16, items 4 and 15)."""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

import onnxscore
from tests.models import ConvNet, make_model


def _rename(model: onnx.ModelProto, old: str, new: str) -> onnx.ModelProto:
    """The same network with tensor `old` called `new` everywhere."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    for n in m.graph.node:
        n.input[:] = [new if i == old else i for i in n.input]
        n.output[:] = [new if o == old else o for o in n.output]
    for v in m.graph.output:
        if v.name == old:
            v.name = new
    return m


def test_a_model_with_a_local_function_scores_like_its_inlined_twin():
    w = numpy_helper.from_array(
        np.random.default_rng(0).standard_normal((4, 3, 3, 3)).astype(np.float32), "w")
    fn = helper.make_function(
        "custom", "ConvRelu", ["x", "w"], ["y"],
        [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
         helper.make_node("Relu", ["c"], ["y"])],
        opset_imports=[helper.make_opsetid("", 17)])
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 5, 5])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4, 5, 5])
    g = helper.make_graph([helper.make_node("ConvRelu", ["x", "w"], ["y"], domain="custom")],
                          "f", [x], [y], [w])
    with_fn = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17),
                                                  helper.make_opsetid("custom", 1)],
                                functions=[fn])
    with_fn.ir_version = 10
    onnx.checker.check_model(with_fn)
    plain = make_model([helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
                        helper.make_node("Relu", ["c"], ["y"])], [x], [y], [w])
    a = onnxscore.score(with_fn, ["naswot", "epads"], batch_size=8)
    b = onnxscore.score(plain, ["naswot", "epads"], batch_size=8)
    assert a.errors == {} and a.sites == 1
    assert a.scores == b.scores


def test_user_tensors_named_like_internal_ones_keep_their_values():
    base = ConvNet(seed=3).onnx()
    ref = onnxscore.score(base, ["naswot", "epads", "swap"], batch_size=8)
    # a site output and a BN temporary each named exactly as onnxscore names its own tensors
    clash = _rename(_rename(base, "r2", "onnxscore_site_0"), "b1", "c1x")
    clash = _rename(clash, "c2", "c1x__onnxscore_bn_mean")
    onnx.checker.check_model(clash)
    got = onnxscore.score(clash, ["naswot", "epads", "swap"], batch_size=8)
    assert got.errors == {}
    assert got.sites == ref.sites and got.units == ref.units
    assert got.scores == ref.scores
