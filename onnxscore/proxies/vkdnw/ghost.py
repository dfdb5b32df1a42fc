"""The ghost-input rewrite that makes reverse mode give per-sample parameter derivatives.

Reverse mode sums a shared weight's gradient over the batch. For each selected scalar theta_p =
W_p.flat[0] the rewrite adds a graph input d_p of shape (N,), fed zeros, and to the output of every
node reading W_p the term d_p[n] * d(node output)/d theta_p of sample n. The values are unchanged
(d = 0), and d logits[n] / d d_p[n] = d logits[n] / d theta_p for sample n alone, as long as samples
do not interact. BatchNormalization is rewritten to eval form (running statistics, as VKDNW's
model.eval()), x * k + c, so they do not."""
from __future__ import annotations

from functools import cached_property

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from onnxscore.graph.autodiff import UnsupportedOpError
from onnxscore.graph.view import GraphView, all_names, attr, fresh_prefix, tensor_info
from onnxscore.proxies.gradient.weights import resolve
from onnxscore.proxies.vkdnw.params import Param, Use


class _Nodes:
    """Collects new nodes and constants under one fresh name prefix."""

    def __init__(self, model: onnx.ModelProto):
        self.prefix = fresh_prefix(all_names(model), "onnxscore_vk_")
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.count = 0

    def name(self, stem: str) -> str:
        self.count += 1
        return f"{self.prefix}{self.count}_{stem}"

    def op(self, op_type: str, inputs: list[str], **attrs) -> str:
        out = self.name(op_type)
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=out, **attrs))
        return out

    def const(self, value, dtype=np.float32) -> str:
        name = self.name("const")
        self.inits.append(numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def slice0(self, x: str, axis: int) -> str:
        """x[..., 0:1, ...] along `axis` (the derivative of a product with the first element)."""
        return self.op("Slice", [x, self.const([0], np.int64), self.const([1], np.int64),
                                 self.const([axis], np.int64)])


def one_hot(shape, axis: int | None = None, rank: int | None = None, scale: float = 1.0) -> np.ndarray:
    """A float32 array of `shape` with `scale` at flat index 0; with `axis`, a vector reshaped to lie
    along that axis of a rank-`rank` tensor (a per-channel parameter's broadcast shape)."""
    e = np.zeros(int(np.prod(shape)), np.float32)
    e[0] = scale
    if axis is None:
        return e.reshape(shape)
    return e.reshape([1] * axis + [-1] + [1] * (rank - axis - 1))


class _View(GraphView):
    """A GraphView whose producer_nodes() is built once: resolve() asks for it at every call, and
    the rewrite resolves several names per parameter use (the graph is not changed meanwhile)."""

    @cached_property
    def _producer_nodes(self) -> dict[str, onnx.NodeProto]:
        return super().producer_nodes()

    def producer_nodes(self) -> dict[str, onnx.NodeProto]:
        return self._producer_nodes


class Ghosts:
    """Writes the per-sample terms of the selected parameters into a (copied) static-shape model."""

    def __init__(self, model: onnx.ModelProto, n: int):
        self.model, self.n = model, n
        self.view = _View(model)
        self.info = tensor_info(model)
        self.w = _Nodes(model)
        self.values = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
        self._shaped: dict[tuple[str, int], str] = {}
        self.factors: list[str] = []  # placeholders of the factors, each written by an Identity

    def factor(self, build) -> str:
        """The activation-dependent factor that `build()` writes, read by the term through a placeholder
        (an Identity's output now; a graph input while the backward is built, see factors.py)."""
        out = self.w.op("Identity", [build()])
        self.factors.append(out)
        return out

    @cached_property
    def read(self) -> set[str]:
        """Every tensor a node or the graph output reads (the inputs do not change in the rewrite)."""
        return {i for m in self.model.graph.node for i in m.input} | {o.name for o in self.model.graph.output}

    def rank(self, name: str) -> int:
        r = self.info.get(name, (0, None))[1]
        if r is None:
            raise UnsupportedOpError(f"VKDNW: the rank of tensor '{name}' is unknown (shape inference failed)")
        return r

    def d(self, ghost: str, rank: int) -> str:
        """d_p reshaped to (N, 1, ..., 1) of `rank`."""
        key = (ghost, rank)
        if key not in self._shaped:
            self._shaped[key] = self.w.op("Reshape", [ghost, self.w.const([self.n] + [1] * (rank - 1), np.int64)])
        return self._shaped[key]

    def channel0(self, a: str, channels: int, rank: int) -> str:
        """`a` (channel axis 1 of size 1) as channel 0 of `channels`, the rest zeros. A Pad, not a
        product with a one-hot vector: its backward is a Slice of the cotangent, where the product's is
        a full-size Mul and ReduceSum in every backward pass."""
        if channels == 1:
            return a
        pads = [0] * (2 * rank)
        pads[rank + 1] = channels - 1
        return self.w.op("Pad", [a, self.w.const(pads, np.int64)])

    def term(self, node: onnx.NodeProto, use: Use, param: str, ghost: str) -> str:
        """The tensor d_p * d(output)/d theta_p, broadcastable to the node's output."""
        w, op, k = self.w, use.kind, use.slot
        shape = self.values[param].shape
        x = node.input[0]
        if op in ("Conv", "ConvTranspose"):
            r = len(self.values[resolve(self.view, node.input[1])].shape)
            wshape = self.values[resolve(self.view, node.input[1])].shape
            group = attr(node, "group", 1)
            cout = wshape[0] if op == "Conv" else wshape[1] * group
            if k == 2:
                return w.op("Mul", [self.d(ghost, r), w.const(one_hot([cout], 1, r))])
            # W.flat[0] joins input channel 0 to output channel 0 at kernel tap 0
            attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute if a.name != "group"}
            t = self.factor(lambda: w.op(op, [w.slice0(x, 1), w.const(one_hot([1, 1, *wshape[2:]]))], **attrs))
            return self.channel0(w.op("Mul", [self.d(ghost, r), t]), cout, r)
        if op == "Gemm":
            alpha, beta = attr(node, "alpha", 1.0), attr(node, "beta", 1.0)
            if k == 2:
                return w.op("Mul", [self.d(ghost, 2), w.const(one_hot(shape, scale=beta))])
            if k == 0:
                raise UnsupportedOpError("VKDNW: Gemm with a parameter as input A has no per-sample rule")
            m = shape[0] if attr(node, "transB", 0) else shape[1]
            a0 = self.factor(lambda: w.op("Transpose", [w.slice0(x, 0)], perm=[1, 0]) if attr(node, "transA", 0)
                             else w.slice0(x, 1))
            return w.op("Mul", [w.op("Mul", [self.d(ghost, 2), a0]), w.const(one_hot([1, m], scale=alpha))])
        if op == "MatMul":
            r = self.rank(x)
            if k != 1 or len(shape) != 2 or r < 2:
                raise UnsupportedOpError("VKDNW: MatMul has a per-sample rule only for x @ W with a 2-D W")
            x0 = self.factor(lambda: w.slice0(x, r - 1))
            return w.op("Mul", [w.op("Mul", [self.d(ghost, r), x0]), w.const(one_hot([shape[1]]))])
        if op == "MatMulBias":
            return w.op("Mul", [self.d(ghost, self.rank(node.output[0])), w.const(one_hot(shape))])
        if op == "BatchNormalization":
            r = self.rank(x)
            if k == 2:
                return w.op("Mul", [self.d(ghost, r), w.const(one_hot([shape[0]], 1, r))])
            mean, var = (self.values[resolve(self.view, node.input[i])].astype(np.float64) for i in (3, 4))
            inv = 1.0 / np.sqrt(var[0] + attr(node, "epsilon", 1e-5))
            xhat = self.factor(lambda: w.op("Mul", [w.op("Sub", [w.slice0(x, 1), w.const(mean[0])]), w.const(inv)]))
            return self.channel0(w.op("Mul", [self.d(ghost, r), xhat]), shape[0], r)
        if op == "LayerNormalization":
            r = self.rank(x)
            e = w.const(one_hot(shape))
            if k == 2:
                return w.op("Mul", [self.d(ghost, r), e])
            normed = self.factor(lambda: w.op(
                "LayerNormalization", [x, w.const(np.ones(shape)), w.const(np.zeros(shape))],
                axis=attr(node, "axis", -1), epsilon=attr(node, "epsilon", 1e-5)))
            return w.op("Mul", [w.op("Mul", [self.d(ghost, r), normed]), e])
        raise UnsupportedOpError(f"VKDNW: no per-sample rule for {op}")

    def eval_bn(self, node: onnx.NodeProto, out: str) -> None:
        """BatchNormalization with running statistics, as x * k + c, writing `out`."""
        if any(o and o in self.read for o in node.output[1:]):
            raise UnsupportedOpError("VKDNW: a BatchNormalization's running-statistics outputs are read")
        vals = []
        for i in (1, 2, 3, 4):
            name = resolve(self.view, node.input[i])
            if name is None:
                raise UnsupportedOpError("VKDNW: BatchNormalization with non-constant scale/bias/statistics")
            vals.append(self.values[name].astype(np.float64))
        scale, bias, mean, var = vals
        k = scale / np.sqrt(var + attr(node, "epsilon", 1e-5))
        r = self.rank(node.input[0])
        shape = [1, -1] + [1] * (r - 2)
        mul = self.w.op("Mul", [node.input[0], self.w.const(k.reshape(shape))])
        self.w.nodes.append(helper.make_node("Add", [mul, self.w.const((bias - mean * k).reshape(shape))],
                                             [out], name=self.w.name("bn")))


