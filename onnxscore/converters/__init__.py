"""Framework models -> ONNX through each framework's maintained converter (tf2onnx, paddle2onnx,
torch.onnx), exported so that every activation site and BatchNorm survives for scoring.

Importing this package imports no framework: each converter module imports its framework inside
its functions, and a missing one raises MissingExtraError with the pip command.
"""
from __future__ import annotations

import importlib
import os
import warnings
from typing import Any, Sequence

import onnx
import onnx.inliner  # a submodule: `import onnx` alone does not load it

from onnxscore.converters._extras import ConverterWarning
from onnxscore.converters.detect import FORMATS, detect_format
from onnxscore.errors import ConverterError, InputError, ModelLoadError, first_line
from onnxscore.graph.rewrites import all_nodes
from onnxscore.graph.rewrites.clip_bounds import fold_clip_bounds
from onnxscore.graph.rewrites.prune_dead import prune_dead

IR_VERSION = 10
# metadata_props keys written on every converted model (read by the scorer and by `convert`)
META_SOURCE = "onnxscore.source_format"
META_CONVERTER = "onnxscore.converter"
META_BN = "onnxscore.bn"  # "exported": BatchNormalization nodes as exported; "batch": batch statistics
#                           computed in the graph itself; "folded": running statistics baked into weights
META_WARNINGS = "onnxscore.warnings"  # converter warnings, one per line
# Ops whose output sign is the unit's code (docs/PROXIES.md "Activation sites beyond ReLU")
SITE_OPS = ("Relu", "Clip", "LeakyRelu", "PRelu")

_MODULES = {"keras": "keras", "tensorflow": "keras", "paddle": "paddle", "torch": "torch"}


def _object_format(obj) -> str | None:
    """Format of an in-memory framework object (keras.Model, tf.function, nn.Module, nn.Layer)."""
    for cls in type(obj).__mro__:
        top = (cls.__module__ or "").split(".")[0]
        if top in ("keras", "tf_keras"):
            return "keras"
        if top == "tensorflow":
            return "tensorflow"
        if top == "torch":
            return "torch"
        if top == "paddle":
            return "paddle"
    return None


def convert(src: Any, *, fmt: str | None = None, input_shape: str | Sequence[int] | None = None,
            opset: int = 17) -> onnx.ModelProto:
    """Convert `src` (a path, a `module:factory` spec or a framework object) to an in-memory,
    self-contained ONNX model with a dynamic batch dimension and ir_version 10.

    input_shape: one sample's shape (no batch), e.g. "3,32,32"; needed for PyTorch factories and
    for framework objects without a fixed input signature.
    """
    if fmt is not None and fmt not in FORMATS:
        raise InputError(f"unknown format '{fmt}'; use one of {', '.join(FORMATS)}")
    if isinstance(src, (str, os.PathLike)):
        src = os.fspath(src)
        kind = fmt or detect_format(src)
    else:
        kind = fmt or _object_format(src)
        if kind is None:
            raise InputError(
                f"cannot convert a {type(src).__name__}; pass a path, a module:factory spec, a Keras "
                "model, a tf.function, a torch.nn.Module or a paddle.nn.Layer"
            )
    if kind == "onnx":
        if not isinstance(src, str):
            raise InputError("fmt='onnx' needs a path to an .onnx file")
        if not os.path.isfile(src):
            raise ModelLoadError(f"model file '{src}' does not exist; check the path")
        return onnx.load(src)  # passed through as it is; the scorer handles ONNX files itself
    if kind in ("keras", "tensorflow") and isinstance(src, str) and not os.path.exists(src):
        raise ModelLoadError(f"model '{src}' does not exist; check the path")
    shape = _sample_shape(input_shape)
    module = importlib.import_module(f"onnxscore.converters.{_MODULES[kind]}")
    model, info = module.convert(src, kind=kind, input_shape=shape, opset=opset)
    return finalize(model, kind, info)


def _sample_shape(input_shape) -> tuple[int, ...] | None:
    """Parse one sample's shape like the scorer's --input-shape ('3,32,32', '3x32x32', a tuple)."""
    from onnxscore.inputs import parse_shape

    return parse_shape(input_shape)


# -- post-conversion passes shared by every converter ------------------------------------------

def check_supported(model: onnx.ModelProto, source: str, hint: str) -> None:
    """Fail with the op names when a converter left framework ops that ONNX does not define."""
    bad: dict[str, str] = {}
    for node in all_nodes(model.graph):
        if node.domain in ("", "ai.onnx", "ai.onnx.ml") and not onnx.defs.has(node.op_type, node.domain):
            bad.setdefault(node.op_type, node.name)
    if bad:
        ops = ", ".join(f"{op} (node {name})" if name else op for op, name in bad.items())
        raise ConverterError(f"{source} cannot convert op(s) {ops} to ONNX; {hint}")


def finalize(model: onnx.ModelProto, kind: str, info: dict) -> onnx.ModelProto:
    """Shared last steps: fold Clip bounds, stamp ir_version and metadata, warn, check."""
    if model.functions:
        model = onnx.inliner.inline_local_functions(model)
    fold_clip_bounds(model)
    prune_dead(model)
    model.ir_version = IR_VERSION
    notes = list(info.get("warnings", ()))
    meta = {
        META_SOURCE: kind,
        META_CONVERTER: info.get("converter", ""),
        META_BN: info.get("bn", "exported"),
    }
    if notes:
        meta[META_WARNINGS] = "\n".join(notes)
    keep = [p for p in model.metadata_props if p.key not in meta]
    del model.metadata_props[:]
    model.metadata_props.extend(keep)
    for k, v in meta.items():
        model.metadata_props.add(key=k, value=v)
    for note in notes:
        warnings.warn(note, ConverterWarning, stacklevel=3)
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as exc:
        first = first_line(exc)
        raise ConverterError(
            f"{info.get('converter', kind)} produced an invalid ONNX model ({first}); "
            "please report it with the model"
        ) from exc
    return model


def converter_warnings(model: onnx.ModelProto) -> list[str]:
    """Warnings a converter stored in the model's metadata (empty for models not converted here)."""
    for p in model.metadata_props:
        if p.key == META_WARNINGS:
            return [w for w in p.value.splitlines() if w.strip()]
    return []


__all__ = ["FORMATS", "convert", "detect_format", "converter_warnings",
           "fold_clip_bounds", "check_supported", "ConverterWarning"]
