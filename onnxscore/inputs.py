"""The input batch: which graph input, its per-sample shape, and the data fed to it."""
from __future__ import annotations

import numbers
import os
from dataclasses import dataclass

import numpy as np
import onnx

from onnxscore.errors import InputError, first_line
from onnxscore.graph.view import GraphView

FLOAT_INPUTS = {
    onnx.TensorProto.FLOAT: np.float32,
    onnx.TensorProto.FLOAT16: np.float16,
    onnx.TensorProto.DOUBLE: np.float64,
}


@dataclass
class InputSpec:
    """The graph input that receives the batch, and the shape of one sample."""

    name: str
    sample_shape: tuple[int, ...]
    dtype: type
    fixed_batch: int | None  # the batch size baked into the file, if any


MAX_DIM = 2**31 - 1  # no axis onnxscore can feed is longer; larger values are typos


def parse_shape(text) -> tuple[int, ...] | None:
    """'3,32,32' / '3x32x32' / a sequence -> a tuple of positive ints (one sample's shape)."""
    if text is None:
        return None
    try:
        parts = text.replace("x", ",").split(",") if isinstance(text, str) else list(text)
        shape = tuple(_dim(p) for p in parts if str(p).strip())
    except (TypeError, ValueError):
        raise InputError(f"--input-shape '{text}' is not a list of integers; write e.g. 3,32,32") from None
    if not shape or any(d <= 0 or d > MAX_DIM for d in shape):
        raise InputError(f"--input-shape '{text}' must list sizes from 1 to {MAX_DIM}, e.g. 3,32,32")
    return shape


def _dim(part) -> int:
    """One size: an integer (or integer-valued string); floats such as 2.5 are refused, not truncated."""
    if isinstance(part, bool):
        raise ValueError(part)
    if isinstance(part, str):
        return int(part.strip())
    if isinstance(part, numbers.Integral):
        return int(part)
    raise ValueError(part)


def type_name(elem_type: int) -> str:
    """'float32'-style name of an ONNX element type, also for numbers no ONNX version defines."""
    try:
        return onnx.helper.tensor_dtype_to_string(elem_type).replace("TensorProto.", "").lower()
    except (KeyError, ValueError, TypeError):
        return f"unknown ({elem_type}, not an ONNX element type)"


def input_spec(model: onnx.ModelProto, name: str | None = None, sample_shape=None) -> InputSpec:
    """Pick the input to feed and resolve its per-sample shape (symbolic dims need --input-shape)."""
    inputs = GraphView(model).graph_inputs
    if not inputs:
        raise InputError("the model has no runtime input; it needs one float input to feed a batch to")
    if name is None:
        if len(inputs) > 1:
            listed = ", ".join(i.name for i in inputs)
            raise InputError(f"the model has several inputs ({listed}); choose one with --input NAME")
        vi = inputs[0]
    else:
        vi = next((i for i in inputs if i.name == name), None)
        if vi is None:
            listed = ", ".join(i.name for i in inputs)
            raise InputError(f"the model has no input named '{name}'; its inputs are: {listed}")
    tt = vi.type.tensor_type
    if tt.elem_type not in FLOAT_INPUTS:
        raise InputError(
            f"input '{vi.name}' has type {type_name(tt.elem_type)}; onnxscore feeds float batches (images, "
            "features), so score a model whose input is float (e.g. after the embedding for token models)"
        )
    # a size <= 0 is no size (exporters write -1 for "dynamic"): like a symbol, --input-shape decides
    dims = [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None for d in tt.shape.dim]
    if not dims:
        raise InputError(f"input '{vi.name}' has no batch dimension; export it with a leading batch axis")
    fixed = dims[0]
    given = parse_shape(sample_shape)
    if given is not None:
        if len(given) != len(dims) - 1:
            raise InputError(
                f"--input-shape has {len(given)} dims but input '{vi.name}' has {len(dims) - 1} per sample"
            )
        clash = [(g, d) for g, d in zip(given, dims[1:]) if d is not None and g != d]
        if clash:
            raise InputError(
                f"--input-shape {given} contradicts the model's fixed sizes {tuple(dims[1:])}"
            )
        shape = given
    elif any(d is None for d in dims[1:]):
        shown = ["?" if d is None else str(d) for d in dims[1:]]
        raise InputError(
            f"input '{vi.name}' has symbolic or unknown sizes ({','.join(shown)}) besides the batch; "
            "give one sample's shape with --input-shape, e.g. 3,224,224"
        )
    else:
        shape = tuple(dims[1:])
    return InputSpec(vi.name, tuple(shape), FLOAT_INPUTS[tt.elem_type], fixed)


def _read_array(path, label: str) -> np.ndarray:
    """A .npy file (memory-mapped), or the one array of an .npz file."""
    if not os.path.isfile(path):
        raise InputError(f"{label}: file not found; pass a .npy file saved with numpy.save")
    try:
        loaded = np.load(path, allow_pickle=False, mmap_mode="r")
    except (ValueError, OSError, EOFError) as exc:
        raise InputError(f"{label} is not a readable .npy array ({first_line(exc)}); save it with numpy.save") from None
    if not isinstance(loaded, np.lib.npyio.NpzFile):
        return loaded
    with loaded:
        names = list(loaded.files)
        if len(names) != 1:
            shown = ", ".join(names) or "none"
            raise InputError(f"{label} is an .npz archive with {len(names)} arrays ({shown}); pass a .npy "
                             "float32 array, or an .npz holding only the batch (numpy.savez(path, batch))")
        try:
            return loaded[names[0]]
        except (ValueError, OSError, EOFError) as exc:
            raise InputError(f"{label}: array '{names[0]}' is unreadable ({first_line(exc)})") from None


