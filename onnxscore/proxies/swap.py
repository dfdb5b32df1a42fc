"""SWAP (Peng et al., ICLR 2024): number of distinct sample-wise activation patterns."""
from __future__ import annotations

import numpy as np

from onnxscore.errors import ProxyError
from onnxscore.proxies.codes import ProxyContext, SiteCodes
from onnxscore.proxies.kernels import column_bytes
from onnxscore.proxies.registry import register


def column_words(sites: list[SiteCodes], batch: int, threads: int = 0) -> np.ndarray:
    """Each unit's pattern over the batch as whole uint64 words: (units of all sites, ceil(B/64)) uint64.

    Packed by an integer GEMM in onnxruntime (kernels.column_bytes), faster than the NumPy shift-or
    per sample row it replaced, which was itself 2.6x faster than np.packbits(axis=0) (a strided walk
    of the (B, units) codes). Only equality of patterns is used, so the bit order is free.
    """
    nbytes = -(-batch // 64) * 8  # pad each pattern to whole uint64 words (zero bits)
    parts = [column_bytes(site.unpacked(slice(0, batch)), nbytes, threads) for site in sites if site.units]
    if not parts:
        return np.zeros((0, nbytes // 8), dtype=np.uint64)
    return np.concatenate(parts).view(np.uint64)


def count_patterns(sites: list[SiteCodes], batch: int, threads: int = 0) -> int:
    """Distinct columns over all conv sites jointly (a pattern seen in two layers counts once)."""
    conv = [s for s in sites if s.conv]
    if not conv:
        raise ProxyError(
            "SWAP needs ReLU sites on 4-D feature maps and this model has none; "
            "use naswot or epads for fully connected models"
        )
    return distinct_rows(column_words(conv, batch, threads))


_M1, _M2 = np.uint64(0x9E3779B97F4A7C15), np.uint64(0xBF58476D1CE4E5B9)


def pattern_hash(rows: np.ndarray) -> np.ndarray:
    """A 64-bit mix of each row of uint64 words (wrapping multiply-xorshift); equal rows hash equal."""
    h = rows[:, 0] * _M2
    for k in range(1, rows.shape[1]):
        h = (h ^ (h >> np.uint64(29))) * _M1 + rows[:, k] * _M2
        h ^= h >> np.uint64(32)
    return h


def distinct_rows(rows: np.ndarray) -> int:
    """Exact number of distinct rows of a (n, W) uint64 array.

    One word: sort the words and count changes. Several: sort 64-bit hashes (7x faster than np.unique on W-word voids)
    and check that rows sharing a hash are equal; on a hash collision fall back to the exact void sort,
    so the count never depends on the hash.
    """
    if rows.shape[0] == 0:
        return 0
    if rows.shape[1] == 1:  # np.sort + neighbour compare: np.unique on uint64 took 50x longer (NumPy 2.4)
        w = np.sort(rows[:, 0])
        return int(1 + np.count_nonzero(w[1:] != w[:-1]))
    h = pattern_hash(rows)
    order = np.argsort(h)
    hs = h[order]
    tie = np.flatnonzero(hs[1:] == hs[:-1])
    if (rows[order[tie]] != rows[order[tie + 1]]).any():  # a collision: two different rows, one hash
        return int(np.unique(np.ascontiguousarray(rows).view(np.dtype((np.void, 8 * rows.shape[1]))).ravel()).size)
    return int(rows.shape[0] - tie.size)


@register(
    "swap",
    "count of distinct sample-wise activation patterns over conv ReLUs (SWAP, ICLR 2024)",
)
def swap(sites: list[SiteCodes], ctx: ProxyContext) -> float:
    return float(count_patterns(sites, ctx.batch_size, ctx.threads))


SATURATED = 0.005  # a count within 0.5 % of its bound no longer ranks models apart


def saturation_warning(count: int, sites: list[SiteCodes], batch: int) -> str | None:
    """A warning when SWAP's count is at (or within 0.5 % of) its bound min(V, 2^B), V the conv units
    (a site counted once per consumer adds no column of its own), naming the batch size that lifts it."""
    seen: dict[str, int] = {}
    for s in sites:
        if s.conv:
            seen.setdefault(s.name, s.units)
    units = sum(seen.values())
    bound = min(units, 2**batch)
    if not units or count < (1 - SATURATED) * bound:
        return None
    if bound < units:
        lift = max(batch + 1, (units - 1).bit_length())  # the least B' with 2^B' >= V
        return (f"SWAP is saturated: {count} distinct patterns of at most 2^{batch} = {bound} for a batch of "
                f"{batch} ({units} conv units); a batch of {lift} or more lifts the bound to the unit count")
    return (f"SWAP is saturated: {count} distinct patterns of at most {units}, one per conv unit; nearly every "
            "unit has its own pattern, so SWAP counts units here and no batch size lifts it")
