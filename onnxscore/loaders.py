"""Load a model from a path, bytes or a ModelProto into a `LoadedModel`, with one-line errors."""
from __future__ import annotations

import os
import stat
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
        return bool(external_data_locations(self.proto))


def special_file_kind(path: str | os.PathLike) -> str | None:
    """'a character device', 'a FIFO', ... when `path` exists but is neither a regular file nor a
    directory (reading /dev/zero or a FIFO would never end), else None. Follows symlinks."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _refuse_special(path: str | os.PathLike) -> None:
    kind = special_file_kind(path)
    if kind:
        raise ModelLoadError(f"'{path}' is {kind}, not a model file; pass an .onnx file")


def _graph_tensors(graph: onnx.GraphProto):
    """Every TensorProto of a graph: initializers, sparse initializers, node attributes, subgraphs."""
    yield from graph.initializer
    for sp in graph.sparse_initializer:
        yield sp.values
        yield sp.indices
    for node in graph.node:
        yield from _node_tensors(node)


def _node_tensors(node: onnx.NodeProto):
    for a in node.attribute:
        if a.HasField("t"):
            yield a.t
        yield from a.tensors
        if a.HasField("sparse_tensor"):
            yield a.sparse_tensor.values
            yield a.sparse_tensor.indices
        for sp in a.sparse_tensors:
            yield sp.values
            yield sp.indices
        if a.HasField("g"):
            yield from _graph_tensors(a.g)
        for g in a.graphs:
            yield from _graph_tensors(g)


def external_data_locations(proto: onnx.ModelProto) -> list[str]:
    """Sorted distinct `location`s of every tensor the model keeps in external-data files (graph,
    subgraphs and model-local functions), read from the proto alone: no data file is opened."""
    tensors = list(_graph_tensors(proto.graph))
    for fn in proto.functions:
        for node in fn.node:
            tensors.extend(_node_tensors(node))
    locs = set()
    for t in tensors:
        if t.data_location == onnx.TensorProto.EXTERNAL:
            locs.add({e.key: e.value for e in t.external_data}.get("location", ""))
    return sorted(locs)


def external_data_dir(path: str | os.PathLike) -> str:
    """The folder a model file's external-data locations are relative to: the folder of the path as
    given, not of a symlink's target. onnx.load, onnx.checker and onnxruntime all resolve them so
    (a symlinked model reads its weights beside the link), and onnxscore must see the same files."""
    return str(Path(path).absolute().parent)


def external_data_files(path: str | os.PathLike) -> list[tuple[str, str]]:
    """(location, absolute path) of each external-data file an .onnx file references, sorted by
    location; [] when it references none or does not parse (it then fails when loaded, with the reason).
    Parses the model without loading the data, and only when its bytes mention external data at all
    (every external-data entry has the key "location")."""
    if special_file_kind(path):
        return []
    try:
        data = Path(path).read_bytes()
        if b"location" not in data:
            return []
        proto = onnx.ModelProto()
        proto.ParseFromString(data)
    except Exception:  # noqa: BLE001 - unreadable or not ONNX: nothing referenced that we can know of
        return []
    base = external_data_dir(path)
    return [(loc, os.path.join(base, loc)) for loc in external_data_locations(proto)]


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
    _refuse_special(p)  # before opening: reading /dev/zero or a FIFO would never end
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
    loaded = LoadedModel(proto, label, external_data_dir(p))
    if loaded.has_external_data:
        _check_external_files(loaded)
        _check(proto, label, str(p))
    else:
        _check(proto, label)
    return loaded


def _check_external_files(loaded: LoadedModel) -> None:
    """Fail early, naming the file, when an external-data file is missing or not a plain file
    (the checker's own messages for these do not say what to do)."""
    folder = Path(loaded.external_dir)
    linked = Path(loaded.label).is_symlink()
    for loc in external_data_locations(loaded.proto):
        f = folder / loc
        if f.is_symlink():
            raise ModelLoadError(
                f"{loaded.label} keeps weights in '{loc}', which is a symbolic link; onnx refuses linked "
                "external data: copy the data file next to the .onnx file"
            )
        if not f.exists():
            where = (f" (for a symlinked model the data is read beside the link, in {folder}, as onnx and "
                     "onnxruntime do)") if linked else ""
            raise ModelLoadError(
                f"{loaded.label} keeps weights in '{loc}', which is missing beside the model{where}; "
                "copy the data file next to the .onnx file"
            )
        kind = special_file_kind(f) or ("a directory" if f.is_dir() else None)
        if kind:
            raise ModelLoadError(
                f"{loaded.label} keeps weights in '{loc}', which is {kind}, not a data file; "
                "re-export the model with its external data"
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
        try:
            return _load_path(src, fmt, input_shape)
        except OSError as exc:  # a name too long, a folder we may not read, an I/O error: the path's fault
            raise ModelLoadError(f"cannot read '{src}': {(exc.strerror or first_line(exc)).lower()}; "
                                 "check the path and its permissions") from exc
    raise ModelLoadError(
        f"cannot load a model from a {type(src).__name__}; pass a path, bytes or an onnx.ModelProto"
    )


def _load_path(src, fmt: str | None, input_shape) -> LoadedModel:
    """load_model() of a file or framework-model path."""
    _refuse_special(src)  # before format detection, which would look into it
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
