"""tf2onnx's hard_sigmoid / hard_silu chains fused into HardSigmoid / HardSwish nodes."""
from __future__ import annotations

import onnx

from onnxscore.graph.rewrites import rewrite

def _ranks(model: onnx.ModelProto) -> dict[str, int]:
    """Tensor name -> rank, from onnxscore's one shape inference (missing where it cannot tell)."""
    from onnxscore.graph.view import infer_tensors

    return {name: info[1] for name, info in infer_tensors(model).items() if info[1] is not None}


@rewrite("hard-activations")
def fuse_hard_activations(model: onnx.ModelProto) -> int:
    """Keras hard_sigmoid = relu6(x + 3) / 6 and hard_silu = x * hard_sigmoid(x) arrive as
    Add -> Clip(0, 6) -> Mul(1/6) [-> Mul(x)]; that Clip is not a ReLU of the layer's input, so
    the chain becomes one HardSigmoid / HardSwish node (a site only with --activations extended)."""
    from onnxscore.graph.view import GraphView

    view = GraphView(model)
    nodes = list(model.graph.node)
    producers = {o: n for n in nodes for o in n.output}
    consumers: dict[str, list] = {}
    for n in nodes:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    outputs = {o.name for o in model.graph.output}
    ranks = None

    def scalar(name):
        v = view.constant_value(name)
        return None if v is None or v.size != 1 else (float(v.reshape(())), v.ndim)

    def only_consumer(name):
        users = consumers.get(name, [])
        return users[0] if len(users) == 1 and name not in outputs else None

    drop, count = set(), 0
    for clip in nodes:
        if clip.op_type != "Clip" or len(clip.input) < 3:
            continue
        if scalar(clip.input[1]) is None or scalar(clip.input[2]) is None:
            continue
        if (scalar(clip.input[1])[0], scalar(clip.input[2])[0]) != (0.0, 6.0):
            continue
        add = producers.get(clip.input[0])
        if add is None or add.op_type != "Add" or only_consumer(add.output[0]) is not clip:
            continue
        if len(add.input) != 2:
            continue
        vals = [scalar(i) for i in add.input]
        if vals[0] is None and vals[1] is not None and vals[1][0] == 3.0:
            x, const_ndim = add.input[0], vals[1][1]
        elif vals[1] is None and vals[0] is not None and vals[0][0] == 3.0:
            x, const_ndim = add.input[1], vals[0][1]
        else:
            continue
        scale = only_consumer(clip.output[0])
        if scale is None or scale.op_type not in ("Mul", "Div"):
            continue
        other = [scalar(i) for i in scale.input if i != clip.output[0]]
        want = 1.0 / 6.0 if scale.op_type == "Mul" else 6.0
        if len(other) != 1 or other[0] is None or abs(other[0][0] - want) > 1e-6 * want:
            continue
        if const_ndim or other[0][1]:  # a broadcasting constant could change the rank: check it
            ranks = _ranks(model) if ranks is None else ranks
            if ranks.get(x, -1) < max(const_ndim, other[0][1]):
                continue
        gate = scale.output[0]
        mul = only_consumer(gate)
        if mul is not None and mul.op_type == "Mul" and sorted(mul.input) == sorted([x, gate]):
            fused = onnx.helper.make_node("HardSwish", [x], [mul.output[0]], name=f"{mul.name}_hardswish")
            drop.update(id(n) for n in (add, clip, scale, mul))
            last = mul
        else:
            fused = onnx.helper.make_node("HardSigmoid", [x], [gate], name=f"{scale.name}_hardsigmoid",
                                          alpha=1.0 / 6.0, beta=0.5)
            drop.update(id(n) for n in (add, clip, scale))
            last = scale
        nodes[nodes.index(last)] = fused
        drop.discard(id(fused))
        count += 1
    if count:
        keep = [n for n in nodes if id(n) not in drop]
        del model.graph.node[:]
        model.graph.node.extend(keep)
    return count
