"""The structural baselines layers and flops, against hand counts on tiny graphs and NB201's closed forms."""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from onnxscore import Scorer
from onnxscore.proxies import registry
from onnxscore.spaces.nb201 import NB201Space, to_ops


def _tiny() -> onnx.ModelProto:
    """Conv(3->4, 3x3, pad 1) on 5x5, then a MatMul of two activations (not a layer), then
    Flatten -> Gemm through a Transpose of an initializer (a layer: exporters write Linear so)."""
    w = numpy_helper.from_array(np.ones((4, 3, 3, 3), np.float32), "w")
    fc = numpy_helper.from_array(np.ones((2, 100), np.float32), "fc")
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Transpose", ["c"], ["ct"], perm=[0, 1, 3, 2]),
             helper.make_node("MatMul", ["c", "ct"], ["m"]),
             helper.make_node("Flatten", ["m"], ["f"]),
             helper.make_node("Transpose", ["fc"], ["fcT"]),
             helper.make_node("MatMul", ["f", "fcT"], ["y"])]
    g = helper.make_graph(nodes, "t", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["b", 3, 5, 5])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["b", 2])], [w, fc])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 10
    return m


def test_layers_and_flops_by_hand():
    r = Scorer().score(_tiny(), ["layers", "flops"])
    assert r.scores["layers"] == 2.0  # the Conv and the weight MatMul; the activation MatMul is not a layer
    conv = 4 * 5 * 5 * 3 * 3 * 3
    act_matmul = 4 * 5 * 5 * 5  # counted as compute, though it has no weight
    fc = 100 * 2
    assert r.scores["flops"] == conv + act_matmul + fc


def test_nb201_layers_is_affine_in_the_conv_edges_and_flops_is_the_closed_form():
    sp = NB201Space()
    rng = np.random.default_rng(0)
    s = Scorer()
    for _ in range(4):
        arch = sp.sample(rng)
        n_conv = sum(op.startswith("nor_conv") for op in to_ops(arch))
        r = s.score(sp.build(arch), ["layers", "flops"])
        assert r.scores["layers"] == 1 + 15 * n_conv + 2 * 3 + 1  # stem, cells, two reduction blocks, head
        assert r.scores["flops"] == sp.macs(arch)


def test_structural_proxies_are_listed_but_not_in_all():
    assert registry.is_structural("layers") and registry.is_structural("flops")
    assert "layers" not in registry.parse("all") and "flops" not in registry.parse("all")
    assert registry.higher_is_better("flops")


def test_param_count_is_the_hand_count_and_the_closed_forms():
    r = Scorer().score(_tiny(), ["param_count"])
    assert r.scores["param_count"] == 4 * 3 * 3 * 3 + 2 * 100 == r.params  # the baseline's number too
    sp = NB201Space()
    arch = sp.sample(np.random.default_rng(1))
    assert Scorer().score(sp.build(arch), ["param_count"]).scores["param_count"] == sp.params(arch)
    from onnxscore.spaces import get_space

    nb101 = get_space("nb101")
    enc = nb101.from_str("0100000;0010000;0001000;0000100;0000010;0000001;0000000,"
                         "input|conv3x3-bn-relu|conv1x1-bn-relu|maxpool3x3|conv3x3-bn-relu|conv3x3-bn-relu|output")
    assert Scorer().score(nb101.build(enc), ["param_count"]).scores["param_count"] == nb101.params(enc)
    assert registry.is_structural("param_count") and "param_count" not in registry.parse("all")
