"""The packed-code kernels against byte-by-byte counts, and the temporary thread pool."""
from __future__ import annotations

import threading

import numpy as np
import pytest

from onnxscore.proxies.codes import SiteCodes, hamming_rows, parallel_map


@pytest.mark.parametrize("rows,units", [(1, 1), (3, 7), (4, 64), (5, 100), (128, 9452)])
def test_hamming_rows_counts_every_differing_bit(rows, units):
    """Whole 64-bit words and the tail bytes: the total equals a count over unpacked 0/1 codes."""
    rng = np.random.default_rng(units)
    a, b = rng.random((rows, units)) > 0.5, rng.random((rows, units)) > 0.3
    pa, pb = np.packbits(a, axis=1), np.packbits(b, axis=1)
    assert hamming_rows(pa, pb) == int(np.count_nonzero(a != b))
    assert hamming_rows(pa[::-1], pb[::-1]) == int(np.count_nonzero(a != b))  # non-contiguous rows


def test_parallel_map_keeps_order_and_leaves_no_thread():
    """Large work runs on a pool that is gone afterwards (a live thread would make forking unsafe)."""
    arrays = [np.random.default_rng(k).random((64, 5000 + k)) > 0.5 for k in range(9)]
    before = threading.active_count()
    packed = parallel_map(lambda a: SiteCodes.from_bool("s", a).bits, arrays, threads=2, nbytes=1 << 30)
    assert threading.active_count() == before
    for a, p in zip(arrays, packed):
        assert np.array_equal(p, np.packbits(a, axis=1))


def test_parallel_map_runs_small_work_inline():
    seen = []
    assert parallel_map(lambda k: seen.append(threading.current_thread().name) or k * 2, [1, 2, 3],
                        threads=2, nbytes=10) == [2, 4, 6]
    assert set(seen) == {threading.current_thread().name}
