"""Keep the backward pass out of the ghost terms' activation-dependent factors.

A ghost term is d_p * F * e with F computed from an activation (a Slice and a one-tap Conv of a
Conv's input, a BN input's normalised channel 0, ...). Since d_p = 0, its derivative through F is
exactly zero, yet reverse mode would emit it: a transposed Conv, Pad, Mul and Sum per term in every
backward pass. So while the backward is built, each F is read through a graph input (its Identity
cut out: `cut`); the forward part gets the Identity back afterwards (`restore`)."""
from __future__ import annotations

import onnx
from onnx import helper

from onnxscore.graph.autodiff.emitter import tensor_types


def cut(model: onnx.ModelProto, factors: list[str], types: dict | None = None) -> list[onnx.NodeProto]:
    """Remove (in place) the Identity nodes writing `factors`, which become typed graph inputs;
    return the removed nodes. `types`: tensor_types(model), when the caller has them."""
    wanted = set(factors)
    types = types if types is not None else tensor_types(model)
    keep, cut_nodes = [], []
    for n in model.graph.node:
        (cut_nodes if n.op_type == "Identity" and n.output[0] in wanted else keep).append(n)
    for f in factors:
        elem, dims = types[f]
        if dims is None or any(not isinstance(d, int) for d in dims):
            raise ValueError(f"VKDNW: the shape of ghost factor '{f}' is unknown")
    del model.graph.node[:]
    model.graph.node.extend(keep)
    model.graph.input.extend(helper.make_tensor_value_info(f, *types[f]) for f in factors)
    return cut_nodes


def restore(once: onnx.ModelProto, nodes: list[onnx.NodeProto]) -> None:
    """Put the cut Identity nodes back into the forward part `once` (in place), each right after
    the producer of its input, and drop their outputs from its graph inputs."""
    after: dict[str, list[onnx.NodeProto]] = {}
    for n in nodes:
        after.setdefault(n.input[0], []).append(n)
    out = []
    for n in once.graph.node:
        out.append(n)
        for o in n.output:
            out.extend(after.pop(o, []))
    if after:
        raise ValueError(f"VKDNW: ghost factors without a producer in the forward part: {sorted(after)[:3]}")
    written = {n.output[0] for n in nodes}
    inputs = [i for i in once.graph.input if i.name not in written]
    del once.graph.input[:]
    once.graph.input.extend(inputs)
    del once.graph.node[:]
    once.graph.node.extend(out)
