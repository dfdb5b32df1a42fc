"""Make every BatchNormalization use the statistics of the current batch (PyTorch train mode)."""
from __future__ import annotations

import functools
from typing import Callable

import numpy as np
import onnx
from onnx import helper, numpy_helper

from onnxscore.graph.view import GraphView, NameIndex, all_names, attr, fresh_prefix, tensor_info


def _decompose(model: onnx.ModelProto, node: onnx.NodeProto, opset: int, rank: int, dtype,
               names: set[str], lean: bool = False, constants: dict | None = None,
               shared: dict | None = None) -> list:
    """Batch-statistics BN written with elementary ops (any opset, any execution provider);
    its new tensors are named `<output>__onnxscore_bn_*`, renamed if the model has such names.
    With `lean`, the affine step is left out where it is the identity (see _identity_affine).
    A caller that rewrites many nodes passes `constants` (_constants(model)) and a `shared` dict, in
    which the epsilon, axes and shape initializers are kept so that every node reuses one of each."""
    x, scale, bias = node.input[0], node.input[1], node.input[2]
    y = node.output[0]
    p = fresh_prefix(names, f"{y}__onnxscore_bn")
    axes = [0] + list(range(2, rank))
    eps = float(attr(node, "epsilon", 1e-5))
    npdt = helper.tensor_dtype_to_np_dtype(dtype)
    shared = {} if shared is None else shared

    def const(key, suffix: str, value: Callable[[], np.ndarray]) -> str:
        if key not in shared:
            shared[key] = f"{p}_{suffix}"
            model.graph.initializer.append(numpy_helper.from_array(value(), shared[key]))
        return shared[key]

    eps_name = const(("eps", dtype, eps), "eps", lambda: np.array(eps, dtype=npdt))
    keep_scale, keep_bias = ((not s for s in _identity_affine(model, scale, bias, constants)) if lean
                             else (True, True))

    if ("attrs", rank) not in shared:
        shared[("attrs", rank)] = (helper.make_attribute("keepdims", 1), helper.make_attribute("axes", axes))
    keep, axes_attr = shared[("attrs", rank)]
    if opset >= 18:
        axes_name = const(("axes", rank), "axes", lambda: np.array(axes, dtype=np.int64))

    def reduce_mean(src, dst):
        if opset >= 18:
            return onnx.NodeProto(op_type="ReduceMean", input=[src, axes_name], output=[dst], attribute=[keep])
        return onnx.NodeProto(op_type="ReduceMean", input=[src], output=[dst], attribute=[axes_attr, keep])

    norm = f"{p}_norm" if keep_scale or keep_bias else y
    nodes = [
        reduce_mean(x, f"{p}_mean"),
        helper.make_node("Sub", [x, f"{p}_mean"], [f"{p}_centred"]),
        helper.make_node("Mul", [f"{p}_centred", f"{p}_centred"], [f"{p}_sq"]),
        reduce_mean(f"{p}_sq", f"{p}_var"),
        helper.make_node("Add", [f"{p}_var", eps_name], [f"{p}_vareps"]),
        helper.make_node("Sqrt", [f"{p}_vareps"], [f"{p}_std"]),
        helper.make_node("Div", [f"{p}_centred", f"{p}_std"], [norm]),
    ]
    if keep_scale or keep_bias:
        cshape = const(("cshape", rank), "cshape", lambda: np.array([1, -1] + [1] * (rank - 2), dtype=np.int64))
    if keep_scale:
        nodes.append(helper.make_node("Reshape", [scale, cshape], [f"{p}_scale"]))
    if keep_bias:
        nodes.append(helper.make_node("Reshape", [bias, cshape], [f"{p}_bias"]))
    if keep_scale:
        nodes.append(helper.make_node("Mul", [norm, f"{p}_scale"], [f"{p}_scaled" if keep_bias else y]))
    if keep_bias:
        nodes.append(helper.make_node("Add", [f"{p}_scaled" if keep_scale else norm, f"{p}_bias"], [y]))
    return nodes


def _constants(model: onnx.ModelProto) -> dict:
    """Initializers by name, without those that are also graph inputs (a caller can override them)."""
    fed = {i.name for i in model.graph.input}
    return {t.name: t for t in model.graph.initializer if t.name not in fed}


