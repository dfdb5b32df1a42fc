"""An independent PyTorch autograd implementation of GRADIENTS.md, one autograd run per proxy, written
the way the reference repositories compute each proxy (hooks, retain_graph loops, F.unfold)."""
from __future__ import annotations

import copy
import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

LAYERS = (nn.Conv2d, nn.Linear)


def layers(net: nn.Module) -> list[nn.Module]:
    return [m for m in net.modules() if isinstance(m, LAYERS)]


def _loss_grads(net, x, y, create_graph=False):
    net.train()
    ws = [m.weight for m in layers(net)]
    loss = F.cross_entropy(net(x), y)
    return ws, torch.autograd.grad(loss, ws, create_graph=create_graph)


def grad_norm(net, x, y) -> float:
    _, gs = _loss_grads(net, x, y)
    return sum(g.double().norm().item() for g in gs)


def snip(net, x, y) -> float:
    ws, gs = _loss_grads(net, x, y)
    return sum((w * g).abs().double().sum().item() for w, g in zip(ws, gs))


def plain(net, x, y) -> float:
    ws, gs = _loss_grads(net, x, y)
    return sum((w * g).double().sum().item() for w, g in zip(ws, gs))


def grasp(net, x, y) -> float:
    ws, gs = _loss_grads(net, x, y)
    g0 = [g.detach() for g in gs]
    loss = F.cross_entropy(net(x), y)
    gs = torch.autograd.grad(loss, ws, create_graph=True)
    z = sum((g * c).sum() for g, c in zip(gs, g0))
    hs = torch.autograd.grad(z, ws)
    return -sum((w.detach() * h).double().sum().item() for w, h in zip(ws, hs))


def synflow(net, x, y=None, dtype=torch.float64) -> float:
    net = copy.deepcopy(net).to(dtype)
    for name, mod in list(net.named_modules()):
        for child_name, child in list(mod.named_children()):
            if isinstance(child, nn.modules.batchnorm._BatchNorm):
                setattr(mod, child_name, nn.Identity())
    with torch.no_grad():
        for p in net.state_dict().values():
            if p.is_floating_point():
                p.abs_()
    ws = [m.weight for m in layers(net)]
    r = net(torch.ones((1,) + tuple(x.shape[1:]), dtype=dtype)).sum()
    gs = torch.autograd.grad(r, ws)
    s = sum((w * g).abs().sum().item() for w, g in zip(ws, gs))
    return math.log(s) if s > 0 else (-math.log(-s) if s < 0 else 0.0)


def jacov(net, x, y=None) -> float:
    net.train()
    x = x.clone().requires_grad_(True)
    out = net(x)
    out.backward(torch.ones_like(out))
    jac = x.grad.reshape(x.shape[0], -1).numpy()
    corr = np.corrcoef(jac)
    v, _ = np.linalg.eig(corr)
    k = 1e-5
    return float(-np.sum(np.log(v + k) + 1.0 / (v + k)))


def fisher(net, x, y) -> float:
    net.train()
    acts = []

    def keep(mod, i, o):
        o.retain_grad()
        acts.append((mod, o))
    hooks = [m.register_forward_hook(keep) for m in layers(net)]
    F.cross_entropy(net(x), y).backward()
    for h in hooks:
        h.remove()
    total = 0.0
    for mod, a in acts:
        g = a.grad
        s = (a * g).sum(dim=[2, 3]) if a.dim() > 2 else a * g
        d = (0.5 * s.double().pow(2).mean(0)).abs()
        total += d.sum().item() * (mod.weight.numel() // mod.weight.shape[0])
    net.zero_grad()
    return total


def l2_norm(net, x=None, y=None) -> float:
    return sum(m.weight.detach().double().norm().item() for m in layers(net))


def ntk_trace(net, x, y) -> float:
    net.train()
    inputs, outs = {}, {}

    def fwd(mod, i, o):
        inputs[mod] = i[0].detach()
        o.retain_grad()
        outs[mod] = o
    hooks = [m.register_forward_hook(fwd) for m in layers(net)]
    logits = net(x)
    logits.gather(1, y[:, None]).sum().backward()
    for h in hooks:
        h.remove()
    sq = torch.zeros(x.shape[0], dtype=torch.float64)
    for mod in layers(net):
        a, b = inputs[mod], outs[mod].grad
        if isinstance(mod, nn.Linear):
            gw = torch.einsum("no,ni->noi", b, a)
            gb = b
        else:
            cols = F.unfold(a, mod.kernel_size, dilation=mod.dilation, padding=mod.padding, stride=mod.stride)
            gw = torch.einsum("nol,nkl->nok", b.flatten(2), cols)
            gb = b.sum(dim=[2, 3])
        sq += gw.flatten(1).double().pow(2).sum(1)
        if mod.bias is not None:
            sq += gb.flatten(1).double().pow(2).sum(1)
    net.zero_grad()
    return math.sqrt(sq.mean().item())


def ntk_cond(net, x, y=None) -> float:
    net.train()
    params = [p for name, p in net.named_parameters() if "weight" in name]
    logits = net(x)
    rows = []
    for i in range(x.shape[0]):
        gs = torch.autograd.grad(logits[i].sum(), params, retain_graph=True, allow_unused=True)
        rows.append(torch.cat([(g if g is not None else torch.zeros_like(p)).flatten()
                               for g, p in zip(gs, params)]))
    j = torch.stack(rows).double()
    eig = torch.linalg.eigvalsh(j @ j.T)
    cond = (eig[-1] / eig[0]).item()
    return 1e5 if math.isnan(cond) else cond


def zico(net, x, y) -> float:
    net.train()
    half = x.shape[0] // 2
    grads = {}
    for xs, ys in ((x[:half], y[:half]), (x[half:], y[half:])):
        ws, gs = _loss_grads(net, xs, ys)
        for k, g in enumerate(gs):
            grads.setdefault(k, []).append(g.flatten().numpy())
    score = 0.0
    for gl in grads.values():
        g = np.array(gl)
        std = np.std(g, axis=0)
        nz = np.nonzero(std)[0]
        mean_abs = np.mean(np.abs(g), axis=0)
        t = np.sum(mean_abs[nz] / std[nz])
        if t != 0:
            score += np.log(t)
    return float(score)


ALL = {f.__name__: f for f in (grad_norm, snip, plain, grasp, synflow, jacov, fisher, l2_norm, ntk_trace,
                               ntk_cond, zico)}
