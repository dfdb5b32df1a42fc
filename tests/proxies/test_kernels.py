"""The onnxruntime integer kernels against plain NumPy on random 0/1 codes (exact equality)."""
from __future__ import annotations

import threading

import numpy as np
import pytest

from onnxscore.proxies import kernels


def _codes(batch: int, units: int, p: float = 0.4, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).random((batch, units)) < p).astype(np.uint8)


@pytest.mark.parametrize("batch,units", [(2, 1), (5, 77), (128, 4099), (130, 300)])
def test_gram_is_the_exact_integer_product(batch, units):
    c = _codes(batch, units)
    want = c.astype(np.int64) @ c.astype(np.int64).T
    got = kernels.gram(c)
    assert got.dtype == np.int64 and np.array_equal(got, want)


def test_signed_operand_neither_saturates_nor_wraps():
    """The right operand is read as int8: all-ones codes over many units must still sum exactly."""
    c = np.ones((128, 70_001), dtype=np.uint8)
    c[5, ::3] = 0
    want = c.astype(np.int64) @ c.astype(np.int64).T
    assert np.array_equal(kernels.gram(c), want)
    nbytes = 16
    cols = kernels.column_bytes(c, nbytes)
    assert np.array_equal(cols, np.packbits(c, axis=0, bitorder="little").T)


def test_gram_reads_booleans_as_zero_one():
    c = _codes(16, 500, seed=1)
    assert np.array_equal(kernels.gram(c.astype(bool).view(np.uint8)), kernels.gram(c))


@pytest.mark.parametrize("batch", [1, 7, 64, 100, 128, 130])
def test_column_bytes_match_packbits_along_samples(batch):
    c = _codes(batch, 333, seed=batch)
    nbytes = -(-batch // 64) * 8
    want = np.zeros((333, nbytes), dtype=np.uint8)
    want[:, : -(-batch // 8)] = np.packbits(c, axis=0, bitorder="little").T  # sample i at bit i % 8
    assert np.array_equal(kernels.column_bytes(c, nbytes), want)


def test_each_thread_gets_its_own_sessions():
    c = _codes(32, 200, seed=3)
    want = kernels.gram(c)
    out = {}
    t = threading.Thread(target=lambda: out.update(g=kernels.gram(c), s=kernels._LOCAL.__dict__.get("sessions")))
    t.start()
    t.join()
    assert np.array_equal(out["g"], want)
    assert out["s"] is not kernels._LOCAL.__dict__.get("sessions")  # built in that thread, not shared


def test_thread_count_picks_its_own_session():
    """A Scorer's `threads` reaches the kernels: rank workers must not run them on every core."""
    c = _codes(24, 300, seed=4)
    assert np.array_equal(kernels.gram(c, threads=1), kernels.gram(c))
    sessions = kernels._LOCAL.sessions
    assert sessions["gram", 1] is not sessions["gram", 0]
    assert sessions["gram", 1].get_session_options().intra_op_num_threads == 1


def test_scorer_passes_its_threads_to_the_kernels(monkeypatch):
    import onnxscore
    from tests.models import ConvNet

    seen = []
    real = kernels.gram
    monkeypatch.setattr("onnxscore.proxies.naswot.gram", lambda c, t=0: seen.append(t) or real(c, t))
    onnxscore.score(ConvNet().onnx(), ["naswot"], batch_size=8, threads=1)
    assert seen and set(seen) == {1}
