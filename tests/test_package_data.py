"""The data onnxscore ships (onnxscore/data): the NB201 table and the protocol's 128 images, exact
copies of what ../shared/data gives, used when nothing else is configured."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from onnxscore import datasets
from onnxscore.errors import InputError
from onnxscore.spaces import nb201
from tests.conftest import ROOT


@pytest.fixture
def installed_like(monkeypatch):
    """No $ONNXSCORE_DATA and no ../shared/data, as after `pip install` on a user's machine."""
    monkeypatch.delenv("ONNXSCORE_DATA", raising=False)
    monkeypatch.setattr(datasets, "shared_data_dir", lambda: None)


def test_shipped_data_is_small():
    files = sorted(datasets.PACKAGE_DATA.glob("*.npz"))
    assert [f.name for f in files] == ["cifar10_protocol.npz", "nb201_table.npz"]
    assert sum(f.stat().st_size for f in files) < 1 << 20


def test_shipped_table_equals_the_csv(shared_data):
    csv_rows = nb201.load_accuracies(shared_data / "nb201_accuracies.csv")
    shipped = nb201._shipped_accuracies()
    assert list(shipped) == list(csv_rows)  # benchmark-index order
    for arch, row in csv_rows.items():
        assert list(shipped[arch].items()) == list(row.items())


def test_shipped_images_are_the_protocol_batch(shared_data):
    full = datasets.cifar10_batch(shared_data / datasets.CIFAR10_FILE)
    shipped = datasets.cifar10_batch(datasets.PROTOCOL_FILE)
    np.testing.assert_array_equal(shipped, full)
    for b in (16, 64):
        np.testing.assert_array_equal(datasets.cifar10_batch(datasets.PROTOCOL_FILE, batch_size=b),
                                      datasets.cifar10_batch(shared_data / datasets.CIFAR10_FILE, batch_size=b))
    np.testing.assert_array_equal(datasets.cifar10_batch(datasets.PROTOCOL_FILE, size=16),
                                  datasets.cifar10_batch(shared_data / datasets.CIFAR10_FILE, size=16))
    with np.load(shared_data / datasets.CIFAR10_FILE) as f, np.load(datasets.PROTOCOL_FILE) as g:
        np.testing.assert_array_equal(g["labels"], f["labels"][g["rows"]])


def test_regenerating_gives_the_committed_files(shared_data, tmp_path):
    """scripts/make_package_data.py is the only source of the shipped files."""
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import make_package_data as mk
    finally:
        sys.path.pop(0)
    fresh = mk.table(shared_data / "nb201_accuracies.csv")
    with np.load(nb201.SHIPPED_TABLE) as f:
        assert list(f.files) == list(fresh)
        for k in fresh:
            np.testing.assert_array_equal(f[k], fresh[k])
    imgs = mk.protocol_images(shared_data / datasets.CIFAR10_FILE)
    with np.load(datasets.PROTOCOL_FILE) as f:
        for k in imgs:
            np.testing.assert_array_equal(f[k], imgs[k])


def test_without_any_data_folder_the_shipped_copies_are_used(installed_like):
    table = nb201.load_accuracies()
    assert len(table) == nb201.NUM_ARCHS
    assert datasets.image_source() == datasets.PROTOCOL_FILE
    x = datasets.cifar10_batch()
    assert x.shape == (128, 3, 32, 32) and x.dtype == np.float32
    # a smaller batch is the protocol batch's first rows (GRADIENTS.md's B = 64 protocol)
    np.testing.assert_array_equal(datasets.cifar10_batch(batch_size=64), x[:64])
    # another seed needs the full 1,000-image file: a clear error, not a different batch
    with pytest.raises(InputError, match="set ONNXSCORE_DATA"):
        datasets.cifar10_batch(batch_size=16, seed=1)


def test_an_empty_data_env_folder_is_an_error_not_a_silent_fallback(monkeypatch, tmp_path):
    monkeypatch.setenv("ONNXSCORE_DATA", str(tmp_path))
    with pytest.raises(InputError, match="holds no cifar10_test_1000.npz"):
        datasets.cifar10_batch()


@pytest.mark.slow
def test_evaluate_nb201_runs_from_an_empty_folder_without_data_env(tmp_path):
    """The CLI, as an installed user runs it: no ../shared/data reachable, no ONNXSCORE_DATA."""
    code = ("import sys; from onnxscore import datasets; datasets.shared_data_dir = lambda: None; "
            "from onnxscore.cli.main import main; sys.exit(main(sys.argv[1:]))")
    env = {k: v for k, v in __import__("os").environ.items() if k != "ONNXSCORE_DATA"}
    env["PYTHONPATH"] = str(ROOT)
    out = subprocess.run([sys.executable, "-c", code, "evaluate", "--space", "nb201", "--dataset", "cifar10",
                          "--sample", "3", "--workers", "0", "--store", str(tmp_path / "s.sqlite"), "--json"],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "cifar10_protocol.npz" in out.stdout and "nb201_table.npz" in out.stdout
