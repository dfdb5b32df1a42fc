"""Gradients of ops that move, copy or re-type elements without arithmetic (Reshape ... Pad, Cast).

Each gradient is the inverse data movement: a Reshape back, the inverse permutation, a Split for
a Concat and a Concat for a Split, a Pad for a Slice and a Slice for a Pad."""
from __future__ import annotations

import numpy as np
from onnx import TensorProto, helper

from onnxscore.graph.autodiff.registry import text, unsupported, vjp
from onnxscore.graph.view import attr

INT64_MAX = np.iinfo(np.int64).max


@vjp("Identity")
def identity(em, node, grads):
    return [grads[0]]


@vjp("Dropout")
def dropout(em, node, grads):
    mode = em.value(node.input[2]) if len(node.input) > 2 and node.input[2] else np.array(False)
    if mode is None or bool(mode):
        raise unsupported(node, "it is in training mode (random masks have no reproducible gradient)")
    return [grads[0]]


@vjp("Reshape", "Flatten", "Squeeze", "Unsqueeze")
def reshape(em, node, grads):
    return [em.reshape_like(grads[0], node.input[0])]


@vjp("Transpose")
def transpose(em, node, grads):
    perm = attr(node, "perm") or list(reversed(range(em.rank(node.input[0]))))
    return [em.op("Transpose", [grads[0]], perm=[int(i) for i in np.argsort(perm)])]


@vjp("Expand")
def expand(em, node, grads):
    return [em.unbroadcast(grads[0], node.input[0], node.output[0]), None]


@vjp("Cast", "CastLike")
def cast(em, node, grads):
    return [em.op("Cast", [grads[0]], to=em.dtype(node.input[0])), None]


def _axis(em, node, name) -> int:
    return attr(node, "axis", 0) % em.rank(name)


@vjp("Concat")
def concat(em, node, grads):
    y, inputs = node.output[0], list(node.input)
    axis = _axis(em, node, y)
    sizes = [(em.dims(x) or [None] * (axis + 1))[axis] for x in inputs]
    if all(isinstance(s, int) for s in sizes):
        split = em.ints(sizes)
    else:
        split = em.op("Concat", [em.shape_part(x, axis, axis + 1) for x in inputs], axis=0)
    parts = em.op("Split", [grads[0], split], n_out=len(inputs), axis=axis)
    parts = parts if len(inputs) > 1 else [parts]
    return [p if em.needs(x) else None for p, x in zip(parts, inputs)]


@vjp("Split")
def split(em, node, grads):
    x = node.input[0]
    axis = _axis(em, node, x)
    parts = [g if g is not None else em.zeros_like(y) for g, y in zip(grads, node.output)]
    return [em.op("Concat", parts, axis=axis)]


def _full_pads(em, node, x, pads):
    """Pads for every axis (`pads` may list only the Pad node's `axes`)."""
    rank = em.rank(x)
    if len(node.input) < 4 or not node.input[3]:
        return pads
    axes = em.value(node.input[3])
    if axes is None:
        raise unsupported(node, "its axes are computed at run time")
    full = np.zeros(2 * rank, dtype=np.int64)
    k = len(axes)
    for j, a in enumerate(int(a) % rank for a in np.ravel(axes)):
        full[a], full[rank + a] = pads[j], pads[k + j]
    return full


@vjp("Pad")
def pad(em, node, grads):
    g, x = grads[0], node.input[0]
    mode = text(node, "mode", "constant")
    if mode != "constant":
        raise unsupported(node, f"mode={mode!r} (only constant padding is differentiated)")
    if len(node.input) > 2 and em.needs(node.input[2]):
        raise unsupported(node, "its constant_value depends on a differentiated tensor")
    rank = em.rank(x)
    value = em.value(node.input[1])
    if value is not None:
        pads = _full_pads(em, node, x, np.ravel(value).astype(np.int64))
        keep_from = np.maximum(pads, 0)[:rank]  # where x's surviving part starts in y
        crop = np.maximum(-pads, 0)  # what padding with negative amounts cut off x
        length = em.op("Sub", [em.shape(x), em.ints(crop[:rank] + crop[rank:])])
        part = em.op("Slice", [g, em.ints(keep_from), em.op("Add", [em.ints(keep_from), length])])
        return [part if not crop.any() else em.op("Pad", [part, em.ints(crop)])]
    if len(node.input) > 3 and node.input[3]:
        raise unsupported(node, "its pads are computed at run time together with axes")
    pads = node.input[1]  # computed at run time: the same steps, in int64 ops
    zero = em.ints([0])
    keep_from = em.op("Slice", [em.op("Max", [pads, zero]), em.ints([0]), em.ints([rank])])
    crop = em.op("Max", [em.op("Neg", [pads]), zero])
    crop_sum = em.op("Add", [em.op("Slice", [crop, em.ints([0]), em.ints([rank])]),
                             em.op("Slice", [crop, em.ints([rank]), em.ints([2 * rank])])])
    part = em.op("Slice", [g, keep_from, em.op("Add", [keep_from, em.op("Sub", [em.shape(x), crop_sum])])])
    return [em.op("Pad", [part, crop])]


