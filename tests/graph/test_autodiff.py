"""The reverse-mode graph pass against PyTorch autograd: every rule to first and second order, an
NB201 network with train-mode BN, and a GraSP Hessian-vector product through a CNN with BN."""
from __future__ import annotations

import math

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

torch = pytest.importorskip("torch")
F = torch.nn.functional

from onnxscore.graph.autodiff import (  # noqa: E402
    NO_GRADIENT, RULES, AutodiffError, UnsupportedOpError, add_cross_entropy, append_backward)
from onnxscore.graph.batchnorm import use_batch_statistics  # noqa: E402

TOL = 1e-4
RNG = np.random.default_rng(0)


def rel_err(ours, ref) -> float:
    """max |ours - ref| / max |ref| (max |ours| when ref is exactly zero, e.g. ReLU's curvature)."""
    ours, ref = np.asarray(ours, np.float64), np.asarray(ref, np.float64)
    assert ours.shape == ref.shape, (ours.shape, ref.shape)
    scale = np.abs(ref).max() if ref.size else 0.0
    return float(np.abs(ours - ref).max() / scale) if scale > 0 else float(np.abs(ours).max(initial=0.0))


def session(model):
    so = ort.SessionOptions()
    so.log_severity_level = 3
    return ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])


def run(model, feeds, names):
    sess = session(model)
    wanted = {i.name for i in sess.get_inputs()}
    return sess.run(names, {k: v for k, v in feeds.items() if k in wanted})


def value_info(name, arr, symbolic=False):
    elem = helper.np_dtype_to_tensor_dtype(arr.dtype)
    dims = [f"{name}_{i}" for i in range(arr.ndim)] if symbolic else list(arr.shape)
    return helper.make_tensor_value_info(name, elem, dims)


