"""Gradients of AveragePool, GlobalAveragePool and MaxPool.

An average pool is a per-channel window sum (a convolution with a kernel of ones) divided by the
window's element count, so its adjoint is the matching ConvTranspose, channels folded into the batch.
MaxPool sends each window's gradient to the element its Indices output names, as autograd does."""
from __future__ import annotations

import numpy as np
from onnx import helper

from onnxscore.graph.autodiff.conv import transposed, window
from onnxscore.graph.autodiff.registry import unsupported, vjp
from onnxscore.graph.view import attr


def _check_floor(em, node, win):
    """ceil_mode is accepted only where it gives the same windows as floor mode."""
    if not attr(node, "ceil_mode", 0):
        return
    spatial = len(win["kernel"])
    sizes = (em.dims(node.input[0]) or [None] * (spatial + 2))[2:]
    for i, (n, k, s, d) in enumerate(zip(sizes, win["kernel"], win["strides"], win["dilations"])):
        if not isinstance(n, int) or (n + win["pads"][i] + win["pads"][i + spatial] - (k - 1) * d - 1) % s:
            raise unsupported(node, "ceil_mode=1 makes a window overhang the input")


def _np(em, name):
    return helper.tensor_dtype_to_np_dtype(em.dtype(name))


@vjp("AveragePool")
def average_pool(em, node, grads):
    g, x, y = grads[0], node.input[0], node.output[0]
    win = dict(window(em, node), group=1)
    _check_floor(em, node, win)
    ones_kernel = em.const(np.ones([1, 1] + win["kernel"], dtype=_np(em, x)))
    if attr(node, "count_include_pad", 0) or not any(win["pads"]):
        scaled = em.op("Mul", [g, em.scalar(1.0 / float(np.prod(win["kernel"])), x)])
    else:  # each output divides by the number of real (unpadded) elements in its window
        ones = em.op("ConstantOfShape", [em.op("Concat", [em.ints([1, 1]), em.shape_part(x, 2)], axis=0)],
                     value=helper.make_tensor("value", em.dtype(x), [1], [1]))
        count = em.op("Conv", [ones, ones_kernel], strides=win["strides"], dilations=win["dilations"],
                      pads=win["pads"])
        scaled = em.op("Div", [g, count])
    folded = em.op("Reshape", [scaled, em.op("Concat", [em.ints([-1, 1]), em.shape_part(y, 2)], axis=0)])
    spread = transposed(em, folded, ones_kernel, x, win)
    return [em.reshape_like(spread, x)]


@vjp("GlobalAveragePool")
def global_average_pool(em, node, grads):
    g, x = grads[0], node.input[0]
    sizes = (em.dims(x) or [None, None])[2:]
    if all(isinstance(s, int) for s in sizes):
        count = em.scalar(float(np.prod(sizes)), x)
    else:
        count = em.op("Cast", [em.op("ReduceProd", [em.shape_part(x, 2)], keepdims=0)], to=em.dtype(x))
    return [em.expand_like(em.op("Div", [g, count]), x)]


@vjp("MaxPool")
def max_pool(em, node, grads):
    g, x = grads[0], node.input[0]
    if g is None:  # only the Indices output is read downstream
        return [None]
    if em.opset < 16:
        raise unsupported(node, f"its gradient needs ScatterElements with reduction (opset 16), model has {em.opset}")
    if len(node.output) > 1 and node.output[1] and attr(node, "storage_order", 0) == 0:
        indices = node.output[1]
    else:  # the same pooling again, for the flat position of each window's maximum
        kept = {a.name: helper.get_attribute_value(a) for a in node.attribute if a.name != "storage_order"}
        _, indices = em.op("MaxPool", [x], n_out=2, **kept)
    flat = em.ints([-1])
    static = em.static_dims(x)
    size = em.ints([int(np.prod(static))]) if static is not None else em.op("Reshape", [em.op("Size", [x]), flat])
    zeros = em.op("ConstantOfShape", [size], value=helper.make_tensor("value", em.dtype(x), [1], [0]))
    scattered = em.op("ScatterElements", [zeros, em.op("Reshape", [indices, flat]), em.op("Reshape", [g, flat])],
                      axis=0, reduction="add")
    return [em.reshape_like(scattered, x)]

