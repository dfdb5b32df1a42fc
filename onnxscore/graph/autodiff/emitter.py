"""Writes the backward nodes: fresh names, shared constants, shape queries and broadcast reduction."""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from onnxscore.graph.autodiff.registry import AutodiffError
from onnxscore.graph.view import GraphView, shape_inferred

FLOAT_TYPES = frozenset({TensorProto.FLOAT, TensorProto.DOUBLE, TensorProto.FLOAT16, TensorProto.BFLOAT16})
Dim = int | str | None  # a static size, a symbol ("batch"), or unknown


def tensor_types(model: onnx.ModelProto) -> dict[str, tuple[int, list[Dim] | None]]:
    """Tensor name -> (element type, dims or None) from one best-effort shape inference.

    Full dims, symbols included (view.infer_tensors keeps per-sample sizes only): reducing a
    broadcast gradient needs to know which axes of two tensors are the same."""
    g = shape_inferred(model).graph  # best effort: rules that need a shape say so
    out: dict[str, tuple[int, list[Dim] | None]] = {}
    for v in (*g.value_info, *g.input, *g.output):
        if not v.type.HasField("tensor_type"):
            continue
        tt = v.type.tensor_type
        dims = None
        if tt.HasField("shape"):
            dims = [d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in tt.shape.dim]
        known = out.get(v.name)
        if known is None or (known[1] is None and dims is not None):
            out[v.name] = (tt.elem_type, dims)
    for t in g.initializer:
        out[t.name] = (t.data_type, list(t.dims))
    for n in g.node:  # Constant nodes: inference may leave them out
        if n.op_type == "Constant" and n.output[0] not in out:
            for a in n.attribute:
                if a.name == "value":
                    out[n.output[0]] = (a.t.data_type, list(a.t.dims))
    return out


