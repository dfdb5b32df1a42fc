"""VKDNW's Fisher matrix, its spectrum's deciles and their entropy, as the authors' code has them.

Computed in float64 numpy (theirs is float32 torch); the float16 smoothing constants are kept."""
from __future__ import annotations

import numpy as np

# torch.arange(0.1, 1.0, 0.1) (float32): 9 deciles
DECILES = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9], np.float32).astype(np.float64)


def cholesky_covariance(logits: np.ndarray) -> np.ndarray:
    """(N, C, C) lower-triangular L with L L^T = diag(p) - p p^T for the smoothed softmax p.

    Literal: alpha is a float16 tensor in their code, so 1 - alpha and alpha / C are float16
    numbers; q[:, -1] = 0 makes the last column of L zero."""
    z = np.asarray(logits, np.float64)
    c = z.shape[1]
    alpha = np.float16(0.05)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    prob = e / e.sum(axis=1, keepdims=True) * float(np.float16(1) - alpha) + float(alpha / np.float16(c))
    q = 1.0 - np.cumsum(prob, axis=1)
    q[:, -1] = 0.0
    q_shift = np.roll(q, 1, axis=1)
    q_shift[:, 0] = 1.0
    d = np.sqrt(prob * q / q_shift)
    with np.errstate(divide="ignore"):
        lower = -(prob[:, :, None] @ (1.0 / q)[:, None, :])
    lower = np.nan_to_num(lower, neginf=0.0)
    eye = np.eye(c)
    lower = lower * (1 - eye) + eye
    lower = lower * (1 - np.triu(np.ones((c, c)), k=1))
    return lower * d[:, None, :]  # L @ diag_embed(d)


def fisher(logits: np.ndarray, jac: np.ndarray) -> np.ndarray:
    """F = mean_n A_n^T A_n with A_n = L_n J_n (their L J, so J^T L^T L J, not J^T Cov J)."""
    a = cholesky_covariance(logits) @ np.asarray(jac, np.float64)
    return np.mean(np.transpose(a, (0, 2, 1)) @ a, axis=0)


def spectrum(f: np.ndarray) -> np.ndarray:
    """Singular values of F (torch.svd(F).S); [0, 0] when the SVD fails, as theirs."""
    try:
        return np.linalg.svd(f, compute_uv=False)
    except (np.linalg.LinAlgError, ValueError):
        return np.zeros(2)


def deciles(lambdas: np.ndarray) -> np.ndarray:
    """torch.quantile(lambdas, arange(0.1, 1.0, 0.1)): linear interpolation."""
    return np.quantile(np.asarray(lambdas, np.float64), DECILES)


def entropy(q: np.ndarray) -> float:
    """-sum t log(t + 1e-10), t = q / (|q|_1 + 1e-10)."""
    t = q / (np.abs(q).sum() + 1e-10)
    return float(-(t * np.log(t + 1e-10)).sum())
