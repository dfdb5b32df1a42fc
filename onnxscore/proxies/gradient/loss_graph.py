"""The CE-loss section: dL/dW, fisher's per-site sum_spatial A * dL/dA, and GraSP's H g, one backward
(two with the HVP) on the full batch."""
from __future__ import annotations

from dataclasses import dataclass, field

import onnx

from onnxscore.graph.autodiff import add_cross_entropy, append_backward
from onnxscore.graph.autodiff.emitter import tensor_types
from onnxscore.proxies.gradient.weights import Layer
from onnxscore.proxies.gradient.writer import Writer


@dataclass
class LossOutputs:
    grads: dict[str, str] = field(default_factory=dict)  # weight -> output name
    fisher: list[tuple[str, int]] = field(default_factory=list)  # (g_nk output, fan_in) per call site
    hvp: dict[str, str] = field(default_factory=dict)


def squared_norms(w: Writer, tensors: list[str]) -> str:
    """sum_t sum(t * t) as a scalar tensor."""
    terms = [w.reduce_sum(w.op("Mul", [t, t]), None) for t in tensors]
    return terms[0] if len(terms) == 1 else w.op("Sum", terms)


def fisher_site(w: Writer, act: str, grad: str, rank: int) -> str:
    """g_nk = sum over axes >= 2 of A * dL/dA ([N, C]; A itself for 2-D outputs)."""
    prod = w.op("Mul", [act, grad])
    return w.reduce_sum(prod, list(range(2, rank))) if rank > 2 else prod


def add_loss_section(model: onnx.ModelProto, logits: str, labels: str, weights: list[str],
                     layers: list[Layer], fisher: bool, hvp: bool) -> LossOutputs:
    """Append the section in place; the names of its outputs (all made graph outputs)."""
    loss = add_cross_entropy(model, logits, labels, output=False)
    sites = list(dict.fromkeys(layer.out for layer in layers)) if fisher else []
    grads = append_backward(model, loss, weights + sites, outputs=False)
    w = Writer(model, "onnxscore_gp_loss_")
    out = LossOutputs(grads={k: w.output(grads[k]) for k in weights})
    if fisher:
        types = tensor_types(model)
        for layer in layers:
            rank = len(types[layer.out][1])
            out.fisher.append((w.output(fisher_site(w, layer.out, grads[layer.out], rank)), layer.fan_in))
    if hvp:
        half = w.op("Mul", [squared_norms(w, [grads[k] for k in weights]), w.const(0.5, "float32")])
        h = append_backward(model, half, weights, outputs=False)  # d/dW (1/2)|g|^2 = H g
        out.hvp = {k: w.output(h[k]) for k in weights}
    return out
