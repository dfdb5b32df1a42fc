"""CIFAR-10 batch loader and data-folder discovery."""

from pathlib import Path

import numpy as np
import pytest

from onnxscore import datasets
from onnxscore.errors import InputError


@pytest.fixture
def npz(shared_data):
    return shared_data / "cifar10_test_1000.npz"


def _manual(npz, rows):
    """Independent per-pixel computation of the documented normalisation for the given rows."""
    img = np.load(npz)["images"][rows].astype(np.float64) / 255.0  # NHWC
    mean = np.array([0.4914, 0.4822, 0.4465])
    std = np.array([0.2470, 0.2435, 0.2616])
    return img, mean, std


def test_batch_rows_and_normalisation(npz):
    x = datasets.cifar10_batch(npz, batch_size=128, seed=2027)
    assert x.shape == (128, 3, 32, 32) and x.dtype == np.float32 and x.flags["C_CONTIGUOUS"]
    rows = np.random.default_rng(2027).choice(1000, 128, replace=False)
    img, mean, std = _manual(npz, rows)
    expect = ((img - mean) / std).transpose(0, 3, 1, 2)
    np.testing.assert_allclose(x, expect, atol=1e-5)


def test_batch_deterministic_and_seeded(npz):
    a = datasets.cifar10_batch(npz, batch_size=16, seed=1)
    b = datasets.cifar10_batch(npz, batch_size=16, seed=1)
    c = datasets.cifar10_batch(npz, batch_size=16, seed=2)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    flat = a.reshape(16, -1)
    assert len({row.tobytes() for row in flat}) == 16  # no repeated image (replace=False)


def test_size16_is_2x2_pooled(npz):
    x = datasets.cifar10_batch(npz, batch_size=4, seed=3, size=16)
    assert x.shape == (4, 3, 16, 16) and x.dtype == np.float32
    rows = np.random.default_rng(3).choice(1000, 128, replace=False)[:4]  # first 4 of seed 3's 128 batch
    img, mean, std = _manual(npz, rows)
    pooled = (img[:, 0::2, 0::2] + img[:, 1::2, 0::2] + img[:, 0::2, 1::2] + img[:, 1::2, 1::2]) / 4
    np.testing.assert_allclose(x, ((pooled - mean) / std).transpose(0, 3, 1, 2), atol=1e-5)


def test_bad_arguments(npz, tmp_path):
    with pytest.raises(InputError):
        datasets.cifar10_batch(npz, batch_size=1001)
    with pytest.raises(InputError):
        datasets.cifar10_batch(npz, size=8)
    with pytest.raises(InputError):
        datasets.cifar10_batch(tmp_path / "nope.npz")


def test_shared_data_dir_env(monkeypatch, tmp_path):
    monkeypatch.setenv("ONNXSCORE_DATA", str(tmp_path))
    assert datasets.shared_data_dir() == Path(tmp_path)
    monkeypatch.setenv("ONNXSCORE_DATA", str(tmp_path / "missing"))
    assert datasets.shared_data_dir() is None
    with pytest.raises(InputError):
        datasets.cifar10_batch()


def test_default_path_uses_shared_dir(npz, monkeypatch):
    monkeypatch.setenv("ONNXSCORE_DATA", str(npz.parent))
    assert np.array_equal(datasets.cifar10_batch(batch_size=8), datasets.cifar10_batch(npz, batch_size=8))


def test_shared_data_dir_default_is_beside_repo(monkeypatch):
    monkeypatch.delenv("ONNXSCORE_DATA", raising=False)
    expect = Path(datasets.__file__).resolve().parents[1].parent / "shared" / "data"
    assert datasets.shared_data_dir() == (expect if expect.is_dir() else None)
