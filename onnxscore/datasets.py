"""Real-image batches for proxy scoring (the shared CIFAR-10 test subset) and locating the shared data folder.

ImageNet16-120 stand-ins: no ImageNet16 images are available, so `size=16` returns the same CIFAR-10 images
2x2 average-pooled to 16x16 (pooled in [0,1] pixel space, then normalised with the CIFAR-10 mean/std),
which is the protocol behind the ImageNet16-120 figures in PROXIES.md.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, Union

import numpy as np

from onnxscore.errors import InputError

CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)
CIFAR10_FILE = "cifar10_test_1000.npz"
DATA_ENV = "ONNXSCORE_DATA"


def shared_data_dir() -> Optional[Path]:
    """The shared data folder: $ONNXSCORE_DATA if set, else <repo>/../shared/data; None when absent."""
    env = os.environ.get(DATA_ENV)
    if env:
        p = Path(env).expanduser()
        return p if p.is_dir() else None
    p = Path(__file__).resolve().parents[1].parent / "shared" / "data"
    return p if p.is_dir() else None


def _resolve_npz(npz_path: Union[str, Path, None]) -> Path:
    if npz_path is None:
        d = shared_data_dir()
        if d is None:
            raise InputError(f"no data folder found; set {DATA_ENV} to the folder holding {CIFAR10_FILE}")
        npz_path = d / CIFAR10_FILE
    p = Path(npz_path)
    if not p.is_file():
        raise InputError(f"image file {p} does not exist; pass the path of {CIFAR10_FILE}")
    return p


def cifar10_batch(npz_path: Union[str, Path, None] = None, batch_size: int = 128, seed: int = 2027,
                  size: int = 32) -> np.ndarray:
    """float32 NCHW batch: rows default_rng(seed).choice(n, batch_size, replace=False), /255, CIFAR-10 mean/std.

    size=32 keeps the images; size=16 average-pools 2x2 (ImageNet16-120 stand-ins, see module docstring).
    """
    if size not in (32, 16):
        raise InputError(f"size must be 32 or 16 (2x2-pooled stand-ins), got {size}")
    with np.load(_resolve_npz(npz_path)) as f:
        if "images" not in f:
            raise InputError(f"{npz_path} has no 'images' array; expected uint8 (N, 32, 32, 3)")
        images = f["images"]
    if images.ndim != 4 or images.shape[1:] != (32, 32, 3):
        raise InputError(f"images must be (N, 32, 32, 3) NHWC, got {images.shape}")
    n = images.shape[0]
    if not 1 <= batch_size <= n:
        raise InputError(f"batch_size must be between 1 and {n} (images available), got {batch_size}")
    rows = np.random.default_rng(seed).choice(n, batch_size, replace=False)
    x = images[rows].astype(np.float32) / np.float32(255.0)  # (B, 32, 32, 3) in [0, 1]
    if size == 16:
        x = x.reshape(batch_size, 16, 2, 16, 2, 3).mean(axis=(2, 4), dtype=np.float32)
    x = (x - np.asarray(CIFAR10_MEAN, np.float32)) / np.asarray(CIFAR10_STD, np.float32)
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2), dtype=np.float32)


__all__ = ["CIFAR10_MEAN", "CIFAR10_STD", "shared_data_dir", "cifar10_batch"]
