"""Gradients of Conv and ConvTranspose (any spatial rank, groups, strides, dilations, pads, auto_pad).

The input gradient of a Conv is a ConvTranspose with the same weight, and the other way round. The
weight gradient of either is itself a grouped Conv: with batch and channel axes swapped, the output
gradient becomes the filter bank, original strides become dilations and dilations become strides."""
from __future__ import annotations

import math

import numpy as np

from onnxscore.graph.autodiff.registry import text, unsupported, vjp
from onnxscore.graph.view import attr


def window(em, node) -> dict:
    """group, kernel, strides, dilations and explicit pads of a Conv-like node (auto_pad resolved);
    kernel sizes are None where the weight is only sized at run time (a weight-gradient Conv)."""
    x = node.input[0]
    spatial = em.rank(x) - 2
    kernel = attr(node, "kernel_shape") or (em.dims(node.input[1]) or [None] * (spatial + 2))[2:]
    kernel = [k if isinstance(k, int) else None for k in kernel]
    strides = list(attr(node, "strides", [1] * spatial))
    dilations = list(attr(node, "dilations", [1] * spatial))
    auto_pad = text(node, "auto_pad", "NOTSET")
    if auto_pad in ("NOTSET", ""):
        pads = list(attr(node, "pads", [0] * (2 * spatial)))
    elif auto_pad == "VALID":
        pads = [0] * (2 * spatial)
    else:
        if node.op_type == "ConvTranspose":
            raise unsupported(node, f"auto_pad={auto_pad}")
        sizes = (em.dims(x) or [None] * (spatial + 2))[2:]
        if not all(isinstance(s, int) for s in sizes + kernel):
            raise unsupported(node, f"auto_pad={auto_pad} with input or kernel sizes unknown before run time")
        begin, end = [], []
        for size, k, s, d in zip(sizes, kernel, strides, dilations):
            total = max((math.ceil(size / s) - 1) * s + (k - 1) * d + 1 - size, 0)
            small, large = total // 2, total - total // 2
            begin.append(small if auto_pad == "SAME_UPPER" else large)
            end.append(large if auto_pad == "SAME_UPPER" else small)
        pads = begin + end
    return {"group": attr(node, "group", 1), "kernel": list(kernel), "strides": strides,
            "dilations": dilations, "pads": pads}


def _spatial_axes(spatial: int) -> list[int]:
    return list(range(2, 2 + spatial))


def crop_to(em, t, like, spatial, exact: bool) -> str:
    """`t` cut to the spatial size of `like` (unless the sizes are already known to agree)."""
    if exact:
        return t
    return em.op("Slice", [t, em.ints([0] * spatial), em.shape_part(like, 2), em.ints(_spatial_axes(spatial))])


def transposed(em, g, w, x, win) -> str:
    """ConvTranspose(g, w) shaped exactly like `x`: the adjoint of Conv(x, w) (and of a window sum)."""
    spatial = len(win["kernel"])
    sizes = (em.dims(x) or [None] * (spatial + 2))[2:]
    static = all(isinstance(s, int) for s in sizes + win["kernel"])
    extra = []  # the rows of x past the last full window get no gradient but must exist
    for i, (k, s, d) in enumerate(zip(win["kernel"], win["strides"], win["dilations"])):
        extra.append((sizes[i] + win["pads"][i] + win["pads"][i + spatial] - (k - 1) * d - 1) % s if static
                     else s - 1)
    if all(s == 1 for s in win["strides"]) and _fits_flipped(win) and em.static_dims(w) is not None \
            and _about_as_large(em.static_dims(g), sizes):
        out = em.op("Conv", [g, flipped(em, w, win["group"], spatial)], group=win["group"],
                    dilations=win["dilations"], pads=_flipped_pads(win))
        em.declare(out, em.dtype(x), [None] * (spatial + 2))
        return crop_to(em, out, x, spatial, static)
    out = em.op("ConvTranspose", [g, w], group=win["group"], strides=win["strides"], dilations=win["dilations"],
                pads=win["pads"], output_padding=extra)
    em.declare(out, em.dtype(x), [None] * (spatial + 2))  # inference cannot size a run-time kernel
    return crop_to(em, out, x, spatial, static)


def _about_as_large(g_dims, x_sizes) -> bool:
    """The flipped Conv costs one kernel per position of x, the ConvTranspose one per position of g:
    flip only when g has at least half as many positions (a "same" Conv). A weight-gradient Conv
    differentiated again has g of 1x1 against x of 14x14, where the Conv was 200x the work (ResNet-50's
    HVP: 650 s in such Convs at B = 2)."""
    if g_dims is None or not all(isinstance(s, int) for s in x_sizes):
        return False
    return 2 * math.prod(g_dims[2:]) >= math.prod(x_sizes)


def _reach(win) -> list[int]:
    return [(k - 1) * d for k, d in zip(win["kernel"], win["dilations"])]


def _fits_flipped(win) -> bool:
    """A stride-1 ConvTranspose equals a Conv with the flipped kernel when no pad exceeds the reach."""
    if not all(isinstance(k, int) for k in win["kernel"]):
        return False
    reach = _reach(win)
    return all(p <= r for p, r in zip(win["pads"], reach + reach))


def _flipped_pads(win) -> list[int]:
    reach = _reach(win)
    return [r - p for p, r in zip(win["pads"], reach + reach)]


