"""Deliberately naive proxy implementations straight from PROXIES.md (loops, no packing)."""
from __future__ import annotations

import math

import numpy as np


def naswot(codes: list[np.ndarray]) -> float:
    a = np.concatenate(codes, axis=1).astype(np.int64)
    b, n = a.shape
    k = np.empty((b, b))
    for i in range(b):
        for j in range(b):
            k[i, j] = n - np.sum(a[i] != a[j])
    return float(np.linalg.slogdet(k)[1])


def swap(codes: list[np.ndarray]) -> int:
    patterns = set()
    for c in codes:
        for v in range(c.shape[1]):
            patterns.add(tuple(c[:, v].tolist()))
    return len(patterns)


def epads(clean: list[np.ndarray], noisy: list[np.ndarray], perms: list[np.ndarray]) -> float:
    total = 0
    for c, ct, p in zip(clean, noisy, perms):
        d1 = sum(int(np.sum(c[i] != c[p[i]])) for i in range(c.shape[0]))
        d2 = sum(int(np.sum(c[i] != ct[i])) for i in range(c.shape[0]))
        total += d1 * d2
    return math.log(total) if total else float("-inf")
