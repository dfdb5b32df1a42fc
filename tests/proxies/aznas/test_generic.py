"""AZ-NAS on hand-built ONNX models: the fallback taps, tensors read from outside a segment, a pair
whose output does not depend on its input, and the errors that become reasons."""
from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from onnxscore.graph.features import declare_features
from onnxscore.proxies import aznas
from onnxscore.proxies.aznas.taps import fallback_taps

C, B = 4, 6


def residual(op: str = "Relu", seed: int = 0):
    """stem Conv -> BN; block 1: a1 = bn + Conv(Relu(bn)); block 2: a2 = Sum(a1, Conv(op(a1)), bn)
    (bn read from outside segment a1 -> a2). Returns the model and its weights."""
    rng = np.random.default_rng(seed)
    w = {"w0": rng.standard_normal((C, 3, 3, 3)) * 0.3, "w1": rng.standard_normal((C, C, 3, 3)) * 0.2,
         "w2": rng.standard_normal((C, C, 1, 1)) * 0.5,
         "scale": np.ones(C) * 1.5, "bias": np.full(C, 0.1), "mean": np.zeros(C), "var": np.ones(C)}
    w = {k: v.astype(np.float32) for k, v in w.items()}
    conv = dict(kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    nodes = [
        helper.make_node("Conv", ["x", "w0"], ["c0"], **conv),
        helper.make_node("BatchNormalization", ["c0", "scale", "bias", "mean", "var"], ["bn"]),
        helper.make_node("Relu", ["bn"], ["r1"]),
        helper.make_node("Conv", ["r1", "w1"], ["c1"], **conv),
        helper.make_node("Add", ["bn", "c1"], ["a1"]),
        helper.make_node(op, ["a1"], ["r2"]),
        helper.make_node("Conv", ["r2", "w2"], ["c2"], kernel_shape=[1, 1]),
        helper.make_node("Sum", ["a1", "c2", "bn"], ["a2"]),
        helper.make_node("ReduceMean", ["a2"], ["y"], axes=[2, 3], keepdims=0),
    ]
    graph = helper.make_graph(nodes, "res", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              [numpy_helper.from_array(v, k) for k, v in w.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 10
    return model, w


def batch():
    return np.random.default_rng(1).standard_normal((B, 3, 8, 8)).astype(np.float32)


def test_fallback_taps():
    model, _ = residual()
    assert fallback_taps(model) == ["bn", "a1", "a2"]


def test_fallback_model_matches_pytorch():
    torch = pytest.importorskip("torch")
    from tests.proxies.aznas import torch_reference as ref

    model, w = residual()
    x = batch()
    got = aznas.compute(model, x, seed=2)
    assert got.taps == ("bn", "a1", "a2") and got.reason is None
    t = {k: torch.from_numpy(v).requires_grad_() for k, v in w.items()}  # so autograd records the graph
    f = torch.nn.functional
    bn = f.batch_norm(f.conv2d(torch.from_numpy(x), t["w0"], padding=1), None, None, t["scale"], t["bias"],
                      training=True)
    a1 = bn + f.conv2d(f.relu(bn), t["w1"], padding=1)
    a2 = a1 + f.conv2d(f.relu(a1), t["w2"]) + bn
    feats = [bn, a1, a2]
    want = ref.az_nas(feats, aznas.rademacher([tuple(a.shape) for a in feats[1:]], 2))
    np.testing.assert_allclose(got.entropies, want["entropies"], rtol=1e-5)
    np.testing.assert_allclose(got.pair_scores, want["pair_scores"], rtol=1e-5)
    for k in ("expressivity", "progressivity", "trainability"):
        assert getattr(got, k) == pytest.approx(want[k], rel=1e-5), k


def test_op_without_gradient_rule_gives_a_reason():
    model, _ = residual("Sin")
    got = aznas.compute(model, batch())
    assert got.trainability is None and "Sin" in got.reason and "trainability" in got.reason
    assert got.expressivity is not None and got.progressivity is not None


def test_output_independent_of_input():
    model, _ = residual()
    declare_features(model, ["r1", "c0"])  # c0 is upstream of r1: no path r1 -> c0
    got = aznas.compute(model, batch())
    assert got.pair_scores == (pytest.approx(2 - 1e6),)  # g_in = 0 -> sigma = 0


def test_too_few_taps():
    model, _ = residual()
    declare_features(model, ["a1"])
    got = aznas.compute(model, batch())
    assert (got.expressivity, got.progressivity, got.trainability) == (None, None, None)
    assert "2 feature taps" in got.reason


def test_unknown_tap_gives_a_reason():
    model, _ = residual()
    declare_features(model, ["bn", "nonexistent"])
    got = aznas.compute(model, batch())
    assert got.expressivity is None and "'nonexistent' is not a tensor" in got.reason


def test_forward_failure_gives_a_reason():
    model, _ = residual()
    model.graph.node[0].attribute[0].ints[:] = [5, 5]  # kernel_shape no longer matches w0
    got = aznas.compute(model, batch())
    assert got.expressivity is None and got.reason.startswith("the forward run failed"), got.reason


def test_tap_that_is_not_a_feature_map():
    model, _ = residual()
    declare_features(model, ["bn", "y"])  # y is (B, C)
    got = aznas.compute(model, batch())
    assert got.trainability is None and "not (B, C, H, W)" in got.reason
