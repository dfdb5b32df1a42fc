"""PaddlePaddle inference models -> ONNX with paddle2onnx (run in a child process).

paddle2onnx keeps BatchNormalization (training_mode=0, flipped to batch statistics by the scorer)
and writes one Relu per ReLU layer, Clip(0, 6) for ReLU6, LeakyRelu and PRelu. What this module
adds (docs/ECOSYSTEM.md section 6b, and checked against paddle2onnx 2.0.1 with Paddle 3.3):
- paddle2onnx aborts the whole process (SIGABRT) on an operator it cannot convert, so it runs in
  a child Python; the error then names the operator(s) instead of killing the caller.
- With Paddle 3 programs it misreads LeakyReLU's float64 negative_slope (0 or ~1e-43 instead of
  0.1) and ignores hardtanh's t_min/t_max (writes Clip(-1, 1)). Both are restored from the
  program (the .json file, or the .json paddle2onnx translates a legacy .pdmodel into).
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile

import onnx
from onnx import helper

from onnxscore.converters._extras import available, first_line, require
from onnxscore.converters.detect import paddle_files
from onnxscore.errors import ConverterError, InputError, ModelLoadError

EXTRA = "paddle"
TIMEOUT_S = 600
_HINT = "replace it with operators paddle2onnx supports or write that part with supported ops"

# Runs in the child: paddle2onnx's C++ side calls abort() on unsupported operators.
_CHILD = r"""
import glob, json, os, shutil, sys
model, params, out, opset = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
os.environ["P2O_KEEP_TEMP_MODEL"] = "1"  # keep the PIR .json a legacy .pdmodel is translated to
import paddle2onnx
import paddle2onnx.convert as p2o_convert
from paddle2onnx import paddle2onnx_cpp2py_export as c
ops = set(c.get_all_supported_operators())
if hasattr(c, "get_all_supported_operators_pir"):
    ops |= set(c.get_all_supported_operators_pir())
with open(out + ".ops.json", "w") as f:  # read by the parent to name unsupported operators
    json.dump(sorted(ops), f)
data = paddle2onnx.export(model, params, None, opset_version=opset, auto_upgrade_opset=True,
                          verbose=False, enable_onnx_checker=True, enable_optimize=False)
tmp = getattr(p2o_convert, "PADDLE2ONNX_EXPORT_TEMP_DIR", None)
if tmp and os.path.isdir(tmp):
    for path in glob.glob(os.path.join(tmp, "*.json")):
        shutil.copy(path, out + ".program.json")
    shutil.rmtree(tmp, ignore_errors=True)
if not data:
    sys.exit(3)
with open(out, "wb") as f:
    f.write(data)
