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


# -- the CIFAR-10 python version (as Keras and torchvision cache it) ------------------------------

def _python_version(tmp_path, n=300):
    import pickle
    import tarfile

    rng = np.random.default_rng(5)
    data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
    labels = [int(v) for v in rng.integers(0, 10, n)]
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    (folder / "test_batch").write_bytes(pickle.dumps(
        {b"batch_label": b"testing batch 1 of 1", b"labels": labels, b"data": data,
         b"filenames": [b"x.png"] * n}, protocol=2))
    tar = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(tar, "w:gz") as t:
        t.add(folder, arcname="cifar-10-batches-py")
    return folder, tar, data, np.array(labels)


def test_cifar10_python_folder_and_tarball_are_image_sources(tmp_path):
    from onnxscore.datasets import CIFAR10_MEAN, CIFAR10_STD, batch_rows, cifar10_batch, cifar10_labels

    folder, tar, data, labels = _python_version(tmp_path)
    rows = batch_rows(len(data), 16, 3)
    nhwc = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)[rows].astype(np.float32) / 255.0
    want = ((nhwc - np.float32(CIFAR10_MEAN)) / np.float32(CIFAR10_STD)).transpose(0, 3, 1, 2)
    for src in (folder, tmp_path, tar):  # the folder, the folder holding it, the tarball
        np.testing.assert_allclose(cifar10_batch(src, batch_size=16, seed=3), want, rtol=0, atol=1e-6)
        np.testing.assert_array_equal(cifar10_labels(src, batch_size=16, seed=3), labels[rows])


def test_a_pickle_that_runs_code_is_refused(tmp_path):
    import os
    import pickle

    from onnxscore.datasets import cifar10_batch
    from onnxscore.errors import InputError

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned > " + str(tmp_path / "pwned"),))

    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    (folder / "test_batch").write_bytes(pickle.dumps({b"data": Evil(), b"labels": []}))
    with pytest.raises(InputError, match="refusing to load it"):
        cifar10_batch(folder, batch_size=4)
    assert not (tmp_path / "pwned").exists()
