"""Decomposed activations found by pattern (graph/patterns): every form torch.onnx (legacy and dynamo)
and tf2onnx write is one site coded by the activation's input, and look-alikes are not matched."""
from __future__ import annotations

import io
import math
import os
import warnings

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from onnxscore.graph.sites import find_sites
from onnxscore.graph.view import GraphView
from tests.models import make_model


def _sites(model, mode="extended"):
    return [(s.op_type, s.tensor) for s in find_sites(GraphView(model), mode)]


# -- the exporters' own decompositions -------------------------------------------------------------

TORCH_CASES = [("gelu", "Gelu"), ("gelu_tanh", "Gelu"), ("silu", "Swish"), ("hardswish", "HardSwish"),
               ("hardsigmoid", "HardSigmoid"), ("mish", "Mish")]


def _torch_model(name, dynamo, opset):
    torch = pytest.importorskip("torch")
    nn = torch.nn
    act = {"gelu": nn.GELU(), "gelu_tanh": nn.GELU(approximate="tanh"), "silu": nn.SiLU(),
           "hardswish": nn.Hardswish(), "hardsigmoid": nn.Hardsigmoid(), "mish": nn.Mish()}[name]
    net = nn.Sequential(nn.Linear(4, 4), act)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if dynamo:
            return torch.onnx.export(net, (torch.randn(2, 4),), dynamo=True, optimize=False,
                                     opset_version=opset, verbose=False).model_proto
        buf = io.BytesIO()
        torch.onnx.export(net, (torch.randn(2, 4),), buf, dynamo=False, opset_version=opset)
        return onnx.load_from_string(buf.getvalue())


@pytest.mark.parametrize("dynamo,opset", [(False, 13), (True, 18)])
@pytest.mark.parametrize("name,op", TORCH_CASES)
def test_torch_onnx_forms_are_one_site_on_the_linear_output(name, op, dynamo, opset):
    model = _torch_model(name, dynamo, opset)
    gemm = next(n for n in model.graph.node if n.op_type == "Gemm")
    assert _sites(model) == [(op, gemm.output[0])]
    assert _sites(model, "relu") == []


TF_CASES = ["silu", "hard_silu", "hard_sigmoid", "mish", "gelu_tanh"]


@pytest.fixture(scope="module")
def tf2onnx_models():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    tf = pytest.importorskip("tensorflow")
    tf2onnx = pytest.importorskip("tf2onnx")
    keras = pytest.importorskip("keras")
    acts = {"silu": tf.nn.silu, "hard_silu": keras.activations.hard_silu,
            "hard_sigmoid": keras.activations.hard_sigmoid, "mish": keras.activations.mish,
            "gelu_tanh": lambda t: tf.nn.gelu(t, approximate=True), "relu6": tf.nn.relu6}
    models = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, f in acts.items():
            fn = tf.function(lambda x, f=f: f(x * 2.0))
            models[name], _ = tf2onnx.convert.from_function(
                fn, input_signature=[tf.TensorSpec([None, 4], tf.float32)], opset=17)
    return models


@pytest.mark.parametrize("name,op", [("silu", "Swish"), ("hard_silu", "HardSwish"), ("hard_sigmoid", "HardSigmoid"),
                                     ("mish", "Mish"), ("gelu_tanh", "Gelu")])
def test_tf2onnx_forms_are_one_site_on_the_activation_input(tf2onnx_models, name, op):
    model = tf2onnx_models[name]
    x2 = model.graph.node[0].output[0]  # x * 2, the activation's input
    assert model.graph.node[0].op_type == "Mul"
    assert _sites(model) == [(op, x2)]
    # the Clip(x + 3, 0, 6) inside hard_silu / hard_sigmoid is not a ReLU6 site
    assert _sites(model, "relu") == []


def test_tf2onnx_relu6_is_still_a_relu6_site(tf2onnx_models):
    model = tf2onnx_models["relu6"]
    assert [op for op, _ in _sites(model, "relu")] == ["Clip"]


# -- hand-built orderings and look-alikes ----------------------------------------------------------

def _model(nodes, consts, outputs=("y",)):
    inits = [numpy_helper.from_array(np.array(v, np.float32), k) for k, v in consts.items()]
    xs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["N", 4]) for n in ("x", "z")]
    outs = [helper.make_tensor_value_info(o, TensorProto.FLOAT, ["N", 4]) for o in outputs]
    return make_model(nodes, xs, outs, inits)


N = helper.make_node
R2 = 1 / math.sqrt(2)


def test_gelu_erf_in_tf_order_with_mul_by_reciprocal():
    nodes = [N("Mul", ["x", "half"], ["hx"]), N("Mul", ["x", "r2"], ["u"]), N("Erf", ["u"], ["e"]),
             N("Add", ["one", "e"], ["a"]), N("Mul", ["hx", "a"], ["y"])]
    m = _model(nodes + [N("Identity", ["z"], ["w"])], {"half": 0.5, "r2": R2, "one": 1.0}, ("y", "w"))
    assert _sites(m) == [("Gelu", "x")]


