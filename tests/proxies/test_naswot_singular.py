"""NASWOT decides singularity exactly: null plus a reason for every singular kernel, whatever the
float slogdet says and at any thread count; nonsingular kernels keep the float value."""
from __future__ import annotations

import math

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import onnxscore
from onnxscore.errors import ProxyError
from onnxscore.proxies import exact
from onnxscore.proxies.codes import ProxyContext, SiteCodes
from tests.models import make_model
from tests.proxies import naive


def integer_kernel(*args):
    # imported when called: importing a proxy module at collection time would register it before
    # the others and change the registry's (and `onnxscore proxies`') order
    from onnxscore.proxies.naswot import integer_kernel as fn

    return fn(*args)


def naswot(*args):
    from onnxscore.proxies.naswot import naswot as fn

    return fn(*args)


def bareiss_det(a) -> int:
    """Exact determinant by fraction-free Gaussian elimination over Python ints (independent of
    exact.py's modular arithmetic)."""
    m = [[int(v) for v in row] for row in np.asarray(a)]
    n, sign, prev = len(m), 1, 1
    for k in range(n - 1):
        if m[k][k] == 0:
            swap = next((r for r in range(k + 1, n) if m[r][k] != 0), None)
            if swap is None:
                return 0
            m[k], m[swap] = m[swap], m[k]
            sign = -sign
        for i in range(k + 1, n):
            for j in range(k + 1, n):
                m[i][j] = (m[i][j] * m[k][k] - m[i][k] * m[k][j]) // prev
        prev = m[k][k]
    return sign * m[n - 1][n - 1]


def mlp(units: int) -> onnx.ModelProto:
    """x (N, 8) -> MatMul -> Relu (one site of `units` units) -> MatMul."""
    rng = np.random.default_rng(0)
    w1 = numpy_helper.from_array(rng.standard_normal((8, units)).astype(np.float32), "w1")
    w2 = numpy_helper.from_array(rng.standard_normal((units, 4)).astype(np.float32), "w2")
    nodes = [helper.make_node("MatMul", ["x", "w1"], ["h"]), helper.make_node("Relu", ["h"], ["r"]),
             helper.make_node("MatMul", ["r", "w2"], ["y"])]
    return make_model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 8])],
                      [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])], [w1, w2])


def dependent_codes(b: int = 24, n: int = 200, seed: int = 0) -> np.ndarray:
    """0/1 codes (b, n), n > b, no two rows equal, but row 3 = row 0 OR row 1 and row 2 = row 0 AND
    row 1, so c3 = c0 + c1 - c2 and (1 - c3) = (1 - c0) + (1 - c1) - (1 - c2): K = D D^T with
    D = [C, 1 - C] has rank < b, although the units bound (n + 1 >= b) cannot tell."""
    rng = np.random.default_rng(seed)
    c = rng.random((b, n)) > 0.5
    c[2] = c[0] & c[1]
    c[3] = c[0] | c[1]
    assert len({row.tobytes() for row in c}) == b
    return c


def test_mlp_with_fewer_units_than_the_batch_is_null_with_a_reason_at_any_thread_count():
    results = [onnxscore.score(mlp(20), ["naswot", "epads"], batch_size=64, threads=t) for t in (1, 2)]
    for res in results:
        assert res.scores["naswot"] is None
        assert "singular" in res.errors["naswot"] and "20 units for 64 samples" in res.errors["naswot"]
        assert res.scores["epads"] is not None  # the other proxy is still reported
    assert results[0].errors == results[1].errors
    # the units bound is a theorem, not a heuristic: the kernel of those codes has an exact det of 0
    codes = onnxscore.Scorer(batch_size=64).capture(mlp(20))
    k, units = integer_kernel(codes, 64)
    assert units == 20 and bareiss_det(k) == 0


