"""AZ-NAS on NB201 nets against the authors' computation transcribed in PyTorch (torch_reference),
on the same weights, batch and Rademacher vectors, BN in train mode."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from onnxscore.proxies import aznas  # noqa: E402
from onnxscore.spaces import nb201  # noqa: E402
from tests.proxies.aznas import torch_reference as ref  # noqa: E402

CONV = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_1x1~1|skip_connect~2|"
SKIP_ONLY = "|none~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|"  # cell output is its input
ZEROS = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|none~0|none~1|none~2|"  # cells output zeros
SKIP_PLUS_DEAD = "|none~0|+|none~0|none~1|+|skip_connect~0|none~1|nor_conv_3x3~2|"  # x + conv(zeros)
POOL = "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|avg_pool_3x3~0|nor_conv_3x3~1|none~2|"
B, SEED = 8, 4
# relative, or absolute for values under 1 (pair scores are near 0). One cell per stage: within 1e-6.
# Full net at B = 8, both float32 implementations drift up to 1.4e-4 from float64 PyTorch on deep
# pairs (BN over few samples); at B = 64 (the protocol batch) ours is within 6.4e-5 of PyTorch float32.
TOL = 1e-4


def nb201_pair(arch: str, n_cells: int, seed: int = 3):
    from onnxscore.spaces import nb201_torch as nt
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(nb201, "N_CELLS", n_cells)
        model = nb201.build_model(arch, "cifar10", seed=seed)
        net = nt.load_weights_from_onnx(nt.build_torch(arch, "cifar10"), model)
    return model, net.train()


def reference(model, net, x):
    feats = ref.cell_features(net, torch.from_numpy(x))
    g_outs = aznas.rademacher([tuple(f.shape) for f in feats[1:]], SEED)
    return ref.az_nas(feats, g_outs)


def close(got, want, tol=TOL):
    got, want = np.asarray(got, dtype=float), np.asarray(want, dtype=float)
    same_inf = np.isinf(want) & (got == want)
    both_nan = np.isnan(want) & np.isnan(got)
    with np.errstate(invalid="ignore"):  # inf - inf
        ok = same_inf | both_nan | (np.abs(got - want) <= tol * np.maximum(np.abs(want), 1.0))
    return bool(np.all(ok))


def check(arch, n_cells, batch=B, tol=TOL):
    model, net = nb201_pair(arch, n_cells)
    x = np.random.default_rng(5).standard_normal((batch, 3, 32, 32)).astype(np.float32)
    before = model.SerializeToString()
    got = aznas.compute(model, x, seed=SEED)
    assert model.SerializeToString() == before  # the caller's model is not changed
    want = reference(model, net, x)
    assert len(got.entropies) == 3 * n_cells + 3 and len(got.pair_scores) == 3 * n_cells + 2
    assert close(got.entropies, want["entropies"], tol), (got.entropies, want["entropies"])
    assert close(got.pair_scores, want["pair_scores"], tol), (got.pair_scores, want["pair_scores"])
    for k in ("expressivity", "progressivity", "trainability"):
        v = getattr(got, k)
        if np.isfinite(want[k]):
            assert v is not None and close(v, want[k], tol), (k, v, want[k], got.reason)
        else:
            assert v is None and f"{k}: AZ-NAS scores it -inf" in got.reason, (k, v, got.reason)
    return got


def test_conv_arch_matches_pytorch():
    got = check(CONV, 1)
    assert got.reason is None and None not in (got.expressivity, got.progressivity, got.trainability)


def test_pool_arch_matches_pytorch():
    check(POOL, 1)


def test_skip_only_cell_is_minus_inf():
    got = check(SKIP_ONLY, 1)
    # the InferCells are identities (-inf), the reduction blocks are not
    assert np.isneginf(got.pair_scores[0]) and np.isfinite(got.pair_scores[1])
    assert got.trainability is None and got.expressivity is not None


def test_identity_by_value_is_minus_inf():
    # x + conv(zeros): a different tensor, but its gradient equals g_out exactly
    got = check(SKIP_PLUS_DEAD, 1)
    assert np.isneginf(got.pair_scores[0]) and got.trainability is None


def test_zero_cells():
    got = check(ZEROS, 1)
    assert np.isnan(got.entropies[1])  # an all-zero map: 0/0 spectrum, as the authors get
    assert got.expressivity is None and got.progressivity is None


def test_full_size_net_matches_pytorch():
    got = check(CONV, 5, batch=64, tol=2e-4)
    assert len(got.taps) == 18 and got.reason is None
