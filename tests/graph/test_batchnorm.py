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


def _ops(model):
    return [n.op_type for n in model.graph.node]


@pytest.mark.parametrize("opset,identity", [(13, True), (17, True), (18, True), (17, False), (18, False)])
def test_lean_form_is_bitwise_the_arithmetic_form(opset, identity):
    """The scorer's form drops only an identity affine, so its outputs are the default form's, bit for bit."""
    x = (np.random.default_rng(1).standard_normal((8, 4, 5, 5)) * 3 + 2).astype(np.float32)
    default, scale, bias = _bn_model(opset, identity=identity)
    lean, _, _ = _bn_model(opset, identity=identity)
    use_batch_statistics(default)
    assert use_batch_statistics(lean, form="lean") == 1
    onnx.checker.check_model(lean)
    assert _ops(lean).count("Mul") == (1 if identity else 2) and _ops(lean).count("Reshape") == (0 if identity else 2)
    y = _run(lean, x)
    assert np.array_equal(y, _run(default, x))
    np.testing.assert_allclose(y, bn_batch(x.astype(np.float64), scale, bias, eps=1e-3), atol=2e-5)


def test_lean_form_keeps_a_trained_scale_or_shift():
    """Only an all-ones scale and an all-zeros bias are left out: one of them trained keeps its op."""
    model, _, _ = _bn_model(17, identity=True)
    for t in model.graph.initializer:
        if t.name == "b":
            t.CopyFrom(numpy_helper.from_array(np.array([0, 0, 0.5, 0], np.float32), "b"))
    use_batch_statistics(model, form="lean")
    assert _ops(model).count("Add") == 2 and _ops(model).count("Mul") == 1  # eps and bias; x*x only


def test_default_form_is_the_differentiable_arithmetic():
    """onnxscore.graph.autodiff differentiates the default output: its op list must not change."""
    model, _, _ = _bn_model(17)
    use_batch_statistics(model)
    assert _ops(model) == ["ReduceMean", "Sub", "Mul", "ReduceMean", "Add", "Sqrt", "Div",
                           "Reshape", "Reshape", "Mul", "Add"]


def _training_bn(c: int):
    """A training-mode BN with PyTorch's default init (scale 1, bias 0, running stats 0 and 1)."""
    inits = [numpy_helper.from_array(a, n) for a, n in (
        (np.ones(c, np.float32), "s"), (np.zeros(c, np.float32), "b"),
        (np.zeros(c, np.float32), "m"), (np.ones(c, np.float32), "v"))]
    node = helper.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y", "rm", "rv"],
                            epsilon=1e-3, training_mode=1)
    shape = ["N", c, 5, 5]
    return make_model([node], [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                      [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)], inits, 15)


@pytest.mark.parametrize("c,wrong", [(4, True), (8, True), (16, False)])
def test_training_mode_bn_fails_through_constant_sharing(c, wrong):
    """Why training_mode=1 goes wrong (bench/bn_candidates.py): onnxruntime's ConstantSharing merges
    equal-valued initializers of at most 8 elements, so the all-ones scale becomes the all-ones running
    variance (and the zero bias the zero running mean), and the kernel's running-statistics update then
    writes into the scale and bias it reads. With ConstantSharing disabled it is right at any C."""
    import onnxruntime as ort

    model = _training_bn(c)
    x = (np.random.default_rng(1).standard_normal((8, c, 5, 5)) * 3 + 2).astype(np.float32)
    expected = bn_batch(x.astype(np.float64), np.ones(c), np.zeros(c), eps=1e-3)
    default = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    errors = [np.abs(default.run(["y"], {"x": x})[0] - expected).max() for _ in range(2)]
    assert (min(errors) > 1e-2) == wrong
    unshared = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"],
                                    disabled_optimizers=["ConstantSharing"])
    for _ in range(2):
        np.testing.assert_allclose(unshared.run(["y"], {"x": x})[0], expected, atol=2e-5)


def test_lean_form_keeps_an_affine_the_caller_can_feed():
    """An initializer that is also a graph input may be overridden at run time: its op stays."""
    model, _, _ = _bn_model(17, identity=True)
    model.graph.input.append(helper.make_tensor_value_info("s", TensorProto.FLOAT, [4]))
    use_batch_statistics(model, form="lean")
    assert _ops(model).count("Mul") == 2 and _ops(model).count("Add") == 1  # x*x and the scale; eps only


def _two_bn_chain(opset: int) -> onnx.ModelProto:
    """x -> BN -> BN, both with PyTorch's default init and epsilon."""
    inits, nodes = [], []
    for k in range(2):
        inits += [numpy_helper.from_array(a, f"{n}{k}") for a, n in (
            (np.ones(4, np.float32), "s"), (np.zeros(4, np.float32), "b"),
            (np.zeros(4, np.float32), "m"), (np.ones(4, np.float32), "v"))]
        nodes.append(helper.make_node("BatchNormalization", ["x" if k == 0 else "y0", f"s{k}", f"b{k}", f"m{k}", f"v{k}"],
                                      [f"y{k}"], epsilon=1e-5))
    return make_model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4, 5, 5])],
                      [helper.make_tensor_value_info("y1", TensorProto.FLOAT, ["N", 4, 5, 5])], inits, opset)


@pytest.mark.parametrize("opset", [17, 18])
@pytest.mark.parametrize("form", ["arithmetic", "lean"])
def test_nodes_of_one_model_share_their_constants(opset, form):
    """One epsilon (and, at opset 18, one axes tensor) serves every BN of a model: fewer initializers to
    build and load, the same values, so the outputs are those of two separately rewritten BNs."""
    model = _two_bn_chain(opset)
    assert use_batch_statistics(model, form=form) == 2
    onnx.checker.check_model(model)
    added = [t.name for t in model.graph.initializer if "__onnxscore_bn" in t.name]
    assert sum(n.endswith("_eps") for n in added) == 1
    assert sum(n.endswith("_axes") for n in added) == (1 if opset >= 18 else 0)
    x = (np.random.default_rng(2).standard_normal((6, 4, 5, 5)) * 2 + 1).astype(np.float32)
    once = bn_batch(x.astype(np.float64), np.ones(4), np.zeros(4), eps=1e-5)
    np.testing.assert_allclose(_run_out(model, x, "y1"), bn_batch(once, np.ones(4), np.zeros(4), eps=1e-5),
                               atol=2e-5)


def _run_out(model, x, name):
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run([name], {"x": x})[0]


def test_a_taken_prefix_gets_a_fresh_one():
    """A model that already has a tensor named like the rewrite's own keeps it: the new ones are renamed."""
    model = _two_bn_chain(17)
    model.graph.initializer.append(numpy_helper.from_array(np.zeros(1, np.float32), "y0__onnxscore_bn_mean"))
    use_batch_statistics(model)
    names = [o for n in model.graph.node for o in n.output]
    assert "y0__onnxscore_bn_mean" not in names
    assert any(n.startswith("y0__onnxscore_bn1_") and n.endswith("mean") for n in names)
