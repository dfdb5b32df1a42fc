"""Shared fixtures: where the ground-truth data lives, and a temporary models folder."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # lets tests import bench/ helpers (bench.torch_reference)
    sys.path.insert(0, str(ROOT))


def _data_dir() -> Path:
    env = os.environ.get("ONNXSCORE_DATA")
    return Path(env) if env else ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data (or $ONNXSCORE_DATA); skips when the ground-truth files are absent."""
    d = _data_dir()
    if not (d / "nb201_accuracies.csv").exists():
        pytest.skip(f"ground-truth data not found at {d} (set ONNXSCORE_DATA to the shared/data folder)")
    return d


@pytest.fixture()
def tmpfs(tmp_path):
    """mount(size_kb) -> a folder on a tmpfs of that size (root can mount one; skipped where not
    permitted), unmounted afterwards: a real full disk for the tests."""
    import shutil
    import subprocess

    mounted = []

    def mount(size_kb: int) -> Path:
        d = tmp_path / f"disk{len(mounted)}"
        d.mkdir()
        if shutil.which("mount") is None:
            pytest.skip("no mount command here")
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", str(d)], capture_output=True)
        if r.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {r.stderr.decode().strip()}")
        mounted.append(d)
        return d

    yield mount
    for d in mounted:
        subprocess.run(["umount", str(d)], check=False)
