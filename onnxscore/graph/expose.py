"""Expose each activation site as a graph output holding its sign code (computed in the graph).

Two forms: a BOOL tensor (1 byte per unit; NumPy packs it afterwards, the fastest path), or,
when memory is the limit, bits packed in the graph (1 bit per unit: Greater -> Cast ->
MatMulInteger with [128, 64, ..., 1], the layout of np.packbits along the units).
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from onnxscore.graph.sites import Site
from onnxscore.graph.view import all_names, fresh_prefix, infer_tensors, tensor_info

SITE_PREFIX = "onnxscore_site_"
BIT_WEIGHTS = np.array([[128], [64], [32], [16], [8], [4], [2], [1]], dtype=np.uint8)


def site_shapes(model: onnx.ModelProto, input_name: str, sample_shape: tuple[int, ...],
                sites: list[Site], info: dict | None = None) -> list[tuple[int, ...] | None]:
    """Per-sample shape of each site tensor, inferred with the input's sizes filled in
    (`info` from view.infer_tensors when the caller already has it)."""
    if info is None:
        info = infer_tensors(model, input_name, sample_shape)
    return [info[s.tensor][2] if s.tensor in info else None for s in sites]


def _zero(model: onnx.ModelProto, dtype: int, cache: dict, prefix: str) -> str:
    if dtype not in cache:
        cache[dtype] = f"{prefix}zero_{dtype}"
        zero = np.zeros((), dtype=helper.tensor_dtype_to_np_dtype(dtype))
        model.graph.initializer.append(numpy_helper.from_array(zero, cache[dtype]))
    return cache[dtype]


def _packed_nodes(model: onnx.ModelProto, code: str, out: str, units: int) -> list:
    """bool (N, ...) -> uint8 (N, ceil(units/8)) in np.packbits order."""
    g = model.graph
    padded = -(-units // 8) * 8
    p = f"{out}_pack"
    g.initializer.extend([
        numpy_helper.from_array(np.array([0, units], np.int64), f"{p}_flat"),
        numpy_helper.from_array(np.array([0, 0, 0, padded - units], np.int64), f"{p}_pads"),
        numpy_helper.from_array(np.array([0, padded // 8, 8], np.int64), f"{p}_bytes"),
        numpy_helper.from_array(np.array([0, padded // 8], np.int64), f"{p}_rows"),
        numpy_helper.from_array(BIT_WEIGHTS, f"{p}_weights"),
    ])
    nodes = [helper.make_node("Reshape", [code, f"{p}_flat"], [f"{p}_f"]),
             helper.make_node("Cast", [f"{p}_f"], [f"{p}_u8"], to=TensorProto.UINT8)]
    last = f"{p}_u8"
    if padded != units:
        nodes.append(helper.make_node("Pad", [last, f"{p}_pads"], [f"{p}_padded"]))
        last = f"{p}_padded"
    nodes += [helper.make_node("Reshape", [last, f"{p}_bytes"], [f"{p}_b"]),
              helper.make_node("MatMulInteger", [f"{p}_b", f"{p}_weights"], [f"{p}_i32"]),
              helper.make_node("Reshape", [f"{p}_i32", f"{p}_rows"], [f"{p}_i32r"]),
              helper.make_node("Cast", [f"{p}_i32r"], [out], to=TensorProto.UINT8)]
    return nodes


def expose_sites(model: onnx.ModelProto, sites: list[Site], packed_units: list[int | None] | None = None,
                 info: dict | None = None) -> list[str]:
    """Append one output per site (in place): `Greater(tensor, 0)` as BOOL, or packed bits
    where `packed_units[i]` gives the site's units per sample. Returns the output names."""
    info = tensor_info(model) if info is None else info
    g = model.graph
    prefix = fresh_prefix(all_names(model), SITE_PREFIX)
    zeros: dict[int, str] = {}
    names = []
    for i, site in enumerate(sites):
        dtype = info.get(site.tensor, (TensorProto.FLOAT,))[0] or TensorProto.FLOAT
        out = f"{prefix}{site.index}"
        units = packed_units[i] if packed_units else None
        code = f"{out}_code" if units else out
        g.node.append(helper.make_node("Greater", [site.tensor, _zero(model, dtype, zeros, prefix)], [code], name=out))
        if units:
            g.node.extend(_packed_nodes(model, code, out, units))
            g.output.append(helper.make_tensor_value_info(out, TensorProto.UINT8, None))
        else:
            g.output.append(helper.make_tensor_value_info(out, TensorProto.BOOL, None))
        names.append(out)
    return names
