"""Model content the ONNX checker lets through but scoring cannot use: names that are not UTF-8
(protobuf then hands out bytes, which break every name lookup) and weights holding NaN or inf
(one NaN weight makes every activation NaN, so the codes say nothing about the network)."""
from __future__ import annotations

import os

import numpy as np
import onnx
from onnx import TensorProto

from onnxscore.errors import InputError
from onnxscore.graph.view import subgraphs

_FLOAT_VIEWS = {TensorProto.FLOAT: np.float32, TensorProto.DOUBLE: np.float64, TensorProto.FLOAT16: np.float16}


def _graphs(graph: onnx.GraphProto):
    """The graph and every If/Loop/Scan body inside it."""
    yield graph
    for n in graph.node:
        for g in subgraphs(n):
            yield from _graphs(g)


def check_names(model: onnx.ModelProto) -> None:
    """Refuse a model whose node, tensor, op or dimension names are not valid UTF-8."""
    for g in _graphs(model.graph):
        fields = [("graph", [g.name])]
        for v in (*g.input, *g.output, *g.value_info):
            fields.append(("tensor", [v.name]))
            if v.type.HasField("tensor_type"):
                fields.append(("dimension", [d.dim_param for d in v.type.tensor_type.shape.dim]))
        fields.append(("initializer", [t.name for t in g.initializer]))
        for n in g.node:
            fields += [("node", [n.name]), ("op type", [n.op_type, n.domain]), ("tensor", [*n.input, *n.output])]
        for what, values in fields:
            bad = next((v for v in values if isinstance(v, bytes)), None)
            if bad is not None:
                raise InputError(f"the model has a {what} name that is not valid UTF-8 text ({bad!r}); "
                                 "re-export or rename it so that every name is UTF-8")


def _values(t: TensorProto, base_dir: str | None) -> np.ndarray | None:
    """A float tensor's values as a flat array (a view where possible), or None if not a float type."""
    if t.data_type == TensorProto.BFLOAT16:
        view = np.uint16
    elif t.data_type in _FLOAT_VIEWS:
        view = _FLOAT_VIEWS[t.data_type]
    else:
        return None
    if t.data_location == TensorProto.EXTERNAL:
        info = {e.key: e.value for e in t.external_data}
        path = os.path.join(base_dir or "", info.get("location", ""))
        count = int(np.prod(t.dims, dtype=np.int64))
        if not os.path.isfile(path) or count == 0:
            return None  # onnxruntime reports a missing data file itself
        try:
            return np.memmap(path, dtype=view, mode="r", offset=int(info.get("offset", 0)), shape=(count,))
        except (ValueError, OSError):  # a short or unreadable file: onnxruntime reports it when loading
            return None
    if t.raw_data:
        return np.frombuffer(t.raw_data, dtype=view)
    if t.data_type == TensorProto.FLOAT:
        return np.asarray(t.float_data, dtype=np.float32)
    if t.data_type == TensorProto.DOUBLE:
        return np.asarray(t.double_data, dtype=np.float64)
    bits = np.asarray(t.int32_data, dtype=np.int32).astype(np.uint16)  # 16-bit floats are stored as int32
    return bits if view is np.uint16 else bits.view(np.float16)


def _bad_count(values: np.ndarray) -> int:
    if values.dtype == np.uint16:  # bfloat16: exponent all ones is inf or NaN
        return int(np.count_nonzero((values & 0x7F80) == 0x7F80))
    return int(values.size - np.count_nonzero(np.isfinite(values)))


def _weights(model: onnx.ModelProto, base_dir: str | None):
    """(name, float values) of every initializer the graph reads and of every Constant node."""
    read: set[str] = set()
    for g in _graphs(model.graph):
        for n in g.node:
            read.update(n.input)
        read.update(o.name for o in g.output)
    for g in _graphs(model.graph):
        for t in g.initializer:
            if t.name in read:
                yield t.name, _values(t, base_dir)
        for n in g.node:
            if n.op_type != "Constant":
                continue
            for a in n.attribute:
                if a.name == "value":
                    yield n.output[0], _values(a.t, None)
                elif a.name == "value_float":
                    yield n.output[0], np.asarray([a.f], np.float32)
                elif a.name == "value_floats":
                    yield n.output[0], np.asarray(list(a.floats), np.float32)


POOLED_MAX = 1 << 18  # elements: larger tensors are checked on their own, never copied


def check_finite_weights(model: onnx.ModelProto, base_dir: str | None = None) -> None:
    """Refuse NaN or infinite values in the float initializers and Constant nodes the graph reads.
    Small in-memory weights of one type are checked in one pass over their concatenation (a model has
    thousands of small tensors); only when that finds a bad value are they looked at one by one."""
    pooled: dict[np.dtype, list] = {}
    for name, values in _weights(model, base_dir):
        if values is None:
            continue
        if isinstance(values, np.memmap) or values.size > POOLED_MAX:
            _raise_if_bad(name, values)
        else:
            pooled.setdefault(values.dtype, []).append((name, values))
    for group in pooled.values():
        if _bad_count(np.concatenate([v for _, v in group])):
            for name, values in group:
                _raise_if_bad(name, values)


def _raise_if_bad(name: str, values: np.ndarray) -> None:
    bad = _bad_count(values)
    if bad:
        raise InputError(
            f"weight '{name}' holds {bad} NaN or infinite value(s) of {values.size}; NaN weights make "
            "every activation NaN: re-export the model with finite weights"
        )
