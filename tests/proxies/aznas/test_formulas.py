"""AZ-NAS's formulas on hand-computed cases."""
from __future__ import annotations

import numpy as np
import pytest

from onnxscore.proxies.aznas import formulas


def test_entropy_of_known_covariance():
    # 4 samples (1 image, 2x2 pixels), 2 uncorrelated channels of variance 3 and 1 (divide by N):
    # spectrum (3, 1) -> p = (3/4, 1/4)
    a = np.sqrt(3.0)
    feat = np.array([[[[a, -a], [a, -a]], [[1.0, 1.0], [-1.0, -1.0]]]])
    p = np.array([0.75, 0.25])
    assert formulas.entropy(feat) == pytest.approx(float(np.sum(-p * np.log(p + 1e-8))), rel=1e-12)
    assert formulas.entropy(feat + 5.0) == pytest.approx(formulas.entropy(feat), rel=1e-12)  # centred


def test_entropy_of_zero_map_is_nan():
    assert np.isnan(formulas.entropy(np.zeros((2, 3, 2, 2))))


def test_sum_and_min_difference():
    e = [1.0, 3.0, 2.5, 4.0]
    assert formulas.expressivity(e) == 10.5
    assert formulas.progressivity(e) == -0.5


def test_pixel_unshuffle_channel_order():
    t = np.arange(2 * 3 * 4 * 6, dtype=np.float64).reshape(2, 3, 4, 6)
    u = formulas.pixel_unshuffle(t, 2)
    assert u.shape == (2, 12, 2, 3)
    for c, dy, dx, y, x in [(0, 0, 0, 0, 0), (1, 0, 1, 1, 2), (2, 1, 0, 0, 1), (2, 1, 1, 1, 0)]:
        assert u[1, c * 4 + dy * 2 + dx, y, x] == t[1, c, 2 * y + dy, 2 * x + dx]
    torch = pytest.importorskip("torch")
    want = torch.nn.PixelUnshuffle(2)(torch.from_numpy(t)).numpy()
    np.testing.assert_array_equal(u, want)


def test_pair_score():
    g = np.ones((1, 1, 2, 2))
    assert formulas.pair_score(g, g.copy()) == -np.inf  # identity block
    # 1 channel, g_in = 2 g_out: mat = [[2]] -> 2 - 2 - 1/(2 + 1e-6)
    assert formulas.pair_score(2 * g, g) == pytest.approx(-1 / (2 + 1e-6), rel=1e-12)
    # stride 2: g_in (1, 1, 2, 2) unshuffled to (1, 4, 1, 1) against g_out (1, 1, 1, 1) = 1:
    # mat = (4, 1) column [1, 2, 3, 4], sigma = sqrt(30)
    gi = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
    s = np.sqrt(30.0)
    assert formulas.pair_score(gi, np.ones((1, 1, 1, 1))) == pytest.approx(2 - s - 1 / (s + 1e-6), rel=1e-12)
    assert formulas.pair_score(np.zeros((1, 2, 2, 2)), np.ones((1, 2, 2, 2))) == pytest.approx(2 - 1e6)


def test_rademacher_last_pair_first():
    shapes = [(2, 3, 4, 4), (2, 5, 2, 2)]
    g = formulas.rademacher(shapes, 7)
    assert [x.shape for x in g] == shapes and all(x.dtype == np.float32 for x in g)
    assert set(np.unique(np.concatenate([x.ravel() for x in g]))) == {-1.0, 1.0}
    rng = np.random.default_rng([7, formulas.RADEMACHER_STREAM])
    np.testing.assert_array_equal(g[1], rng.integers(0, 2, size=shapes[1]) * 2 - 1)
    np.testing.assert_array_equal(g[0], rng.integers(0, 2, size=shapes[0]) * 2 - 1)
