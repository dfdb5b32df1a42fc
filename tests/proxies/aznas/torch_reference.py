"""AZ-NAS's expressivity / progressivity / trainability, transcribed in PyTorch from the authors'
compute_az_nas_score.py (float32, as they run it), independent of onnxscore's ONNX graphs."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn


def cell_features(net, x: torch.Tensor) -> list[torch.Tensor]:
    """extract_cell_features: the stem's output, then every cell's (forward hooks)."""
    feats: list[torch.Tensor] = []
    hooks = [m.register_forward_hook(lambda _m, _i, out: feats.append(out)) for m in [net.stem, *net.cells]]
    try:
        net(x)
    finally:
        for h in hooks:
            h.remove()
    return feats


def entropy(feat: torch.Tensor) -> float:
    feat = feat.detach().clone()
    b, c, h, w = feat.size()
    feat = feat.permute(0, 2, 3, 1).contiguous().view(b * h * w, c)
    feat = feat - feat.mean(dim=0, keepdim=True)
    sigma = torch.mm(feat.transpose(1, 0), feat) / feat.size(0)
    s = torch.linalg.eigvalsh(sigma)
    p = s / s.sum()
    return ((-p) * torch.log(p + 1e-8)).sum().item()


def pair_scores(feats: list[torch.Tensor], g_outs: list[np.ndarray]) -> list[float]:
    """Per pair k (feats[k] -> feats[k+1]), computed last pair first like the authors; g_outs[k]
    is pair k's Rademacher vector."""
    scores = {}
    for i in reversed(range(1, len(feats))):
        f_out, f_in = feats[i], feats[i - 1]
        g_out = torch.from_numpy(g_outs[i - 1])
        g_in = torch.autograd.grad(outputs=f_out, inputs=f_in, grad_outputs=g_out, retain_graph=True,
                                   allow_unused=True)[0]
        if g_in is None:  # f_out does not depend on f_in
            g_in = torch.zeros_like(f_in)
        if g_out.size() == g_in.size() and torch.all(g_in == g_out):
            scores[i - 1] = -np.inf
            continue
        bo, co, ho, wo = g_out.size()
        if g_out.size(2) != g_in.size(2) or g_out.size(3) != g_in.size(3):
            g_in = nn.PixelUnshuffle(int(g_in.size(2) / ho))(g_in)
        bi, ci, hi, wi = g_in.size()
        g_out = g_out.permute(0, 2, 3, 1).contiguous().view(bo * ho * wo, co)
        g_in = g_in.permute(0, 2, 3, 1).contiguous().view(bi * hi * wi, ci)
        mat = torch.mm(g_in.transpose(1, 0), g_out) / (bo * ho * wo)
        if mat.size(0) < mat.size(1):
            mat = mat.transpose(0, 1)
        s = torch.linalg.svdvals(mat)
        scores[i - 1] = -s.max().item() - 1 / (s.max().item() + 1e-6) + 2
    return [scores[k] for k in range(len(feats) - 1)]


def az_nas(feats: list[torch.Tensor], g_outs: list[np.ndarray]) -> dict:
    ent = np.array([entropy(f) for f in feats])
    scores = pair_scores(feats, g_outs)
    out = {"entropies": ent, "pair_scores": scores, "expressivity": np.sum(ent),
           "progressivity": np.min(ent[1:] - ent[:-1]), "trainability": np.mean(scores)}
    for k in ("expressivity", "progressivity", "trainability"):
        out[k] = float(out[k]) if not np.isnan(out[k]) else -np.inf
    return out
