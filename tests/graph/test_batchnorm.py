"""The BN pass gives batch-statistics BN exactly; why it rewrites instead of training_mode=1."""
from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from onnxscore.graph.batchnorm import use_batch_statistics
from tests.models import bn_batch, make_model


def _bn_model(opset, training_mode=None, rank=4, identity=False):
    c = 4
    rng = np.random.default_rng(0)
    scale = (1 + 0.2 * rng.standard_normal(c)).astype(np.float32)
    bias = (0.3 * rng.standard_normal(c)).astype(np.float32)
    if identity:  # PyTorch's default BN init: every untrained network has it
        scale, bias = np.ones(c, np.float32), np.zeros(c, np.float32)
    inits = [numpy_helper.from_array(a, n) for a, n in (
        (scale, "s"), (bias, "b"), (np.zeros(c, np.float32), "m"), (np.ones(c, np.float32), "v"))]
    kw = {} if training_mode is None else {"training_mode": training_mode}
    outs = ["y", "rm", "rv"] if training_mode else ["y"]
    node = helper.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], outs, epsilon=1e-3, **kw)
    shape = ["N", c] + [5] * (rank - 2)
    m = make_model([node], [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                   [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)], inits, opset)
    return m, scale, bias


def _run(model, x, level=ort.GraphOptimizationLevel.ORT_ENABLE_ALL):
    so = ort.SessionOptions()
    so.graph_optimization_level = level
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    return sess.run(["y"], {"x": x})[0]


@pytest.mark.parametrize("opset,rank,identity", [(9, 4, False), (13, 4, True), (15, 4, True),
                                                 (18, 4, False), (17, 3, False)])
def test_rewrite_equals_batch_statistics_by_hand(opset, rank, identity):
    model, scale, bias = _bn_model(opset, rank=rank, identity=identity)
    x = (np.random.default_rng(1).standard_normal((8, 4) + (5,) * (rank - 2)) * 3 + 2).astype(np.float32)
    assert use_batch_statistics(model) == 1
    assert "BatchNormalization" not in {n.op_type for n in model.graph.node}
    expected = bn_batch(x.astype(np.float64), scale, bias, eps=1e-3)
    for _ in range(2):  # and it stays right run after run
        np.testing.assert_allclose(_run(model, x), expected, atol=2e-5)


def test_onnxruntime_training_mode_bn_is_wrong_when_optimised():
    """Documents the onnxruntime behaviour that makes the rewrite necessary (see batchnorm.py):
    with scale 1 / shift 0 (untrained BN) and graph optimisations on, training_mode=1 is wrong.
    If this starts failing, onnxruntime fixed it and training_mode=1 could be used again."""
    model, scale, bias = _bn_model(15, training_mode=1, identity=True)
    x = (np.random.default_rng(1).standard_normal((8, 4, 5, 5)) * 3 + 2).astype(np.float32)
    expected = bn_batch(x.astype(np.float64), scale, bias, eps=1e-3)
    unoptimised = _run(model, x, ort.GraphOptimizationLevel.ORT_DISABLE_ALL)
    np.testing.assert_allclose(unoptimised, expected, atol=2e-5)
    optimised = _run(model, x)
    assert np.abs(optimised - expected).max() > 1e-2


def test_exported_mode_only_rewrites_training_mode_nodes():
    eval_model, _, _ = _bn_model(15)
    assert use_batch_statistics(eval_model, only_training_mode=True) == 0
    train_model, _, _ = _bn_model(15, training_mode=1)
    assert use_batch_statistics(train_model, only_training_mode=True) == 1


def test_running_stats_are_dropped_and_model_is_valid():
    model, _, _ = _bn_model(17)
    use_batch_statistics(model)
    names = {t.name for t in model.graph.initializer}
    assert "m" not in names and "v" not in names and {"s", "b"} <= names
    onnx.checker.check_model(model)
