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
