"""Exact determinants of integer matrices by Gaussian elimination modulo primes (int64 NumPy).

A float slogdet cannot tell a singular matrix from a badly conditioned one (round-off leaves a
finite log|det| for a rank-deficient kernel). For an integer matrix, det mod p is exact: a nonzero
residue for one prime proves det != 0; a zero residue for primes whose product exceeds a bound on
|det| proves det == 0 (the Chinese remainder theorem).
"""
from __future__ import annotations

import math

import numpy as np

PRIME_BITS = 24  # residues < 2**24: a product < 2**48, and 2**14 of them still fit in int64 unreduced
_LAZY_STEPS = 2 ** (62 - 2 * PRIME_BITS)  # elimination steps between reductions of the trailing block
_PRIMES: list[int] = []  # the largest primes below 2**PRIME_BITS, descending, extended on demand


def _is_prime(n: int) -> bool:
    """Deterministic Miller-Rabin for n < 3,215,031,751 (bases 2, 3, 5, 7)."""
    if n < 2 or n % 2 == 0:
        return n == 2
    d, s = n - 1, 0
    while d % 2 == 0:
        d, s = d // 2, s + 1
    for a in (2, 3, 5, 7):
        if a % n == 0:
            continue
        x = pow(a, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = x * x % n
            if x == n - 1:
                break
        else:
            return False
    return True


def primes(count: int) -> list[int]:
    """The `count` largest primes below 2**PRIME_BITS."""
    n = _PRIMES[-1] - 2 if _PRIMES else 2**PRIME_BITS - 1
    while len(_PRIMES) < count:
        if _is_prime(n):
            _PRIMES.append(n)
        n -= 2
    return _PRIMES[:count]


def det_mod(a: np.ndarray, ps: list[int]) -> list[int]:
    """det(a) mod p for each prime p, by one vectorised elimination over a stack of residue matrices.

    The trailing block is reduced only every _LAZY_STEPS steps (its entries grow by < 2**48 a
    step); the pivot row and column are reduced when they are used, so every product fits int64."""
    n = a.shape[0]
    p = np.array(ps, dtype=np.int64)
    pc = p[:, None]
    m = np.mod(a[None, :, :], p[:, None, None])  # (P, n, n) residues in [0, p)
    det = [1] * len(ps)
    alive = np.ones(len(ps), dtype=bool)  # primes whose residue matrix has had a pivot in every column
    idx = np.arange(len(ps))
    for k in range(n):
        if k and k % _LAZY_STEPS == 0:
            m[:, k:, k:] %= p[:, None, None]
        col = m[:, k:, k]
        col %= pc
        nz = col != 0
        alive &= nz.any(axis=1)
        if not alive.any():
            break
        r = k + np.argmax(nz, axis=1)
        swap = alive & (r != k)
        if swap.any():
            s, rs = idx[swap], r[swap]
            top = m[s, k, k:].copy()
            m[s, k, k:] = m[s, rs, k:]
            m[s, rs, k:] = top
        piv = m[:, k, k]
        inv = np.zeros(len(ps), dtype=np.int64)
        for i in np.flatnonzero(alive):
            pi, v = ps[i], int(piv[i])
            det[i] = det[i] * (-v if swap[i] else v) % pi
            inv[i] = pow(v, -1, pi)
        if k + 1 < n:  # dead primes get multiplier 0: their rows are left alone
            row = m[:, k, k + 1:]
            row %= pc
            f = m[:, k + 1:, k] * inv[:, None] % pc
            m[:, k + 1:, k + 1:] -= f[:, :, None] * row[:, None, :]
    return [d if ok else 0 for d, ok in zip(det, alive)]


def _chunks(ps: list[int], n: int) -> list[list[int]]:
    """Split the primes so that one stack of n x n residue matrices stays near 64 MiB."""
    step = max(1, 2**23 // max(1, n * n))
    return [ps[i:i + step] for i in range(0, len(ps), step)]


def _primes_above(log2_needed: float) -> list[int]:
    """The fewest of the largest primes whose product exceeds 2**log2_needed."""
    count, total = 0, 0.0
    while total <= log2_needed:
        count += 1
        if count > len(_PRIMES):
            primes(2 * count)
        total += math.log2(_PRIMES[count - 1])
    return _PRIMES[:count]


def is_singular(a: np.ndarray, log2_bound: float) -> bool:
    """Whether det(a) == 0, exactly, for an integer matrix with |det(a)| <= 2**log2_bound.

    A nonsingular matrix usually stops after the first prime; a singular one needs as many
    primes as the bound asks for (vectorised eliminations over stacks of them)."""
    ps = _primes_above(log2_bound + 1)  # one bit spare for the float sum of logs
    if det_mod(a, ps[:1])[0] != 0:
        return False
    return not any(any(det_mod(a, chunk)) for chunk in _chunks(ps[1:], a.shape[0]))


def log_abs_det(a: np.ndarray, log2_bound: float) -> float:
    """ln|det(a)| computed exactly (CRT over enough primes); -inf when det(a) == 0."""
    ps = _primes_above(log2_bound + 2)  # the product must exceed 2|det| (signed residue), one bit spare
    x, mod = 0, 1
    for chunk in _chunks(ps, a.shape[0]):
        for r, p in zip(det_mod(a, chunk), chunk):
            x += mod * ((r - x) * pow(mod % p, -1, p) % p)
            mod *= p
    if x > mod // 2:
        x -= mod
    return math.log(abs(x)) if x else -math.inf