def _slice_params(em, node, x):
    """(axes, starts, ends, steps): axes and steps as ints (they must be fixed in the file), starts
    and ends as ints when fixed, else None."""
    rank = em.rank(x)
    names = list(node.input[1:5]) + [""] * (5 - len(node.input))
    starts, ends, axes, steps = (em.value(n) if n else None for n in names)
    if (names[2] and axes is None) or (names[3] and steps is None):
        raise unsupported(node, "its axes or steps are computed at run time")
    if axes is None:
        count = len(np.ravel(starts)) if starts is not None else (em.dims(names[0]) or [None])[0]
        if not isinstance(count, int):
            raise unsupported(node, "it slices an unknown number of axes")
        axes = np.arange(count)
    axes = [int(a) % rank for a in np.ravel(axes)]
    steps = [int(s) for s in np.ravel(steps)] if steps is not None else [1] * len(axes)
    as_list = lambda v: None if v is None else [int(i) for i in np.ravel(v)]  # noqa: E731
    return axes, as_list(starts), as_list(ends), steps


@vjp("Slice")
def slice_(em, node, grads):
    g, x = grads[0], node.input[0]
    rank = em.rank(x)
    axes, starts, ends, steps = _slice_params(em, node, x)
    dims = em.dims(x)
    sizes = [dims[a] for a in axes]
    if any(s != 1 for s in steps):
        return [_strided_slice_grad(em, node, g, x, axes, starts, ends, steps)]
    if starts is not None and ends is not None and all(isinstance(s, int) for s in sizes):
        pads = np.zeros(2 * rank, dtype=np.int64)
        for a, d, b, e in zip(axes, sizes, starts, ends):
            r = range(d)[b:e]  # numpy slicing is ONNX Slice's definition
            first = r.start if len(r) else 0
            pads[a], pads[rank + a] = first, d - first - len(r)
        return [em.op("Pad", [g, em.ints(pads)])]
    # bounds or sizes known only at run time: normalise them as Slice does, in int64 ops
    size = em.op("Gather", [em.shape(x), em.ints(axes)], axis=0)
    zero = em.ints([0])

    def clamp(bound):
        bound = em.op("Cast", [bound], to=TensorProto.INT64)  # Slice also takes int32 bounds
        shifted = em.op("Where", [em.op("Less", [bound, zero]), em.op("Add", [bound, size]), bound])
        return em.op("Min", [em.op("Max", [shifted, zero]), size])
    first, last = clamp(node.input[1]), clamp(node.input[2])
    length = em.op("Max", [em.op("Sub", [last, first]), zero])
    after = em.op("Sub", [em.op("Sub", [size, first]), length])
    slots = em.ints(list(axes) + [rank + a for a in axes])
    pads = em.op("ScatterElements", [em.ints([0] * (2 * rank)), slots, em.op("Concat", [first, after], axis=0)],
                 axis=0)
    return [em.op("Pad", [g, pads])]


def _strided_slice_grad(em, node, g, x, axes, starts, ends, steps):
    """A slice with steps other than 1: each axis's picked positions scattered back, one axis at a time."""
    dims = em.static_dims(x)
    if dims is None or starts is None or ends is None:
        raise unsupported(node, "it has steps other than 1 and shapes or bounds known only at run time")
    shape = list(dims)
    for a, b, e, s in zip(axes, starts, ends, steps):
        shape[a] = len(range(dims[a])[b:e:s])
    for a, b, e, s in zip(axes, starts, ends, steps):
        picked = np.array(list(range(dims[a])[b:e:s]), dtype=np.int64)
        idx_shape = [1] * len(shape)
        idx_shape[a] = len(picked)
        index = em.op("Expand", [em.const(picked.reshape(idx_shape)), em.ints(shape)])
        shape[a] = dims[a]
        zeros = em.op("ConstantOfShape", [em.ints(shape)],
                      value=helper.make_tensor("value", em.dtype(x), [1], [0]))
        g = em.op("ScatterElements", [zeros, index, g], axis=a)
    return g
