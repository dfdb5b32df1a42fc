"""An exact float64 copy of a model on onnxruntime's CPU provider, which has no double Conv,
AveragePool or GlobalAveragePool kernels: those become Pad/Slice/Concat/MatMul/ReduceSum/ReduceMean
(im2col), ops with double kernels that the gradient pass also differentiates."""
from __future__ import annotations

import itertools

import numpy as np
import onnx
from onnx import TensorProto, numpy_helper

from onnxscore.graph.autodiff.conv import window
from onnxscore.graph.autodiff.emitter import Emitter, tensor_types
from onnxscore.graph.autodiff.registry import text, unsupported
from onnxscore.graph.view import attr
from onnxscore.proxies.gradient.writer import Writer

SINGLE = frozenset({TensorProto.FLOAT, TensorProto.FLOAT16, TensorProto.BFLOAT16})


def _retype_tensor(t: onnx.TensorProto) -> onnx.TensorProto:
    if t.data_type not in SINGLE:
        return t
    return numpy_helper.from_array(numpy_helper.to_array(t).astype(np.float64), t.name)


def cast_to_double(model: onnx.ModelProto) -> None:
    """Every float tensor, constant and Cast target of `model` becomes float64 (in place)."""
    g = model.graph
    for i, t in enumerate(g.initializer):
        g.initializer[i].CopyFrom(_retype_tensor(t))
    for v in (*g.input, *g.output, *g.value_info):
        if v.type.tensor_type.elem_type in SINGLE:
            v.type.tensor_type.elem_type = TensorProto.DOUBLE
    for n in g.node:
        for a in n.attribute:
            if a.type == onnx.AttributeProto.TENSOR:
                a.t.CopyFrom(_retype_tensor(a.t))
            elif n.op_type in ("Cast", "EyeLike", "RandomNormalLike", "RandomUniformLike") and a.name in (
                    "to", "dtype") and a.i in SINGLE:
                a.i = TensorProto.DOUBLE


def _patches(w: Writer, x: str, dims: list[int], kernel, strides, dilations, pads) -> tuple[list[str], list[int]]:
    """Pad x, then one strided Slice per kernel offset: [N, C, *out] each; and the output sizes."""
    spatial = len(kernel)
    if any(pads):
        x = w.op("Pad", [x, w.ints([0, 0] + list(pads[:spatial]) + [0, 0] + list(pads[spatial:]))])
    sizes = [d + pads[i] + pads[i + spatial] for i, d in enumerate(dims[2:])]
    out = [(s - (k - 1) * dl - 1) // st + 1 for s, k, st, dl in zip(sizes, kernel, strides, dilations)]
    axes = w.ints(range(2, 2 + spatial))
    steps = w.ints(strides)
    slices = []
    for offset in itertools.product(*(range(k) for k in kernel)):
        starts = [o * dl for o, dl in zip(offset, dilations)]
        ends = [s + (n - 1) * st + 1 for s, n, st in zip(starts, out, strides)]
        slices.append(w.op("Slice", [x, w.ints(starts), w.ints(ends), axes, steps]))
    return slices, out


def _conv(model, w: Writer, node: onnx.NodeProto, types: dict) -> None:
    """Conv = MatMul(W as [G, O/G, Cg*K], patches as [N, G, Cg*K, L]) (+ bias)."""
    x, wt = node.input[0], node.input[1]
    dims, wdims = types[x][1], types[wt][1]
    win = window(Emitter(model, w.name("em_"), types, set()), node)
    group, k = win["group"], int(np.prod(win["kernel"]))
    slices, out = _patches(w, x, dims, win["kernel"], win["strides"], win["dilations"], win["pads"])
    stacked = w.op("Concat", [w.op("Unsqueeze", [s, w.ints([2])]) for s in slices], axis=2)  # [N, C, K, *out]
    cols = w.op("Reshape", [stacked, w.ints([dims[0], group, (dims[1] // group) * k, int(np.prod(out))])])
    filters = w.op("Reshape", [wt, w.ints([group, wdims[0] // group, wdims[1] * k])])
    y = w.op("Reshape", [w.op("MatMul", [filters, cols]), w.ints([dims[0], wdims[0]] + out)])
    if len(node.input) > 2 and node.input[2]:
        y = w.op("Add", [y, w.op("Reshape", [node.input[2], w.ints([1, -1] + [1] * len(out))])])
    w.op("Identity", [y], out=node.output[0])


def _average_pool(w: Writer, node: onnx.NodeProto, types: dict) -> None:
    """AveragePool = sum of the window's slices / (window size, or its in-bounds count)."""
    if attr(node, "ceil_mode", 0):
        raise unsupported(node, "ceil_mode=1 has no float64 rewrite")
    x = node.input[0]
    dims = types[x][1]
    spatial = len(dims) - 2
    kernel = list(attr(node, "kernel_shape"))
    strides = list(attr(node, "strides", [1] * spatial))
    dilations = list(attr(node, "dilations", [1] * spatial))
    pads = list(attr(node, "pads", [0] * 2 * spatial))
    if text(node, "auto_pad", "NOTSET") not in ("NOTSET", "VALID"):
        raise unsupported(node, "auto_pad SAME_* has no float64 rewrite")
    slices, out = _patches(w, x, dims, kernel, strides, dilations, pads)
    total = w.op("Sum", slices) if len(slices) > 1 else slices[0]
    if attr(node, "count_include_pad", 0):
        count = np.full(out, float(np.prod(kernel)))
    else:
        ones = np.pad(np.ones(dims[2:]), [(p, q) for p, q in zip(pads[:spatial], pads[spatial:])])
        count = np.zeros(out)
        for offset in itertools.product(*(range(k) for k in kernel)):
            idx = tuple(slice(o * dl, o * dl + (n - 1) * st + 1, st)
                        for o, dl, n, st in zip(offset, dilations, out, strides))
            count += ones[idx]
    w.op("Div", [total, w.const(count, np.float64)], out=node.output[0])


def _global_average_pool(w: Writer, node: onnx.NodeProto, types: dict, opset: int) -> None:
    axes = list(range(2, len(types[node.input[0]][1])))
    if opset >= 18:
        w.op("ReduceMean", [node.input[0], w.ints(axes)], out=node.output[0], keepdims=1)
    else:
        w.op("ReduceMean", [node.input[0]], out=node.output[0], axes=axes, keepdims=1)


def rewrite_for_double(model: onnx.ModelProto) -> None:
    """Replace Conv, AveragePool and GlobalAveragePool by exact double-capable equivalents (in place;
    static shapes needed)."""
    types = tensor_types(model)
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 13)
    old = list(model.graph.node)
    del model.graph.node[:]
    w = Writer(model, "onnxscore_f64_")
    for n in old:
        if n.op_type == "Conv":
            if types.get(n.input[0], (0, None))[1] is None or any(
                    not isinstance(d, int) for d in types[n.input[0]][1] + types[n.input[1]][1]):
                raise unsupported(n, "the float64 Conv rewrite needs static input and weight shapes")
            _conv(model, w, n, types)
        elif n.op_type == "AveragePool":
            _average_pool(w, n, types)
        elif n.op_type == "GlobalAveragePool":
            _global_average_pool(w, n, types, opset)
        else:
            model.graph.node.append(n)
