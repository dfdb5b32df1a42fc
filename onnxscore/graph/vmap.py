"""vmap for ONNX: give one graph input a new leading axis of any size M and rewrite every node that
depends on it, so that one onnxruntime run computes what M runs (one per slice of that input) would.

Used to run ntk_cond's per-sample backward passes as a few batched runs instead of one run per
sample (the backward graph is linear in its seed). Each op kind has a batching rule below; a graph
with an op outside them raises VmapError and the caller keeps the one-run-per-value loop."""
from __future__ import annotations

import numpy as np
import onnx
from onnx import helper

from onnxscore.errors import OnnxscoreError
from onnxscore.graph.autodiff.emitter import tensor_types
from onnxscore.graph.view import GraphView, attr, fresh_prefix, all_names

ELEMENTWISE = frozenset({
    "Add", "Sub", "Mul", "Div", "Pow", "Sum", "Max", "Min", "Mean", "Where", "Greater", "Less", "Equal",
    "GreaterOrEqual", "LessOrEqual", "And", "Or", "Xor", "Not", "Identity", "Neg", "Relu", "Sigmoid",
    "Tanh", "Exp", "Log", "Sqrt", "Reciprocal", "Abs", "Erf", "Cast", "Sign", "Floor", "Ceil",
    "LeakyRelu", "Elu", "Selu", "HardSigmoid", "Softplus", "Clip", "IsNaN", "IsInf"})
RESHAPING = frozenset({"Reshape", "Flatten", "Squeeze", "Unsqueeze"})  # pure reshapes: known output dims
FOLD_BATCH = frozenset({"ConvTranspose", "AveragePool", "MaxPool", "GlobalAveragePool", "GlobalMaxPool",
                        "LpPool", "GlobalLpPool"})  # ops on [N, C, ...] whose samples are independent
REDUCE = frozenset({"ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1",
                    "ReduceL2", "ReduceSumSquare", "ReduceLogSumExp"})
AXES_INPUT_SINCE = {"ReduceSum": 13}  # other reductions take axes as an input from opset 18


class VmapError(OnnxscoreError):
    """The graph has a node the batching rules do not cover (op and node named)."""


