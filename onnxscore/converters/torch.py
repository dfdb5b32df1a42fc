"""PyTorch -> ONNX with torch.onnx's exporter (dynamo=True, optimize=False), keeping every ReLU and BN.

Why these settings (docs/PROXIES.md "What exporters do", docs/ECOSYSTEM.md sections 4-6):
- the legacy exporter (dynamo=False) merges ReLU modules applied to the same tensor into one Relu;
  the dynamo exporter's default optimize=True does too, and folds BatchNorm into the convolutions.
  With optimize=False every ReLU module call is one Relu node and every BatchNorm a
  BatchNormalization node (training_mode=0; the scorer switches it to batch statistics).
- the batch dimension is exported as dynamic (torch.export.Dim), so any batch size can be scored;
- the ModelProto is built in memory with its weights inline (no external .onnx.data file).
The model is exported in eval mode (Dropout off) and put back in its previous mode afterwards.
"""
from __future__ import annotations

import contextlib
import os
import re
import sys
import warnings

import onnx

from onnxscore.converters._extras import quiet_loggers, require, stdout_to_stderr
from onnxscore.converters.detect import torch_spec
from onnxscore.errors import ConverterError, InputError, first_line

EXTRA = "torch"
MIN_OPSET = 18  # the dynamo exporter's lowest; asking for 17 only prints a failed down-conversion
TRACE_BATCH = 2  # torch.export specialises sizes 0 and 1, so trace with 2 and mark it dynamic
_HINT = ("rewrite it with ops torch.onnx supports, or register a translation "
         "(torch.onnx.export(..., custom_translation_table=...)) and export the model yourself")


def convert(src, *, kind: str = "torch", input_shape=None, opset: int = 17):
    """(ModelProto, info) for a `package.module:factory` spec or a torch.nn.Module."""
    torch = require("torch", EXTRA)
    require("onnxscript", EXTRA)  # the dynamo exporter needs it
    module = load_factory(src) if isinstance(src, str) else src
    if not isinstance(module, torch.nn.Module):
        raise InputError(f"expected a torch.nn.Module, got {type(module).__name__}")
    if input_shape is None:
        raise InputError(
            "PyTorch models need one sample's shape to trace: pass --input-shape, e.g. 3,32,32"
        )
    return export_module(module, input_shape, opset=opset)


@contextlib.contextmanager
def _cwd_on_path():
    """Let `mymodels:make_net` resolve against the current directory, as `python -m` would."""
    cwd = os.getcwd()
    added = cwd not in sys.path
    if added:
        sys.path.insert(0, cwd)
    try:
        yield
    finally:
        if added and cwd in sys.path:
            sys.path.remove(cwd)


def load_factory(spec: str):
    """Import `package.module:factory` (or `file.py:factory`) and call the factory for an nn.Module."""
    parsed = torch_spec(spec)
    if parsed is None:
        raise InputError(f"'{spec}' is not a package.module:factory spec (e.g. mynets.resnet:make_resnet)")
    mod_name, attr = parsed
    from onnxscore.modules import import_spec

    with _cwd_on_path():
        module = import_spec(mod_name, f"the module of '{spec}':")
    obj = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise InputError(f"'{mod_name}' has no attribute '{attr}' (from '{spec}')")
        obj = getattr(obj, part)
    torch = require("torch", EXTRA)
    if isinstance(obj, torch.nn.Module):
        return obj
    if not callable(obj):
        raise InputError(f"'{spec}' is neither a torch.nn.Module nor a factory that returns one")
    try:
        made = obj()
    except TypeError as exc:
        raise InputError(f"the factory '{spec}' must be callable without arguments ({first_line(exc)})") from exc
    except Exception as exc:  # the user's code failed, not onnxscore
        raise ConverterError(f"the factory '{spec}' raised {type(exc).__name__}: {first_line(exc, '')}") from exc
    if not isinstance(made, torch.nn.Module):
        raise InputError(f"the factory '{spec}' returned a {type(made).__name__}, not a torch.nn.Module")
    return made


def _error_message(exc: BaseException) -> str:
    """One line for an export failure: the op without an ONNX translation when there is one."""
    text = str(exc)
    m = re.search(r"No ONNX function found for <OpOverload\(op='([\w.]+)'", text)
    if m:
        return f"torch.onnx cannot convert op {m.group(1)} (no ONNX translation); {_HINT}"
    m = re.search(r"target=torch\.ops\.([\w.]+?)(?:\.default)?\]", text)
    if m and "Error when translating node" in text:
        return f"torch.onnx failed to translate op {m.group(1)}; {_HINT}"
    if "Constraints violated" in text or ("batch" in text and "specializ" in text):
        return ("torch.export found that the model fixes the batch size; make forward batch-agnostic "
                "(e.g. x.flatten(1) instead of x.view(2, -1)) so the batch can stay dynamic")
    summary = text.split("## Exception summary", 1)[-1]
    lines = [ln.strip() for ln in summary.splitlines() if ln.strip() and not ln.startswith("-")]
    detail = re.sub(r"\x1b\[[0-9;]*m", "", lines[0] if lines else first_line(exc))
    return f"torch.onnx export failed: {detail[:300]}"


def export_module(module, input_shape, *, opset: int = 17):
    """Export with dynamo=True, optimize=False and a dynamic batch; returns (ModelProto, info)."""
    torch = require("torch", EXTRA)
    example = torch.randn(TRACE_BATCH, *input_shape)
    was_training = module.training
    module.eval()
    try:
        with stdout_to_stderr(), quiet_loggers("torch.onnx", "torch.export", "torch._dynamo",
                                               "onnxscript", "onnx_ir", level=60), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(
                module, (example,), dynamo=True, optimize=False, verbose=False,
                opset_version=max(opset, MIN_OPSET),
                dynamic_shapes=({0: torch.export.Dim("batch")},),
            )
            model = program.model_proto
    except (InputError, ConverterError):
        raise
    except Exception as exc:
        raise ConverterError(_error_message(exc)) from exc
    finally:
        module.train(was_training)
    proto = onnx.ModelProto()
    proto.CopyFrom(model)
    from onnxscore.converters import check_supported

    check_supported(proto, "torch.onnx", _HINT)
    n_bn = sum(n.op_type == "BatchNormalization" for n in proto.graph.node)
    info = {"converter": f"torch.onnx {torch.__version__} (dynamo, optimize=False)",
            "bn": "exported", "warnings": []}
    if n_bn == 0 and _has_batchnorm(torch, module):
        info["bn"] = "folded"
        info["warnings"].append("torch.onnx folded the model's BatchNorm layers; scores use running statistics")
    return proto, info


def _has_batchnorm(torch, module) -> bool:
    return any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in module.modules())


__all__ = ["convert", "load_factory", "export_module"]
