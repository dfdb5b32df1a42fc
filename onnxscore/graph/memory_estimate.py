"""Host memory a scoring run will need, estimated from shapes before anything runs, and the limit.

The estimate is a liveness walk over the rewritten graph (a tensor lives from its producer to its
last consumer; the site codes and the model's outputs to the end), per sample, times the rows of the
largest pass, plus the input arrays, the weights (held by the user's proto, onnxscore's copy, its
serialisation and the session), the interpreter's baseline and the proxies' workspace; a safety factor
covers onnxruntime's arena and the copies of outputs. Checked against peak RSS (ru_maxrss) on this
machine: ResNet-50 (samples/make_resnet50.py) ePADS B = 64 2.9 GiB estimated / 2.37 measured, B = 128
5.1 / 4.04, all proxies B = 16 1.4 / 1.49; the largest NB201 cell, all proxies B = 128 0.68 / 0.48.
It exists to refuse, in one line, a run that cannot fit, instead of dying with std::bad_alloc or the
OOM killer; it never changes a score.
"""
from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass

import onnx
from onnx import helper

from onnxscore.errors import InputError

SAFETY = 1.25  # onnxruntime's arena rounds buffers up, outputs are copied to NumPy
WEIGHT_COPIES = 4  # user's proto, the rewritten copy, its serialisation, the session's initializers
BASELINE = 256 * 2**20  # Python, NumPy, onnx and onnxruntime loaded, before any model
BOOL_OPS = {"Greater", "Less", "Equal", "GreaterOrEqual", "LessOrEqual", "And", "Or", "Xor", "Not",
            "IsNaN", "IsInf"}
_UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def _itemsize(elem_type: int) -> int:
    try:
        return int(helper.tensor_dtype_to_np_dtype(elem_type).itemsize) if elem_type else 4
    except Exception:  # strings and types NumPy lacks: count them as float32
        return 4


@dataclass
class Footprint:
    """Bytes at batch size B = fixed + SAFETY * per_row * rows_per_sample * B + per_batch2 * B**2
    (rows_per_sample is 2 when ePADS runs [X; X + E]; the B**2 term is NASWOT's kernel)."""

    fixed: int
    per_row: int
    rows_per_sample: int = 1
    per_batch2: int = 0

    def bytes(self, batch: int) -> int:
        rows = self.rows_per_sample * batch
        return int(self.fixed + SAFETY * self.per_row * rows + self.per_batch2 * batch * batch)


def activation_bytes(model: onnx.ModelProto, info: dict, source: str, code_bytes: dict[str, int]) -> int:
    """Peak bytes per sample of the tensors alive at once in one forward of `model`.

    `info` is view.infer_tensors' result (tensors added since then, e.g. by the BN rewrite, take the
    size of their largest input, as elementwise ops do); only tensors computed from `source` grow with
    the batch; `code_bytes` maps a site tensor to the bytes per sample of its code output (kept to the end)."""
    nodes = model.graph.node  # in file order: the checker requires it topological, the BN rewrite keeps it
    outputs = {o.name for o in model.graph.output}
    last: dict[str, int] = {}
    for step, node in enumerate(nodes):
        for t in node.input:
            last[t] = step
    size: dict[str, int] = {}  # per-sample bytes of the tensors computed from `source`
    entry = info.get(source)
    size[source] = math.prod(entry[2]) * _itemsize(entry[0]) if entry is not None and entry[2] is not None else 0
    dies: dict[int, list[str]] = {}  # step -> tensors read for the last time there
    current = peak = kept = 0
    for step, node in enumerate(nodes):
        grown = [size[t] for t in node.input if t in size]
        if not grown:
            continue  # weights and constants only: onnxruntime folds it, independent of the batch
        for o in node.output:
            if not o:
                continue
            e = info.get(o)
            if e is not None and e[2] is not None:
                b = math.prod(e[2]) * _itemsize(e[0])
            else:
                b = max(grown)
                if node.op_type in BOOL_OPS:
                    b //= max(1, _itemsize(info.get(node.input[0], (onnx.TensorProto.FLOAT,))[0]))
            size[o] = b
            current += b
            kept += code_bytes.get(o, 0)
            if o not in outputs:
                dies.setdefault(max(step, last.get(o, step)), []).append(o)
        peak = max(peak, current + kept)
        for t in dies.pop(step, ()):
            current -= size[t]
    return peak


