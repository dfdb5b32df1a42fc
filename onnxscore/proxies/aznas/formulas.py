"""AZ-NAS's formulas (cvlab-yonsei/AZ-NAS, NB201/ZeroShotProxy/compute_az_nas_score.py), in float64 NumPy.

Transcribed with the authors' quirks: covariance divided by N (not N-1), eigenvalues not clamped,
the only eps is the 1e-8 inside the log; identical input/output gradients score -inf."""
from __future__ import annotations

import numpy as np

RADEMACHER_STREAM = 11  # np.random.default_rng([seed, RADEMACHER_STREAM]) draws the cotangents


def columns(t: np.ndarray) -> np.ndarray:
    """(B, C, H, W) -> (C, B*H*W) in float64: every (image, pixel) is a sample, a column here; the
    transpose of the authors' permute(0,2,3,1).view(-1, C), copied in runs of H*W (2-3x faster than
    their per-pixel order on 32x32 maps, and the same products)."""
    b, c = t.shape[:2]
    return np.asarray(t, dtype=np.float64).reshape(b, c, -1).transpose(1, 0, 2).reshape(c, -1)


def entropy(feat: np.ndarray) -> float:
    """Shannon entropy of the normalised eigenvalue spectrum of the channel covariance of one feature map.
    NaN when the spectrum sums to zero (an all-zero map): the authors' value, not an error."""
    f = columns(feat)
    f = f - f.mean(axis=1, keepdims=True)
    sigma = f @ f.T / f.shape[1]
    s = np.linalg.eigvalsh(sigma)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = s / s.sum()
        return float(np.sum(-p * np.log(p + 1e-8)))


def expressivity(entropies: list[float]) -> float:
    return float(np.sum(entropies))


def progressivity(entropies: list[float]) -> float:
    """Minimum of the consecutive entropy differences."""
    e = np.asarray(entropies, dtype=np.float64)
    return float(np.min(e[1:] - e[:-1]))


def pixel_unshuffle(t: np.ndarray, s: int) -> np.ndarray:
    """torch.nn.PixelUnshuffle(s): (B, C, s*h, s*w) -> (B, C*s*s, h, w), channel c*s*s + dy*s + dx."""
    b, c, hh, ww = t.shape
    h, w = hh // s, ww // s
    return t.reshape(b, c, h, s, w, s).transpose(0, 1, 3, 5, 2, 4).reshape(b, c * s * s, h, w)


def pair_score(g_in: np.ndarray, g_out: np.ndarray) -> float:
    """2 - sigma - 1/(sigma + 1e-6), sigma the largest singular value of E[g_in g_out^T]; -inf when
    g_in == g_out exactly (an identity block)."""
    if g_in.shape == g_out.shape and np.array_equal(g_in, g_out):
        return -np.inf
    bo, co, ho, wo = g_out.shape
    if g_in.shape[2] != ho or g_in.shape[3] != wo:
        g_in = pixel_unshuffle(g_in, int(g_in.shape[2] / ho))
    mat = columns(g_in) @ columns(g_out).T / (bo * ho * wo)
    if mat.shape[0] < mat.shape[1]:
        mat = mat.T
    sigma = float(np.linalg.svd(mat, compute_uv=False).max())
    return -sigma - 1.0 / (sigma + 1e-6) + 2.0


def trainability(pair_scores: list[float]) -> float:
    return float(np.mean(pair_scores))


def rademacher(shapes: list[tuple[int, ...]], seed: int) -> list[np.ndarray]:
    """One ±1 float32 cotangent per pair, shapes[k] the shape of pair k's f_out (pair k = taps k, k+1);
    drawn in the authors' order, last pair first, from np.random.default_rng([seed, 11])."""
    rng = np.random.default_rng([seed, RADEMACHER_STREAM])
    out: list[np.ndarray] = [None] * len(shapes)  # type: ignore[list-item]
    for k in reversed(range(len(shapes))):
        out[k] = (rng.integers(0, 2, size=shapes[k]) * 2 - 1).astype(np.float32)
    return out