def add_ghosts(model: onnx.ModelProto, params: list[Param], n: int) -> tuple[list[str], list[str]]:
    """Rewrite `model` in place (all BN to eval form, a ghost term per selected parameter use);
    return (the ghost input names, one per parameter in the order of `params`; the placeholders of
    the terms' activation-dependent factors, see factors.py)."""
    g = Ghosts(model, n)
    for p in params:
        if g.values[p.name].dtype != np.float32:
            raise UnsupportedOpError(f"VKDNW: parameter '{p.name}' is not float32")
    ghosts = [g.w.name(f"d{i}") for i in range(len(params))]
    by_node: dict[int, list[tuple[Use, str, str]]] = {}
    for p, ghost in zip(params, ghosts):
        for u in p.uses:
            by_node.setdefault(u.node, []).append((u, p.name, ghost))
    for i, node in enumerate(list(model.graph.node)):
        terms = [g.term(node, u, name, ghost) for u, name, ghost in by_node.get(i, [])]
        out = node.output[0]
        target = g.w.name("pre") if terms else out
        if node.op_type == "BatchNormalization":
            g.eval_bn(node, target)
        else:
            node.output[0] = target
            g.w.nodes.append(node)
        if terms:
            g.w.nodes.append(helper.make_node("Sum", [target, *terms], [out], name=g.w.name("ghost_sum")))
    del model.graph.node[:]
    model.graph.node.extend(g.w.nodes)
    model.graph.initializer.extend(g.w.inits)
    model.graph.input.extend(helper.make_tensor_value_info(d, TensorProto.FLOAT, [n]) for d in ghosts)
    return ghosts, g.factors