class Emitter:
    """Node writer for one backward pass; `active` holds the tensors whose gradient is wanted."""

    def __init__(self, model: onnx.ModelProto, prefix: str, types: dict, active: set[str]):
        self.model = model
        self.view = GraphView(model)
        self.opset = self.view.opset
        self.prefix = prefix
        self.types = types
        self.active = active
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.declared: dict[str, tuple] = {}  # emitted tensors of known type, written out as value_info
        self._count = 0
        self._consts: dict[tuple, str] = {}
        self._shapes: dict[str, str] = {}

    # ---- writing nodes

    def fresh(self, stem: str) -> str:
        self._count += 1
        return f"{self.prefix}t{self._count}_{stem}"

    def op(self, op_type: str, inputs: list[str], n_out: int = 1, **attrs):
        """Append one node; its output name (or list of names when n_out > 1)."""
        outs = [self.fresh(op_type) for _ in range(n_out)]
        self.nodes.append(helper.make_node(op_type, list(inputs), outs, name=outs[0], **attrs))
        return outs[0] if n_out == 1 else outs

    def const(self, value: np.ndarray) -> str:
        """An initializer holding `value`, shared by every rule that asks for the same one."""
        value = np.asarray(value)  # not ascontiguousarray: it turns a 0-d array into 1-d
        key = (value.dtype.str, value.shape, value.tobytes())
        if key not in self._consts:
            name = self.fresh("const")
            self.initializers.append(numpy_helper.from_array(value, name))
            self._consts[key] = name
        return self._consts[key]

    def ints(self, values) -> str:
        return self.const(np.asarray(list(values), dtype=np.int64))

    def scalar(self, value: float, like: str) -> str:
        """A 0-d constant of `like`'s element type."""
        return self.const(np.asarray(value, dtype=helper.tensor_dtype_to_np_dtype(self.dtype(like))))

    # ---- what is known about a tensor

    def declare(self, name: str, dtype: int, dims: list[Dim] | None) -> str:
        """Record the type of a tensor a rule emitted: for rules that differentiate it in this pass,
        and (as value_info) for the next pass, where shape inference may not see through it."""
        self.types[name] = self.declared[name] = (dtype, dims)
        return name

    def needs(self, name: str) -> bool:
        return bool(name) and name in self.active

    def dtype(self, name: str) -> int:
        if name not in self.types or not self.types[name][0]:
            raise AutodiffError(f"the element type of tensor '{name}' is unknown (shape inference failed on it)")
        return self.types[name][0]

    def dims(self, name: str) -> list[Dim] | None:
        return self.types.get(name, (0, None))[1]

    def rank(self, name: str) -> int:
        dims = self.dims(name)
        if dims is None:
            raise AutodiffError(f"the rank of tensor '{name}' is unknown; run onnx.shape_inference or declare "
                                "the input shapes so the gradient can be shaped")
        return len(dims)

    def static_dims(self, name: str) -> list[int] | None:
        dims = self.dims(name)
        return list(dims) if dims is not None and all(isinstance(d, int) for d in dims) else None

    def value(self, name: str) -> np.ndarray | None:
        """A tensor's value when it is fixed in the file (an initializer or Constant), else None."""
        return self.view.constant_value(name) if name else None

    # ---- shape helpers (ops on int64 shape tensors carry no gradient)

    def shape(self, name: str) -> str:
        if name not in self._shapes:
            static = self.static_dims(name)
            self._shapes[name] = self.ints(static) if static is not None else self.op("Shape", [name])
        return self._shapes[name]

    def shape_part(self, name: str, start: int, end: int | None = None) -> str:
        """Dims [start:end] of `name` as a 1-D int64 tensor."""
        static = self.static_dims(name)
        if static is not None:
            return self.ints(static[start:end])
        stop = np.iinfo(np.int64).max if end is None else end
        return self.op("Slice", [self.shape(name), self.ints([start]), self.ints([stop])])

    def zeros_like(self, name: str) -> str:
        zero = helper.make_tensor("value", self.dtype(name), [1], [0])
        return self.op("ConstantOfShape", [self.shape(name)], value=zero)

    def ones_like(self, name: str) -> str:
        one = helper.make_tensor("value", self.dtype(name), [1], [1])
        return self.op("ConstantOfShape", [self.shape(name)], value=one)

    def reshape_like(self, g: str, like: str) -> str:
        return self.op("Reshape", [g, self.shape(like)])

    def expand_like(self, g: str, like: str) -> str:
        return self.op("Expand", [g, self.shape(like)])

    def unbroadcast(self, g: str, target: str, result: str | list[Dim]) -> str:
        """Sum `g` over the axes along which `target` was broadcast into it; `result` names a tensor
        shaped like `g` (or gives g's dims)."""
        td = self.dims(target)
        rd = self.dims(result) if isinstance(result, str) else result
        if td is None or rd is None:
            self.rank(target if td is None else result)  # raises, naming the tensor
        lead = len(rd) - len(td)
        axes, dynamic = list(range(lead)), False
        for i, a in enumerate(td):
            b = rd[lead + i]
            if a == 1:
                if b != 1:
                    axes.append(lead + i)
            elif isinstance(a, int) or (a is not None and a == b):
                continue  # a size other than 1 is never broadcast; equal symbols are equal sizes
            else:
                dynamic = True
        if dynamic:  # which axes were broadcast is known only at run time
            padded = self.shape(target) if not lead else self.op(
                "Concat", [self.ints([1] * lead), self.shape(target)], axis=0)
            ones = self.ints([1] * len(rd))
            mask = self.op("And", [self.op("Equal", [padded, ones]),
                                   self.op("Not", [self.op("Equal", [self.op("Shape", [g]), ones])])])
            where = self.op("Reshape", [self.op("NonZero", [mask]), self.ints([-1])])
            summed = self.op("ReduceSum", [g, where], keepdims=1, noop_with_empty_axes=1)
            return self.reshape_like(summed, target)
        if not axes:
            return g
        summed = self.op("ReduceSum", [g, self.ints(axes)], keepdims=1)
        return self.reshape_like(summed, target) if lead else summed
