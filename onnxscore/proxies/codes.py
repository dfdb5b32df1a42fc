"""Binary activation codes of one forward pass, bit-packed per site (1 bit per unit and sample)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class SiteCodes:
    """Codes of one site: `bits` is uint8 (rows, ceil(units/8)), np.packbits order along units.

    Padding bits are zero in every row, so XOR/popcount over rows ignore them.
    """

    name: str
    bits: np.ndarray
    units: int
    conv: bool  # the pre-activation is a 4-D feature map (SWAP counts only these)

    @classmethod
    def from_bool(cls, name: str, active: np.ndarray) -> "SiteCodes":
        """Pack a (rows, ...) boolean array of sign codes."""
        rows = active.shape[0]
        flat = active.reshape(rows, -1)
        return cls(name, np.packbits(flat, axis=1), flat.shape[1], active.ndim == 4)

    def unpacked(self, rows: slice = slice(None)) -> np.ndarray:
        """The 0/1 codes as uint8 (rows, units)."""
        return np.unpackbits(self.bits[rows], axis=1, count=self.units)


@dataclass
class ProxyContext:
    """What a proxy may read besides the codes: the seed, batch size and user parameters."""

    seed: int
    batch_size: int
    params: int
    mu: float | None = None
    sigma_params: float | None = None


def hamming_rows(a: np.ndarray, b: np.ndarray) -> int:
    """Total Hamming distance between matching rows of two packed arrays (int64)."""
    return int(np.bitwise_count(np.bitwise_xor(a, b)).sum(dtype=np.int64))