def test_rank_deficient_kernel_whose_float_slogdet_is_finite_is_singular():
    c = dependent_codes()
    site = SiteCodes.from_bool("s", c)
    k, units = integer_kernel([site], c.shape[0])
    sign, logdet = np.linalg.slogdet(k.astype(np.float64))
    assert sign != 0 and np.isfinite(logdet)  # precondition: float alone reports a number
    assert bareiss_det(k) == 0  # independent exact determinant
    with pytest.raises(ProxyError, match="rank-deficient"):
        naswot([site], ProxyContext(seed=0, batch_size=c.shape[0], params=0, threads=1))


def test_duplicated_codes_name_the_two_samples():
    c = dependent_codes()
    c[3] = c[17]
    with pytest.raises(ProxyError, match="samples 3 and 17 have identical activation codes"):
        naswot([SiteCodes.from_bool("s", c)], ProxyContext(seed=0, batch_size=c.shape[0], params=0))


def test_nonsingular_kernel_keeps_the_float_value():
    c = np.random.default_rng(1).random((24, 200)) > 0.5
    site = SiteCodes.from_bool("s", c)
    k, _ = integer_kernel([site], 24)
    assert bareiss_det(k) != 0
    got = naswot([site], ProxyContext(seed=0, batch_size=24, params=0))
    assert got == pytest.approx(naive.naswot([c]), rel=1e-12)
    assert got == pytest.approx(math.log(abs(bareiss_det(k))), rel=1e-9)


def test_exact_value_when_float_slogdet_gives_up(monkeypatch):
    """A kernel proven nonsingular whose float slogdet fails gets ln|det| from the exact residues."""
    c = np.random.default_rng(2).random((16, 100)) > 0.5
    site = SiteCodes.from_bool("s", c)
    k, _ = integer_kernel([site], 16)
    monkeypatch.setattr(np.linalg, "slogdet", lambda a: (0.0, -np.inf))
    got = naswot([site], ProxyContext(seed=0, batch_size=16, params=0))
    assert got == pytest.approx(math.log(abs(bareiss_det(k))), rel=1e-12)


@pytest.mark.parametrize("n", [1, 2, 5, 11, 30])
def test_modular_determinant_equals_bareiss(n):
    rng = np.random.default_rng(n)
    a = rng.integers(-10**6, 10**6, (n, n))
    d = bareiss_det(a)
    ps = exact.primes(3)
    assert exact.det_mod(a, ps) == [d % p for p in ps]
    bound = sum(0.5 * math.log2(float((a[i].astype(float) ** 2).sum())) for i in range(n))
    assert exact.log_abs_det(a, bound) == pytest.approx(math.log(abs(d)), rel=1e-12)
    if n > 2:
        a[n - 1] = 3 * a[0] - 7 * a[1]
        assert bareiss_det(a) == 0 and exact.is_singular(a, bound + n * 4)


def test_lazy_reduction_stays_exact(monkeypatch):
    """The trailing block is reduced only every _LAZY_STEPS steps: force it often and compare."""
    monkeypatch.setattr(exact, "_LAZY_STEPS", 2)
    a = np.random.default_rng(5).integers(0, 2**40, (20, 20))
    d = bareiss_det(a)
    ps = exact.primes(4)
    assert exact.det_mod(a, ps) == [d % p for p in ps]


def test_primes_are_prime():
    ps = exact.primes(50)
    assert len(set(ps)) == 50 and all(p < 2**exact.PRIME_BITS for p in ps)
    for p in ps:
        assert all(p % q for q in range(3, int(p**0.5) + 1, 2))


def test_nb201_net_scores_as_the_float_definition():
    """A nonsingular NB201 net: the score is the float slogdet of the kernel, as before the exact check."""
    from onnxscore.spaces import get_space

    model = get_space("nb201").build("|nor_conv_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_3x3~0|"
                                     "avg_pool_3x3~1|nor_conv_1x1~2|")
    sc = onnxscore.Scorer(batch_size=32)
    codes = sc.capture(model)
    k, units = integer_kernel(codes, 32)
    assert exact.det_mod(k, exact.primes(1))[0] != 0  # proven nonsingular
    dense = [c.unpacked().astype(bool) for c in codes]
    assert sc.score(model, ["naswot"]).scores["naswot"] == pytest.approx(naive.naswot(dense), rel=1e-12)
