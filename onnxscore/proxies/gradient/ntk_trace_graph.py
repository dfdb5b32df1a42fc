"""ntk_trace's section (HNAS autograd_hacks): per-layer input A and output gradient B of
Phi = sum_n f(X)_{n, y_n}, turned in the graph into per-sample gradients of every Conv/Linear weight
and bias, summed over a tensor's uses, then into ||g_n||^2 per sample ([N] output)."""
from __future__ import annotations

import onnx

from onnxscore.graph.autodiff import append_backward
from onnxscore.graph.autodiff.conv import weight_grad, window
from onnxscore.graph.autodiff.emitter import Emitter, tensor_types
from onnxscore.graph.autodiff.registry import UnsupportedOpError
from onnxscore.proxies.gradient.weights import Layer
from onnxscore.proxies.gradient.writer import Writer


def true_logit_sum(w: Writer, logits: str, labels: str) -> str:
    index = w.op("Unsqueeze", [labels, w.ints([1])])
    return w.reduce_sum(w.op("GatherElements", [logits, index], axis=1), None)


def _conv_per_sample(model, w: Writer, node: onnx.NodeProto, a: str, b: str, n: int, types: dict) -> str:
    """[N, O*Cg*k...]: Conv(A, W, group G) per sample is Conv(A as [1, N*C], group N*G); its weight
    gradient (the autodiff rule) is the per-sample gradients stacked along the output channels."""
    (_, dims_a), (_, dims_b) = types[a], types[b]
    em = Emitter(model, w.name("em_"), types, set())
    win = window(em, node)
    win["group"] *= n
    a1 = em.declare(em.op("Reshape", [a, em.ints([1, -1] + dims_a[2:])]), types[a][0],
                    [1, n * dims_a[1]] + dims_a[2:])
    b1 = em.declare(em.op("Reshape", [b, em.ints([1, -1] + dims_b[2:])]), types[b][0],
                    [1, n * dims_b[1]] + dims_b[2:])
    dw = weight_grad(em, a1, b1, node.input[1], win)  # [N*O, Cg, *k]
    model.graph.node.extend(em.nodes)
    model.graph.initializer.extend(em.initializers)
    return w.op("Reshape", [dw, w.ints([n, -1])])


def _linear_per_sample(w: Writer, layer: Layer, a: str, b: str, dims: tuple[list, list], alpha: float) -> str:
    """[N, numel(W)] in W's own layout: sum over middle axes of A_n^T B_n (or its transpose)."""
    if len(dims[0]) == 2:
        outer = (w.op("Mul", [w.op("Unsqueeze", [b, w.ints([2])]), w.op("Unsqueeze", [a, w.ints([1])])])
                 if layer.trans_b else
                 w.op("Mul", [w.op("Unsqueeze", [a, w.ints([2])]), w.op("Unsqueeze", [b, w.ints([1])])]))
    else:
        a3 = w.op("Reshape", [a, w.ints([0, -1, dims[0][-1]])])
        b3 = w.op("Reshape", [b, w.ints([0, -1, dims[1][-1]])])
        outer = w.op("MatMul", [w.op("Transpose", [a3], perm=[0, 2, 1]), b3])  # [N, in, out]
    flat = w.op("Reshape", [outer, w.ints([0, -1])])
    return flat if alpha == 1.0 else w.op("Mul", [flat, w.const(alpha, "float32")])


def add_ntk_trace_section(model: onnx.ModelProto, logits: str, labels: str, layers: list[Layer],
                          n: int) -> str:
    """Append the section; the name of its [N] output sum_params ||g_n||^2."""
    w = Writer(model, "onnxscore_gp_ntk_trace_")
    phi = true_logit_sum(w, logits, labels)
    outs = list(dict.fromkeys(layer.pre_bias for layer in layers))
    grads = append_backward(model, phi, outs, outputs=False)
    types = tensor_types(model)
    nodes = {o: node for node in model.graph.node for o in node.output}
    per_tensor: dict[str, list[str]] = {}
    for layer in layers:
        node = nodes[layer.pre_bias]
        a, b = layer.inp, grads[layer.pre_bias]
        rank = len(types[a][1])
        if layer.kind == "Conv":
            gw = _conv_per_sample(model, w, node, a, b, n, types)
            gb = w.op("Reshape", [w.reduce_sum(b, list(range(2, rank))), w.ints([n, -1])]) if layer.bias else None
        else:
            if layer.trans_a:
                raise UnsupportedOpError(f"ntk_trace: Gemm node '{layer.node}' has transA=1 (no per-sample axis)")
            alpha = float(next((x.f for x in node.attribute if x.name == "alpha"), 1.0))
            beta = float(next((x.f for x in node.attribute if x.name == "beta"), 1.0))
            gw = _linear_per_sample(w, layer, a, b, (types[a][1], types[b][1]), alpha)
            gb = None
            if layer.bias:
                gb = w.op("Reshape", [w.reduce_sum(b, list(range(1, rank - 1))) if rank > 2 else b,
                                      w.ints([n, -1])])
                if layer.kind == "Gemm" and beta != 1.0:
                    gb = w.op("Mul", [gb, w.const(beta, "float32")])
        per_tensor.setdefault(layer.weight, []).append(gw)
        if gb is not None:
            per_tensor.setdefault(layer.bias, []).append(gb)
    terms = []
    for parts in per_tensor.values():
        g = parts[0] if len(parts) == 1 else w.op("Sum", parts)
        terms.append(w.reduce_sum(w.op("Mul", [g, g]), [1]))
    total = terms[0] if len(terms) == 1 else w.op("Sum", terms)
    return w.output(total)
