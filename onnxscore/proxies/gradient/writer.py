"""Appends named nodes and constants to a model under one fresh prefix (one per graph section)."""
from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

from onnxscore.graph.view import all_names, fresh_prefix


class Writer:
    """Node writer for a graph section: every tensor it creates is `<prefix><count>_<stem>`."""

    def __init__(self, model: onnx.ModelProto, base: str):
        self.model = model
        self.prefix = fresh_prefix(all_names(model), base)
        self._count = 0

    def name(self, stem: str) -> str:
        self._count += 1
        return f"{self.prefix}{self._count}_{stem}"

    def op(self, op_type: str, inputs: list[str], out: str | None = None, **attrs) -> str:
        out = out or self.name(op_type)
        self.model.graph.node.append(helper.make_node(op_type, list(inputs), [out], name=out, **attrs))
        return out

    def const(self, value, dtype=None) -> str:
        name = self.name("const")
        self.model.graph.initializer.append(numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def ints(self, values) -> str:
        return self.const(list(values), np.int64)

    def reduce_sum(self, x: str, axes: list[int] | None, keepdims: int = 0) -> str:
        """ReduceSum over `axes` (all axes when None), opset >= 13 form."""
        if axes is None:
            return self.op("ReduceSum", [x], keepdims=keepdims)
        return self.op("ReduceSum", [x, self.ints(axes)], keepdims=keepdims)

    def output(self, name: str) -> str:
        """Make `name` a graph output (type left to onnxruntime)."""
        self.model.graph.output.append(onnx.ValueInfoProto(name=name))
        return name