def flipped(em, w: str, group: int, spatial: int) -> str:
    """W [O, C/G, *k] -> [C, O/G, *k] with every kernel reversed in space: the kernel of the Conv that
    equals ConvTranspose(., W) at stride 1 (onnxruntime's CPU Conv is 2-3x faster than its
    ConvTranspose on NB201's shapes). Built from differentiable ops, so a second pass sees through it."""
    o, cg, *k = em.static_dims(w)
    t = em.op("Reshape", [w, em.ints([group, o // group, cg] + k)])
    t = em.op("Transpose", [t], perm=[0, 2, 1] + list(range(3, 3 + spatial)))
    t = em.op("Reshape", [t, em.ints([group * cg, o // group] + k)])
    big = np.iinfo(np.int64).min
    t = em.op("Slice", [t, em.ints([-1] * spatial), em.ints([big] * spatial), em.ints(_spatial_axes(spatial)),
                        em.ints([-1] * spatial)])
    return em.declare(t, em.dtype(w), [group * cg, o // group] + k)


def weight_grad(em, inp, g, w, win) -> str:
    """d/dW of Conv(inp, W) = g, shaped like `w` [C_out, C_in / group, *kernel]: a grouped Conv of the
    input (batch as channels, padded by the Conv's own pads) with g (batch as input channels) as the
    filter bank."""
    spatial = len(win["kernel"])
    group, tail, dtype = win["group"], list(range(3, 3 + spatial)), em.dtype(inp)
    begin, end = list(win["pads"][:spatial]), list(win["pads"][spatial:])
    sizes = (em.dims(inp) or [None] * (spatial + 2))[2:]
    exact = all(isinstance(k, int) for k in win["kernel"]) and all(isinstance(n, int) for n in sizes)
    crop = [0] * spatial
    if exact:  # rows past the last window would widen the result: drop them from the end padding first
        for i, (n, k, st, d) in enumerate(zip(sizes, win["kernel"], win["strides"], win["dilations"])):
            unused = (n + begin[i] + end[i] - (k - 1) * d - 1) % st
            end[i] -= min(unused, end[i])
            crop[i] = unused - (win["pads"][spatial + i] - end[i])
    if any(crop):  # and what the padding cannot absorb from the input itself
        inp = em.op("Slice", [inp, em.ints([0] * spatial), em.ints([n - c for n, c in zip(sizes, crop)]),
                              em.ints(_spatial_axes(spatial))])
    if group == 1:
        z = em.op("Transpose", [inp], perm=[1, 0] + _spatial_axes(spatial))  # [C_in, N, *S]
    else:  # [N, G*Cg, *S] -> [Cg, G*N, *S], channel (g, n) = sample n's channel g*Cg + c
        split = em.op("Reshape", [inp, em.op("Concat", [em.ints([0, group, -1]), em.shape_part(inp, 2)], axis=0)])
        swapped = em.op("Transpose", [split], perm=[2, 1, 0] + tail)
        z = em.op("Reshape", [swapped, em.op("Concat", [em.ints([0, -1]), em.shape_part(inp, 2)], axis=0)])
    filters = em.op("Transpose", [g], perm=[1, 0] + _spatial_axes(spatial))  # [C_out, N, *S_out]
    dw = em.op("Conv", [z, filters], group=group, strides=win["dilations"], dilations=win["strides"],
               pads=begin + end)
    em.declare(dw, dtype, [None] * (spatial + 2))  # inference cannot size a run-time kernel
    if not exact:
        dw = em.op("Slice", [dw, em.ints([0] * spatial), em.shape_part(w, 2), em.ints(_spatial_axes(spatial))])
    return em.op("Transpose", [dw], perm=[1, 0] + _spatial_axes(spatial))


def _bias_grad(em, g, rank) -> str:
    return em.op("ReduceSum", [g, em.ints([0] + list(range(2, rank)))], keepdims=0)


@vjp("Conv")
def conv(em, node, grads):
    g, x, w = grads[0], node.input[0], node.input[1]
    b = node.input[2] if len(node.input) > 2 else ""
    win = window(em, node)
    dx = transposed(em, g, w, x, win) if em.needs(x) else None
    dw = weight_grad(em, x, g, w, win) if em.needs(w) else None
    db = _bias_grad(em, g, em.rank(x)) if em.needs(b) else None
    return [dx, dw, db]


@vjp("ConvTranspose")
def conv_transpose(em, node, grads):
    if attr(node, "output_shape") is not None:
        raise unsupported(node, "output_shape is set (give pads and output_padding instead)")
    g, x, w = grads[0], node.input[0], node.input[1]
    b = node.input[2] if len(node.input) > 2 else ""
    win = window(em, node)
    spatial = len(win["kernel"])
    padding = list(attr(node, "output_padding", [0] * spatial))
    dx = dw = db = None
    if em.needs(x):  # the adjoint of a transposed convolution is the convolution with the same weight
        out = em.op("Conv", [g, w], group=win["group"], strides=win["strides"], dilations=win["dilations"],
                    pads=win["pads"])
        em.declare(out, em.dtype(x), [None] * (spatial + 2))
        dx = crop_to(em, out, x, spatial, all(p < s for p, s in zip(padding, win["strides"])))
    if em.needs(w):  # y = ConvT(x, W) reads like a Conv of g's positions: W's gradient swaps x and g
        dw = weight_grad(em, g, x, w, win)
    if em.needs(b):
        db = _bias_grad(em, g, em.rank(x))
    return [dx, dw, db]
