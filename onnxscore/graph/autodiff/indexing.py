"""Gradients of GatherElements and ScatterElements, each other's adjoint (the cross-entropy loss
picks the label's log-probability with one; MaxPool's gradient is scattered with the other)."""
from __future__ import annotations

from onnxscore.graph.autodiff.registry import text, unsupported, vjp
from onnxscore.graph.view import attr


@vjp("GatherElements")
def gather_elements(em, node, grads):
    data, indices = node.input[0], node.input[1]
    if em.opset < 16:  # repeated indices must add up, which needs ScatterElements' reduction
        raise unsupported(node, f"its gradient needs ScatterElements with reduction (opset 16), model has {em.opset}")
    scattered = em.op("ScatterElements", [em.zeros_like(data), indices, grads[0]], axis=attr(node, "axis", 0),
                      reduction="add")
    return [scattered, None]


@vjp("ScatterElements")
def scatter_elements(em, node, grads):
    g, (data, indices, updates) = grads[0], node.input
    axis, reduction = attr(node, "axis", 0), text(node, "reduction", "none")
    if reduction not in ("none", "add"):
        raise unsupported(node, f"reduction={reduction}")
    d_data = d_updates = None
    if em.needs(data):  # overwritten positions lose their gradient; added ones keep it
        d_data = g if reduction == "add" else em.op(
            "ScatterElements", [g, indices, em.zeros_like(updates)], axis=axis)
    if em.needs(updates):
        d_updates = em.op("GatherElements", [g, indices], axis=axis)
    return [d_data, None, d_updates]