def _identity_affine(model: onnx.ModelProto, scale: str, bias: str,
                     constants: dict | None = None) -> tuple[bool, bool]:
    """(scale is an all-ones initializer, bias is an all-zeros initializer): PyTorch's default BN init,
    so every untrained network. Multiplying by 1.0 and adding 0.0 change no float (bar -0 + 0 = +0,
    which no sign code or later op can see), so leaving them out keeps every output bitwise."""
    values = _constants(model) if constants is None else constants

    def all_equal(name: str, value: float) -> bool:
        t = values.get(name)
        if t is None or t.external_data:
            return False
        if t.data_type == onnx.TensorProto.FLOAT and t.raw_data:  # the usual case, without to_array's copies
            return bool(np.all(np.frombuffer(t.raw_data, np.float32) == value))
        return bool(np.all(numpy_helper.to_array(t) == value))

    return all_equal(scale, 1.0), all_equal(bias, 0.0)


def _decompose_lean(model: onnx.ModelProto, node: onnx.NodeProto, opset: int, rank: int, dtype,
                    names: set[str], constants: dict | None = None, shared: dict | None = None) -> list:
    """The arithmetic form, its affine step dropped where it is the identity: bitwise the same outputs,
    two full-tensor passes (Mul by scale, Add of bias) fewer per BN of an untrained network."""
    return _decompose(model, node, opset, rank, dtype, names, lean=True, constants=constants, shared=shared)


# (model, node, opset, rank of x, element type, every name in the model) -> the nodes replacing `node`;
# it may add initializers to `model` and must name its new tensors with fresh_prefix(names, ...)
Decomposer = Callable[[onnx.ModelProto, onnx.NodeProto, int, int, int, set], list]
# "arithmetic" is what onnxscore.graph.autodiff differentiates (the default); the scorer's forward
# passes use "lean" (same op types, bitwise the same values; bench/bn_candidates.py measures the rest)
FORMS: dict[str, Decomposer] = {"arithmetic": _decompose, "lean": _decompose_lean}


def use_batch_statistics(model: onnx.ModelProto, only_training_mode: bool = False, info: dict | None = None,
                         form: str | Decomposer = "arithmetic") -> int:
    """Rewrite BatchNormalization into batch-statistics arithmetic in place; return how many.

    Why not training_mode=1: onnxruntime 1.31 computes it wrongly, and differently on every
    run, once any graph optimisation is on and BN has at most 8 channels with PyTorch's default
    init: ConstantSharing merges the all-ones scale with the all-ones running variance (and the
    zero bias with the zero running mean), and the kernel's running-statistics update then
    writes into what it reads (tests/graph/test_batchnorm.py shows it). The rewrite is exact at
    every optimisation level and on every execution provider.
    With `only_training_mode`, only nodes already in training mode are rewritten (--bn exported).
    `form` picks how the statistics are written (a name in FORMS, or a Decomposer): the default,
    "arithmetic", is the one onnxscore.graph.autodiff differentiates.
    """
    decompose = FORMS[form] if isinstance(form, str) else form
    if decompose in (_decompose, _decompose_lean):  # once per model: the initializer lookup, shared constants
        decompose = functools.partial(decompose, constants=_constants(model), shared={})
    view = GraphView(model)

    def selected(n):
        return n.op_type == "BatchNormalization" and (
            not only_training_mode or attr(n, "training_mode", 0) == 1)

    if not any(selected(n) for n in model.graph.node):
        return 0
    info = tensor_info(model) if info is None else info
    new_nodes, count, stats = [], 0, set()
    names = NameIndex(all_names(model))
    for n in model.graph.node:
        if not selected(n):
            new_nodes.append(n)
            continue
        dtype, rank = info.get(n.input[0], (onnx.TensorProto.FLOAT, None))[:2]
        rank = rank or 4  # BN in the wild is almost always on NCHW feature maps
        new_nodes.extend(decompose(model, n, view.opset, rank, dtype or onnx.TensorProto.FLOAT, names))
        stats.update(n.input[3:5])
        count += 1
    del model.graph.node[:]
    model.graph.node.extend(new_nodes)
    _drop_unused(model, stats)
    return count


def _drop_unused(model: onnx.ModelProto, names: set[str]) -> None:
    """Remove running-stat initializers no node reads any more."""
    used = {i for n in model.graph.node for i in n.input}
    keep = [t for t in model.graph.initializer if t.name not in names or t.name in used]
    del model.graph.initializer[:]
    model.graph.initializer.extend(keep)