@pytest.mark.parametrize("nodes,consts", [
    # erf(x) without the 1/sqrt(2)
    ([N("Erf", ["x"], ["e"]), N("Add", ["e", "one"], ["a"]), N("Mul", ["x", "a"], ["m"]), N("Mul", ["m", "half"], ["y"])],
     {"one": 1.0, "half": 0.5}),
    # the product uses another tensor than the erf's
    ([N("Mul", ["x", "r2"], ["u"]), N("Erf", ["u"], ["e"]), N("Add", ["e", "one"], ["a"]), N("Mul", ["z", "a"], ["m"]),
      N("Mul", ["m", "half"], ["y"])], {"one": 1.0, "half": 0.5, "r2": R2}),
    # 1 - erf instead of 1 + erf
    ([N("Mul", ["x", "r2"], ["u"]), N("Erf", ["u"], ["e"]), N("Sub", ["one", "e"], ["a"]), N("Mul", ["x", "a"], ["m"]),
      N("Mul", ["m", "half"], ["y"])], {"one": 1.0, "half": 0.5, "r2": R2}),
])
def test_gelu_look_alikes_are_not_sites(nodes, consts):
    assert _sites(_model(nodes, consts)) == []


def test_gelu_whose_inner_value_is_also_an_output_is_not_a_region():
    nodes = [N("Mul", ["x", "r2"], ["u"]), N("Erf", ["u"], ["e"]), N("Add", ["e", "one"], ["a"]),
             N("Mul", ["x", "a"], ["m"]), N("Mul", ["m", "half"], ["y"])]
    assert _sites(_model(nodes, {"one": 1.0, "half": 0.5, "r2": R2}, ("y", "e"))) == []


def test_swish_look_alikes():
    other = [N("Sigmoid", ["z"], ["s"]), N("Mul", ["x", "s"], ["y"])]  # x * sigmoid(z)
    neg = [N("Neg", ["x"], ["n"]), N("Sigmoid", ["n"], ["s"]), N("Mul", ["x", "s"], ["y"])]  # x * sigmoid(-x)
    square = [N("Sigmoid", ["x"], ["s"]), N("Mul", ["x", "s"], ["m"]), N("Mul", ["m", "s"], ["y"])]  # x sigmoid(x)^2
    assert _sites(_model(other, {})) == [] and _sites(_model(neg, {})) == []
    assert _sites(_model(square, {})) == []


def test_swish_with_beta_keeps_the_sign_of_x():
    nodes = [N("Mul", ["x", "beta"], ["u"]), N("Sigmoid", ["u"], ["s"]), N("Mul", ["s", "x"], ["y"])]
    assert _sites(_model(nodes, {"beta": 1.702})) == [("Swish", "x")]


def test_mish_look_alike_keeps_only_its_softplus():
    nodes = [N("Softplus", ["z"], ["p"]), N("Tanh", ["p"], ["t"]), N("Mul", ["x", "t"], ["y"])]
    assert _sites(_model(nodes, {})) == [("Softplus", "z")]
    real = [N("Softplus", ["x"], ["p"]), N("Tanh", ["p"], ["t"]), N("Mul", ["t", "x"], ["y"])]
    assert _sites(_model(real, {})) == [("Mish", "x")]  # its Softplus is inside the region, not a second site


def test_hard_gate_look_alikes():
    three = {"three": 3.0, "zero": 0.0, "six": 6.0, "sixth": 1 / 6, "two": 2.0}
    no_scale = [N("Add", ["x", "three"], ["a"]), N("Clip", ["a", "zero", "six"], ["c"]), N("Mul", ["x", "c"], ["y"])]
    shifted = [N("Add", ["x", "two"], ["a"]), N("Clip", ["a", "zero", "six"], ["c"]), N("Mul", ["c", "sixth"], ["y"])]
    other_x = [N("Add", ["x", "three"], ["a"]), N("Clip", ["a", "zero", "six"], ["c"]), N("Mul", ["c", "sixth"], ["g"]),
               N("Mul", ["z", "g"], ["y"])]
    # x * relu6(x + 3) without the 1/6 and relu6(x + 2) / 6 are ReLU6 sites of their Clip, nothing more
    assert _sites(_model(no_scale, three)) == [("Clip", "c")]
    assert _sites(_model(shifted, three)) == [("Clip", "c")]
    # z * hard_sigmoid(x): the gate alone is a HardSigmoid, not a HardSwish
    assert _sites(_model(other_x, three)) == [("HardSigmoid", "x")]
    assert _sites(_model(other_x, three), "relu") == []


def test_hardswish_from_clip_to_one():
    nodes = [N("Mul", ["x", "sixth"], ["u"]), N("Add", ["u", "half"], ["a"]), N("Clip", ["a", "zero", "one"], ["g"]),
             N("Mul", ["x", "g"], ["y"])]
    consts = {"sixth": 1 / 6, "half": 0.5, "zero": 0.0, "one": 1.0}
    assert _sites(_model(nodes, consts)) == [("HardSwish", "x")]
