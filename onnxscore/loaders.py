"""Load a model from a path, bytes or a ModelProto into a `LoadedModel`, with one-line errors."""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import onnx
from google.protobuf.message import DecodeError

from onnxscore.errors import ModelLoadError, first_line


@dataclass
class LoadedModel:
    """An ONNX model plus where it came from (external data stays on disk, read by onnxruntime)."""

    proto: onnx.ModelProto
    label: str
    external_dir: str | None = None  # folder that external-data paths are relative to

    @property
    def has_external_data(self) -> bool:
        return any(
            t.data_location == onnx.TensorProto.EXTERNAL for t in self.proto.graph.initializer
        )


def _check(proto: onnx.ModelProto, label: str, path: str | None = None) -> None:
    """Run the ONNX checker; a failure is a ModelLoadError naming the first problem.
    With external data the checker must get the path (it resolves data files beside it)."""
    try:
        onnx.checker.check_model(path if path is not None else proto)
    except onnx.checker.ValidationError as exc:
        first = first_line(exc)
        raise ModelLoadError(
            f"{label} fails the ONNX checker ({first}); re-export the model or repair it "
            "so that onnx.checker.check_model passes"
        ) from exc
    if not proto.graph.node:
        raise ModelLoadError(f"{label} has an empty graph; pass a model with at least one node")


def _parse(data: bytes, label: str) -> onnx.ModelProto:
    proto = onnx.ModelProto()
    try:
        proto.ParseFromString(data)
    except (DecodeError, RuntimeError, ValueError) as exc:
        raise ModelLoadError(
            f"{label} is not a readable ONNX model (protobuf parse failed: the file is "
            "truncated or not ONNX); re-export it or check the path"
        ) from exc
    if not proto.graph.node and not proto.opset_import:
        raise ModelLoadError(
            f"{label} is not an ONNX model (no graph and no opset inside); pass a .onnx file"
        )
    return proto


def load_onnx_file(path: str | os.PathLike) -> LoadedModel:
    """Read an .onnx file without pulling external data into memory (onnxruntime reads it)."""
    p = Path(path)
    label = str(path)
    if not p.exists():
        raise ModelLoadError(f"model file '{label}' does not exist; check the path")
    if p.is_dir():
        raise ModelLoadError(
            f"'{label}' is a directory, not an ONNX file; pass the .onnx file inside it, "
            "or a TensorFlow SavedModel / Paddle model directory with --from"
        )
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise ModelLoadError(f"cannot read '{label}' ({exc.strerror}); check its permissions") from exc
    proto = _parse(data, label)
    loaded = LoadedModel(proto, label, str(p.resolve().parent))
    if loaded.has_external_data:
        _check_external_files(loaded)
        _check(proto, label, str(p))
    else:
        _check(proto, label)
    return loaded


def _check_external_files(loaded: LoadedModel) -> None:
    """Fail early, with the file name, when an external-data file is missing."""
    for t in loaded.proto.graph.initializer:
        if t.data_location != onnx.TensorProto.EXTERNAL:
            continue
        loc = {e.key: e.value for e in t.external_data}.get("location", "")
        if not (Path(loaded.external_dir) / loc).exists():
            raise ModelLoadError(
                f"{loaded.label} keeps weights in '{loc}', which is missing beside the model; "
                "copy the data file next to the .onnx file"
            )


def load_model(src, *, fmt: str | None = None, input_shape=None) -> LoadedModel:
    """Load `src` (path, bytes, ModelProto or a framework model path) as a LoadedModel."""
    if isinstance(src, LoadedModel):
        return src
    if isinstance(src, onnx.ModelProto):
        _check(src, "the given ModelProto")
        return LoadedModel(src, "<ModelProto>")
    if isinstance(src, (bytes, bytearray, memoryview)):
        proto = _parse(bytes(src), "the given bytes")
        _check(proto, "the given bytes")
        return LoadedModel(proto, "<bytes>")
    if isinstance(src, (str, os.PathLike)):
        if fmt in (None, "onnx") and str(src).lower().endswith(".onnx"):
            return load_onnx_file(src)
        if fmt == "onnx":
            return load_onnx_file(src)
        from onnxscore import converters  # light module; frameworks load only when converting

        kind = fmt or converters.detect_format(str(src))
        if kind == "onnx":
            return load_onnx_file(src)
        with warnings.catch_warnings():  # kept in the model's metadata; the scorer reports them once
            warnings.simplefilter("ignore", converters.ConverterWarning)
            proto = converters.convert(str(src), fmt=kind, input_shape=input_shape)
        _check(proto, str(src))
        return LoadedModel(proto, str(src))
    raise ModelLoadError(
        f"cannot load a model from a {type(src).__name__}; pass a path, bytes or an onnx.ModelProto"
    )