def load_data(data, spec: InputSpec, batch: int) -> np.ndarray:
    """The first `batch` rows of user data (an array, a .npy path or a one-array .npz), checked
    against the input: float32, the input's sample shape, enough rows, every value finite."""
    label = "--data"
    if isinstance(data, (str, os.PathLike)):
        label = f"--data {data}"
        data = _read_array(data, label)
    try:
        arr = np.asarray(data)
    except Exception:  # noqa: BLE001 - whatever the object is, it is not a batch
        arr = None
    if arr is None or arr.ndim < 1:
        raise InputError(f"{label} must be a float32 NumPy array or the path of a .npy file "
                         f"(got {type(data).__name__})")
    if arr.dtype != np.float32:
        raise InputError(
            f"{label} has dtype {arr.dtype}; give a float32 array already normalised for the model "
            "(arr.astype(np.float32))"
        )
    if arr.shape[1:] != spec.sample_shape:
        raise InputError(
            f"{label} has samples of shape {arr.shape[1:]}, but input '{spec.name}' takes "
            f"{spec.sample_shape} (the model's layout, e.g. NCHW vs NHWC)"
        )
    if arr.shape[0] < batch:
        raise InputError(f"{label} has {arr.shape[0]} rows but the batch size is {batch}; "
                         f"pass more rows or a smaller --batch-size")
    x = np.ascontiguousarray(arr[:batch], dtype=spec.dtype)
    finite = np.isfinite(x.reshape(batch, -1)).all(axis=1)
    if not finite.all():
        row = int(np.argmin(finite))
        raise InputError(f"{label}: row {row} holds NaN or infinite values (one such row makes every "
                         "batch statistic NaN); clean or drop it before scoring")
    return x


def random_batch(spec: InputSpec, batch: int, seed: int) -> np.ndarray:
    """Seeded standard-normal batch of the input's shape (the embedded default input)."""
    try:
        x = np.random.default_rng(seed).standard_normal((batch, *spec.sample_shape))
        return x.astype(spec.dtype)
    except (MemoryError, ValueError) as exc:  # beyond this machine (when --max-memory 0 skipped the check)
        raise InputError(f"cannot allocate a batch of {batch} samples of shape {spec.sample_shape} "
                         f"({first_line(exc)}); use a smaller --batch-size") from None


def noise_like(x: np.ndarray, sigma: float, seed: int) -> np.ndarray:
    """ePADS's input perturbation E ~ N(0, sigma^2), from its own stream default_rng([seed, 1])."""
    with np.errstate(over="ignore"):
        s = x.dtype.type(sigma)
        if not np.isfinite(s):
            raise InputError(f"--sigma (sigma) {sigma:g} does not fit the model's {x.dtype} input; "
                             f"use a value below {float(np.finfo(x.dtype).max):.3g}")
        e = np.random.default_rng([seed, 1]).standard_normal(x.shape).astype(x.dtype) * s
        if not np.isfinite(x + e).all():
            raise InputError(f"--sigma (sigma) {sigma:g} makes the perturbed batch overflow {x.dtype}; "
                             "use a smaller --sigma")
    return e


def fill(shape, elem_type: int, rng: np.random.Generator) -> np.ndarray:
    """The one filler of inputs onnxscore invents: seeded standard normal for float types, zeros
    otherwise (a valid index for any embedding, False for a mask)."""
    dtype = onnx.helper.tensor_dtype_to_np_dtype(elem_type or onnx.TensorProto.FLOAT)
    if (elem_type or onnx.TensorProto.FLOAT) in FLOAT_INPUTS:
        return rng.standard_normal(shape).astype(dtype)
    return np.zeros(shape, dtype=dtype)


def other_inputs(model: onnx.ModelProto, fed: str, rows: int, seed: int) -> dict[str, np.ndarray]:
    """Feeds for the inputs besides the scored one (seeded normal if float, zeros otherwise),
    so a model with several inputs runs; a symbolic first dim follows the scored batch, a static
    one is kept (a [1, 1, 1, 3] constant-like input is not a batch)."""
    feeds = {}
    for k, vi in enumerate(GraphView(model).graph_inputs):
        if vi.name == fed:
            continue
        tt = vi.type.tensor_type
        dims = [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None for d in tt.shape.dim]
        if dims and dims[0] is None:
            dims[0] = rows
        if any(d is None for d in dims):
            raise InputError(
                f"input '{vi.name}' (not the scored one) has symbolic sizes besides the batch; "
                "onnxscore cannot invent its shape: export it with static sizes"
            )
        try:
            dtype = onnx.helper.tensor_dtype_to_np_dtype(tt.elem_type)
        except (KeyError, ValueError, TypeError):
            raise InputError(f"input '{vi.name}' (not the scored one) has type {type_name(tt.elem_type)}; "
                             "onnxscore feeds other inputs only when NumPy has their type: export it as a numeric tensor") from None
        del dtype  # checked above: NumPy has the type
        feeds[vi.name] = fill(dims, tt.elem_type, np.random.default_rng([seed, 4, k]))
    return feeds


def make_batch_dynamic(model: onnx.ModelProto) -> None:
    """Make the batch dim of every runtime input and output symbolic (in place), dropping stale
    value_info so shapes are re-derived at run time (a batch baked into a Reshape still fails)."""
    for vi in GraphView(model).graph_inputs + list(model.graph.output):
        dims = vi.type.tensor_type.shape.dim
        if len(dims):
            dims[0].Clear()
            dims[0].dim_param = "batch"
    del model.graph.value_info[:]