def make(nodes, inputs, consts, opset=17, outputs=("loss",)):
    """A model; the output "loss" is declared a scalar, others are left to shape inference."""
    graph = helper.make_graph(nodes, "g", inputs, [helper.make_tensor_value_info(o, TensorProto.FLOAT,
                                                                                 [] if o == "loss" else None)
                                                   for o in outputs],
                              initializer=[numpy_helper.from_array(v, k) for k, v in consts.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 10
    return model


def dot_loss(outs, weights, name):
    """Nodes for name = sum_k sum(outs[k] * weights[k])."""
    nodes, terms = [], []
    for o, w in zip(outs, weights):
        nodes += [helper.make_node("Mul", [o, w], [f"{o}_{name}_m"]),
                  helper.make_node("ReduceSum", [f"{o}_{name}_m"], [f"{o}_{name}_s"], keepdims=0)]
        terms.append(f"{o}_{name}_s")
    nodes.append(helper.make_node("Sum", terms, [name]))
    return nodes


# ----------------------------------------------------------------------------- the rule table

def randn(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def positive(*shape):
    return (np.abs(RNG.standard_normal(shape)) + 0.5).astype(np.float32)


def node(op, inputs, outputs=("y",), **attrs):
    return helper.make_node(op, list(inputs), list(outputs), **attrs)


def case(id, nodes, inputs, fn, consts=None, opset=17, outputs=("y",), symbolic=()):
    """One rule test: `inputs` are differentiated, `consts` are initializers, `fn` is PyTorch's version
    (dict of tensors -> list of outputs), `symbolic` inputs get dims unknown before run time."""
    return pytest.param(dict(nodes=nodes if isinstance(nodes, list) else [nodes], inputs=inputs, fn=fn,
                             consts=consts or {}, opset=opset, outputs=outputs, symbolic=symbolic),
                        id=id)


def _conv(x, w, stride=1, pad=0, dil=1, groups=1):
    return F.conv2d(x, w, stride=stride, padding=pad, dilation=dil, groups=groups)


def _same_pad(x, k, s, upper=True):
    """F.pad amounts of ONNX auto_pad=SAME_* for a square kernel on NCHW."""
    out = []
    for size in (x.shape[3], x.shape[2]):
        total = max((math.ceil(size / s) - 1) * s + k - size, 0)
        small, large = total // 2, total - total // 2
        out += [small, large] if upper else [large, small]
    return out


COND = np.array([[True, False, True], [False, False, True]])
CASES = [
    # elementwise
    case("Add-broadcast", node("Add", ["a", "b"]), {"a": randn(2, 3, 4), "b": randn(3, 1)},
         lambda t: [t["a"] + t["b"]]),
    case("Sub-broadcast", node("Sub", ["a", "b"]), {"a": randn(2, 3, 4), "b": randn(4)},
         lambda t: [t["a"] - t["b"]]),
    case("Mul-broadcast", node("Mul", ["a", "b"]), {"a": randn(2, 3, 4), "b": randn(1, 3, 1)},
         lambda t: [t["a"] * t["b"]]),
    case("Mul-self", node("Mul", ["a", "a"]), {"a": randn(3, 4)}, lambda t: [t["a"] * t["a"]]),
    case("Div", node("Div", ["a", "b"]), {"a": randn(2, 3), "b": positive(2, 1)}, lambda t: [t["a"] / t["b"]]),
    case("Neg", node("Neg", ["a"]), {"a": randn(5)}, lambda t: [-t["a"]]),
    case("Sum-3", node("Sum", ["a", "b", "c"]), {"a": randn(2, 3), "b": randn(3), "c": randn(2, 1)},
         lambda t: [t["a"] + t["b"] + t["c"]]),
    case("Sqrt", node("Sqrt", ["a"]), {"a": positive(3, 4)}, lambda t: [torch.sqrt(t["a"])]),
    case("Exp", node("Exp", ["a"]), {"a": randn(3, 4)}, lambda t: [torch.exp(t["a"])]),
    case("Log", node("Log", ["a"]), {"a": positive(3, 4)}, lambda t: [torch.log(t["a"])]),
    case("Reciprocal", node("Reciprocal", ["a"]), {"a": positive(3, 4)}, lambda t: [1 / t["a"]]),
    case("Pow-tensor", node("Pow", ["a", "b"]), {"a": positive(3, 4), "b": randn(4)}, lambda t: [t["a"] ** t["b"]]),
    case("Pow-const", node("Pow", ["a", "p"]), {"a": randn(3, 4)}, lambda t: [t["a"] ** 2.0],
         consts={"p": np.array(2.0, np.float32)}),
    case("Abs", node("Abs", ["a"]), {"a": randn(3, 4)}, lambda t: [torch.abs(t["a"])]),
    case("Erf", node("Erf", ["a"]), {"a": randn(3, 4)}, lambda t: [torch.erf(t["a"])]),
    case("Where", node("Where", ["c", "a", "b"]), {"a": randn(2, 3), "b": randn(3)},
         lambda t: [torch.where(torch.from_numpy(COND), t["a"], t["b"])], consts={"c": COND}),
    # activations
    case("Relu", node("Relu", ["a"]), {"a": randn(4, 5)}, lambda t: [F.relu(t["a"])]),
    case("LeakyRelu", node("LeakyRelu", ["a"], alpha=0.1), {"a": randn(4, 5)}, lambda t: [F.leaky_relu(t["a"], 0.1)]),
    case("PRelu", node("PRelu", ["a", "s"]), {"a": randn(2, 3, 4), "s": randn(3, 1)},
         lambda t: [torch.where(t["a"] > 0, t["a"], t["a"] * t["s"])]),
    case("Elu", node("Elu", ["a"], alpha=0.7), {"a": randn(4, 5)}, lambda t: [F.elu(t["a"], 0.7)]),
    case("Sigmoid", node("Sigmoid", ["a"]), {"a": randn(4, 5)}, lambda t: [torch.sigmoid(t["a"])]),
    case("Tanh", node("Tanh", ["a"]), {"a": randn(4, 5)}, lambda t: [torch.tanh(t["a"])]),
    case("Softplus", node("Softplus", ["a"]), {"a": randn(4, 5)}, lambda t: [F.softplus(t["a"])]),
    case("HardSigmoid-torch", node("HardSigmoid", ["a"], alpha=1 / 6, beta=0.5), {"a": 3 * randn(4, 5)},
         lambda t: [torch.clamp(t["a"] / 6 + 0.5, 0, 1)]),  # F.hardsigmoid has no double backward
    case("HardSigmoid-onnx", node("HardSigmoid", ["a"]), {"a": 3 * randn(4, 5)},
         lambda t: [torch.clamp(0.2 * t["a"] + 0.5, 0, 1)]),
    case("HardSwish", node("HardSwish", ["a"]), {"a": 3 * randn(4, 5)}, lambda t: [F.hardswish(t["a"])]),
    case("Gelu", node("Gelu", ["a"]), {"a": randn(4, 5)}, lambda t: [F.gelu(t["a"])], opset=20),
    case("Gelu-tanh", node("Gelu", ["a"], approximate="tanh"), {"a": randn(4, 5)},
         lambda t: [F.gelu(t["a"], approximate="tanh")], opset=20),
    case("Clip", node("Clip", ["a", "lo", "hi"]), {"a": randn(4, 5)}, lambda t: [torch.clamp(t["a"], -0.5, 0.7)],
         consts={"lo": np.array(-0.5, np.float32), "hi": np.array(0.7, np.float32)}),
    case("Clip-max-only", node("Clip", ["a", "", "hi"]), {"a": randn(4, 5)}, lambda t: [torch.clamp(t["a"], max=0.7)],
         consts={"hi": np.array(0.7, np.float32)}),
    # softmax
    case("Softmax", node("Softmax", ["a"], axis=1), {"a": randn(3, 4, 2)}, lambda t: [torch.softmax(t["a"], 1)]),
    case("LogSoftmax", node("LogSoftmax", ["a"]), {"a": randn(3, 5)}, lambda t: [torch.log_softmax(t["a"], -1)]),
    # matmul
    case("MatMul-3x2", node("MatMul", ["a", "b"]), {"a": randn(2, 3, 4), "b": randn(4, 5)},
         lambda t: [t["a"] @ t["b"]]),
    case("MatMul-2x3", node("MatMul", ["a", "b"]), {"a": randn(3, 4), "b": randn(2, 4, 5)},
         lambda t: [t["a"] @ t["b"]]),
    case("MatMul-batch-broadcast", node("MatMul", ["a", "b"]), {"a": randn(2, 1, 3, 4), "b": randn(1, 5, 4, 1)},
         lambda t: [t["a"] @ t["b"]]),
    case("MatMul-vec-left", node("MatMul", ["a", "b"]), {"a": randn(5), "b": randn(2, 5, 3)},
         lambda t: [t["a"] @ t["b"]]),
    case("MatMul-vec-right", node("MatMul", ["a", "b"]), {"a": randn(2, 3, 5), "b": randn(5)},
         lambda t: [t["a"] @ t["b"]]),
    case("MatMul-dot", node("MatMul", ["a", "b"]), {"a": randn(5), "b": randn(5)}, lambda t: [t["a"] @ t["b"]]),
    case("Gemm", node("Gemm", ["a", "b", "c"]), {"a": randn(3, 4), "b": randn(4, 5), "c": randn(5)},
         lambda t: [t["a"] @ t["b"] + t["c"]]),
    case("Gemm-transB", node("Gemm", ["a", "b", "c"], transB=1), {"a": randn(3, 4), "b": randn(5, 4), "c": randn(1, 5)},
         lambda t: [t["a"] @ t["b"].T + t["c"]]),
    case("Gemm-transA-alpha-beta", node("Gemm", ["a", "b", "c"], transA=1, alpha=0.5, beta=2.0),
         {"a": randn(4, 3), "b": randn(4, 5), "c": randn(3, 5)}, lambda t: [0.5 * t["a"].T @ t["b"] + 2 * t["c"]]),
    case("Gemm-transA-transB", node("Gemm", ["a", "b"], transA=1, transB=1), {"a": randn(4, 3), "b": randn(5, 4)},
         lambda t: [t["a"].T @ t["b"].T]),
    # convolution
    case("Conv-bias", node("Conv", ["x", "w", "b"], pads=[1, 1, 1, 1]),
         {"x": randn(2, 3, 6, 6), "w": randn(4, 3, 3, 3), "b": randn(4)},
         lambda t: [F.conv2d(t["x"], t["w"], t["b"], padding=1)]),
    case("Conv-stride2-asym-pads", node("Conv", ["x", "w"], strides=[2, 2], pads=[1, 0, 2, 1]),
         {"x": randn(2, 3, 7, 6), "w": randn(4, 3, 3, 3)},
         lambda t: [_conv(F.pad(t["x"], [0, 1, 1, 2]), t["w"], stride=2)]),
    case("Conv-stride3-remainder", node("Conv", ["x", "w"], strides=[3, 2]),
         {"x": randn(2, 2, 8, 7), "w": randn(3, 2, 2, 2)}, lambda t: [F.conv2d(t["x"], t["w"], stride=(3, 2))]),
    case("Conv-dilation", node("Conv", ["x", "w"], dilations=[2, 3], pads=[2, 3, 2, 3]),
         {"x": randn(2, 3, 7, 8), "w": randn(4, 3, 3, 3)},
         lambda t: [F.conv2d(t["x"], t["w"], padding=(2, 3), dilation=(2, 3))]),
    case("Conv-groups", node("Conv", ["x", "w"], group=2, strides=[2, 1], pads=[1, 1, 1, 1]),
         {"x": randn(2, 4, 6, 5), "w": randn(6, 2, 3, 3)},
         lambda t: [F.conv2d(t["x"], t["w"], stride=(2, 1), padding=1, groups=2)]),
    case("Conv-depthwise", node("Conv", ["x", "w"], group=4, pads=[1, 1, 1, 1], dilations=[2, 2], strides=[2, 2]),
         {"x": randn(2, 4, 9, 9), "w": randn(4, 1, 3, 3)},
         lambda t: [F.conv2d(t["x"], t["w"], stride=2, padding=1, dilation=2, groups=4)]),
    case("Conv-SAME_UPPER", node("Conv", ["x", "w"], auto_pad="SAME_UPPER", strides=[2, 2]),
         {"x": randn(2, 3, 7, 8), "w": randn(4, 3, 4, 4)},
         lambda t: [_conv(F.pad(t["x"], _same_pad(t["x"], 4, 2)), t["w"], stride=2)]),
    case("Conv-SAME_LOWER", node("Conv", ["x", "w"], auto_pad="SAME_LOWER"),
         {"x": randn(2, 3, 5, 5), "w": randn(4, 3, 2, 2)},
         lambda t: [_conv(F.pad(t["x"], _same_pad(t["x"], 2, 1, upper=False)), t["w"])]),
    case("Conv-VALID", node("Conv", ["x", "w"], auto_pad="VALID", strides=[2, 2]),
         {"x": randn(2, 3, 6, 6), "w": randn(4, 3, 3, 3)}, lambda t: [F.conv2d(t["x"], t["w"], stride=2)]),
    case("Conv-dynamic-shapes", node("Conv", ["x", "w", "b"], group=2, strides=[2, 2], pads=[1, 0, 1, 1]),
         {"x": randn(2, 4, 7, 6), "w": randn(4, 2, 3, 3), "b": randn(4)},
         lambda t: [F.conv2d(F.pad(t["x"], [0, 1, 1, 1]), t["w"], t["b"], stride=2, groups=2)], symbolic=("x",)),
    case("Conv1d", node("Conv", ["x", "w"], strides=[2], pads=[1, 2]), {"x": randn(2, 3, 9), "w": randn(4, 3, 3)},
         lambda t: [F.conv1d(F.pad(t["x"], [1, 2]), t["w"], stride=2)]),
    case("Conv3d-groups", node("Conv", ["x", "w"], group=2, pads=[1, 0, 1, 1, 0, 1]),
         {"x": randn(1, 4, 4, 3, 4), "w": randn(2, 2, 3, 2, 3)},
         lambda t: [F.conv3d(F.pad(t["x"], [1, 1, 0, 0, 1, 1]), t["w"], groups=2)]),
    case("ConvTranspose", node("ConvTranspose", ["x", "w", "b"], strides=[2, 2], pads=[1, 0, 1, 1],
                               output_padding=[1, 0]),
         {"x": randn(2, 3, 4, 5), "w": randn(3, 2, 3, 3), "b": randn(2)},
         lambda t: [F.conv_transpose2d(t["x"], t["w"], t["b"], stride=2, output_padding=(1, 0))[:, :, 1:-1, 0:-1]]),
    case("ConvTranspose-groups-dilation", node("ConvTranspose", ["x", "w"], group=2, dilations=[2, 1], strides=[1, 2]),
         {"x": randn(2, 4, 4, 3), "w": randn(4, 3, 2, 3)},
         lambda t: [F.conv_transpose2d(t["x"], t["w"], stride=(1, 2), dilation=(2, 1), groups=2)]),
    # pooling
    case("AveragePool-exclude-pad", node("AveragePool", ["x"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
         {"x": randn(2, 3, 5, 6)}, lambda t: [F.avg_pool2d(t["x"], 3, 1, 1, count_include_pad=False)]),
    case("AveragePool-include-pad", node("AveragePool", ["x"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1],
                                         count_include_pad=1),
         {"x": randn(2, 3, 7, 7)}, lambda t: [F.avg_pool2d(t["x"], 3, 2, 1, count_include_pad=True)]),
    case("AveragePool-2x2", node("AveragePool", ["x"], kernel_shape=[2, 2], strides=[2, 2]), {"x": randn(2, 3, 6, 7)},
         lambda t: [F.avg_pool2d(t["x"], 2, 2)]),
    case("AveragePool-dynamic", node("AveragePool", ["x"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
         {"x": randn(2, 3, 6, 7)}, lambda t: [F.avg_pool2d(t["x"], 3, 2, 1, count_include_pad=False)],
         symbolic=("x",)),
    case("GlobalAveragePool", node("GlobalAveragePool", ["x"]), {"x": randn(2, 3, 4, 5)},
         lambda t: [t["x"].mean((2, 3), keepdim=True)]),
    case("GlobalAveragePool-dynamic", node("GlobalAveragePool", ["x"]), {"x": randn(2, 3, 4, 5)},
         lambda t: [t["x"].mean((2, 3), keepdim=True)], symbolic=("x",)),
    case("MaxPool", node("MaxPool", ["x"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
         {"x": randn(2, 3, 7, 8)}, lambda t: [F.max_pool2d(t["x"], 3, 2, 1)]),
    case("MaxPool-dilated-dynamic", node("MaxPool", ["x"], kernel_shape=[2, 2], dilations=[2, 2]),
         {"x": randn(2, 3, 6, 6)}, lambda t: [F.max_pool2d(t["x"], 2, 1, 0, dilation=2)], symbolic=("x",)),
    case("MaxPool-after-Relu-ties", [node("Relu", ["x"], ["r"]), node("MaxPool", ["r"], kernel_shape=[2, 2],
                                                                      strides=[2, 2])],
         {"x": randn(2, 3, 6, 6) - 1.0}, lambda t: [F.max_pool2d(F.relu(t["x"]), 2, 2)]),
    # reductions
    case("ReduceSum-axis", node("ReduceSum", ["x", "ax"], keepdims=0), {"x": randn(2, 3, 4)},
         lambda t: [t["x"].sum(1)], consts={"ax": np.array([1], np.int64)}),
    case("ReduceSum-all", node("ReduceSum", ["x"], keepdims=1), {"x": randn(2, 3, 4)},
         lambda t: [t["x"].sum().reshape(1, 1, 1)]),
    case("ReduceMean-attr", node("ReduceMean", ["x"], axes=[0, 2], keepdims=1), {"x": randn(2, 3, 4)},
         lambda t: [t["x"].mean((0, 2), keepdim=True)]),
    case("ReduceMean-opset18", node("ReduceMean", ["x", "ax"], keepdims=0), {"x": randn(2, 3, 4)},
         lambda t: [t["x"].mean(-1)], consts={"ax": np.array([-1], np.int64)}, opset=18),
    case("ReduceMean-dynamic", node("ReduceMean", ["x"], axes=[0, 2, 3], keepdims=1), {"x": randn(2, 3, 4, 2)},
         lambda t: [t["x"].mean((0, 2, 3), keepdim=True)], symbolic=("x",)),
    # data movement
    case("Reshape", node("Reshape", ["x", "s"]), {"x": randn(2, 3, 4)}, lambda t: [t["x"].reshape(6, 4)],
         consts={"s": np.array([6, -1], np.int64)}),
    case("Flatten", node("Flatten", ["x"], axis=2), {"x": randn(2, 3, 4, 5)}, lambda t: [t["x"].reshape(6, 20)]),
    case("Squeeze", node("Squeeze", ["x", "ax"]), {"x": randn(2, 1, 4)}, lambda t: [t["x"][:, 0]],
         consts={"ax": np.array([1], np.int64)}),
    case("Unsqueeze", node("Unsqueeze", ["x", "ax"]), {"x": randn(2, 4)}, lambda t: [t["x"][:, None, :, None]],
         consts={"ax": np.array([1, 3], np.int64)}),
    case("Transpose", node("Transpose", ["x"], perm=[2, 0, 1]), {"x": randn(2, 3, 4)},
         lambda t: [t["x"].permute(2, 0, 1)]),
    case("Expand", node("Expand", ["x", "s"]), {"x": randn(3, 1)}, lambda t: [t["x"].expand(2, 3, 4)],
         consts={"s": np.array([2, 3, 4], np.int64)}),
    case("Concat", node("Concat", ["a", "b", "c"], axis=1), {"a": randn(2, 1, 3), "b": randn(2, 4, 3),
                                                             "c": randn(2, 2, 3)},
         lambda t: [torch.cat([t["a"], t["b"], t["c"]], 1)]),
    case("Concat-dynamic", node("Concat", ["a", "b"], axis=-1), {"a": randn(2, 3), "b": randn(2, 2)},
         lambda t: [torch.cat([t["a"], t["b"]], -1)], symbolic=("a", "b")),
    case("Split-two-of-three", node("Split", ["x", "s"], ["y0", "y1", "y2"], axis=1), {"x": randn(2, 6, 3)},
         lambda t: [t["x"][:, :1], t["x"][:, 3:]], consts={"s": np.array([1, 2, 3], np.int64)}, outputs=("y0", "y2")),
    case("Slice", node("Slice", ["x", "st", "en", "ax"]), {"x": randn(4, 5, 6)}, lambda t: [t["x"][:, 1:-1, -4:5]],
         consts={"st": np.array([1, -4], np.int64), "en": np.array([-1, 5], np.int64),
                 "ax": np.array([1, 2], np.int64)}),
    case("Slice-steps", node("Slice", ["x", "st", "en", "ax", "sp"]), {"x": randn(4, 7)},
         lambda t: [torch.flip(t["x"], [0])[:, 1:7:2]],
         consts={"st": np.array([-1, 1], np.int64), "en": np.array([-10**9, 7], np.int64),
                 "ax": np.array([0, 1], np.int64), "sp": np.array([-1, 2], np.int64)}),
    case("Slice-dynamic", [node("Shape", ["x"], ["shp"]), node("Gather", ["shp", "one"], ["n"], axis=0),
                           node("Sub", ["n", "two"], ["end"]), node("Slice", ["x", "st", "end", "ax"])],
         {"x": randn(3, 6)}, lambda t: [t["x"][:, 1:4]], symbolic=("x",),
         consts={"one": np.array([1], np.int64), "two": np.array([2], np.int64), "st": np.array([1], np.int64),
                 "ax": np.array([1], np.int64)}),
    case("Pad", node("Pad", ["x", "p"]), {"x": randn(2, 3, 4)}, lambda t: [F.pad(t["x"], [1, 2, 0, 3])],
         consts={"p": np.array([0, 0, 1, 0, 3, 2], np.int64)}),
    case("Pad-negative", node("Pad", ["x", "p"]), {"x": randn(2, 5, 4)}, lambda t: [F.pad(t["x"], [1, -1, -2, 1])],
         consts={"p": np.array([0, -2, 1, 0, 1, -1], np.int64)}),
    case("Pad-axes", node("Pad", ["x", "p", "", "ax"]), {"x": randn(2, 5, 4)}, lambda t: [F.pad(t["x"], [2, 1])],
         consts={"p": np.array([2, 1], np.int64), "ax": np.array([-1], np.int64)}, opset=18),
    case("Cast-roundtrip", [node("Cast", ["x"], ["d"], to=TensorProto.DOUBLE), node("Mul", ["d", "d"], ["dd"]),
                            node("Cast", ["dd"], to=TensorProto.FLOAT)],
         {"x": randn(3, 4)}, lambda t: [(t["x"].double() ** 2).float()]),
    case("Identity-Dropout", [node("Identity", ["x"], ["i"]), node("Dropout", ["i"])], {"x": randn(3, 4)},
         lambda t: [t["x"]]),
    # indexing
    case("GatherElements-repeats", node("GatherElements", ["x", "i"], axis=1), {"x": randn(3, 4)},
         lambda t: [torch.gather(t["x"], 1, torch.tensor([[0, 0, 3], [1, 2, 1], [3, 3, 3]]))],
         consts={"i": np.array([[0, 0, 3], [1, 2, 1], [3, 3, 3]], np.int64)}),
    case("ScatterElements-add", node("ScatterElements", ["x", "i", "u"], axis=0, reduction="add"),
         {"x": randn(3, 2), "u": randn(2, 2)},
         lambda t: [t["x"].scatter_add(0, torch.tensor([[0, 2], [0, 1]]), t["u"])],
         consts={"i": np.array([[0, 2], [0, 1]], np.int64)}),
    case("ScatterElements-none", node("ScatterElements", ["x", "i", "u"], axis=1),
         {"x": randn(2, 4), "u": randn(2, 2)},
         lambda t: [t["x"].scatter(1, torch.tensor([[3, 0], [1, 2]]), t["u"])],
         consts={"i": np.array([[3, 0], [1, 2]], np.int64)}),
    # normalisation
    case("LayerNormalization", node("LayerNormalization", ["x", "s", "b"]),
         {"x": randn(2, 3, 6), "s": randn(6), "b": randn(6)},
         lambda t: [F.layer_norm(t["x"], (6,), t["s"], t["b"])]),
    case("LayerNormalization-axis1", node("LayerNormalization", ["x", "s"], axis=1, epsilon=1e-3),
         {"x": randn(3, 2, 4), "s": randn(2, 4)}, lambda t: [F.layer_norm(t["x"], (2, 4), t["s"], eps=1e-3)]),
    case("BatchNormalization-inference", node("BatchNormalization", ["x", "s", "b", "m", "v"], epsilon=1e-3),
         {"x": randn(2, 3, 4, 4), "s": randn(3), "b": randn(3), "m": randn(3), "v": positive(3)},
         lambda t: [(t["x"] - t["m"][:, None, None]) / torch.sqrt(t["v"][:, None, None] + 1e-3) * t["s"][:, None, None]
                    + t["b"][:, None, None]]),  # F.batch_norm has no gradient for the statistics
    case("BatchNormalization-as-arithmetic",  # what use_batch_statistics writes, with a symbolic batch
         [node("ReduceMean", ["x"], ["mu"], axes=[0, 2, 3]), node("Sub", ["x", "mu"], ["c"]),
          node("Mul", ["c", "c"], ["sq"]), node("ReduceMean", ["sq"], ["var"], axes=[0, 2, 3]),
          node("Add", ["var", "eps"], ["ve"]), node("Sqrt", ["ve"], ["sd"]), node("Div", ["c", "sd"], ["n"]),
          node("Reshape", ["s", "cs"], ["s4"]), node("Mul", ["n", "s4"], ["y"])],
         {"x": randn(4, 3, 3, 3), "s": randn(3)}, consts={"eps": np.array(1e-5, np.float32),
                                                          "cs": np.array([1, -1, 1, 1], np.int64)},
         fn=lambda t: [F.batch_norm(t["x"], None, None, t["s"], training=True, eps=1e-5)], symbolic=("x",)),
]


def _build(spec, torch_out):
    """The case's graph with loss = sum_k sum(y_k * r_k), the r_k random graph inputs."""
    weights = {f"r_{o}": randn(*t.shape) for o, t in zip(spec["outputs"], torch_out)}
    nodes = list(spec["nodes"]) + dot_loss(list(spec["outputs"]), list(weights), "loss")
    inputs = [value_info(k, v, k in spec["symbolic"]) for k, v in spec["inputs"].items()]
    inputs += [value_info(k, v) for k, v in weights.items()]
    return make(nodes, inputs, spec["consts"], spec["opset"]), weights


@pytest.mark.parametrize("spec", CASES)
def test_rule_first_and_second_order_match_autograd(spec):
    names = list(spec["inputs"])
    leaves = {k: torch.from_numpy(v.copy()).requires_grad_(True) for k, v in spec["inputs"].items()}
    outs = spec["fn"](leaves)
    model, weights = _build(spec, outs)
    feeds = {**spec["inputs"], **weights}
    loss = sum((o * torch.from_numpy(weights[f"r_{n}"])).sum() for o, n in zip(outs, spec["outputs"]))
    ref = torch.autograd.grad(loss, [leaves[k] for k in names], create_graph=True, allow_unused=True)
    grads = append_backward(model, "loss", names)
    onnx.checker.check_model(model)
    got = run(model, feeds, [grads[k] for k in names])
    for k, ours, theirs in zip(names, got, ref):
        theirs = np.zeros_like(ours) if theirs is None else theirs.detach().numpy()
        assert rel_err(ours, theirs) <= TOL, k
    # second order: the pass applied to its own output, d/dx of sum_i <dL/dx_i, v_i>
    vs = {f"v_{k}": randn(*v.shape) for k, v in spec["inputs"].items()}
    model.graph.input.extend(value_info(k, v) for k, v in vs.items())
    model.graph.node.extend(dot_loss([grads[k] for k in names], list(vs), "hv"))
    hv_names = append_backward(model, "hv", names)
    got = run(model, {**feeds, **vs}, [hv_names[k] for k in names])
    live = [(k, g) for k, g in zip(names, ref) if g is not None and g.requires_grad]
    dot = sum((g * torch.from_numpy(vs[f"v_{k}"])).sum() for k, g in live)
    href = (torch.autograd.grad(dot, [leaves[k] for k in names], allow_unused=True) if live
            else [None] * len(names))
    for k, ours, theirs in zip(names, got, href):
        theirs = np.zeros_like(ours) if theirs is None else theirs.numpy(force=True)  # may be a ZeroTensor
        assert rel_err(ours, theirs) <= TOL, f"second order, {k}"


# ----------------------------------------------------------------------------- losses and seeds

def test_cross_entropy_matches_torch_value_gradient_and_curvature():
    logits = randn(6, 5)
    labels = np.array([0, 4, 2, 2, 1, 3], np.int64)
    model = make([node("Identity", ["z"], ["logits"])], [value_info("z", logits)], {}, outputs=())
    loss = add_cross_entropy(model, "logits")
    grads = append_backward(model, loss, ["z"])
    model.graph.input.append(value_info("v", logits))
    model.graph.node.extend(dot_loss([grads["z"]], ["v"], "hv"))
    hv = append_backward(model, "hv", ["z"])
    v = randn(6, 5)
    got = run(model, {"z": logits, "labels": labels, "v": v}, [loss, grads["z"], hv["z"]])
    z = torch.from_numpy(logits).requires_grad_(True)
    ce = F.cross_entropy(z, torch.from_numpy(labels))
    (g,) = torch.autograd.grad(ce, z, create_graph=True)
    (h,) = torch.autograd.grad((g * torch.from_numpy(v)).sum(), z)
    assert abs(got[0] - ce.item()) <= 1e-6
    assert rel_err(got[1], g.detach().numpy()) <= TOL and rel_err(got[2], h.numpy()) <= TOL


def _mlp():
    """x -> Gemm -> Tanh -> Gemm, with the hidden tensor `h` read twice (Tanh and an Add)."""
    w1, w2 = randn(4, 6), randn(6, 3)
    nodes = [node("Gemm", ["x", "w1"], ["h"]), node("Tanh", ["h"], ["t"]), node("Add", ["t", "h"], ["u"]),
             node("Gemm", ["u", "w2"], ["out"])]
    return make(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])], {"w1": w1, "w2": w2},
                outputs=("out",)), w1, w2


def _mlp_torch(x, w1, w2):
    h = x @ w1
    if h.requires_grad:
        h.retain_grad()
    return h, (torch.tanh(h) + h) @ w2


def test_seed_none_differentiates_the_sum_and_a_seed_input_gives_a_vjp():
    x = randn(5, 4)
    for seed in (None, "seed"):
        model, w1, w2 = _mlp()
        grads = append_backward(model, "out", ["x", "w1"], seed=seed)
        s = randn(5, 3)
        got = run(model, {"x": x, "seed": s}, [grads["x"], grads["w1"]])
        xt, w1t = torch.from_numpy(x).requires_grad_(True), torch.from_numpy(w1).requires_grad_(True)
        _, out = _mlp_torch(xt, w1t, torch.from_numpy(w2))
        ref = torch.autograd.grad(out, [xt, w1t], torch.ones_like(out) if seed is None else torch.from_numpy(s))
        assert all(rel_err(a, b.numpy()) <= TOL for a, b in zip(got, ref)), seed


def test_gradient_of_an_intermediate_tensor_is_its_total_adjoint():
    model, w1, w2 = _mlp()
    grads = append_backward(model, "out", ["h", "w2"])  # h feeds two nodes: both contributions summed
    x = randn(5, 4)
    got = run(model, {"x": x}, [grads["h"], grads["w2"]])
    w2t = torch.from_numpy(w2).requires_grad_(True)
    h, out = _mlp_torch(torch.from_numpy(x).requires_grad_(True), torch.from_numpy(w1), w2t)
    out.sum().backward()
    assert rel_err(got[0], h.grad.numpy()) <= TOL and rel_err(got[1], w2t.grad.numpy()) <= TOL


def test_shape_subgraphs_get_no_gradient_and_unreached_tensors_get_zeros():
    # Shape -> Gather -> Concat -> Reshape on the differentiated tensor, and a weight the loss never reads
    nodes = [node("Shape", ["x"], ["s"]), node("Gather", ["s", "zero"], ["n"], axis=0),
             node("Concat", ["n", "minus1"], ["target"], axis=0), node("Reshape", ["x", "target"], ["flat"]),
             node("Mul", ["flat", "flat"], ["sq"]), node("ReduceSum", ["sq"], ["loss"], keepdims=0),
             node("Neg", ["unused"], ["other"])]
    consts = {"zero": np.array([0], np.int64), "minus1": np.array([-1], np.int64), "unused": randn(3)}
    model = make(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 2, 3])], consts)
    grads = append_backward(model, "loss", ["x", "unused"])
    assert not any(n.op_type in ("Shape", "Gather") and n.output[0].startswith("onnxscore_grad")
                   and n.input[0] == "s" for n in model.graph.node)
    x = randn(4, 2, 3)
    gx, gu = run(model, {"x": x}, [grads["x"], grads["unused"]])
    assert rel_err(gx, 2 * x) <= TOL and not gu.any() and gu.shape == (3,)


def test_an_op_without_rule_is_named_with_its_node():
    nodes = [node("Sin", ["x"], ["s"], name="my_sine"), node("ReduceSum", ["s"], ["loss"], keepdims=0)]
    model = make(nodes, [value_info("x", randn(3))], {})
    with pytest.raises(UnsupportedOpError, match=r"Sin node 'my_sine'.*Sin has no gradient rule"):
        append_backward(model, "loss", ["x"])
    bn = make([node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y", "rm", "rv"], training_mode=1),
               node("ReduceSum", ["y"], ["loss"], keepdims=0)], [value_info("x", randn(2, 3, 4))],
              {k: randn(3) for k in "sbmv"})
    with pytest.raises(UnsupportedOpError, match="use_batch_statistics"):
        append_backward(bn, "loss", ["x"])
    with pytest.raises(AutodiffError, match="no tensor 'nope'"):
        append_backward(model, "loss", ["nope"])


def test_every_op_the_rules_emit_has_a_rule_or_no_gradient():
    # The closure the second-order checks rely on, stated directly: collect every op type the rule
    # table writes on the cases above and on an NB201 network.
    from onnxscore.graph.autodiff.registry import RULES as table
    assert {"Conv", "ConvTranspose", "ScatterElements", "GatherElements", "Pad", "Slice"} <= set(table)
    emitted = set()
    for param in CASES:
        spec = param.values[0]
        leaves = {k: torch.from_numpy(v.copy()) for k, v in spec["inputs"].items()}
        model, _ = _build(spec, spec["fn"](leaves))
        append_backward(model, "loss", list(spec["inputs"]))
        emitted |= {n.op_type for n in model.graph.node if n.name.startswith("onnxscore_grad")}
    int_only = {"Gather", "ReduceProd", "Max", "Min", "Size"}  # run on int64 shape tensors only
    assert emitted <= set(RULES) | NO_GRADIENT | int_only, emitted - set(RULES) - NO_GRADIENT - int_only


# ----------------------------------------------------------------------------- NB201, train-mode BN

NB201_ARCHS = ["|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|",
               "|nor_conv_1x1~0|+|none~0|nor_conv_3x3~1|+|avg_pool_3x3~0|none~1|nor_conv_3x3~2|"]


def _nb201(arch, n_cells, monkeypatch):
    """The ONNX NB201 net with batch-statistics BN, CE loss and gradients of the input and of every Conv
    and Gemm weight; its ReLU outputs exposed; and the PyTorch twin holding the same weights."""
    from onnxscore.spaces import nb201
    from onnxscore.spaces import nb201_torch as nt
    monkeypatch.setattr(nb201, "N_CELLS", n_cells)
    model = nb201.build_model(arch, "cifar10", seed=3)
    net = nt.load_weights_from_onnx(nt.build_torch(arch, "cifar10"), model).train()
    use_batch_statistics(model)
    loss = add_cross_entropy(model, "logits")
    wrt = ["input"] + [n.input[1] for n in model.graph.node if n.op_type in ("Conv", "Gemm")]
    relus = [n.output[0] for n in model.graph.node if n.op_type == "Relu"]
    grads = append_backward(model, loss, wrt)
    model.graph.output.extend(helper.make_tensor_value_info(r, TensorProto.FLOAT, None) for r in relus)
    return model, net, loss, wrt, relus, grads


def _torch_grads(net, wrt, x, y, dtype, masks=None):
    """PyTorch's loss and gradients of the input and `wrt`; with `masks` (ReLU output name -> bool array)
    every ReLU uses the given mask, so both sides differentiate the same linear piece of the network."""
    net = net.to(dtype)
    mods = dict(net.named_modules())
    hooks = [mods[r].register_forward_hook(lambda m, i, o, k=torch.from_numpy(k): i[0] * k.to(dtype))
             for r, k in (masks or {}).items()]
    xt = torch.from_numpy(x).to(dtype).requires_grad_(True)
    loss = F.cross_entropy(net(xt), torch.from_numpy(y))
    params = dict(net.named_parameters())
    grads = torch.autograd.grad(loss, [xt] + [params[w] for w in wrt[1:]])
    for h in hooks:
        h.remove()
    return loss.item(), [g.double().numpy() for g in grads]


@pytest.mark.parametrize("arch", NB201_ARCHS, ids=["conv-pool-skip", "conv1x1-none"])
def test_nb201_gradients_match_pytorch(arch, monkeypatch):
    # NB201 with one cell per stage (3 cells + 2 reduction blocks): every op of the space, 14 ReLU sites.
    model, net, loss, wrt, relus, grads = _nb201(arch, 1, monkeypatch)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((8, 3, 32, 32)).astype(np.float32)
    y = rng.integers(0, 10, 8).astype(np.int64)
    got = run(model, {"input": x, "labels": y}, [loss] + [grads[w] for w in wrt] + relus)
    masks = {r: a > 0 for r, a in zip(relus, got[1 + len(wrt):])}
    ref_loss, ref = _torch_grads(net, wrt, x, y, torch.float32, masks)
    assert abs(got[0] - ref_loss) <= 1e-5
    errors = {w: rel_err(a, b) for w, a, b in zip(wrt, got[1:], ref)}
    assert max(errors.values()) <= TOL, errors


def test_nb201_full_depth_gradients_are_as_accurate_as_pytorch_float32(monkeypatch):
    # Full NB201 (5 cells per stage, 50 ReLU sites): its gradients grow ~500x from the head to the stem
    # and float32 rounding is amplified with them. Even with onnxruntime's ReLU masks imposed on both
    # (no flipped kinks), PyTorch float32 is ~1e-2 (elementwise, relative to each tensor's max) from
    # float64. The pass must do as well as PyTorch float32 does, elementwise and in per-tensor norms.
    model, net, loss, wrt, relus, grads = _nb201(NB201_ARCHS[1], 5, monkeypatch)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((16, 3, 32, 32)).astype(np.float32)
    y = rng.integers(0, 10, 16).astype(np.int64)
    got = run(model, {"input": x, "labels": y}, [grads[w] for w in wrt] + relus)
    masks = {r: a > 0 for r, a in zip(relus, got[len(wrt):])}
    got = got[:len(wrt)]
    _, ref32 = _torch_grads(net, wrt, x, y, torch.float32, masks)
    _, ref64 = _torch_grads(net, wrt, x, y, torch.float64, masks)
    norm_err = lambda a, b: abs(np.linalg.norm(a) - np.linalg.norm(b)) / np.linalg.norm(b)  # noqa: E731
    for err in (rel_err, norm_err):
        ours = max(err(a, b) for a, b in zip(got, ref64))
        torch32 = max(err(a, b) for a, b in zip(ref32, ref64))
        assert ours <= 3 * torch32 + 1e-5, (err.__name__, ours, torch32)


# ----------------------------------------------------------------------------- GraSP: Hessian-vector product

def test_grasp_hessian_vector_product_through_batch_norm_matches_double_backward():
    # Conv-BN-ReLU-MaxPool-Conv(groups)-BN-ReLU-GAP-Gemm with train-mode BN. GraSP's h = H g, g = dL/dW
    # held constant, is d/dW of (1/2) sum_W <dL/dW, dL/dW>: the pass applied to its own output.
    rng = np.random.default_rng(2)
    w1 = (rng.standard_normal((8, 3, 3, 3)) * 0.3).astype(np.float32)
    w2 = (rng.standard_normal((8, 4, 3, 3)) * 0.3).astype(np.float32)
    fc = (rng.standard_normal((5, 8)) * 0.3).astype(np.float32)
    fcb = (rng.standard_normal(5) * 0.1).astype(np.float32)
    gamma = (1 + 0.1 * rng.standard_normal(8)).astype(np.float32)
    beta = (0.1 * rng.standard_normal(8)).astype(np.float32)

    nodes = [node("Conv", ["x", "w1"], ["c1"], pads=[1, 1, 1, 1]),
             node("BatchNormalization", ["c1", "g", "b", "m", "v"], ["n1", "rm1", "rv1"], training_mode=1),
             node("Relu", ["n1"], ["r1"]), node("MaxPool", ["r1"], ["p1"], kernel_shape=[3, 3], strides=[2, 2],
                                                pads=[1, 1, 1, 1]),
             node("Conv", ["p1", "w2"], ["c2"], pads=[1, 1, 1, 1], group=2),
             node("BatchNormalization", ["c2", "g", "b", "m", "v"], ["n2", "rm2", "rv2"], training_mode=1),
             node("Relu", ["n2"], ["r2"]), node("GlobalAveragePool", ["r2"], ["gap"]),
             node("Flatten", ["gap"], ["f"]), node("Gemm", ["f", "fc", "fcb"], ["logits"], transB=1)]
    consts = {"w1": w1, "w2": w2, "fc": fc, "fcb": fcb, "g": gamma, "b": beta,
              "m": np.zeros(8, np.float32), "v": np.ones(8, np.float32)}
    model = make(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, 8, 8])], consts,
                 outputs=("logits",))
    use_batch_statistics(model)
    loss = add_cross_entropy(model, "logits")
    weights = ["w1", "w2", "fc"]
    g = append_backward(model, loss, weights)
    model.graph.node.extend(dot_loss([g[w] for w in weights], [g[w] for w in weights], "sq"))
    model.graph.node.append(node("Mul", ["sq", "half"], ["half_sq"]))
    model.graph.initializer.append(numpy_helper.from_array(np.array(0.5, np.float32), "half"))
    h = append_backward(model, "half_sq", weights)
    x = rng.standard_normal((6, 3, 8, 8)).astype(np.float32)
    y = np.array([0, 1, 2, 3, 4, 0], np.int64)
    got = run(model, {"x": x, "labels": y}, [g[w] for w in weights] + [h[w] for w in weights])

    def torch_net(p, xt):
        z = F.relu(F.batch_norm(F.conv2d(xt, p["w1"], padding=1), None, None, p["g"], p["b"], training=True))
        z = F.max_pool2d(z, 3, 2, 1)
        z = F.relu(F.batch_norm(F.conv2d(z, p["w2"], padding=1, groups=2), None, None, p["g"], p["b"], training=True))
        return F.linear(z.mean((2, 3)), p["fc"], p["fcb"])
    for dtype, tol in ((torch.float64, TOL), (torch.float32, TOL)):
        p = {k: torch.from_numpy(v).to(dtype) for k, v in consts.items()}
        for w in weights:
            p[w].requires_grad_(True)
        ce = F.cross_entropy(torch_net(p, torch.from_numpy(x).to(dtype)), torch.from_numpy(y))
        gs = torch.autograd.grad(ce, [p[w] for w in weights], create_graph=True)
        hs = torch.autograd.grad(sum((gi * gi.detach()).sum() for gi in gs), [p[w] for w in weights])
        for k, (ours, theirs) in enumerate(zip(got, [*gs, *hs])):
            assert rel_err(ours, theirs.detach().double().numpy()) <= tol, (dtype, k)
    grasp = -sum(float((w_ * hv).sum()) for w_, hv in zip((w1, w2, fc), got[3:]))
    assert np.isfinite(grasp) and grasp != 0.0
