"""Re-draw the weights of Conv/Gemm/MatMul layers from a seed (explicit, reproducible re-init)."""
from __future__ import annotations

import numpy as np
import onnx
from onnx import numpy_helper

from onnxscore.errors import InputError
from onnxscore.graph.view import GraphView

INIT_MODES = ("keep", "normal", "kaiming")
WEIGHT_OPS = {"Conv": (1, 2), "ConvTranspose": (1, 2), "Gemm": (1, 2), "MatMul": (1, None)}


def lift_constants(model: onnx.ModelProto) -> int:
    """Turn tensor-valued Constant nodes into initializers of the same name (paddle2onnx writes
    weights as Constants); returns how many were lifted."""
    keep, lifted = [], 0
    for n in model.graph.node:
        value = next((a.t for a in n.attribute if a.name == "value"), None) if n.op_type == "Constant" else None
        if value is None or len(n.attribute) != 1:
            keep.append(n)
            continue
        t = onnx.TensorProto()
        t.CopyFrom(value)
        t.name = n.output[0]
        model.graph.initializer.append(t)
        lifted += 1
    del model.graph.node[:]
    model.graph.node.extend(keep)
    return lifted


def _fan_in(op: str, shape: tuple[int, ...], trans_b: int) -> int:
    if op == "Conv":
        return int(np.prod(shape[1:]))
    if op == "ConvTranspose":
        return int(shape[1] * np.prod(shape[2:]))
    if op == "Gemm":
        return shape[1] if trans_b else shape[0]
    return shape[0]  # MatMul: x @ W with W (K, N)


def redraw(model: onnx.ModelProto, mode: str, seed: int) -> int:
    """Replace weights in place: "normal" = N(0, 1) weights, zero biases (SWAP's protocol);
    "kaiming" = N(0, 2/fan_in) weights, zero biases. Returns how many tensors were redrawn."""
    if mode not in INIT_MODES:
        raise InputError(f"unknown --init '{mode}'; use one of {', '.join(INIT_MODES)}")
    if mode == "keep":
        return 0
    lift_constants(model)
    view = GraphView(model)
    rng = np.random.default_rng([seed, 3])
    new: dict[str, np.ndarray] = {}
    for i in view.order:
        node = model.graph.node[i]
        if node.op_type not in WEIGHT_OPS:
            continue
        w_idx, b_idx = WEIGHT_OPS[node.op_type]
        w_name = node.input[w_idx] if len(node.input) > w_idx else ""
        if w_name not in view.initializers or w_name in new:
            continue
        w = view.initializers[w_name]
        shape = tuple(w.dims)
        dtype = onnx.helper.tensor_dtype_to_np_dtype(w.data_type)
        trans_b = next((a.i for a in node.attribute if a.name == "transB"), 0)
        std = 1.0 if mode == "normal" else np.sqrt(2.0 / max(_fan_in(node.op_type, shape, trans_b), 1))
        new[w_name] = (rng.standard_normal(shape) * std).astype(dtype)
        if b_idx is not None and len(node.input) > b_idx and node.input[b_idx] in view.initializers:
            b = view.initializers[node.input[b_idx]]
            new[b.name] = np.zeros(tuple(b.dims), dtype=onnx.helper.tensor_dtype_to_np_dtype(b.data_type))
    for idx, t in enumerate(model.graph.initializer):
        if t.name in new:
            model.graph.initializer[idx].CopyFrom(numpy_helper.from_array(new[t.name], t.name))
    return len(new)