"""

# Paddle 3 op names that paddle2onnx registers under their Paddle 2 names (read off the binary).
_ALIASES = {
    "matmul": "matmul_v2", "batch_norm_": "batch_norm", "topk": "top_k_v2", "expand": "expand_v2",
    "flatten": "flatten_contiguous_range", "unsqueeze": "unsqueeze2", "arange": "range",
    "argmax": "arg_max", "argmin": "arg_min", "floor_divide": "elementwise_floordiv",
    "subtract": "elementwise_sub", "multiply": "elementwise_mul", "divide": "elementwise_div",
    "remainder": "elementwise_mod", "minimum": "elementwise_min", "maximum": "elementwise_max",
    "add": "elementwise_add", "min": "reduce_min", "max": "reduce_max", "mean": "reduce_mean",
    "sum": "reduce_sum", "prod": "reduce_prod", "any": "reduce_any", "all": "reduce_all",
    "numel": "size", "hardswish": "hard_swish", "hardsigmoid": "hard_sigmoid", "add_n": "sum",
    "grid_sample": "grid_sampler", "nonzero": "where_index", "squeeze": "squeeze",
}
_ALWAYS = {"data", "feed", "fetch"}


def convert(src, *, kind: str = "paddle", input_shape=None, opset: int = 17):
    """(ModelProto, info) for a Paddle inference model path or a paddle.nn.Layer object."""
    available("paddle2onnx", EXTRA)  # imported only in the child process
    available("paddle", EXTRA)
    if not isinstance(src, str):
        return convert_layer(src, input_shape=input_shape, opset=opset)
    files = paddle_files(src)
    if files is None:
        if not os.path.exists(src) and not os.path.exists(os.path.dirname(src) or "."):
            raise ModelLoadError(f"Paddle model '{src}' does not exist; check the path")
        raise ModelLoadError(
            f"no Paddle inference model at '{src}'; pass the .json/.pdmodel file (with its "
            ".pdiparams beside it), its folder, or the prefix given to paddle.jit.save"
        )
    return convert_files(*files, opset=opset)


def convert_layer(layer, *, input_shape=None, opset: int = 17):
    """Save a paddle.nn.Layer with paddle.jit.save (batch dimension None), then convert the files."""
    paddle = require("paddle", EXTRA)
    if input_shape is None:
        raise InputError("converting a paddle.nn.Layer needs input_shape (one sample's shape, e.g. 3,32,32)")
    with tempfile.TemporaryDirectory(prefix="onnxscore-paddle-") as tmp:
        prefix = os.path.join(tmp, "inference")
        was_training = layer.training
        layer.eval()
        try:
            spec = paddle.static.InputSpec([None, *input_shape], "float32", "x")
            paddle.jit.save(layer, prefix, input_spec=[spec])
        except Exception as exc:
            raise ConverterError(f"paddle.jit.save failed: {first_line(exc)}") from exc
        finally:
            if was_training:
                layer.train()
        files = paddle_files(prefix)
        if files is None:
            raise ConverterError("paddle.jit.save wrote no inference model")
        return convert_files(*files, opset=opset)


def convert_files(model_file: str, params_file: str, *, opset: int = 17):
    """Run paddle2onnx in a child process and repair what it gets wrong (see module docstring)."""
    with tempfile.TemporaryDirectory(prefix="onnxscore-p2o-") as tmp:
        out = os.path.join(tmp, "model.onnx")
        cmd = [sys.executable, "-c", _CHILD, model_file, params_file, out, str(opset)]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_S,
                                  env={**os.environ, "PYTHONWARNINGS": "ignore"})
        except subprocess.TimeoutExpired:
            raise ConverterError(f"paddle2onnx did not finish within {TIMEOUT_S} s on '{model_file}'") from None
        if proc.returncode != 0 or not os.path.isfile(out):
            raise ConverterError(_failure_message(model_file, proc.stdout + proc.stderr,
                                                  _read_ops(out + ".ops.json")))
        model = onnx.load(out)
        translated = out + ".program.json"  # what paddle2onnx made of a legacy .pdmodel
        program = _load_program(translated if os.path.isfile(translated) else model_file)
    fixed = restore_float64_attributes(model, program) if program is not None else 0
    drop_identities(model)
    from onnxscore.converters import check_supported

    check_supported(model, "paddle2onnx", _HINT)
    label = f"paddle2onnx {available('paddle2onnx', EXTRA)}"
    if fixed:
        label += f" ({fixed} activation attribute(s) restored)"
    return model, {"converter": label, "bn": "exported", "warnings": []}


# -- errors ---------------------------------------------------------------------------------------

def _read_ops(path: str) -> set[str]:
    """The operator names paddle2onnx registers, as the child process listed them."""
    try:
        with open(path, encoding="utf-8") as f:
            return set(json.load(f))
    except (OSError, ValueError):
        return set()


def _failure_message(model_file: str, log: str, known: set[str]) -> str:
    """One line naming the operator(s) paddle2onnx could not convert, from its log or the program."""
    named = re.findall(r"\[OP:\s*(?:pd_op\.)?([\w.]+)\]\s*([^\n]*)", log)
    if named:
        op, why = named[0]
        more = sorted({o for o, _ in named[1:]} - {op})
        extra = f" (also: {', '.join(more)})" if more else ""
        return f"paddle2onnx cannot convert operator {op}: {why.strip()}{extra}; {_HINT}"
    unsupported = unsupported_ops(model_file, known) if known else []
    if unsupported:
        return f"paddle2onnx cannot convert operator(s) {', '.join(unsupported)}; {_HINT}"
    last = [ln.strip() for ln in log.splitlines() if "ERROR" in ln or "Error" in ln]
    detail = last[0] if last else "it aborted without naming an operator"
    return f"paddle2onnx failed on '{model_file}' ({detail}); run paddle2onnx on it for the full log"


def unsupported_ops(model_file: str, known: set[str]) -> list[str]:
    """Operators of the program that paddle2onnx registers under no name (best effort).
    Paddle is never imported here: importing it after TensorFlow crashes the process."""
    program = _load_program(model_file)
    if program is None:
        return []
    bad = []
    for op in _ops(program):
        name = op["#"].split(".", 1)[1]
        base = name.rstrip("_")
        if name in _ALWAYS or {name, base, _ALIASES.get(name), _ALIASES.get(base)} & known:
            continue
        if name not in bad:
            bad.append(name)
    return bad


# -- repairs --------------------------------------------------------------------------------------

def _load_program(model_file: str):
    """The PIR program of a Paddle 3 .json model (None for the legacy .pdmodel protobuf)."""
    if not model_file.endswith(".json"):
        return None
    try:
        with open(model_file, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _ops(obj):
    """Every operation of a PIR program in file order (ops are dicts whose '#' is '1.<name>')."""
    if isinstance(obj, dict):
        tag = obj.get("#")
        if isinstance(tag, str) and tag.startswith("1.") and "A" in obj:
            yield obj
        for v in obj.values():
            yield from _ops(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _ops(v)


def _attrs(op) -> dict:
    return {a["N"]: a["AT"].get("D") for a in op.get("A", []) if isinstance(a, dict) and "N" in a}


def _pd_outputs(model: onnx.ModelProto) -> dict[tuple[str, int], onnx.NodeProto]:
    """(paddle op name, index) -> the ONNX node computing it, following Identity nodes back from
    paddle2onnx's output names `p2o.pd_op.<name>.<index>.<output>`."""
    producers = {o: n for n in model.graph.node for o in n.output}
    found = {}
    for name, node in producers.items():
        m = re.fullmatch(r"p2o\.pd_op\.(\w+)\.(\d+)\.0", name)
        if not m:
            continue
        while node.op_type == "Identity" and node.input[0] in producers:
            node = producers[node.input[0]]
        found[(m.group(1), int(m.group(2)))] = node
    return found


