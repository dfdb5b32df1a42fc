"""The closed-form gradient of a standardisation (onnxscore.graph.autodiff.standardize): found where
use_batch_statistics and LayerNormalization write one, nowhere else, and equal to the op-by-op gradient
(first and second order) with fewer nodes. test_autodiff.py checks both against PyTorch autograd."""
from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from onnxscore.graph.autodiff import append_backward, standardize
from onnxscore.graph.autodiff.emitter import Emitter, tensor_types
from onnxscore.graph.batchnorm import use_batch_statistics
from onnxscore.graph.view import GraphView
from tests.graph.test_autodiff import dot_loss, make, rel_err, run

RNG = np.random.default_rng(5)


def _conv_bn_net(batch_norms: int = 2):
    """Conv -> train-mode BN -> ReLU, `batch_norms` times, then loss = sum(y * r)."""
    nodes, consts, src = [], {}, "x"
    for k in range(batch_norms):
        consts.update({f"w{k}": (RNG.standard_normal((4, 4 if k else 3, 3, 3)) * 0.4).astype(np.float32),
                       f"g{k}": (1 + 0.2 * RNG.standard_normal(4)).astype(np.float32),
                       f"b{k}": (0.1 * RNG.standard_normal(4)).astype(np.float32),
                       f"m{k}": np.zeros(4, np.float32), f"v{k}": np.ones(4, np.float32)})
        nodes += [helper.make_node("Conv", [src, f"w{k}"], [f"c{k}"], pads=[1, 1, 1, 1]),
                  helper.make_node("BatchNormalization", [f"c{k}", f"g{k}", f"b{k}", f"m{k}", f"v{k}"],
                                   [f"n{k}"], training_mode=1),
                  helper.make_node("Relu", [f"n{k}"], [f"r{k}"])]
        src = f"r{k}"
    nodes += dot_loss([src], ["r"], "loss")
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, [5, 3, 6, 6]),
              helper.make_tensor_value_info("r", TensorProto.FLOAT, [5, 4, 6, 6])]
    model = make(nodes, inputs, consts)
    use_batch_statistics(model)
    return model, {"x": RNG.standard_normal((5, 3, 6, 6)).astype(np.float32),
                   "r": RNG.standard_normal((5, 4, 6, 6)).astype(np.float32)}


def _found(model) -> dict:
    view = GraphView(model)
    em = Emitter(model, "t_", tensor_types(model), set())
    return standardize.find(em, [model.graph.node[i] for i in view.order])


def test_every_batch_statistics_bn_is_found_with_its_axes():
    model, _ = _conv_bn_net(3)
    found = _found(model)
    assert len(found) == 3
    assert {s.x for s in found.values()} == {"c0", "c1", "c2"}
    assert all(s.axes == (0, 2, 3) for s in found.values())


@pytest.mark.parametrize("break_it", ["var_axes", "other_mean", "no_eps_constant", "square_of_other"])
def test_a_near_miss_is_not_a_standardisation(break_it):
    model, _ = _conv_bn_net(1)
    nodes = {n.op_type + ":" + n.output[0].rsplit("_", 1)[-1]: n for n in model.graph.node}
    var = nodes["ReduceMean:var"]
    if break_it == "var_axes":  # variance over other axes than the mean: not a BN
        axes = next(t for t in model.graph.initializer if t.name == var.input[1]) if len(var.input) > 1 else None
        if axes is not None:
            axes.CopyFrom(numpy_helper.from_array(np.array([0, 2], np.int64), axes.name))
        else:
            next(a for a in var.attribute if a.name == "axes").ints[:] = [0, 2]
    elif break_it == "other_mean":  # x minus the mean of another tensor
        nodes["ReduceMean:mean"].input[0] = "x"
    elif break_it == "no_eps_constant":  # var + a run-time tensor
        model.graph.input.append(helper.make_tensor_value_info("e", TensorProto.FLOAT, []))
        add = nodes["Add:vareps"]
        add.input[1] = "e"
    else:  # the variance of something else
        nodes["Mul:sq"].input[1] = nodes["Sub:centred"].input[0]
    assert _found(model) == {}


def _gradients(model, feeds, closed: bool, monkeypatch, order: int):
    if not closed:
        monkeypatch.setattr(standardize, "find", lambda em, nodes: {})
    model, rng = _copy(model), np.random.default_rng(9)
    wrt = ["x", "w0", "w1", "g0"]
    g = append_backward(model, "loss", wrt)
    if order == 2:  # d/dwrt of sum <dL/dwrt, v>: a Hessian-vector product
        vs = {f"v_{k}": rng.standard_normal(np.shape(feeds[k] if k in feeds else _init(model, k))).astype(np.float32)
              for k in wrt}
        model.graph.input.extend(helper.make_tensor_value_info(k, TensorProto.FLOAT, v.shape) for k, v in vs.items())
        model.graph.node.extend(dot_loss([g[k] for k in wrt], list(vs), "hv"))
        g = append_backward(model, "hv", wrt)
        feeds = {**feeds, **vs}
    monkeypatch.undo()
    return run(model, feeds, [g[k] for k in wrt]), len(model.graph.node)


def _copy(model):
    out = type(model)()
    out.CopyFrom(model)
    return out


def _init(model, name):
    return next(numpy_helper.to_array(t) for t in model.graph.initializer if t.name == name)


@pytest.mark.parametrize("order", [1, 2])
def test_closed_form_equals_the_op_by_op_gradient_with_fewer_nodes(order, monkeypatch):
    model, feeds = _conv_bn_net(2)
    closed, n_closed = _gradients(model, feeds, True, monkeypatch, order)
    plain, n_plain = _gradients(model, feeds, False, monkeypatch, order)
    for a, b in zip(closed, plain):
        assert rel_err(a, b) <= 1e-5
    assert n_closed < n_plain


def test_layer_normalization_takes_the_closed_form(monkeypatch):
    calls = []
    real = standardize.gradient
    monkeypatch.setattr(standardize, "gradient", lambda em, s, g: calls.append(s.axes) or real(em, s, g))
    consts = {"s": RNG.standard_normal(6).astype(np.float32), "b": RNG.standard_normal(6).astype(np.float32)}
    nodes = [helper.make_node("LayerNormalization", ["x", "s", "b"], ["y"])] + dot_loss(["y"], ["r"], "loss")
    model = make(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 6]),
                         helper.make_tensor_value_info("r", TensorProto.FLOAT, [2, 3, 6])], consts)
    append_backward(model, "loss", ["x"])
    assert calls == [(2,)]
