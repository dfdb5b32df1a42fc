"""Real-image batches for proxy scoring (the shared CIFAR-10 test subset) and locating the data they come from.

Image sources, first found wins: an explicit file or folder; $ONNXSCORE_DATA/cifar10_test_1000.npz; the
repository's ../shared/data (a development checkout); the protocol's 128 images shipped in onnxscore/data
(enough for the protocol batch and every smaller batch of its seed). An explicit source may be an .npz with
uint8 `images` (N, 32, 32, 3) and optional `labels`, or the standard CIFAR-10 python version as Keras and
torchvision cache it: the `cifar-10-batches-py` folder (or the folder holding it) or the
`cifar-10-python.tar.gz` tarball, whose 10,000-image `test_batch` is then the pool the batch is drawn from.

A batch of B images with seed S is rows default_rng(S).choice(n, max(B, 128), replace=False)[:B]: for
B <= 128 the first B images of that seed's 128-image batch (docs/GRADIENTS.md's B = 64 protocol is the first
64 of docs/PROXIES.md's 128), for B >= 128 the plain choice(n, B). The same rows give the batch's labels.

ImageNet16-120 stand-ins: no ImageNet16 images are available, so `size=16` returns the same CIFAR-10 images
2x2 average-pooled to 16x16 (pooled in [0,1] pixel space, then normalised with the CIFAR-10 mean/std),
which is the protocol behind the ImageNet16-120 figures in docs/PROXIES.md.
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
PROTOCOL_SEED = 2027  # docs/PROXIES.md "Figures to reproduce": rows default_rng(2027).choice(1000, 128)
PROTOCOL_BATCH = 128
PACKAGE_DATA = Path(__file__).resolve().parent / "data"
PROTOCOL_FILE = PACKAGE_DATA / "cifar10_protocol.npz"


def shared_data_dir() -> Optional[Path]:
    """The shared data folder: $ONNXSCORE_DATA if set, else <repo>/../shared/data; None when absent."""
    env = os.environ.get(DATA_ENV)
    if env:
        p = Path(env).expanduser()
        return p if p.is_dir() else None
    p = Path(__file__).resolve().parents[1].parent / "shared" / "data"
    return p if p.is_dir() else None


CIFAR10_PY_FOLDER = "cifar-10-batches-py"
CIFAR10_PY_TARBALL = "cifar-10-python.tar.gz"


def _python_version_source(p: Path) -> Optional[Path]:
    """The CIFAR-10 python-version source at or inside `p` (its folder or tarball), or None."""
    if p.is_file() and p.name.endswith((".tar.gz", ".tgz")):
        return p
    for cand in (p, p / CIFAR10_PY_FOLDER):
        if cand.is_dir() and (cand / "test_batch").is_file():
            return cand
    if p.is_dir() and (p / CIFAR10_PY_TARBALL).is_file():
        return p / CIFAR10_PY_TARBALL
    return None


def image_source(npz_path: Union[str, Path, None] = None) -> Path:
    """The image file (or CIFAR-10 python-version folder / tarball) a batch is drawn from (see the
    module docstring for the order)."""
    if npz_path is None:
        d = shared_data_dir()
        if d is not None and (d / CIFAR10_FILE).is_file():
            return d / CIFAR10_FILE
        if os.environ.get(DATA_ENV):
            raise InputError(f"${DATA_ENV} ({os.environ[DATA_ENV]}) holds no {CIFAR10_FILE}; point it at the "
                             "folder that does, or unset it to use the images shipped with onnxscore")
        npz_path = PROTOCOL_FILE
    p = Path(npz_path).expanduser()
    py = _python_version_source(p)
    if py is not None:
        return py
    if not p.is_file():
        raise InputError(f"image file {p} does not exist; pass the path of {CIFAR10_FILE}, a "
                         f"{CIFAR10_PY_FOLDER} folder or {CIFAR10_PY_TARBALL}")
    return p


class _ArraysOnly(__import__("pickle").Unpickler):
    """Unpickles CIFAR-10's python batches (dicts of numpy arrays, lists and bytes) and nothing else:
    a pickle may run code, and this one comes from a path the user gave."""

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.numeric", "_frombuffer"),
               ("numpy._core.numeric", "_frombuffer"), ("_codecs", "encode")}

    def find_class(self, module, name):
        if (module, name) not in self.ALLOWED:
            raise InputError(f"the CIFAR-10 batch file refers to {module}.{name}, which a CIFAR-10 batch never "
                             "does; refusing to load it")
        return super().find_class(module, name)


def _read_python_batch(src: Path) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 NHWC, labels int64) of the CIFAR-10 python version's test_batch (folder or tarball)."""
    import io
    import tarfile

    try:
        if src.is_dir():
            raw = (src / "test_batch").read_bytes()
        else:
            with tarfile.open(src, "r:*") as tar:
                member = next((m for m in tar.getmembers() if m.name.endswith("/test_batch")), None)
                if member is None:
                    raise InputError(f"{src} holds no {CIFAR10_PY_FOLDER}/test_batch; pass the CIFAR-10 "
                                     "python-version tarball")
                raw = tar.extractfile(member).read()
        d = _ArraysOnly(io.BytesIO(raw), encoding="bytes").load()
        data, labels = np.asarray(d[b"data"], np.uint8), np.asarray(d[b"labels"], np.int64)
    except InputError:
        raise
    except Exception as exc:  # a truncated or foreign file
        raise InputError(f"cannot read the CIFAR-10 test batch from {src} ({type(exc).__name__}: {exc})") from None
    if data.ndim != 2 or data.shape[1] != 3072 or len(labels) != len(data):
        raise InputError(f"{src}: test_batch is not CIFAR-10 (data {data.shape}, {len(labels)} labels)")
    return np.ascontiguousarray(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)), labels


