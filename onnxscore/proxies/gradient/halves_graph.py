"""zico's section: the forward cloned for each half of the batch (its own BN statistics), CE and
dL_b/dW per half, in the same graph as the full-batch sections."""
from __future__ import annotations

import onnx
from onnx import helper

from onnxscore.graph.autodiff import UnsupportedOpError, add_cross_entropy, append_backward
from onnxscore.proxies.gradient.writer import Writer


def clone_forward(model: onnx.ModelProto, nodes: list[onnx.NodeProto], prefix: str,
                  rename: dict[str, str]) -> None:
    """Append copies of `nodes` reading `rename`'s tensors instead; other non-initializer tensors
    get `prefix` (initializers are shared, so gradients land on the same weights)."""
    inits = {t.name for t in model.graph.initializer}

    def new(name: str) -> str:
        if not name or name in inits:
            return name
        return rename.setdefault(name, prefix + name)
    for n in nodes:
        c = helper.make_node(n.op_type, [new(i) for i in n.input], [new(o) for o in n.output],
                             name=prefix + (n.name or n.output[0]), domain=n.domain)
        c.attribute.extend(n.attribute)
        model.graph.node.append(c)


def add_halves_section(model: onnx.ModelProto, forward: list[onnx.NodeProto], data: str, logits: str,
                       labels: str, n: int, weights: list[str]) -> tuple[dict[str, str], dict[str, str]]:
    """Rows [0, n//2) and [n//2, n); per half {weight: dL_b/dW output}."""
    w = Writer(model, "onnxscore_gp_half_")
    out = []
    for k, (start, end) in enumerate(((0, n // 2), (n // 2, n))):
        bounds = [w.ints([start]), w.ints([end]), w.ints([0])]
        x = w.op("Slice", [data, *bounds])
        y = w.op("Slice", [labels, *bounds])
        prefix = w.name(f"h{k}_")
        rename = {data: x}
        clone_forward(model, forward, prefix, rename)
        loss = add_cross_entropy(model, rename[logits], y, output=False)
        try:
            grads = append_backward(model, loss, weights, outputs=False)
        except UnsupportedOpError as e:  # name the model's own node, not its clone
            raise UnsupportedOpError(str(e).replace(prefix, "")) from None
        out.append({name: w.output(grads[name]) for name in weights})
    return out[0], out[1]
