"""onnxscore's reverse-mode pass (onnxscore.graph.autodiff) against PyTorch autograd on real torchvision nets.

    python bench/real_model_gradients.py                    # resnet18 + mobilenet_v3_small, 3x224x224, B=4
    python bench/real_model_gradients.py --size 128 --only resnet18

Each network (weights=None, default init after torch.manual_seed(0)) is exported with onnxscore's own
torch converter; then use_batch_statistics (train-mode BN), add_cross_entropy (mean CE, true labels),
append_backward for the input and every Conv/Gemm/MatMul weight, and GraSP's Hessian-vector product
h = H g (g = dL/dW, the pass applied to its own output: d/dW of (1/2) sum_W <g_W, g_W>). onnxruntime
computes all of it in float32. The reference is PyTorch autograd in train mode on the same weights and
batch, in float64, with onnxruntime's piece of every piecewise-linear op imposed (each ReLU's mask,
each Hardswish/Hardsigmoid's region, each MaxPool's argmax) so both sides differentiate the same
piece; what is left is float32 rounding in the ONNX graph. Error = ||ours - ref|| / ||ref|| per tensor.
Writes bench/results/real_model_gradients.md (needs torchvision: run it in a venv that has it).

The machinery (gradient_model, onnx_gradients, torch_reference, compare_torch) is plain torch and is
also what tests/graph/test_autodiff_real_nets.py runs on its small twins of the same networks.
"""
from __future__ import annotations

import argparse
import copy
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "results"

from onnxscore.graph.autodiff import add_cross_entropy, append_backward  # noqa: E402
from onnxscore.graph.batchnorm import use_batch_statistics  # noqa: E402

ACTIVATIONS = ("Relu", "HardSwish", "HardSigmoid")  # piecewise ops whose piece is imposed on the reference
WEIGHT_OPS = ("Conv", "Gemm", "MatMul")


def rel_norm_err(ours, ref) -> float:
    """||ours - ref|| / ||ref|| (Frobenius), in float64; ||ours|| when the reference is exactly zero
    (a weight on a path the loss does not reach: ours must be zero too)."""
    ours, ref = np.asarray(ours, np.float64), np.asarray(ref, np.float64)
    assert ours.shape == ref.shape, (ours.shape, ref.shape)
    scale = np.linalg.norm(ref)
    return float(np.linalg.norm(ours - ref) / scale) if scale > 0 else float(np.linalg.norm(ours))


def gradient_model(model: onnx.ModelProto, wrt_input: bool = True):
    """Turn a converted classifier (one input, logits output) into a model computing, in place: the CE
    loss, the gradients of the input and of every Conv/Gemm/MatMul weight initializer, the HVP h = H g
    over those weights, and (as extra outputs) the input of every ReLU/HardSwish/HardSigmoid and the
    argmax indices of every MaxPool. Returns a dict of the tensor names."""
    inits = {t.name for t in model.graph.initializer}
    x, logits = model.graph.input[0].name, model.graph.output[0].name
    weights = [n.input[1] for n in model.graph.node if n.op_type in WEIGHT_OPS and n.input[1] in inits]
    weights = list(dict.fromkeys(weights))
    acts = [(n.op_type, n.input[0]) for n in model.graph.node if n.op_type in ACTIVATIONS]
    pools = [n.input[0] for n in model.graph.node if n.op_type == "MaxPool"]
    use_batch_statistics(model)
    loss = add_cross_entropy(model, logits)
    wrt = ([x] if wrt_input else []) + weights
    g = append_backward(model, loss, wrt)
    # GraSP: h = H g = d/dW (1/2) sum_W <g_W, g_W>
    terms = []
    for i, w in enumerate(weights):
        model.graph.node.extend([helper.make_node("Mul", [g[w], g[w]], [f"hvp_sq_{i}"]),
                                 helper.make_node("ReduceSum", [f"hvp_sq_{i}"], [f"hvp_ss_{i}"], keepdims=0)])
        terms.append(f"hvp_ss_{i}")
    model.graph.node.extend([helper.make_node("Sum", terms, ["hvp_sum"]),
                             helper.make_node("Mul", ["hvp_sum", "hvp_half"], ["hvp_half_sq"])])
    model.graph.initializer.append(numpy_helper.from_array(np.array(0.5, np.float32), "hvp_half"))
    h = append_backward(model, "hvp_half_sq", weights)
    # the argmax of each MaxPool: its gradient rule pools again with an Indices output
    indices = []
    for p in pools:
        twin = next(n for n in model.graph.node if n.op_type == "MaxPool" and n.input[0] == p and len(n.output) > 1)
        indices.append(twin.output[1])
    model.graph.output.extend(helper.make_tensor_value_info(a, TensorProto.FLOAT, None) for _, a in acts)
    model.graph.output.extend(helper.make_tensor_value_info(i, TensorProto.INT64, None) for i in indices)
    return {"input": x, "loss": loss, "weights": weights, "wrt": wrt, "g": g, "h": h, "acts": acts,
            "indices": indices}


