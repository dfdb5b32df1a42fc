"""Framework models -> ONNX through each framework's maintained converter (tf2onnx, paddle2onnx,
torch.onnx), exported so that every activation site and BatchNorm survives for scoring.

Importing this package imports no framework: each converter module imports its framework inside
its functions, and a missing one raises MissingExtraError with the pip command.
"""
from __future__ import annotations

import importlib
import os
import warnings

import numpy as np
import onnx
import onnx.inliner  # a submodule: `import onnx` alone does not load it
from onnx import numpy_helper

from onnxscore.converters._extras import ConverterWarning
from onnxscore.converters.detect import FORMATS, detect_format
from onnxscore.errors import ConverterError, InputError, ModelLoadError, first_line

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


def convert(src, *, fmt: str | None = None, input_shape=None, opset: int = 17) -> onnx.ModelProto:
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

def _all_nodes(graph: onnx.GraphProto):
    """Nodes of `graph` and of every If/Loop/Scan body inside it."""
    for node in graph.node:
        yield node
        for a in node.attribute:
            for g in ([a.g] if a.HasField("g") else list(a.graphs)):
                yield from _all_nodes(g)


def check_supported(model: onnx.ModelProto, source: str, hint: str) -> None:
    """Fail with the op names when a converter left framework ops that ONNX does not define."""
    bad: dict[str, str] = {}
    for node in _all_nodes(model.graph):
        if node.domain in ("", "ai.onnx", "ai.onnx.ml") and not onnx.defs.has(node.op_type, node.domain):
            bad.setdefault(node.op_type, node.name)
    if bad:
        ops = ", ".join(f"{op} (node {name})" if name else op for op, name in bad.items())
        raise ConverterError(f"{source} cannot convert op(s) {ops} to ONNX; {hint}")


def fold_clip_bounds(model: onnx.ModelProto) -> int:
    """Make each Clip's min/max a plain initializer when it is a constant computed through
    Cast/CastLike/Squeeze (torch dynamo, paddle2onnx), so ReLU6 is recognised as a site."""
    from onnxscore.graph.view import GraphView

    view = GraphView(model)
    producers = view.producer_nodes()
    inits = {t.name: t for t in model.graph.initializer}
    folded = 0
    for node in model.graph.node:
        if node.op_type != "Clip":
            continue
        for k in range(1, len(node.input)):
            name = node.input[k]
            if not name or name in inits or (name in producers and producers[name].op_type == "Constant"):
                continue
            val = view.constant_value(name)
            if val is None or val.size != 1:
                continue
            new = f"{name}__onnxscore_const"
            if new not in inits:
                t = numpy_helper.from_array(np.asarray(val).reshape(()), new)
                model.graph.initializer.append(t)
                inits[new] = t
            node.input[k] = new
            folded += 1
    return folded


_PURE = {"Constant", "Identity", "Cast", "CastLike", "Squeeze", "Unsqueeze", "Reshape", "Shape"}


def prune_dead(model: onnx.ModelProto) -> int:
    """Drop constant-shuffling nodes and initializers nothing reads any more (left behind by the
    rewrites above); returns how many nodes went."""
    removed = 0
    while True:
        used = {i for n in _all_nodes(model.graph) for i in n.input} | {o.name for o in model.graph.output}
        keep = [n for n in model.graph.node
                if n.op_type not in _PURE or any(o in used for o in n.output)]
        if len(keep) == len(model.graph.node):
            break
        removed += len(model.graph.node) - len(keep)
        del model.graph.node[:]
        model.graph.node.extend(keep)
    inputs = {i.name for i in model.graph.input}
    inits = [t for t in model.graph.initializer if t.name in used or t.name in inputs]
    if len(inits) != len(model.graph.initializer):
        del model.graph.initializer[:]
        model.graph.initializer.extend(inits)
    return removed


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