class _Batcher:
    def __init__(self, model: onnx.ModelProto, name: str):
        self.src = model
        self.name = name
        self.types = tensor_types(model)
        self.view = GraphView(model)
        self.opset = self.view.opset
        self.prefix = fresh_prefix(all_names(model), "onnxscore_vmap_")
        self.count = 0
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.consts: dict[tuple, str] = {}
        self.batched = {name}
        self.unbatched: set[str] = set()  # outputs of batched nodes that do not carry M (Shape)
        self._m_shape: str | None = None

    # ---- writing

    def fresh(self, stem: str) -> str:
        self.count += 1
        return f"{self.prefix}{self.count}_{stem}"

    def op(self, op_type: str, inputs: list[str], out: str | None = None, **attrs) -> str:
        name = self.fresh(op_type)
        out = out or name
        self.nodes.append(helper.make_node(op_type, list(inputs), [out], name=name, **attrs))
        return out

    def ints(self, values) -> str:
        key = tuple(int(v) for v in values)
        if key not in self.consts:
            name = self.fresh("ints")
            self.inits.append(onnx.numpy_helper.from_array(np.asarray(key, dtype="int64"), name))
            self.consts[key] = name
        return self.consts[key]

    # ---- what is known

    def dims(self, t: str, node: onnx.NodeProto) -> list[int]:
        dims = self.types.get(t, (0, None))[1]
        if dims is None or not all(isinstance(d, int) for d in dims):
            raise VmapError(f"{node.op_type} node '{node.name}': the shape of '{t}' is not static")
        return list(dims)

    def rank(self, t: str, node: onnx.NodeProto) -> int:
        dims = self.types.get(t, (0, None))[1]
        if dims is None:
            raise VmapError(f"{node.op_type} node '{node.name}': the rank of '{t}' is unknown")
        return len(dims)

    def m_shape(self) -> str:
        """[M] as a 1-D int64 tensor, read from the batched input at run time."""
        if self._m_shape is None:
            self._m_shape = self.op("Shape", [self.name], end=1) if self.opset >= 15 else self.op(
                "Slice", [self.op("Shape", [self.name]), self.ints([0]), self.ints([1])])
        return self._m_shape

    def lift(self, t: str, rank: int, node: onnx.NodeProto) -> str:
        """A batched tensor of logical rank < `rank` unsqueezed after the M axis, so that it broadcasts
        like the unbatched original against tensors of logical rank `rank`."""
        r = self.rank(t, node)
        return t if r >= rank else self.op("Unsqueeze", [t, self.ints(range(1, 1 + rank - r))])

    def tile(self, t: str, node: onnx.NodeProto) -> str:
        """An unbatched tensor repeated along a new M axis."""
        ones = self.ints([1] * self.rank(t, node))
        shape = self.op("Concat", [self.m_shape(), ones], axis=0)
        return self.op("Expand", [self.op("Unsqueeze", [t, self.ints([0])]), shape])

    @staticmethod
    def axis(a: int, rank: int) -> int:
        return (a % rank if rank else 0) + 1

    def const_ints(self, t: str, node: onnx.NodeProto) -> list[int]:
        value = self.view.constant_value(t) if t else None
        if value is None:
            raise VmapError(f"{node.op_type} node '{node.name}': input '{t}' must be a constant")
        return [int(v) for v in value.reshape(-1)]

    # ---- the pass

    def run(self) -> onnx.ModelProto:
        for i in self.view.order:
            n = self.src.graph.node[i]
            if any(x in self.batched for x in n.input if x):
                self.rule(n)
                self.batched.update(o for o in n.output if o and o not in self.unbatched)
            else:
                self.nodes.append(n)
        g = self.src.graph
        inputs = []
        for v in g.input:
            if v.name == self.name:
                elem, dims = self.types[v.name]
                v = helper.make_tensor_value_info(v.name, elem, ["vmap"] + list(dims or []))
            inputs.append(v)
        outputs = [onnx.ValueInfoProto(name=o.name) if o.name in self.batched else o for o in g.output]
        graph = helper.make_graph(self.nodes, g.name, inputs, outputs,
                                  initializer=list(g.initializer) + self.inits,
                                  value_info=[v for v in g.value_info if v.name not in self.batched])
        out = helper.make_model(graph, opset_imports=list(self.src.opset_import))
        out.ir_version = self.src.ir_version
        return out

    def rule(self, n: onnx.NodeProto) -> None:
        op = n.op_type
        if op in ELEMENTWISE:
            return self.elementwise(n)
        if op in RESHAPING:
            return self.reshape(n)
        if op in FOLD_BATCH:
            return self.fold(n)
        if op in REDUCE:
            return self.reduce(n)
        handler = getattr(self, f"op_{op}", None)
        if handler is None:
            raise VmapError(f"no batching rule for {op} (node '{n.name}')")
        handler(n)

    def copy(self, n: onnx.NodeProto, inputs: list[str], **changed) -> None:
        attrs = {a.name: helper.get_attribute_value(a) for a in n.attribute}
        attrs.update(changed)
        self.nodes.append(helper.make_node(n.op_type, inputs, list(n.output), name=n.name, domain=n.domain, **attrs))

    def elementwise(self, n: onnx.NodeProto) -> None:
        ins = [x for x in n.input if x]
        rank = max(self.rank(x, n) for x in ins) if len(ins) > 1 else 0
        new = [self.lift(x, rank, n) if x in self.batched and len(ins) > 1 else x for x in n.input]
        if n.op_type == "Clip" and any(x in self.batched for x in n.input[1:] if x):
            raise VmapError(f"Clip node '{n.name}': batched bounds")
        self.copy(n, new)

    def out_shape(self, n: onnx.NodeProto, lead: str) -> str:
        """[lead] + the node's logical output shape: static when inference knew it, else the node's
        own shape operand (a run-time value) after `lead` ("m" for M, "1" for a broadcast 1)."""
        dims = self.types.get(n.output[0], (0, None))[1]
        if dims is not None and all(isinstance(d, int) for d in dims):
            return self.ints(([-1] if lead == "m" else [1]) + list(dims))
        if n.op_type not in ("Reshape", "Expand"):
            raise VmapError(f"{n.op_type} node '{n.name}': the shape of '{n.output[0]}' is not static")
        head = self.m_shape() if lead == "m" else self.ints([1])
        return self.op("Concat", [head, n.input[1]], axis=0)  # a 0 (copy) entry would be misread

    def reshape(self, n: onnx.NodeProto) -> None:
        if any(x in self.batched for x in n.input[1:] if x):
            raise VmapError(f"{n.op_type} node '{n.name}': a batched shape operand")
        self.op("Reshape", [n.input[0], self.out_shape(n, "m")], out=n.output[0])

    def fold(self, n: onnx.NodeProto) -> None:
        """Fold M into the op's batch axis, run it, unfold."""
        if any(x in self.batched for x in n.input[1:] if x) or len([o for o in n.output if o]) > 1:
            raise VmapError(f"{n.op_type} node '{n.name}': only its first input may be batched")
        x = self.dims(n.input[0], n)
        flat = self.op("Reshape", [n.input[0], self.ints([-1] + x[1:])])
        y = self.fresh(n.op_type)
        self.copy(n, [flat] + list(n.input[1:]))
        self.nodes[-1].output[0] = y
        self.op("Reshape", [y, self.ints([-1] + self.dims(n.output[0], n))], out=n.output[0])

    def reduce(self, n: onnx.NodeProto) -> None:
        r = self.rank(n.input[0], n)
        as_input = self.opset >= AXES_INPUT_SINCE.get(n.op_type, 18)
        axes = (self.const_ints(n.input[1], n) if len(n.input) > 1 and n.input[1] else None) if as_input \
            else attr(n, "axes", None)
        if not axes:
            if as_input and attr(n, "noop_with_empty_axes", 0):
                return self.copy(n, list(n.input))
            axes = list(range(r))
        new = sorted(self.axis(a, r) for a in axes)
        if as_input:
            self.copy(n, [n.input[0], self.ints(new)])
        else:
            self.copy(n, [n.input[0]], axes=new)

    def op_Transpose(self, n: onnx.NodeProto) -> None:
        r = self.rank(n.input[0], n)
        perm = list(attr(n, "perm", None) or reversed(range(r)))
        self.copy(n, [n.input[0]], perm=[0] + [p + 1 for p in perm])

    def op_Expand(self, n: onnx.NodeProto) -> None:
        if n.input[1] in self.batched:
            raise VmapError(f"Expand node '{n.name}': a batched shape operand")
        rank = self.dims(n.input[1], n)[0]
        self.op("Expand", [self.lift(n.input[0], rank, n), self.out_shape(n, "1")], out=n.output[0])

    def _axis_op(self, n: onnx.NodeProto, default: int = 0) -> None:
        r = self.rank(n.input[0], n)
        ins = list(n.input)
        if n.op_type == "Concat":  # every operand needs the M axis
            ins = [x if x in self.batched else self.tile(x, n) for x in ins]
        self.copy(n, ins, axis=self.axis(attr(n, "axis", default), r))

    def op_Concat(self, n: onnx.NodeProto) -> None:
        self._axis_op(n)

    def op_Split(self, n: onnx.NodeProto) -> None:
        if any(x in self.batched for x in n.input[1:] if x):
            raise VmapError(f"Split node '{n.name}': batched split sizes")
        self._axis_op(n)

    def op_Softmax(self, n: onnx.NodeProto) -> None:
        if self.opset < 13:
            raise VmapError(f"Softmax node '{n.name}': opset < 13 flattens axes")
        self._axis_op(n, -1)

    op_LogSoftmax = op_Softmax

    def op_Gather(self, n: onnx.NodeProto) -> None:
        if n.input[1] in self.batched:
            raise VmapError(f"Gather node '{n.name}': batched indices")
        self._axis_op(n)

    def op_Slice(self, n: onnx.NodeProto) -> None:
        if any(x in self.batched for x in n.input[1:] if x):
            raise VmapError(f"Slice node '{n.name}': batched starts/ends")
        r = self.rank(n.input[0], n)
        starts = self.const_ints(n.input[1], n)
        axes = self.const_ints(n.input[3], n) if len(n.input) > 3 and n.input[3] else list(range(len(starts)))
        ins = list(n.input) + [""] * (4 - len(n.input))
        ins[3] = self.ints([self.axis(a, r) for a in axes])
        self.copy(n, ins)

    def op_Pad(self, n: onnx.NodeProto) -> None:
        if any(x in self.batched for x in n.input[1:] if x):
            raise VmapError(f"Pad node '{n.name}': batched pads")
        r = self.rank(n.input[0], n)
        if len(n.input) > 3 and n.input[3]:
            ins = list(n.input)
            ins[3] = self.ints([self.axis(a, r) for a in self.const_ints(n.input[3], n)])
            return self.copy(n, ins)
        pads = self.const_ints(n.input[1], n)
        self.copy(n, [n.input[0], self.ints([0] + pads[:r] + [0] + pads[r:])] + list(n.input[2:]))

    def op_Tile(self, n: onnx.NodeProto) -> None:
        if n.input[1] in self.batched:
            raise VmapError(f"Tile node '{n.name}': batched repeats")
        self.copy(n, [n.input[0], self.ints([1] + self.const_ints(n.input[1], n))])

    def op_Shape(self, n: onnx.NodeProto) -> None:
        if self.opset < 15:
            raise VmapError(f"Shape node '{n.name}': opset < 15 has no start attribute")
        r = self.rank(n.input[0], n)

        def clamp(a: int) -> int:
            return min(max(a + r if a < 0 else a, 0), r) + 1
        changed = {"start": clamp(attr(n, "start", 0))}
        if attr(n, "end", None) is not None:
            changed["end"] = clamp(attr(n, "end", None))
        self.copy(n, [n.input[0]], **changed)
        self.unbatched.add(n.output[0])  # the logical shape: no M axis

    def _matmul(self, a: str, b: str, n: onnx.NodeProto, out: str | None = None) -> str:
        ra, rb = self.rank(a, n), self.rank(b, n)
        if b in self.batched and rb < 2:
            raise VmapError(f"{n.op_type} node '{n.name}': a batched vector as the right operand")
        rank = max(ra, rb)
        a2 = self.lift(a, rank, n) if a in self.batched and ra >= 2 else a
        b2 = self.lift(b, rank, n) if b in self.batched else b
        return self.op("MatMul", [a2, b2], out=out)

    def op_MatMul(self, n: onnx.NodeProto) -> None:
        self._matmul(n.input[0], n.input[1], n, out=n.output[0])

    def op_Gemm(self, n: onnx.NodeProto) -> None:
        a, b = n.input[0], n.input[1]
        c = n.input[2] if len(n.input) > 2 and n.input[2] else None

        def t(x):
            return self.op("Transpose", [x], perm=[0, 2, 1] if x in self.batched else [1, 0])
        a2 = t(a) if attr(n, "transA", 0) else a
        b2 = t(b) if attr(n, "transB", 0) else b
        for x, y in ((a, a2), (b, b2)):
            if y != x:
                self.types[y] = (self.types[x][0], list(reversed(self.types[x][1])))
                if x in self.batched:
                    self.batched.add(y)
        alpha, beta = attr(n, "alpha", 1.0), attr(n, "beta", 1.0)
        y = self._matmul(a2, b2, n, out=None if (c or alpha != 1.0) else n.output[0])
        elem = self.types[n.output[0]][0]
        scalar = lambda v: self._scalar(v, elem)  # noqa: E731
        if alpha != 1.0:
            y = self.op("Mul", [y, scalar(alpha)], out=None if c else n.output[0])
        if c:
            cb = self.lift(c, 2, n) if c in self.batched else c
            cb = cb if beta == 1.0 else self.op("Mul", [cb, scalar(beta)])
            self.op("Add", [y, cb], out=n.output[0])

    def _scalar(self, v: float, elem: int) -> str:
        name = self.fresh("scalar")
        self.inits.append(onnx.numpy_helper.from_array(
            np.asarray(v, dtype=helper.tensor_dtype_to_np_dtype(elem)), name))
        return name

    def op_Conv(self, n: onnx.NodeProto) -> None:
        x, w = n.input[0], n.input[1]
        bias = n.input[2] if len(n.input) > 2 and n.input[2] else None
        if bias in self.batched or (x in self.batched and w in self.batched):
            raise VmapError(f"Conv node '{n.name}': batched bias, or batched data and kernel")
        if x in self.batched:
            return self.fold(n)
        # Batched kernel (a weight-gradient Conv): M joins the output channels, group by group.
        wd, out = self.dims(w, n), self.dims(n.output[0], n)
        g = attr(n, "group", 1)
        rest = wd[1:]
        k = self.op("Reshape", [w, self.ints([-1, g, wd[0] // g] + rest)])
        k = self.op("Transpose", [k], perm=[1, 0] + list(range(2, 3 + len(rest))))
        k = self.op("Reshape", [k, self.ints([-1] + rest)])
        y = self.fresh("Conv")
        self.copy(n, [x, k])
        self.nodes[-1].output[0] = y
        spatial = out[2:]
        y = self.op("Reshape", [y, self.ints([out[0], g, -1, wd[0] // g] + spatial)])
        y = self.op("Transpose", [y], perm=[2, 0, 1] + list(range(3, 4 + len(spatial))))
        y = self.op("Reshape", [y, self.ints([-1] + out)],
                    out=None if bias else n.output[0])
        if bias:
            self.op("Add", [y, self.op("Reshape", [bias, self.ints([1, -1] + [1] * len(spatial))])],
                    out=n.output[0])


def vmap_input(model: onnx.ModelProto, name: str) -> onnx.ModelProto:
    """A copy of `model` whose input `name` has a new leading axis (of any size M); every output that
    depends on it gains the same axis. Raises VmapError naming a node no rule covers."""
    if name not in {i.name for i in model.graph.input}:
        raise VmapError(f"'{name}' is not an input of the graph")
    return _Batcher(model, name).run()
