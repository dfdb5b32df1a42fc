"""Binary activation codes of one forward pass, bit-packed per site (1 bit per unit and sample)."""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Sequence, TypeVar

import numpy as np

T = TypeVar("T")
PARALLEL_MIN_BYTES = 8 << 20  # below this, starting threads costs more than they save


class SiteCodes:
    """Codes of one site: `bits` is uint8 (rows, ceil(units/8)), np.packbits order along units.

    Padding bits are zero in every row, so XOR/popcount over rows ignore them. A site built with
    keep_dense=True holds onnxruntime's boolean (rows, units) array instead and packs only if a proxy
    asks for `bits`: NASWOT and SWAP read 0/1 codes, so packing the clean pass and unpacking it again
    was pure overhead.
    """

    __slots__ = ("name", "_bits", "units", "conv", "dense")

    def __init__(self, name: str, bits: np.ndarray | None, units: int, conv: bool,
                 dense: np.ndarray | None = None):
        if bits is None and dense is None:
            raise ValueError("SiteCodes needs packed bits or a dense boolean array")
        self.name, self._bits, self.units, self.conv, self.dense = name, bits, int(units), bool(conv), dense

    def __repr__(self) -> str:
        return f"SiteCodes({self.name!r}, units={self.units}, conv={self.conv}, rows={self.rows})"

    @property
    def rows(self) -> int:
        return (self._bits if self._bits is not None else self.dense).shape[0]

    @property
    def bits(self) -> np.ndarray:
        if self._bits is None:
            self._bits = np.packbits(self.dense, axis=1)
        return self._bits

    @classmethod
    def from_bool(cls, name: str, active: np.ndarray, keep_dense: bool = False) -> "SiteCodes":
        """Wrap a (rows, ...) boolean array of sign codes: packed now, or kept dense (packed on demand)."""
        rows = active.shape[0]
        flat = active.reshape(rows, -1)
        if keep_dense and flat.dtype == np.bool_:
            return cls(name, None, flat.shape[1], active.ndim == 4, dense=flat)
        return cls(name, np.packbits(flat, axis=1), flat.shape[1], active.ndim == 4)

    def unpacked(self, rows: slice = slice(None)) -> np.ndarray:
        """The 0/1 codes as uint8 (rows, units) (a view when the site is dense)."""
        if self.dense is not None:
            return self.dense[rows].view(np.uint8)
        return np.unpackbits(self._bits[rows], axis=1, count=self.units)


@dataclass
class ProxyContext:
    """What a proxy may read besides its data: the seed, batch size, parameter count, threads, and every
    scoring setting (`settings`, a ScoreSettings: a proxy's own parameters, e.g. reg-swap's mu, live there)."""

    seed: int
    batch_size: int
    params: int
    mu: float | None = None
    sigma_params: float | None = None
    threads: int = 0  # onnxruntime intra-op threads for the integer kernels (0: its default, all cores)
    settings: Any = None  # the Scorer's ScoreSettings
    providers: Any = None  # onnxruntime execution providers, for proxies that make their own runs
    shared: Any = None  # a dict living for one model's scoring: what a family's proxies compute once


def parallel_map(fn: Callable[[Any], T], items: Sequence, threads: int, nbytes: int) -> list[T]:
    """[fn(i) for i in items], on up to `threads` threads (0: every core) when the work reads at least
    PARALLEL_MIN_BYTES: np.packbits releases the GIL, so the sites of one forward pack on both cores of
    a 2-core host (NB201 net, 2B codes: 27 -> 22 ms; ePADS's popcounts gained nothing this way). The pool
    lives for this call only: an idle thread left behind would make forking unsafe (isolate.fork_is_safe)."""
    workers = min(threads or os.cpu_count() or 1, len(items))
    if workers < 2 or nbytes < PARALLEL_MIN_BYTES:
        return [fn(i) for i in items]
    with ThreadPoolExecutor(workers, thread_name_prefix="onnxscore-codes") as pool:
        return list(pool.map(fn, items))


def hamming_rows(a: np.ndarray, b: np.ndarray) -> int:
    """Total Hamming distance between matching rows of two packed arrays (int64). The XOR is one
    contiguous buffer, counted 64 bits at a time (one popcount per word, not per byte: 8x fewer)."""
    x = np.bitwise_xor(a, b).reshape(-1)
    whole = x.size - x.size % 8
    return int(np.bitwise_count(x[:whole].view(np.uint64)).sum(dtype=np.int64)
               + np.bitwise_count(x[whole:]).sum(dtype=np.int64))