def onnx_gradients(model: onnx.ModelProto, names: dict, x: np.ndarray, y: np.ndarray) -> dict:
    """Run the gradient model in onnxruntime (float32, CPU): loss, grads, HVP, activation inputs, argmaxes."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    fetch = ([names["loss"]] + [names["g"][w] for w in names["wrt"]] + [names["h"][w] for w in names["weights"]]
             + [a for _, a in names["acts"]] + names["indices"])
    out = sess.run(fetch, {names["input"]: x, "labels": y})
    k, nw, nh, na = 1, len(names["wrt"]), len(names["weights"]), len(names["acts"])
    return {"loss": float(out[0]), "g": dict(zip(names["wrt"], out[k:k + nw])),
            "h": dict(zip(names["weights"], out[k + nw:k + nw + nh])),
            "acts": out[k + nw + nh:k + nw + nh + na], "indices": out[k + nw + nh + na:]}


def _pieces(torch, ops: list[str], pre: list[np.ndarray], dtype):
    """Forward hooks that make the k-th activation call compute onnxruntime's piece (from its input
    pre[k] as onnxruntime computed it) of that op, as a polynomial autograd differentiates twice."""
    count = [0]

    def hook(module, inputs, output):
        k = count[0]
        count[0] += 1
        assert k < len(ops), "more activation calls in PyTorch than activation nodes in the ONNX graph"
        name = type(module).__name__
        expected = {"ReLU": "Relu", "Hardswish": "HardSwish", "Hardsigmoid": "HardSigmoid"}[name]
        assert ops[k] == expected, f"activation call {k}: PyTorch {name}, ONNX {ops[k]}"
        x, a = inputs[0], pre[k]
        assert tuple(x.shape) == a.shape, (k, tuple(x.shape), a.shape)
        if expected == "Relu":
            return x * torch.from_numpy(a > 0).to(dtype)
        lo, hi = (torch.from_numpy(m) for m in (a / 6 + 0.5 <= 0, a / 6 + 0.5 >= 1))
        zero, one = torch.zeros((), dtype=dtype), torch.ones((), dtype=dtype)
        sig = torch.where(lo, zero, torch.where(hi, one, x / 6 + 0.5))  # F.hardsigmoid has no double backward
        return sig if expected == "HardSigmoid" else x * sig

    return hook, count


def torch_reference(net, names: dict, ours: dict, x: np.ndarray, y: np.ndarray, dtype=None) -> dict:
    """PyTorch autograd (train mode, float64 by default) on a copy of `net`: loss, gradients of the
    input and weights, and GraSP's HVP, with onnxruntime's pieces of ReLU/Hardswish/Hardsigmoid/MaxPool."""
    import torch
    from torch import nn
    F = nn.functional

    dtype = dtype or torch.float64
    ref = copy.deepcopy(net).to(dtype).train()
    for m in ref.modules():
        if isinstance(m, (nn.ReLU, nn.Hardswish, nn.Hardsigmoid)):
            m.inplace = False  # a forward hook must see the activation's input
        if isinstance(m, nn.Dropout):
            m.p = 0.0  # the export is in eval mode: no dropout on either side
    hook, count = _pieces(torch, [op for op, _ in names["acts"]], ours["acts"], dtype)
    handles = [m.register_forward_hook(hook) for m in ref.modules()
               if isinstance(m, (nn.ReLU, nn.Hardswish, nn.Hardsigmoid))]
    pool_count = [0]

    def pool_hook(module, inputs, output):  # onnxruntime's argmax (flat over N*C*H*W, ONNX Indices)
        k = pool_count[0]
        pool_count[0] += 1
        idx = torch.from_numpy(ours["indices"][k])
        assert tuple(idx.shape) == tuple(output.shape)
        return inputs[0].reshape(-1)[idx.reshape(-1)].reshape(output.shape)

    handles += [m.register_forward_hook(pool_hook) for m in ref.modules() if isinstance(m, nn.MaxPool2d)]
    try:
        params = dict(ref.named_parameters())
        missing = [w for w in names["weights"] if w not in params]
        assert not missing, f"ONNX weights that are not torch parameters: {missing[:5]}"
        ws = [params[w] for w in names["weights"]]
        xt = torch.from_numpy(x).to(dtype).requires_grad_(True)
        loss = F.cross_entropy(ref(xt), torch.from_numpy(y))
        assert count[0] == len(names["acts"]) and pool_count[0] == len(names["indices"]), \
            (count[0], len(names["acts"]), pool_count[0], len(names["indices"]))
        leaves = ([xt] if names["wrt"][0] == names["input"] else []) + ws
        gs = torch.autograd.grad(loss, leaves, create_graph=True)
        gw = gs[len(gs) - len(ws):]
        hs = torch.autograd.grad(sum((gi * gi.detach()).sum() for gi in gw), ws)
    finally:
        for hd in handles:
            hd.remove()
    return {"loss": loss.item(), "g": {w: t.detach().double().numpy() for w, t in zip(names["wrt"], gs)},
            "h": {w: t.double().numpy() for w, t in zip(names["weights"], hs)}}


def errors(names: dict, ours: dict, ref: dict) -> dict:
    """Per-tensor ||ours - ref|| / ||ref||: the input gradient, each weight gradient, each HVP tensor."""
    return {"loss": abs(ours["loss"] - ref["loss"]),
            "input": rel_norm_err(ours["g"][names["input"]], ref["g"][names["input"]]),
            "weights": {w: rel_norm_err(ours["g"][w], ref["g"][w]) for w in names["weights"]},
            "hvp": {w: rel_norm_err(ours["h"][w], ref["h"][w]) for w in names["weights"]}}


def export(net, input_shape) -> onnx.ModelProto:
    from onnxscore.converters import convert

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = convert(net, input_shape=tuple(input_shape))
    params = dict(net.named_parameters())
    for t in model.graph.initializer:  # the exported weights are the module's, bit for bit
        if t.name in params:
            assert np.array_equal(numpy_helper.to_array(t), params[t.name].detach().numpy()), t.name
    return model


def compare_torch(net, input_shape, batch: int = 4, seed: int = 0, classes: int | None = None,
                  baseline: bool = False) -> dict:
    """Export `net`, build its gradient model and compare with PyTorch; the errors and some facts.
    With `baseline`, also the errors of PyTorch's own float32 autograd (same pieces imposed) against
    the float64 reference, under "torch32": how close float32 arithmetic can be expected to get."""
    t0 = time.perf_counter()
    model = export(net, input_shape)
    t1 = time.perf_counter()
    names = gradient_model(model)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, *input_shape)).astype(np.float32)
    n_classes = classes or model.graph.output[0].type.tensor_type.shape.dim[1].dim_value
    y = rng.integers(0, n_classes, batch).astype(np.int64)
    ours = onnx_gradients(model, names, x, y)
    t2 = time.perf_counter()
    ref = torch_reference(net, names, ours, x, y)
    t3 = time.perf_counter()
    out = errors(names, ours, ref)
    if baseline:
        import torch

        ref32 = torch_reference(net, names, ours, x, y, dtype=torch.float32)
        out["torch32"] = errors(names, ref32, ref)
    out.update(tensors=len(names["wrt"]), acts=len(names["acts"]), pools=len(names["indices"]),
               nodes=len(model.graph.node), seconds={"export": t1 - t0, "onnx": t2 - t1, "torch": t3 - t2})
    return out


# ----------------------------------------------------------------------------- the bench itself

MODELS = {"resnet18": "resnet18", "mobilenet_v3_small": "mobilenet_v3_small"}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=224, help="input height and width (default 224)")
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--only", choices=sorted(MODELS), action="append")
    ap.add_argument("--out", default=str(RESULTS / "real_model_gradients.md"))
    args = ap.parse_args(argv)
    import torch
    import torchvision

    rows = []
    for name in args.only or list(MODELS):
        torch.manual_seed(0)
        net = getattr(torchvision.models, MODELS[name])(weights=None)
        t = time.perf_counter()
        r = compare_torch(net, (3, args.size, args.size), batch=args.batch_size, baseline=True)
        r["total"] = time.perf_counter() - t
        rows.append((name, r))
        print(f"{name}: input {r['input']:.2e}, weights max {max(r['weights'].values()):.2e}, "
              f"HVP max {max(r['hvp'].values()):.2e}, |loss diff| {r['loss']:.1e}, {r['total']:.0f} s",
              file=sys.stderr)
    lines = [
        "# Gradients of onnxscore.graph.autodiff against PyTorch autograd (bench/real_model_gradients.py)",
        "",
        f"torchvision {torchvision.__version__} models, weights=None, torch.manual_seed(0); torch {torch.__version__}; "
        f"input 3x{args.size}x{args.size}, batch {args.batch_size}, mean cross-entropy on random labels, "
        "train-mode BatchNorm (batch statistics). Ours: onnxruntime, float32. Reference: PyTorch autograd in "
        "float64 with onnxruntime's ReLU masks, Hardswish/Hardsigmoid regions and MaxPool argmax imposed. "
        "Error per tensor = ||ours - ref|| / ||ref||; HVP = GraSP's H g over all Conv/Gemm weights.",
        "",
        "The last column is PyTorch's own float32 autograd (same pieces imposed) against the same float64 "
        "reference, as weights / input / HVP: the accuracy float32 arithmetic reaches on that network.",
        "",
        "| model | tensors compared | weight grads, max rel. err | input grad rel. err | HVP, max rel. err "
        "| \\|loss diff\\| | activations / MaxPools imposed | seconds | PyTorch float32, same errors |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in rows:
        b = r["torch32"]
        lines.append(f"| {name} | {r['tensors']} (input + {r['tensors'] - 1} weights; HVP on {r['tensors'] - 1}) "
                     f"| {max(r['weights'].values()):.2e} | {r['input']:.2e} | {max(r['hvp'].values()):.2e} "
                     f"| {r['loss']:.1e} | {r['acts']} / {r['pools']} | {r['total']:.0f} "
                     f"| {max(b['weights'].values()):.1e} / {b['input']:.1e} / {max(b['hvp'].values()):.1e} |")
    text = "\n".join(lines) + "\n"
    print(text)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
