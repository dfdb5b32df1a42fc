"""Each proxy equals an independent computation: NumPy forward by hand + naive proxy code."""
from __future__ import annotations

import math

import numpy as np
import pytest

import onnxscore
from onnxscore.proxies.codes import SiteCodes
from tests.models import ConvNet, codes_of
from tests.proxies import naive

B, SEED, SIGMA = 12, 3, 0.5


@pytest.fixture(scope="module")
def net():
    return ConvNet(seed=1)


@pytest.fixture(scope="module")
def batch(net):
    return np.random.default_rng(7).standard_normal((B, 3, net.hw, net.hw)).astype(np.float32)


def _hand_codes(net, x):
    pre, _ = net.forward(x)
    # precondition: no unit within float rounding of zero, so float32 vs float64 cannot flip a code
    assert min(np.abs(p).min() for p in pre) > 1e-5
    return pre, codes_of(pre)


def test_captured_codes_equal_hand_computed(net, batch):
    _, hand = _hand_codes(net, batch)
    got = onnxscore.Scorer(batch_size=B, data=batch).capture(net.onnx())
    assert [s.units for s in got] == [c.shape[1] for c in hand]
    for site, ref in zip(got, hand):
        assert np.array_equal(site.unpacked().astype(bool), ref)
    assert [s.conv for s in got] == [True, True, False]


def test_naswot_equals_naive(net, batch):
    _, hand = _hand_codes(net, batch)
    res = onnxscore.score(net.onnx(), ["naswot"], batch_size=B, data=batch)
    assert res.scores["naswot"] == pytest.approx(naive.naswot(hand), rel=1e-9)


def test_swap_counts_only_conv_sites_jointly(net, batch):
    _, hand = _hand_codes(net, batch)
    res = onnxscore.score(net.onnx(), ["swap"], batch_size=B, data=batch)
    assert res.scores["swap"] == naive.swap(hand[:2])  # the FC ReLU is skipped


def test_swap_without_conv_sites_is_an_error_not_a_crash():
    from onnxscore.proxies.codes import ProxyContext
    from onnxscore.proxies.swap import swap
    from onnxscore.errors import ProxyError

    fc = SiteCodes.from_bool("fc", np.random.default_rng(0).random((8, 10)) > 0.5)
    assert not fc.conv
    with pytest.raises(ProxyError, match="4-D"):
        swap([fc], ProxyContext(seed=0, batch_size=8, params=0))


def test_reg_swap_formula(net, batch):
    _, hand = _hand_codes(net, batch)
    res = onnxscore.score(net.onnx(), ["reg-swap"], batch_size=B, data=batch, mu=0.5, sigma_params=0.2)
    p = res.params / 1000
    assert res.scores["reg-swap"] == pytest.approx(naive.swap(hand[:2]) * math.exp(-((p - 0.5) ** 2) / 0.2))


def test_epads_equals_naive(net, batch):
    noise = np.random.default_rng([SEED, 1]).standard_normal(batch.shape).astype(np.float32) * np.float32(SIGMA)
    both = np.concatenate([batch, batch + noise])
    pre, _ = net.forward(both)  # one forward of 2B: BN statistics over both halves
    assert min(np.abs(p).min() for p in pre) > 1e-5
    codes = codes_of(pre)
    rng = np.random.default_rng([SEED, 2])
    perms = [rng.permutation(B) for _ in codes]
    expected = naive.epads([c[:B] for c in codes], [c[B:] for c in codes], perms)
    res = onnxscore.score(net.onnx(), ["epads"], batch_size=B, data=batch, seed=SEED, sigma=SIGMA)
    assert res.scores["epads"] == pytest.approx(expected, rel=1e-12)


def test_all_proxies_in_one_call_match_separate_calls(net, batch):
    together = onnxscore.score(net.onnx(), "all", batch_size=B, data=batch, mu=1, sigma_params=1)
    for name in ("epads", "naswot", "swap"):
        alone = onnxscore.score(net.onnx(), [name], batch_size=B, data=batch)
        assert together.scores[name] == pytest.approx(alone.scores[name], rel=1e-12)


def test_naswot_is_null_with_reason_for_identical_inputs(net, batch):
    twins = batch.copy()
    twins[1] = twins[0]
    res = onnxscore.score(net.onnx(), ["naswot", "swap"], batch_size=B, data=twins)
    assert res.scores["naswot"] is None and "singular" in res.errors["naswot"]
    assert res.scores["swap"] is not None  # one failing proxy does not hide the others