def _set_scalar_input(model: onnx.ModelProto, node: onnx.NodeProto, k: int, value: float, tag: str):
    name = f"{node.name or node.output[0]}__onnxscore_{tag}"
    model.graph.initializer.append(helper.make_tensor(name, onnx.TensorProto.FLOAT, [], [float(value)]))
    node.input[k] = name


def restore_float64_attributes(model: onnx.ModelProto, program) -> int:
    """Put back LeakyReLU slopes and hardtanh bounds from the PIR program; returns how many nodes
    were changed (none when paddle2onnx got them right)."""
    by_type: dict[str, list[dict]] = {}
    for op in _ops(program):
        by_type.setdefault(op["#"].split(".", 1)[1], []).append(op)
    nodes = _pd_outputs(model)
    leaky_nodes = [n for n in model.graph.node if n.op_type == "LeakyRelu"]
    leaky_ops = by_type.get("leaky_relu", [])
    fixed = 0
    for k, op in enumerate(leaky_ops):
        node = nodes.get(("leaky_relu", k))
        if node is None and len(leaky_nodes) == len(leaky_ops):  # renamed (e.g. the model output)
            node = leaky_nodes[k]
        slope = _attrs(op).get("negative_slope")
        if node is None or node.op_type != "LeakyRelu" or slope is None:
            continue
        alpha = next((a for a in node.attribute if a.name == "alpha"), None)
        if alpha is None:
            node.attribute.append(helper.make_attribute("alpha", float(slope)))
            fixed += 1
        elif abs(alpha.f - slope) > 1e-7 * max(1.0, abs(slope)):
            alpha.f = float(slope)
            fixed += 1
    for k, op in enumerate(by_type.get("hardtanh", [])):
        node = nodes.get(("hardtanh", k))
        at = _attrs(op)
        if node is None or node.op_type != "Clip" or "t_min" not in at or len(node.input) < 3:
            continue
        _set_scalar_input(model, node, 1, at["t_min"], "min")
        _set_scalar_input(model, node, 2, at["t_max"], "max")
        fixed += 1
    return fixed


def drop_identities(model: onnx.ModelProto) -> int:
    """Remove Identity nodes (paddle2onnx writes one after nearly every op) unless they produce a
    graph output, so an activation's consumers are visible directly; drop unused Constants."""
    outputs = {o.name for o in model.graph.output}
    rename: dict[str, str] = {}
    keep = []
    for node in model.graph.node:
        if node.op_type == "Identity" and node.output[0] not in outputs:
            src = node.input[0]
            rename[node.output[0]] = rename.get(src, src)
            continue
        keep.append(node)
    for node in keep:
        for i, name in enumerate(node.input):
            if name in rename:
                node.input[i] = rename[name]
    used = {name for node in keep for name in node.input} | outputs
    keep = [n for n in keep if n.op_type != "Constant" or n.output[0] in used]  # dead after repairs
    del model.graph.node[:]
    model.graph.node.extend(keep)
    return len(rename)


__all__ = ["convert", "convert_files", "convert_layer", "unsupported_ops",
           "restore_float64_attributes", "drop_identities"]
