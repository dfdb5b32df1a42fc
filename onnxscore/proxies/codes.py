"""Binary activation codes of one forward pass, bit-packed per site (1 bit per unit and sample)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


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


def hamming_rows(a: np.ndarray, b: np.ndarray) -> int:
    """Total Hamming distance between matching rows of two packed arrays (int64)."""
    return int(np.bitwise_count(np.bitwise_xor(a, b)).sum(dtype=np.int64))
