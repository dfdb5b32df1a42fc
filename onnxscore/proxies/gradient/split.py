"""Split a graph at a graph input: the part that does not depend on it (run once) and the part that
does (run per value of that input), joined by the tensors the second reads from the first."""
from __future__ import annotations

import numpy as np
import onnx
import onnx.numpy_helper
from onnx import helper

from onnxscore.graph.autodiff.emitter import tensor_types
from onnxscore.graph.view import GraphView


def split_at_input(model: onnx.ModelProto, name: str) -> tuple[onnx.ModelProto, onnx.ModelProto, list[str]]:
    """(once, per_value, residuals): `once` computes the residuals (its outputs) without `name`;
    `per_value` reads the residuals and `name` and computes `model`'s outputs."""
    view = GraphView(model)
    nodes = [model.graph.node[i] for i in view.order]
    varying = {name}
    late, early = [], []
    for n in nodes:
        if any(i in varying for i in n.input):
            varying.update(o for o in n.output if o)
            late.append(n)
        else:
            early.append(n)
    inits = view.initializers
    produced_early = {o for n in early for o in n.output if o}
    graph_inputs = {i.name for i in model.graph.input}
    residuals = list(dict.fromkeys(i for n in late for i in n.input
                                   if i and i not in varying and (i in produced_early or
                                                                   (i in graph_inputs and i not in inits))))
    types = tensor_types(model)

    def info(t: str) -> onnx.ValueInfoProto:
        elem, dims = types[t]
        return helper.make_tensor_value_info(t, elem, dims)

    def sub(graph_nodes, inputs, outputs, label):
        read = {i for n in graph_nodes for i in n.input}
        g = helper.make_graph(graph_nodes, label, inputs, outputs,
                              initializer=[t for t in model.graph.initializer if t.name in read])
        m = helper.make_model(g, opset_imports=list(model.opset_import))
        m.ir_version = model.ir_version
        return m

    once = sub(early, [i for i in model.graph.input if i.name != name and i.name not in inits],
               [info(r) for r in residuals], "once")
    per_value = sub(late, [info(r) for r in residuals] + [i for i in model.graph.input if i.name == name],
                    list(model.graph.output), "per_value")
    return once, per_value, residuals


def bind_inputs(model: onnx.ModelProto, values: dict) -> onnx.ModelProto:
    """A copy of `model` whose inputs named in `values` are initializers holding those arrays (shape
    tensors left by the `once` part become constants that shape inference can read)."""
    out = onnx.ModelProto()
    out.CopyFrom(model)
    keep = [i for i in out.graph.input if i.name not in values]
    del out.graph.input[:]
    out.graph.input.extend(keep)
    out.graph.initializer.extend(onnx.numpy_helper.from_array(np.asarray(v), k) for k, v in values.items())
    return out
