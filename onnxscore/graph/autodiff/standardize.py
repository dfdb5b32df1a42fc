"""The closed-form gradient of a standardisation n = (x - mean(x)) / sqrt(mean((x - mean(x))^2) + eps).

Batch-statistics BatchNorm (onnxscore.graph.batchnorm) and LayerNormalization are written as these
seven elementary ops. Differentiated op by op they cost about 25 backward nodes, and their outputs
stay alive for the backward; the same gradient in closed form,
    dx = (g - mean(g) - n * mean(g * n)) / std     (means over the same axes),
is 7 nodes that read only n and std. It is exact (the op-by-op result up to float rounding) and made
of ops with rules, so a second pass (GraSP's Hessian-vector product) differentiates it like any other.
A gradient reaching std or the centred tensor from elsewhere still flows through their own rules."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx
from onnx import numpy_helper

from onnxscore.graph.autodiff.reduce import reduced_axes
from onnxscore.graph.autodiff.registry import AutodiffError
from onnxscore.graph.view import attr


@dataclass(frozen=True)
class Standardization:
    x: str  # the tensor standardised
    norm: str  # the Div's output n
    std: str  # sqrt(var + eps), shaped with the reduced axes kept
    axes: tuple[int, ...]


def mean(em, x: str, axes, dims) -> str:
    """ReduceMean over `axes` (keepdims) in the form the model's opset wants, declared."""
    axes = list(axes)
    if em.opset >= 18:
        out = em.op("ReduceMean", [x, em.ints(axes)], keepdims=1)
    else:
        out = em.op("ReduceMean", [x], axes=axes, keepdims=1)
    return em.declare(out, em.dtype(x), None if dims is None else [1 if i in axes else d for i, d in enumerate(dims)])


def _keepdims_mean_axes(em, node) -> tuple[int, ...] | None:
    if node is None or node.op_type != "ReduceMean" or not attr(node, "keepdims", 1):
        return None
    try:
        axes = reduced_axes(em, node)
    except AutodiffError:  # rank unknown, or axes computed at run time without keepdims
        return None
    return tuple(axes) if axes else None  # None: reduces nothing; []: axes known only at run time


def _scalar_constant(em, name: str) -> bool:
    """A one-element constant of the file, or one the emitter wrote (LayerNormalization's epsilon)."""
    value = em.value(name)
    if value is None:
        value = next((numpy_helper.to_array(t) for t in em.initializers if t.name == name), None)
    return value is not None and np.size(value) == 1


def find(em, nodes: list[onnx.NodeProto]) -> dict[str, Standardization]:
    """{Div output: its standardisation} for every Div in `nodes` that ends the seven-op pattern."""
    producer = {o: n for n in nodes for o in n.output if o}
    found = {}
    for div in nodes:
        if div.op_type != "Div" or len(div.input) != 2:
            continue
        centred, std = producer.get(div.input[0]), producer.get(div.input[1])
        if centred is None or std is None or centred.op_type != "Sub" or std.op_type != "Sqrt":
            continue
        x, m = centred.input
        axes = _keepdims_mean_axes(em, producer.get(m))
        if axes is None or producer[m].input[0] != x:
            continue
        add = producer.get(std.input[0])
        if add is None or add.op_type != "Add":
            continue
        var = next((i for i in add.input if i in producer and producer[i].op_type == "ReduceMean"), None)
        eps = next((i for i in add.input if i != var), None)
        if var is None or eps is None or not _scalar_constant(em, eps):
            continue
        if _keepdims_mean_axes(em, producer[var]) != axes:
            continue
        sq = producer.get(producer[var].input[0])
        if sq is None or sq.op_type != "Mul" or list(sq.input) != [div.input[0], div.input[0]]:
            continue
        found[div.output[0]] = Standardization(x, div.output[0], div.input[1], axes)
    return found


def gradient(em, s: Standardization, g: str) -> str:
    """dx for the output gradient g of n."""
    dims = em.dims(s.x)
    m1 = mean(em, g, s.axes, dims)
    gn = em.declare(em.op("Mul", [g, s.norm]), em.dtype(s.x), dims)
    m2 = mean(em, gn, s.axes, dims)
    t = em.declare(em.op("Mul", [s.norm, m2]), em.dtype(s.x), dims)
    a = em.declare(em.op("Sub", [g, m1]), em.dtype(s.x), dims)
    b = em.declare(em.op("Sub", [a, t]), em.dtype(s.x), dims)
    return em.declare(em.op("Div", [b, s.std]), em.dtype(s.x), dims)
