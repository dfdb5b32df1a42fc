"""The authors' VKDNW in PyTorch (get_jacobian_index, cholesky_covariance, get_fisher, svd, quantile),
transcribed from ondratybl/VKDNW NB201/ZeroShotProxy/compute_vkdnw_score.py, for cross-checks."""
from __future__ import annotations

import torch
from torch.func import functional_call, jacrev, vmap


def jacobian(net, x: torch.Tensor, max_tensors: int) -> torch.Tensor:
    """(N, C, P): per-sample d logits / d p.flatten()[0] for the first max_tensors named_parameters."""
    net.eval()
    params = {k: v.detach() for k, v in net.named_parameters()}
    buffers = {k: v.detach() for k, v in net.named_buffers()}
    grad = dict(list({k: v.flatten()[0:1] for k, v in params.items()}.items())[:max_tensors])

    def sample_jac(sample):
        def pred(tmp):
            ps = dict(params)
            for k, v in tmp.items():
                ps[k] = torch.cat([v, params[k].flatten()[1:]]).reshape(params[k].shape)
            return functional_call(net, (ps, buffers), (sample.unsqueeze(0),)).squeeze(0)
        return jacrev(pred)(grad)

    jd = vmap(sample_jac)(x)
    return torch.cat([torch.flatten(v, start_dim=2) for v in jd.values()], dim=2)


def cholesky_covariance(output: torch.Tensor) -> torch.Tensor:
    alpha = torch.tensor(0.05, dtype=torch.float16)
    prob = torch.nn.functional.softmax(output, dim=1) * (1 - alpha) + alpha / output.shape[1]
    q = torch.ones_like(prob) - torch.cumsum(prob, dim=1)
    q[:, -1] = torch.zeros_like(q[:, -1])
    q_shift = torch.roll(q, shifts=1, dims=1)
    q_shift[:, 0] = torch.ones_like(q_shift[:, 0])
    d = torch.sqrt(prob * q / q_shift)
    L = -torch.matmul(torch.unsqueeze(prob, dim=2), 1 / torch.transpose(torch.unsqueeze(q, dim=2), dim0=1, dim1=2))
    L = torch.nan_to_num(L, neginf=0.)
    eye = torch.eye(L.shape[1], dtype=output.dtype).repeat(L.shape[0], 1, 1)
    L = L * (1 - eye) + eye
    L = L * (1 - torch.triu(torch.ones(L.shape[1], L.shape[2], dtype=output.dtype), diagonal=1).repeat(L.shape[0], 1, 1))
    return torch.matmul(L, torch.diag_embed(d))


def vkdnw(net, x: torch.Tensor, max_tensors: int):
    """(J, F, deciles, entropy) as their code computes them (float32)."""
    jac = jacobian(net, x, max_tensors)
    with torch.no_grad():
        a = torch.matmul(cholesky_covariance(net(x)), jac)
    f = torch.mean(torch.matmul(torch.transpose(a, 1, 2), a), dim=0)
    lambdas = torch.svd(f).S
    q = torch.quantile(lambdas, torch.arange(0.1, 1.0, 0.1))
    t = q / (torch.linalg.norm(q, ord=1) + 1e-10)
    return jac, f, q, float(-(t * torch.log(t + 1e-10)).sum())
