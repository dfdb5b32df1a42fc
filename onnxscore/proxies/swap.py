"""SWAP (Peng et al., ICLR 2024): number of distinct sample-wise activation patterns."""
from __future__ import annotations

import numpy as np

from onnxscore.errors import ProxyError
from onnxscore.proxies.codes import ProxyContext, SiteCodes
from onnxscore.proxies.registry import register


def column_words(site: SiteCodes, batch: int) -> np.ndarray:
    """Each unit's pattern over the batch packed into bytes: (units, ceil(B/8)) uint8."""
    codes = site.unpacked(slice(0, batch))  # (B, units)
    return np.ascontiguousarray(np.packbits(codes, axis=0).T)


def count_patterns(sites: list[SiteCodes], batch: int) -> int:
    """Distinct columns over all conv sites jointly (a pattern seen in two layers counts once)."""
    conv = [s for s in sites if s.conv]
    if not conv:
        raise ProxyError(
            "SWAP needs ReLU sites on 4-D feature maps and this model has none; "
            "use naswot or epads for fully connected models"
        )
    words = np.concatenate([column_words(s, batch) for s in conv], axis=0)
    width = -(-words.shape[1] // 8) * 8  # pad each pattern to whole uint64 words
    padded = np.zeros((words.shape[0], width), dtype=np.uint8)
    padded[:, : words.shape[1]] = words
    if width == 8:  # B <= 64: one uint64 per pattern
        return int(np.unique(padded.view(np.uint64).ravel()).size)
    return int(np.unique(padded.view(np.dtype((np.void, width))).ravel()).size)


@register(
    "swap",
    "count of distinct sample-wise activation patterns over conv ReLUs (SWAP, ICLR 2024)",
)
def swap(sites: list[SiteCodes], ctx: ProxyContext) -> float:
    return float(count_patterns(sites, ctx.batch_size))
