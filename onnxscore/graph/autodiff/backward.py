"""The reverse sweep: which tensors need a gradient, then one rule per node from the loss back."""
from __future__ import annotations

from collections.abc import Iterable

import onnx
from onnx import helper

from onnxscore.graph.autodiff import standardize
from onnxscore.graph.autodiff.emitter import FLOAT_TYPES, Emitter, tensor_types
from onnxscore.graph.autodiff.registry import NO_GRADIENT, AutodiffError, rule_for
from onnxscore.graph.view import GraphView, all_names, fresh_prefix

GRAD_PREFIX = "onnxscore_grad_"
MIN_OPSET = 13  # axes as inputs (ReduceSum, Squeeze, Unsqueeze) and Split's sizes as an input


def varying(nodes: Iterable[onnx.NodeProto], sources: set[str], types: dict) -> set[str]:
    """Float tensors that depend on `sources` through differentiable ops (nodes in execution order)."""
    out = set(sources)
    for n in nodes:
        if n.op_type in NO_GRADIENT or not any(i in out for i in n.input):
            continue
        out.update(o for o in n.output if o and types.get(o, (0,))[0] in FLOAT_TYPES)
    return out


def _needed_by(nodes: list[onnx.NodeProto], target: str) -> set[str]:
    """Tensors `target` depends on (nodes in execution order)."""
    out = {target}
    for n in reversed(nodes):
        if any(o in out for o in n.output):
            out.update(i for i in n.input if i)
    return out


def _total(em: Emitter, contrib: dict[str, list[str]], name: str) -> str:
    """The gradient of `name`: its contributions summed once (a tensor read by several nodes)."""
    parts = contrib[name]
    if len(parts) > 1:
        contrib[name] = parts = [em.op("Sum", parts)]
        if name in em.types:
            em.declare(parts[0], *em.types[name])
    return parts[0]


def backprop(em: Emitter, nodes: list[onnx.NodeProto], contrib: dict[str, list[str]]) -> None:
    """Apply each node's rule, last node first, adding its input gradients to `contrib` (in place).
    A standardisation (x - mean) / std sends its gradient straight to x in closed form (standardize.py)."""
    closed = standardize.find(em, nodes)
    for node in reversed(nodes):
        if not any(o in contrib for o in node.output if o):
            continue
        if node.output[0] in closed:
            s = closed[node.output[0]]
            if em.needs(s.x):
                contrib.setdefault(s.x, []).append(standardize.gradient(em, s, _total(em, contrib, s.norm)))
            continue
        grads = [_total(em, contrib, o) if o in contrib else None for o in node.output]
        results = rule_for(node)(em, node, grads)
        for name, g in zip(node.input, results):
            if g is not None and em.needs(name):
                if g.startswith(em.prefix) and g not in em.types:  # a gradient has its tensor's type
                    em.declare(g, *em.types[name])
                contrib.setdefault(name, []).append(g)


def differentiate(em: Emitter, nodes: list[onnx.NodeProto], output: str, grad: str,
                  inputs: list[str]) -> list[str | None]:
    """Gradients of `inputs` (None where not needed) given `grad` for `output` of `nodes`, nodes the
    rule itself just emitted (their tensors declared with em.declare): how a rule differentiates an op
    through its elementary expansion."""
    wanted = {i for i in inputs if em.needs(i)}
    em.active |= varying(nodes, wanted, em.types)
    contrib: dict[str, list[str]] = {output: [grad]}
    backprop(em, nodes, contrib)
    return [_total(em, contrib, i) if i in wanted and i in contrib else None for i in inputs]


def _check(model: onnx.ModelProto, view: GraphView, types: dict, loss: str, wrt: list[str]) -> None:
    if view.opset < MIN_OPSET:
        raise AutodiffError(f"the model uses opset {view.opset}; the gradient pass needs opset >= {MIN_OPSET} "
                            "(convert it with onnx.version_converter.convert_version)")
    known = set(view.producer) | {i.name for i in model.graph.input} | set(view.initializers)
    for name in [loss, *wrt]:
        if name not in known:
            raise AutodiffError(f"no tensor '{name}' in the model (loss and wrt must name graph tensors)")
        if types.get(name, (0,))[0] not in FLOAT_TYPES:
            raise AutodiffError(f"tensor '{name}' is not a floating-point tensor, so it has no gradient")


def append_backward(model: onnx.ModelProto, loss: str, wrt: list[str], seed: str | None = None,
                    outputs: bool = True) -> dict[str, str]:
    """Append to `model` (in place) the nodes computing d loss / d t for every tensor t in `wrt`
    (initializers, graph inputs or intermediate tensors); return {t: name of its gradient tensor}.

    `seed` None: the gradient of the sum of `loss`'s elements (of `loss` itself when it is a scalar).
    `seed` a name: the vector-Jacobian product with that tensor; a new graph input shaped like `loss`
    when the model has no tensor of that name. With `outputs`, the gradients become graph outputs.
    Only ops with a rule are emitted, so the result can be passed through append_backward again."""
    view = GraphView(model)
    types = tensor_types(model)
    _check(model, view, types, loss, wrt)
    nodes = [model.graph.node[i] for i in view.order]
    active = varying(nodes, set(wrt), types) & _needed_by(nodes, loss)
    em = Emitter(model, fresh_prefix(all_names(model), GRAD_PREFIX), types, active)

    if seed is None:
        seed_tensor = em.scalar(1.0, loss) if em.dims(loss) == [] else em.ones_like(loss)
    else:
        seed_tensor = seed
        if seed not in all_names(model):
            elem, dims = types[loss]
            model.graph.input.append(helper.make_tensor_value_info(seed, elem, dims))
    contrib: dict[str, list[str]] = {loss: [seed_tensor]} if loss in active else {}
    backprop(em, [n for n in nodes if any(o in active for o in n.output)], contrib)

    result = {}
    for name in wrt:
        g = _total(em, contrib, name) if name in contrib else em.zeros_like(name)
        out = f"{em.prefix}d_{name}"
        em.nodes.append(helper.make_node("Identity", [g], [out], name=out))
        result[name] = out
    g = model.graph
    g.node.extend(em.nodes)
    g.initializer.extend(em.initializers)
    for name, out in result.items():
        elem, dims = types[name]
        vi = helper.make_tensor_value_info(out, elem, dims)
        (g.output if outputs else g.value_info).append(vi)
    consts = {t.name for t in em.initializers}
    g.value_info.extend(helper.make_tensor_value_info(name, elem, dims)
                        for name, (elem, dims) in em.declared.items() if name not in consts)
    return result