def _select(src: Path, batch_size: int, seed: int) -> tuple[np.ndarray, Optional[np.ndarray]]:
    """The batch's images (uint8 NHWC) and labels (int64, None when the source has none)."""
    if src.is_dir() or src.name.endswith((".tar.gz", ".tgz")):
        images, labels = _read_python_batch(src)
        rows = batch_rows(images.shape[0], batch_size, seed)
        return images[rows], labels[rows]
    with np.load(src) as f:
        if "images" not in f:
            raise InputError(f"{src} has no 'images' array; expected uint8 (N, 32, 32, 3)")
        images = f["images"]
        labels = f["labels"] if "labels" in f else None
        protocol = "pool" in f and "rows" in f
        rows = _protocol_rows(f, batch_size, seed) if protocol else None
    if images.ndim != 4 or images.shape[1:] != (32, 32, 3):
        raise InputError(f"images must be (N, 32, 32, 3) NHWC, got {images.shape}")
    if rows is None:
        rows = batch_rows(images.shape[0], batch_size, seed)
    return images[rows], (None if labels is None else np.asarray(labels, np.int64)[rows])


def batch_rows(n: int, batch_size: int, seed: int) -> np.ndarray:
    """Rows of an n-image file that form the batch (see the module docstring)."""
    if not 1 <= batch_size <= n:
        raise InputError(f"batch_size must be between 1 and {n} (images available), got {batch_size}")
    return np.random.default_rng(seed).choice(n, max(batch_size, min(PROTOCOL_BATCH, n)), replace=False)[:batch_size]


def _protocol_rows(f, batch_size: int, seed: int) -> np.ndarray:
    """Positions in the shipped protocol file of the batch's rows of the full image file."""
    pool, held = int(f["pool"]), [int(r) for r in f["rows"]]
    wanted = batch_rows(pool, batch_size, seed)
    where = {r: i for i, r in enumerate(held)}
    if not all(int(r) in where for r in wanted):
        raise InputError(
            f"the images shipped with onnxscore are the protocol batch ({len(held)} images, seed "
            f"{int(f['seed'])}); a batch of {batch_size} with seed {seed} needs the full {CIFAR10_FILE}: "
            f"set {DATA_ENV} to the folder holding it")
    return np.array([where[int(r)] for r in wanted])


def cifar10_batch(npz_path: Union[str, Path, None] = None, batch_size: int = PROTOCOL_BATCH, seed: int = PROTOCOL_SEED,
                  size: int = 32) -> np.ndarray:
    """float32 NCHW batch: rows batch_rows(n, batch_size, seed) of the image file, /255, CIFAR-10 mean/std.

    size=32 keeps the images; size=16 average-pools 2x2 (ImageNet16-120 stand-ins, see module docstring).
    """
    if size not in (32, 16):
        raise InputError(f"size must be 32 or 16 (2x2-pooled stand-ins), got {size}")
    images, _ = _select(image_source(npz_path), batch_size, seed)
    x = images.astype(np.float32) / np.float32(255.0)  # (B, 32, 32, 3) in [0, 1]
    if size == 16:
        x = x.reshape(batch_size, 16, 2, 16, 2, 3).mean(axis=(2, 4), dtype=np.float32)
    x = (x - np.asarray(CIFAR10_MEAN, np.float32)) / np.asarray(CIFAR10_STD, np.float32)
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2), dtype=np.float32)


def cifar10_labels(npz_path: Union[str, Path, None] = None, batch_size: int = PROTOCOL_BATCH,
                   seed: int = PROTOCOL_SEED) -> np.ndarray:
    """int64 labels of the batch cifar10_batch(npz_path, batch_size, seed) returns (same rows)."""
    src = image_source(npz_path)
    _, labels = _select(src, batch_size, seed)
    if labels is None:
        raise InputError(f"{src} has no 'labels' array; pass --labels FILE.npy")
    return labels


__all__ = ["CIFAR10_MEAN", "CIFAR10_STD", "shared_data_dir", "image_source", "cifar10_batch", "cifar10_labels"]
