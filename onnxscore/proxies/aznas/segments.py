"""The graphs AZ-NAS's runs need: the forward exposing every tap, and one graph of all block segments
whose single backward pass gives every pair's vector-Jacobian product.

Segment k (taps k -> k+1) is a renamed copy of the nodes downstream of tap k and upstream of tap
k+1. Its copy of tap k is a new graph input fed with the forward value, and so is every other tensor
it reads from outside (held fixed, as torch.autograd.grad(f_out, f_in) holds everything not
downstream of f_in); initializers are shared (read only). Segments share no tensor, so the gradient
of sum_k <g_k, f_k> at segment k's input is exactly that segment's VJP."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import TensorProto, helper

from onnxscore.graph.autodiff import append_backward
from onnxscore.graph.view import GraphView, all_names, fresh_prefix

SAME = "same"  # f_in and f_out are the same tensor: g_in == g_out (the authors' -inf)
INDEPENDENT = "independent"  # f_out does not depend on f_in: g_in == 0


@dataclass
class Segment:
    """One pair's copy: `nodes` (renamed), its input `x` (copy of f_in), output `y` (copy of f_out),
    `external` {copy's input name: original tensor fed from the forward run}."""

    f_in: str
    f_out: str
    x: str
    y: str
    g: str  # the seed (cotangent) input, shaped like y
    nodes: list = field(default_factory=list)
    external: dict = field(default_factory=dict)


def _downstream(nodes: list, source: str) -> set[int]:
    live, out = {source}, set()
    for k, n in enumerate(nodes):
        if any(i in live for i in n.input):
            out.add(k)
            live.update(o for o in n.output if o)
    return out


def _upstream(nodes: list, target: str) -> set[int]:
    need, out = {target}, set()
    for k in reversed(range(len(nodes))):
        if any(o in need for o in nodes[k].output):
            out.add(k)
            need.update(i for i in nodes[k].input if i)
    return out


def plan(model: onnx.ModelProto, taps: list[str]) -> list[Segment | str]:
    """Per pair k (taps[k] -> taps[k+1]): a Segment, SAME or INDEPENDENT."""
    view = GraphView(model)
    nodes = [model.graph.node[i] for i in view.order]
    inits = set(view.initializers)
    prefix = fresh_prefix(all_names(model), "onnxscore_az_")
    out: list[Segment | str] = []
    for k, (a, b) in enumerate(zip(taps[:-1], taps[1:])):
        if a == b:
            out.append(SAME)
            continue
        keep = sorted(_downstream(nodes, a) & _upstream(nodes, b))
        produced = {o for j in keep for o in nodes[j].output if o}
        if b not in produced:
            out.append(INDEPENDENT)
            continue
        p = f"{prefix}s{k}_"
        rename = {a: f"{p}in"}
        rename.update({t: p + t for t in produced})
        seg = Segment(a, b, rename[a], rename[b], f"{p}g")
        for j in keep:
            n = onnx.NodeProto()
            n.CopyFrom(nodes[j])
            n.name = p + (n.name or f"node{j}")
            for i, name in enumerate(n.input):
                if not name or name in inits:
                    continue
                if name not in rename:
                    rename[name] = f"{p}x{len(seg.external)}"
                    seg.external[rename[name]] = name
                n.input[i] = rename[name]
            for i, name in enumerate(n.output):
                if name:
                    n.output[i] = rename[name]
            seg.nodes.append(n)
        out.append(seg)
    return out


def forward_model(model: onnx.ModelProto, names: list[str], types: dict) -> onnx.ModelProto:
    """A copy of `model` whose outputs are `names` (taps and the tensors segments read from outside)."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    del m.graph.output[:]
    for name in dict.fromkeys(names):
        m.graph.output.append(helper.make_tensor_value_info(name, types.get(name, (TensorProto.FLOAT,))[0], None))
    return m


def backward_model(model: onnx.ModelProto, segments: list[Segment],
                   values: dict[str, np.ndarray]) -> tuple[onnx.ModelProto, dict[str, str]]:
    """The graph of all `segments` (inputs: each x, its externals and its seed g shaped like its y) with
    loss sum_k <g_k, y_k>; returns it and {segment x: name of its gradient output}.
    `values`: forward values by original tensor name (for the input types and shapes)."""
    g = helper.make_graph([], "aznas_segments", [], [], initializer=list(model.graph.initializer))
    m = helper.make_model(g, opset_imports=list(model.opset_import))
    m.ir_version = model.ir_version

    def add_input(name: str, value: np.ndarray) -> None:
        elem = helper.np_dtype_to_tensor_dtype(value.dtype)
        m.graph.input.append(helper.make_tensor_value_info(name, elem, list(value.shape)))

    terms = []
    for seg in segments:
        seed = seg.g
        add_input(seg.x, values[seg.f_in])
        for new, old in seg.external.items():
            add_input(new, values[old])
        add_input(seed, values[seg.f_out])
        m.graph.node.extend(seg.nodes)
        prod, dot = f"{seed}_prod", f"{seed}_dot"
        m.graph.node.append(helper.make_node("Mul", [seg.y, seed], [prod]))
        m.graph.node.append(helper.make_node("ReduceSum", [prod], [dot], keepdims=0))
        terms.append(dot)
    loss = f"{segments[0].g}_loss"
    m.graph.node.append(helper.make_node("Sum", terms, [loss]))
    m.graph.output.append(helper.make_tensor_value_info(loss, TensorProto.FLOAT, []))
    grads = append_backward(m, loss, [s.x for s in segments])
    return m, grads
