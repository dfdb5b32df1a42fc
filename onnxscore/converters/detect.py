"""Tell a model's source format from its path alone (no framework import)."""
from __future__ import annotations

import os
import re
from pathlib import Path

from onnxscore.errors import InputError

FORMATS = ("onnx", "keras", "tensorflow", "paddle", "torch")
KERAS_SUFFIXES = (".keras", ".h5", ".hdf5")
PADDLE_MODEL_SUFFIXES = (".json", ".pdmodel")
# package.module:factory, or path/to/file.py:factory
_TORCH_SPEC = re.compile(r"^(?P<module>[A-Za-z_][\w]*(\.[A-Za-z_]\w*)*|.+\.py):(?P<attr>[A-Za-z_][\w.]*)$")


def paddle_files(src: str) -> tuple[str, str] | None:
    """(model file, params file) of a Paddle inference model given as a file, a directory or a
    path prefix (`d/inference` for d/inference.json + d/inference.pdiparams), else None."""
    p = Path(src)
    candidates: list[Path] = []
    if p.is_file() and p.suffix in PADDLE_MODEL_SUFFIXES:
        candidates = [p]
    elif p.is_dir():
        candidates = [p / f"inference{s}" for s in PADDLE_MODEL_SUFFIXES]
        candidates += sorted(q for q in p.iterdir() if q.suffix == ".pdmodel")
        candidates += sorted(q for q in p.iterdir() if q.suffix == ".json")
    elif not p.exists():
        candidates = [Path(f"{src}{s}") for s in PADDLE_MODEL_SUFFIXES]
    for model in candidates:
        params = model.with_suffix(".pdiparams")
        if model.is_file() and params.is_file():
            return str(model), str(params)
    return None


def torch_spec(src: str) -> tuple[str, str] | None:
    """('package.module' or 'file.py', 'factory') for a `module:factory` spec, else None."""
    if os.path.exists(src):
        return None
    m = _TORCH_SPEC.match(src)
    if m is None:
        return None
    return m.group("module"), m.group("attr")


def detect_format(src) -> str:
    """One of "onnx", "keras", "tensorflow", "paddle", "torch" for a model path or spec."""
    src = os.fspath(src)
    low = src.lower()
    p = Path(src)
    if low.endswith(".onnx"):
        return "onnx"
    if low.endswith(KERAS_SUFFIXES):
        return "keras"
    if p.is_dir() and (p / "saved_model.pb").is_file():
        return "tensorflow"
    if paddle_files(src) is not None:
        return "paddle"
    if torch_spec(src) is not None:
        return "torch"
    if p.is_dir() and any(q.suffix == ".onnx" for q in p.iterdir()):
        raise InputError(f"'{src}' is a directory; pass the .onnx file inside it")
    if not p.exists():
        raise InputError(
            f"'{src}' does not exist and is not a package.module:factory spec; check the path "
            "(formats: .onnx, .keras/.h5, SavedModel dir, Paddle inference model, module:factory)"
        )
    raise InputError(
        f"cannot tell the format of '{src}'; pass .onnx, .keras/.h5, a SavedModel dir, a Paddle "
        "inference model (.json/.pdmodel + .pdiparams) or package.module:factory, or name it with --from"
    )
