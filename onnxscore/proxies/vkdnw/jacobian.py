"""The per-sample Jacobian J[n, c, p] = d logits[n, c] / d theta_p on onnxruntime, exactly.

Ghost inputs (ghost.py) make d target[n] / d d_p[n] the per-sample derivative; one reverse pass with
a one-hot cotangent on column j of the target gives column j of every sample's Jacobian. The graph
is split at the cotangent input (gradient/split.py): the forward runs once, the backward once per
column. The target is the logits (C passes) or, when the logits are an affine head of a feature h
narrower than C (head.py), h itself (H passes): J is then W_eff^T dh, plus the head's closed form
for its own parameters. The backward part is kept lean: no derivative through the ghost terms'
factors (factors.py), ReLU masks as products (masks.py), its weights as constants (constants.py).
Batching k cotangents in one run (the batch tiled k times) was measured on a full NB201 net
(B = 64, k = 1, 2, 4, 8): 0.65, 0.70, 0.74, 0.71 s per cotangent, peak RSS 0.46, 0.74, 1.30,
2.39 GB; no faster, so not done."""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper

from onnxscore.graph.autodiff import append_backward
from onnxscore.graph.autodiff.emitter import tensor_types
from onnxscore.graph.view import tensor_info
from onnxscore.proxies.gradient.base import data_input, with_static_input
from onnxscore.proxies.gradient.runner import Runner
from onnxscore.proxies.gradient.split import split_at_input
from onnxscore.proxies.vkdnw import factors as fa
from onnxscore.proxies.vkdnw.constants import bind_constants
from onnxscore.proxies.vkdnw.ghost import add_ghosts
from onnxscore.proxies.vkdnw.masks import where_to_mul
from onnxscore.proxies.vkdnw.head import Head, find_head
from onnxscore.proxies.vkdnw.params import Param

SEED = "onnxscore_vk_cotangent"


def build(model: onnx.ModelProto, params: list[Param], x: np.ndarray, target: str | None = None):
    """(once, per_pass, data, logits, ghosts, grads): the forward part (outputs the residuals, the
    logits and `target`) and the backward part (reads the residuals and SEED, a cotangent on
    `target`, default the logits; outputs d/d ghost)."""
    data = data_input(model)
    m = with_static_input(model, data, x.shape, TensorProto.FLOAT)  # a copy
    ghosts, factors = add_ghosts(m, params, x.shape[0])
    logits = m.graph.output[0].name
    target = target or logits
    types = tensor_types(m)  # the logits and target keep these types through the backward
    cut_nodes = fa.cut(m, factors, types)
    grads = append_backward(m, target, ghosts, seed=SEED, outputs=True)
    del m.graph.output[0]  # the logits come from the forward part
    once, per_pass, _ = split_at_input(m, SEED)
    _drop_constant_outputs(per_pass)
    fa.restore(once, cut_nodes)
    where_to_mul(once, per_pass, SEED + "_mask")
    for t in dict.fromkeys([logits, target]):
        if t not in {o.name for o in once.graph.output}:
            once.graph.output.append(helper.make_tensor_value_info(t, *types[t]))
    return once, per_pass, data, logits, ghosts, [grads[g] for g in ghosts]


def _drop_constant_outputs(per_pass: onnx.ModelProto) -> None:
    """A ghost the target does not depend on (a layer whose output is multiplied away, e.g. an NB201 cell
    whose output node is all-zero) has a gradient that does not read the cotangent: the split leaves it in
    the run-once part. A vector-Jacobian product is linear in the cotangent, so it is zero; drop it here."""
    g = per_pass.graph
    made = {o for n in g.node for o in n.output} | {i.name for i in g.input}
    keep = [o for o in g.output if o.name in made]
    del g.output[:]
    g.output.extend(keep)


def columns(model: onnx.ModelProto, params: list[Param], x: np.ndarray, target: str | None,
            runner: Runner) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(logits, target values (N, K), D (N, K, P)): D[n, j, p] = d target[n, j] / d theta_p, one
    backward pass per column j; `target` None: the logits."""
    once, per_pass, data, logits, ghosts, grads = build(model, params, x, target)
    n = x.shape[0]
    zeros = np.zeros(n, np.float32)
    feeds = {data: np.ascontiguousarray(x, np.float32), **{g: zeros for g in ghosts}}
    feeds = {k: v for k, v in feeds.items() if k in {i.name for i in once.graph.input}}
    names = [o.name for o in once.graph.output]
    fwd = runner.run(runner.session(once), names, feeds)
    z = np.array(fwd[logits], np.float32)
    t = np.array(fwd[target or logits], np.float32)
    width = t.shape[1]
    inputs = {i.name for i in per_pass.graph.input}
    res = {k: v for k, v in fwd.items() if k in inputs}
    res.update({g: zeros for g in ghosts if g in inputs})
    cols = np.zeros((n, width, len(params)), np.float32)
    if not params:
        return z, t, cols
    per_pass, res = bind_constants(once, per_pass, res)
    live = [i for i, g in enumerate(grads) if g in {o.name for o in per_pass.graph.output}]
    if not live:
        return z, t, cols  # the target depends on none of the parameters: every column is zero
    sess = runner.session(per_pass, runs=width)
    for k in range(width):
        seed = np.zeros((n, width), np.float32)
        seed[:, k] = 1.0
        out = runner.run(sess, [grads[i] for i in live], {**res, SEED: seed})
        cols[:, k, live] = np.stack([out[grads[i]] for i in live], axis=1)
    return z, t, cols


def usable_head(model: onnx.ModelProto) -> Head | None:
    """The affine head when going through its input takes fewer passes (H < C), else None."""
    head = find_head(model)
    if head is None or head.width >= head.classes:
        return None
    if len(head.nodes) > 1 and tensor_info(model).get(head.h, (0, None))[1] != 2:
        return None  # MatMul on a feature of rank > 2: not one vector per sample
    return head


def through_head(model: onnx.ModelProto, params: list[Param], x: np.ndarray, head: Head,
                 runner: Runner) -> tuple[np.ndarray, np.ndarray]:
    """(logits, J) from H passes on the head's input h: J[n, :, p] = W_eff^T dh[n, :, p] for the
    parameters before the head; the head's weight and bias in closed form."""
    own = {head.weight, head.bias}
    before = [i for i, p in enumerate(params) if p.name not in own]
    z, h, dh = columns(model, [params[i] for i in before], x, head.h, runner)
    if h.shape != (x.shape[0], head.width) or z.shape != (x.shape[0], head.classes):
        raise ValueError(f"VKDNW: head shapes {h.shape}, {z.shape} do not match its weight {head.w_eff.shape}")
    jac = np.zeros((x.shape[0], head.classes, len(params)), np.float32)
    jac[:, :, before] = np.einsum("njp,jc->ncp", dh.astype(np.float64), head.w_eff)
    for i, p in enumerate(params):
        if p.name == head.weight:
            jac[:, 0, i] = head.d_weight * h[:, 0].astype(np.float64)
        elif p.name == head.bias:
            jac[:, :, i] = head.d_bias[None, :]
    return z, jac


def jacobian(model: onnx.ModelProto, params: list[Param], x: np.ndarray,
             providers: list[str] | None = None, penultimate: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(logits (N, C), J (N, C, P)) float32, eval-mode BN, P = len(params) scalars W.flat[0].
    `penultimate`: through the affine head's input when that takes fewer passes (the same J)."""
    runner = Runner(providers)
    head = usable_head(model) if penultimate else None
    if head is not None:
        return through_head(model, params, x, head, runner)
    z, _, jac = columns(model, params, x, None, runner)
    return z, jac