def test_epads_accumulates_beyond_int32():
    """D1*D2 reaches 1e12 on real networks: the sum must not wrap."""
    from onnxscore.proxies.codes import ProxyContext
    from onnxscore.proxies.epads import epads

    b, units = 64, 200_000
    rng = np.random.default_rng(0)
    clean = rng.random((b, units)) > 0.5
    noisy = rng.random((b, units)) > 0.5
    site = SiteCodes.from_bool("s", np.concatenate([clean, noisy]))
    got = epads([site], ProxyContext(seed=0, batch_size=b, params=0))
    perm = np.random.default_rng([0, 2]).permutation(b)
    d1 = int((clean != clean[perm]).sum())
    d2 = int((clean != noisy).sum())
    assert d1 * d2 > 2**31
    assert got == pytest.approx(math.log(d1 * d2), rel=1e-12)


def test_swap_packs_more_than_64_samples():
    """B > 64 patterns do not fit one uint64: the wide path must count exactly."""
    from onnxscore.proxies.swap import count_patterns

    rng = np.random.default_rng(1)
    base = rng.random((100, 50)) > 0.5
    cols = np.concatenate([base, base[:, :10], base[:, :5]], axis=1)  # 15 duplicate columns
    site = SiteCodes("s", np.packbits(cols, axis=1), cols.shape[1], True)
    assert count_patterns([site], 100) == naive.swap([cols]) == 50


@pytest.mark.parametrize("batch_size", [64, 100, 128, 200])
def test_swap_hash_count_equals_naive_with_many_duplicates(batch_size):
    """The sorted-hash count is exact for 1..4-word patterns, with repeated and all-zero columns."""
    from onnxscore.proxies.swap import count_patterns

    rng = np.random.default_rng(batch_size)
    base = rng.random((batch_size, 300)) > 0.5
    cols = np.concatenate([base, base[:, ::3], np.zeros((batch_size, 4), bool), ~base[:, :7]], axis=1)
    site = SiteCodes("s", np.packbits(cols, axis=1), cols.shape[1], True)
    assert count_patterns([site], batch_size) == naive.swap([cols]) == 308


def test_dense_site_codes_pack_on_demand_like_packed_ones():
    """The clean pass keeps onnxruntime's booleans: bits, unpacked rows and proxies must not change."""
    from onnxscore.proxies import naswot as naswot_mod
    from onnxscore.proxies import swap as swap_mod

    rng = np.random.default_rng(5)
    act = rng.random((70, 3, 5, 7)) > 0.4
    dense, packed = SiteCodes.from_bool("s", act, keep_dense=True), SiteCodes.from_bool("s", act)
    assert dense.dense is not None and packed.dense is None
    assert np.array_equal(dense.unpacked(slice(0, 9)), packed.unpacked(slice(0, 9)))
    assert np.array_equal(dense.bits, packed.bits) and dense.rows == packed.rows == 70
    assert swap_mod.count_patterns([dense], 70) == swap_mod.count_patterns([packed], 70)
    assert np.array_equal(naswot_mod.kernel([dense], 70), naswot_mod.kernel([packed], 70))


def test_swap_hash_collision_falls_back_to_the_exact_count(monkeypatch):
    """If different patterns share a hash (forced here: every hash 0), the count must still be exact."""
    from onnxscore.proxies import swap as swap_mod

    rng = np.random.default_rng(3)
    cols = rng.random((128, 40)) > 0.5
    cols = np.concatenate([cols, cols[:, :9]], axis=1)
    site = SiteCodes("s", np.packbits(cols, axis=1), cols.shape[1], True)
    monkeypatch.setattr(swap_mod, "pattern_hash", lambda rows: np.zeros(rows.shape[0], np.uint64))
    assert swap_mod.count_patterns([site], 128) == naive.swap([cols]) == 40


def test_without_batch_statistics_the_clean_pass_is_cut_from_the_paired_pass(batch):
    """No BN: samples do not interact, so the B-pass equals the first half of the 2B-pass."""
    net = ConvNet(seed=2, bn=False)
    together = onnxscore.score(net.onnx(), "epads,naswot,swap", batch_size=B, data=batch)
    for name in ("naswot", "swap"):
        alone = onnxscore.score(net.onnx(), [name], batch_size=B, data=batch)
        assert together.scores[name] == pytest.approx(alone.scores[name], rel=1e-12)
