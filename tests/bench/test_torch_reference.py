"""The torch reference proxies against codes computed by hand in numpy on a tiny net."""

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from bench import torch_reference as ref  # noqa: E402

B = 6


class Tiny(nn.Module):
    """conv1x1 -> BN -> relu_a ; conv1x1 -> relu_a (same module, 2nd call) ; fc -> relu_fc (2-D site)."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 2, 1)
        self.bn = nn.BatchNorm2d(2)
        self.conv2 = nn.Conv2d(2, 2, 1)
        self.relu_a = nn.ReLU()
        self.fc = nn.Linear(8, 3)
        self.relu_fc = nn.ReLU()

    def forward(self, x):
        h = self.relu_a(self.bn(self.conv1(x)))
        h = self.relu_a(self.conv2(h))
        return self.relu_fc(self.fc(h.flatten(1)))


def _net():
    torch.manual_seed(3)
    return Tiny().double().eval()


def _manual_codes(net, x):
    """Pre-activations by hand: 1x1 conv = channel mixing; BN with batch mean and biased variance."""
    w1, b1 = net.conv1.weight.detach().numpy()[:, :, 0, 0], net.conv1.bias.detach().numpy()
    w2, b2 = net.conv2.weight.detach().numpy()[:, :, 0, 0], net.conv2.bias.detach().numpy()
    wf, bf = net.fc.weight.detach().numpy(), net.fc.bias.detach().numpy()
    h = np.einsum("oc,bcij->boij", w1, x) + b1[None, :, None, None]
    mean = h.mean(axis=(0, 2, 3), keepdims=True)
    var = h.var(axis=(0, 2, 3), keepdims=True)
    h1 = (h - mean) / np.sqrt(var + 1e-5)
    a1 = np.maximum(h1, 0)
    h2 = np.einsum("oc,bcij->boij", w2, a1) + b2[None, :, None, None]
    a2 = np.maximum(h2, 0)
    h3 = a2.reshape(len(x), -1) @ wf.T + bf
    return [(h1 > 0).reshape(len(x), -1), (h2 > 0).reshape(len(x), -1), (h3 > 0)]


def _hamming(a, b):
    return sum(int(u != v) for u, v in zip(a, b))


@pytest.fixture
def data():
    rng = np.random.default_rng(4)
    return _net(), rng.standard_normal((B, 1, 2, 2))


def test_codes_match_manual(data):
    net, x = data
    got = ref.codes(net, torch.from_numpy(x))
    want = _manual_codes(net, x)
    assert len(got) == 3  # relu_a counted once per call
    for g, w in zip(got, want):
        assert np.array_equal(g.numpy(), w)
    assert len(ref.codes(net, torch.from_numpy(x), only_4d=True)) == 2
    assert not net.training  # mode restored


def test_naswot_matches_manual(data):
    net, x = data
    c = np.concatenate(_manual_codes(net, x), axis=1)
    n_a = c.shape[1]
    k = np.array([[n_a - _hamming(c[i], c[j]) for j in range(B)] for i in range(B)], dtype=float)
    sign, logdet = np.linalg.slogdet(k)
    assert sign != 0
    assert ref.naswot(net, torch.from_numpy(x)) == pytest.approx(logdet, abs=1e-9)


def test_naswot_identical_inputs_is_minus_inf(data):
    net, x = data
    x2 = x.copy()
    x2[1] = x2[0]
    assert ref.naswot(net, torch.from_numpy(x2)) == -math.inf


def test_swap_matches_manual(data):
    net, x = data
    conv_codes = _manual_codes(net, x)[:2]  # the fc site has 2-D input and is skipped
    patterns = {tuple(col) for c in conv_codes for col in c.T}
    assert ref.swap(net, torch.from_numpy(x)) == len(patterns)


def test_swap_counts_patterns_jointly_across_sites():
    net = nn.Sequential(nn.ReLU(), nn.ReLU()).double()  # the same codes at two sites
    x = torch.from_numpy(np.random.default_rng(0).standard_normal((5, 2, 3, 3)))
    patterns = {tuple(col) for col in (x.numpy() > 0).reshape(5, -1).T}
    assert ref.swap(net, x) == len(patterns)


def test_epads_matches_manual(data):
    net, x = data
    noise = np.random.default_rng(9).standard_normal(x.shape) * 0.3
    both = np.concatenate([x, x + noise])
    codes = _manual_codes(net, both)  # BN statistics over clean + perturbed halves together
    rng = np.random.default_rng([5, 2])
    total = 0
    for c in codes:
        p = rng.permutation(B)
        d1 = sum(_hamming(c[i], c[p[i]]) for i in range(B))
        d2 = sum(_hamming(c[i], c[B + i]) for i in range(B))
        total += d1 * d2
    assert total > 0
    got = ref.epads(net, torch.from_numpy(x), torch.from_numpy(noise), perm_seed=5)
    assert got == pytest.approx(math.log(total), abs=1e-12)
    assert ref.epads(net, torch.from_numpy(x), torch.zeros_like(torch.from_numpy(x)), perm_seed=5) == -math.inf


def test_make_noise_convention():
    n = ref.make_noise((3, 2), seed=4, sigma=0.5)
    assert n.dtype == np.float32
    assert np.array_equal(n, np.random.default_rng([4, 1]).standard_normal((3, 2)).astype(np.float32) * 0.5)