def weight_bytes(model: onnx.ModelProto) -> int:
    """Bytes of the initializers (external data counted by its declared length)."""
    total = 0
    for t in model.graph.initializer:
        if t.data_location == onnx.TensorProto.EXTERNAL:
            length = {e.key: e.value for e in t.external_data}.get("length", "")
            total += int(length) if length.isdigit() else math.prod(t.dims) * _itemsize(t.data_type)
        else:
            total += math.prod(t.dims) * _itemsize(t.data_type)
    return total


def parse_size(value) -> int | None:
    """--max-memory: '8G', '512M', '1.5T', a number of bytes, or 0 (no check); None = the default."""
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "auto")):
        return None
    if isinstance(value, bool):
        value = str(value)
    if isinstance(value, (int, float)):
        num, unit = float(value), ""
    else:
        m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:e[0-9]+)?)\s*([kmgt]?)(?:i?b)?\s*", str(value), re.I)
        if not m:
            num, unit = math.nan, ""
        else:
            num, unit = float(m.group(1)), m.group(2).upper()
    if not math.isfinite(num) or num < 0:
        raise InputError(f"--max-memory '{value}' is not a size; write e.g. 8G, 512M or 0 (no memory check)")
    return int(num * _UNITS[unit])


def _read_int(path: str) -> int | None:
    try:
        with open(path) as f:
            text = f.read().strip()
        return int(text)
    except (OSError, ValueError):  # absent, unreadable, or "max" (no cgroup limit)
        return None


def available_bytes() -> int | None:
    """Memory this process can still get: MemAvailable (or the cgroup's headroom if smaller) plus
    what it already holds (its resident set; onnxruntime's arena is reused by the next model)."""
    avail = None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    avail = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError, IndexError):
        pass
    if avail is None:
        try:
            avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (AttributeError, ValueError, OSError):
            return None
    cg_max, cg_now = _read_int("/sys/fs/cgroup/memory.max"), _read_int("/sys/fs/cgroup/memory.current")
    if cg_max is not None and cg_now is not None:
        avail = min(avail, max(0, cg_max - cg_now))
    try:
        with open("/proc/self/statm") as f:
            avail += int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError, AttributeError):
        pass
    return avail


def plan(model: onnx.ModelProto, info: dict, source: str, sample_bytes: int, code_bytes: dict[str, int], *,
         paired: bool, naswot: bool, swap_units: int) -> Footprint:
    """The footprint of scoring `model` (BN rewritten, sites not yet exposed): the forward's activations
    and codes, the input arrays (float64 draw, float32 batch, [X; X + E]), the weights, and the proxies'
    workspace (SWAP's column patterns, NASWOT's five B x B int64/float64 arrays)."""
    act = activation_bytes(model, info, source, code_bytes)
    return Footprint(fixed=BASELINE + WEIGHT_COPIES * weight_bytes(model),
                     per_row=act + 3 * sample_bytes + 3 * swap_units // 8,
                     rows_per_sample=2 if paired else 1, per_batch2=40 if naswot else 0)


def check(footprint: Footprint, batch: int, limit: int, explicit: bool, label: str) -> None:
    """An InputError when `batch` needs more than `limit` bytes: the estimate, the largest batch size
    that fits, and how to raise the limit."""
    need = footprint.bytes(batch)
    if need <= limit:
        return
    fits = largest_batch(lambda b: footprint.bytes(b) <= limit, batch)
    source = "set by --max-memory" if explicit else "this process can get (available memory)"
    advice = f"use --batch-size {fits} or less" if fits else "not even --batch-size 2 fits"
    raise InputError(
        f"{label} needs about {gib(need)} at batch size {batch} (estimated from its shapes), more than "
        f"the {gib(limit)} {source}; {advice}, or raise the limit with --max-memory (0: no check)"
    )


def gib(n: float) -> str:
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{n / 2**20:.0f} MiB"


def largest_batch(fits, upper: int) -> int:
    """The largest batch size b in [2, upper] with fits(b), or 0 if none (fits is monotone)."""
    if not fits(2):
        return 0
    lo, hi = 2, upper
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if fits(mid) else (lo, mid - 1)
    return lo
