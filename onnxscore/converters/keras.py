"""TensorFlow and Keras -> ONNX with tf2onnx, keeping batch-statistics BatchNorm and every activation.

What tf2onnx does by default, and what this module changes (docs/ECOSYSTEM.md sections 4-6):
- BatchNorm: on the inference trace Keras BN becomes running-statistics arithmetic that grappler
  folds away. Keras models are therefore traced with every BatchNormalization layer called with
  training=True (and everything else, e.g. Dropout, in inference mode), so BN becomes
  ReduceMean/Sub/Mul/Sqrt arithmetic over the batch, equal to Keras `training=True`.
  SavedModel directories and tf.functions hold a fixed trace: their BN stays as traced (warned).
- Activations: tf2onnx's merge_duplication optimizer merges identical Relu nodes (two ReLU layers
  on one tensor become one); it is replaced by a copy that never merges activation ops. Keras
  PReLU is written as relu(x) - alpha*relu(-x): the relu(-x) half is rewritten as Max(-x, 0) so
  the PReLU counts as one site. ReLU6 arrives as Clip(0, 6), LeakyReLU as LeakyRelu.
- Captured constants (a Normalization layer's mean/variance) would become graph inputs: they are
  folded in as initializers. Exact GELU's Erfc (no ONNX op) is written as 1 - Erf. A failure is
  reported with the Keras layer (and class) whose TensorFlow ops tf2onnx could not convert.
- params: Keras's trainable count is recorded in metadata_props (onnxscore.graph.params), and the
  tensors holding each BN layer's batch moments, so latency can be timed on the inference graph.
"""
from __future__ import annotations

import contextlib
import os
import re
import sys

import numpy as np
import onnx
from onnx import numpy_helper

from onnxscore.converters._extras import first_line, quiet_loggers, require, stdout_to_stderr
from onnxscore.graph.rewrites.erfc import rewrite_erfc
from onnxscore.graph.rewrites.hard_activations import fuse_hard_activations
from onnxscore.graph.rewrites.prelu_split import split_prelu
from onnxscore.errors import ConverterError, InputError, ModelLoadError

EXTRA = "tensorflow"
_HINT = ("replace it with ops tf2onnx supports (https://github.com/onnx/tensorflow-onnx/blob/main/"
         "support_status.md) or convert that part yourself")


def _tf():
    """Import TensorFlow, Keras (TF backend) and tf2onnx, or explain which extra is missing."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    with _native_stderr_hidden():  # TensorFlow's C++ start-up lines (absl, oneDNN) ignore the level
        tf = require("tensorflow", EXTRA)
        tf2onnx = require("tf2onnx", EXTRA)
    return tf, tf2onnx


@contextlib.contextmanager
def _native_stderr_hidden():
    """Point file descriptor 2 at /dev/null while TensorFlow loads (kept with --debug)."""
    from onnxscore.runtime import DEBUG_ENV

    if os.environ.get(DEBUG_ENV, "") not in ("", "0"):
        yield
        return
    sys.stderr.flush()
    try:
        saved, null = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    except OSError:  # no real file descriptors: nothing to hide
        yield
        return
    os.dup2(null, 2)
    os.close(null)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _keras():
    keras = require("keras", EXTRA)
    backend = keras.backend.backend()
    if backend != "tensorflow":
        raise ConverterError(
            f"Keras runs on the {backend} backend here; set KERAS_BACKEND=tensorflow to convert "
            "Keras models (tf2onnx traces TensorFlow graphs)"
        )
    return keras


def convert(src, *, kind: str, input_shape=None, opset: int = 17):
    """(ModelProto, info) for a .keras/.h5 path, a SavedModel dir, a keras.Model or a tf.function."""
    tf, _ = _tf()
    if isinstance(src, str):
        if not os.path.exists(src):
            raise ModelLoadError(f"model '{src}' does not exist; check the path")
        if os.path.isdir(src):  # a SavedModel; files are Keras models whatever --from says
            return convert_saved_model(src, input_shape=input_shape, opset=opset)
        return convert_keras_model(load_keras(src), input_shape=input_shape, opset=opset)
    if _is_keras_model(src):
        return convert_keras_model(src, input_shape=input_shape, opset=opset)
    if hasattr(src, "get_concrete_function") or isinstance(src, _concrete_function_type(tf)):
        return convert_function(src, input_shape=input_shape, opset=opset)
    raise InputError(f"cannot convert a {type(src).__name__} with tf2onnx; pass a keras.Model or a tf.function")


def _concrete_function_type(tf):
    return tf.types.experimental.ConcreteFunction


def _is_keras_model(obj) -> bool:
    return any((c.__module__ or "").split(".")[0] in ("keras", "tf_keras") for c in type(obj).__mro__) \
        and hasattr(obj, "layers")


def load_keras(path: str):
    """keras.models.load_model without compiling; load failures become one-line ConverterErrors."""
    keras = _keras()
    try:
        with stdout_to_stderr():
            return keras.models.load_model(path, compile=False)
    except Exception as exc:  # unknown custom objects, lambda layers under safe_mode, bad files
        raise ConverterError(
            f"Keras cannot load '{path}' ({first_line(exc)}); register custom layers with "
            "keras.saving.register_keras_serializable, or pass the keras.Model object to "
            "onnxscore.converters.convert"
        ) from exc


# -- Keras models -------------------------------------------------------------------------------

def _layers(model):
    """Every layer inside `model`, nested models included."""
    flat = getattr(model, "_flatten_layers", None)
    if flat is not None:
        return list(flat(include_self=False, recursive=True))
    out, todo = [], list(getattr(model, "layers", []))
    while todo:
        layer = todo.pop(0)
        out.append(layer)
        todo.extend(getattr(layer, "layers", []))
    return out


@contextlib.contextmanager
def batchnorm_in_training_mode(model):
    """Call every BatchNormalization layer of `model` with training=True while tracing, leaving
    every other layer (Dropout, noise, augmentation) in inference mode. Yields the BN layers."""
    keras = _keras()
    bns = [layer for layer in _layers(model) if isinstance(layer, keras.layers.BatchNormalization)]
    patched = []
    for layer in bns:
        original = layer.call

        def call(inputs, *args, _original=original, **kwargs):
            kwargs["training"] = True
            return _original(inputs, *args, **kwargs)

        object.__setattr__(layer, "call", call)
        patched.append(layer)
    try:
        yield bns
    finally:
        for layer in patched:
            object.__delattr__(layer, "call")


@contextlib.contextmanager
def plain_grouped_convolutions():
    """Trace every Keras convolution as one tf.nn.convolution, grouped ones included.

    Keras 3 runs a grouped convolution (and a channels-first 3-D one) on TensorFlow inside a nested
    XLA-compiled function, because TensorFlow's CPU kernels lack them; tf2onnx sees that function as an
    opaque StatefulPartitionedCall. The plain op has the same value and becomes one ONNX Conv with
    `group`. Only the trace uses it: nothing is run on TensorFlow's CPU kernel."""
    tf = _tf()[0]
    try:
        from keras.src.backend.tensorflow import nn as tf_nn
        to_tf_format = tf_nn._convert_data_format
        original = tf_nn.conv
    except (ImportError, AttributeError):  # another Keras layout: keep its own conv
        yield
        return

    def conv(inputs, kernel, strides=1, padding="valid", data_format=None, dilation_rate=1):
        from keras.src import backend

        fmt = to_tf_format(backend.standardize_data_format(data_format), len(inputs.shape))
        return tf.nn.convolution(inputs, kernel, strides, padding.upper(), data_format=fmt,
                                 dilations=dilation_rate)

    tf_nn.conv = conv
    try:
        yield
    finally:
        tf_nn.conv = original


@contextlib.contextmanager
def keep_duplicate_activations():
    """Swap tf2onnx's merge_duplication optimizer for one that never merges activation nodes."""
    import tf2onnx.optimizer as opt
    from tf2onnx.optimizer.merge_duplicated_nodes_optimizer import MergeDuplicatedNodesOptimizer

    from onnxscore.graph.sites import PAPER_OPS

    class KeepActivations(MergeDuplicatedNodesOptimizer):
        @staticmethod
        def _skip_node_type(node):
            if node.type in PAPER_OPS:  # the site ops (onnxscore.graph.sites)
                return True
            return MergeDuplicatedNodesOptimizer._skip_node_type(node)

    key = "merge_duplication"
    original = opt._optimizers.get(key)
    if original is not None:
        opt._optimizers[key] = KeepActivations
    try:
        yield
    finally:
        if original is not None:
            opt._optimizers[key] = original


def _input_specs(tf, model, input_shape):
    """TensorSpecs (batch None) from the model's inputs, or from input_shape for unbuilt models."""
    try:
        inputs = list(model.inputs or [])
    except (AttributeError, ValueError):
        inputs = []
    if input_shape is not None:
        if len(inputs) > 1:
            raise InputError("--input-shape applies to single-input models; this Keras model has "
                             f"{len(inputs)} inputs with their own shapes")
        return [tf.TensorSpec((None, *input_shape), tf.float32, name="x")]
    if not inputs:
        raise InputError(
            "the Keras model has no input shape (subclassed or not built); pass one sample's shape "
            "with --input-shape, e.g. 32,32,3 (Keras is channels-last)"
        )
    specs = []
    for i, t in enumerate(inputs):
        name = "x" if len(inputs) == 1 else _clean_name(getattr(t, "name", None) or f"x{i}")
        dtype = tf.as_dtype(getattr(t, "dtype", "float32") or "float32")
        specs.append(tf.TensorSpec((None, *tuple(t.shape)[1:]), dtype, name=name))
    return specs


def _clean_name(name: str) -> str:
    return "".join(c if c.isalnum() or c == "_" else "_" for c in name.split(":")[0])


def convert_keras_model(model, *, input_shape=None, opset: int = 17):
    """Trace `model` with BN in training mode and convert with tf2onnx (see module docstring)."""
    tf, _ = _tf()
    specs = _input_specs(tf, model, input_shape)
    def forward(*xs):
        return model(xs[0] if len(xs) == 1 else list(xs), training=False)

    fn = tf.function(forward)
    notes = []
    with batchnorm_in_training_mode(model) as bns, plain_grouped_convolutions():
        frozen = [b.name for b in bns if not b.trainable]
        proto = _run_tf2onnx(tf, fn, specs, opset, layers=_layers(model))
    record_trainable_params(proto, model)
    record_batch_moments(proto, bns)
    if frozen:
        notes.append(
            f"{len(frozen)} Keras BatchNormalization layer(s) are frozen (trainable=False), so Keras "
            "and the ONNX model use their running statistics, not batch statistics"
        )
    info = {"converter": _version_label(), "bn": "batch" if bns else "exported", "warnings": notes}
    return proto, info


# -- SavedModel directories and tf.functions ------------------------------------------------------

class _Traced:
    """What tf2onnx.convert.from_function expects: an object with get_concrete_function()."""

    def __init__(self, concrete):
        self.concrete = concrete

    def get_concrete_function(self, *args, **kwargs):
        return self.concrete


def convert_saved_model(path: str, *, input_shape=None, opset: int = 17, signature: str = "serving_default"):
    """Convert a SavedModel's serving signature (its BN is whatever the signature traced)."""
    tf, _ = _tf()
    try:
        with stdout_to_stderr():
            loaded = tf.saved_model.load(path)
    except Exception as exc:
        raise ConverterError(f"TensorFlow cannot load the SavedModel '{path}' ({first_line(exc)})") from exc
    sigs = dict(getattr(loaded, "signatures", {}) or {})
    concrete = sigs.get(signature) or next(iter(sigs.values()), None)
    if concrete is None:
        raise ConverterError(
            f"the SavedModel '{path}' has no serving signature; re-export it with "
            "keras_model.export(dir) or tf.saved_model.save(obj, dir, signatures=...)"
        )
    return _convert_concrete(tf, concrete, opset, f"the SavedModel '{path}'")


def convert_function(fn, *, input_shape=None, opset: int = 17):
    """Convert a tf.function (with an input_signature, or traced for input_shape) or a ConcreteFunction."""
    tf, _ = _tf()
    if isinstance(fn, _concrete_function_type(tf)):
        concrete = fn
    elif getattr(fn, "input_signature", None):
        concrete = fn.get_concrete_function()
    elif input_shape is not None:
        concrete = fn.get_concrete_function(tf.TensorSpec((None, *input_shape), tf.float32, name="x"))
    else:
        raise InputError("the tf.function has no input_signature; give one, or pass input_shape "
                         "(one sample's shape, e.g. 32,32,3)")
    return _convert_concrete(tf, concrete, opset, "the tf.function")


def _convert_concrete(tf, concrete, opset, label):
    specs = [t for t in concrete.inputs if t.dtype != tf.dtypes.resource]
    moving = [v.name for v in concrete.graph.variables if "moving_mean" in v.name]
    updates = any(op.type.startswith("Assign") for op in concrete.graph.get_operations())
    proto = _run_tf2onnx(tf, _Traced(concrete), specs, opset)
    notes, bn = [], "exported"
    if any(n.op_type == "BatchNormalization" for n in proto.graph.node):
        bn = "exported"  # FusedBatchNorm (tf.keras 2) became BatchNormalization: the scorer flips it
    elif moving and updates:
        bn = "batch"  # traced with training=True
    elif moving:
        bn = "folded"
        notes.append(
            f"{label} is an inference trace: its {len(moving)} BatchNorm layer(s) are folded with "
            "running statistics, so scores use those, not batch statistics; convert the Keras "
            "model (.keras/.h5 or the keras.Model) instead to keep batch-statistics BatchNorm"
        )
    fixed = [t.name for t in specs if t.shape.rank and t.shape[0] is not None]
    if fixed:
        notes.append(f"{label} has a fixed batch size ({', '.join(fixed)}); trace it with a None "
                     "batch dimension to score other batch sizes")
    return proto, {"converter": _version_label(), "bn": bn, "warnings": notes}


# -- the conversion itself ----------------------------------------------------------------------

def _version_label() -> str:
    import tf2onnx

    return f"tf2onnx {tf2onnx.__version__}"


def _run_tf2onnx(tf, fn, specs, opset, layers=()) -> onnx.ModelProto:
    import tf2onnx

    from onnxscore.converters import check_supported

    try:
        with stdout_to_stderr(), quiet_loggers("tf2onnx", "tensorflow", level=60), \
                keep_duplicate_activations():
            concrete = fn.get_concrete_function(*specs)  # the trace from_function reuses (same signature)
            proto, _ = tf2onnx.convert.from_function(fn, input_signature=specs, opset=opset)
    except (InputError, ConverterError):
        raise
    except Exception as exc:
        raise ConverterError(f"{_layer_of(str(exc), layers)}tf2onnx failed: {first_line(exc)}; {_HINT}") from exc
    fold_captured_constants(proto, concrete, tf)
    rewrite_erfc(proto)
    try:
        check_supported(proto, "tf2onnx", _HINT)
    except ConverterError as exc:
        raise ConverterError(f"{_layer_of(_unknown_op_node(proto), layers)}{exc}") from exc
    split_prelu(proto)
    fuse_hard_activations(proto)
    return proto


def record_trainable_params(proto: onnx.ModelProto, model) -> None:
    """Store Keras's count of trainable weights in metadata_props: tf2onnx folds zero biases and
    unit BatchNorm scales of an untrained model into constants, so the graph holds fewer (MobileNetV2:
    3,469,760 against Keras's 3,504,872). The graph count is stored beside it so a later edit of the
    graph makes onnxscore.graph.params fall back to counting the graph."""
    from onnxscore.converters import fold_clip_bounds, prune_dead
    from onnxscore.graph import params

    fold_clip_bounds(proto)  # finalize() runs both again as no-ops: the graph counted here is final
    prune_dead(proto)
    trainable = int(sum(int(np.prod(w.shape)) for w in model.trainable_weights))
    meta = {params.SOURCE_KEY: str(trainable), params.GRAPH_KEY: str(params.count_graph_params(proto)),
            params.SOURCE_LABEL: "Keras count_params of the trainable weights"}
    keep = [p for p in proto.metadata_props if p.key not in meta]
    del proto.metadata_props[:]
    proto.metadata_props.extend(keep)
    for k, v in meta.items():
        proto.metadata_props.add(key=k, value=v)


def record_batch_moments(proto: onnx.ModelProto, bns) -> int:
    """Store, per BatchNormalization layer, the ONNX tensors holding its batch mean and variance (tf2onnx
    names them `<scope>/<layer>[_k]/moments/{mean,variance}`) and their shape, so that
    onnxscore.edge.inference_graph can put the running statistics back for latency. Returns how many
    layers were found; nothing is stored unless every layer is."""
    import json

    from onnxscore.edge.inference_graph import MOMENTS_KEY

    found = []
    for layer in bns:
        pat = re.compile(rf"(^|/){re.escape(layer.name)}(_\d+)?/moments/(mean|variance)$")
        hits = {}
        for node in proto.graph.node:
            m = pat.search(node.name)
            if m and node.op_type == "ReduceMean" and len(node.output) == 1:
                hits.setdefault(m.group(3), []).append(node)
        if sorted(hits) != ["mean", "variance"] or len(hits["mean"]) != 1 or len(hits["variance"]) != 1:
            return 0
        axes = _reduce_axes(proto, hits["mean"][0])
        channels = int(np.prod(layer.moving_mean.shape))
        if axes is None or not _keepdims(hits["mean"][0]):
            return 0
        shape = [1] * (len(axes) + 1)
        shape[next(i for i in range(len(shape)) if i not in axes)] = channels
        found.append({"mean": hits["mean"][0].output[0], "var": hits["variance"][0].output[0],
                      "shape": shape, "epsilon": float(layer.epsilon)})
    if found:
        proto.metadata_props.add(key=MOMENTS_KEY, value=json.dumps(found))
    return len(found)


def _keepdims(node: onnx.NodeProto) -> bool:
    return all(a.i != 0 for a in node.attribute if a.name == "keepdims")


def _reduce_axes(proto: onnx.ModelProto, node: onnx.NodeProto) -> list[int] | None:
    """The non-negative axes of a ReduceMean (attribute before opset 18, a constant input after)."""
    for a in node.attribute:
        if a.name == "axes":
            axes = list(a.ints)
            break
    else:
        inits = {t.name: t for t in proto.graph.initializer}
        if len(node.input) < 2 or node.input[1] not in inits:
            return None
        axes = [int(v) for v in numpy_helper.to_array(inits[node.input[1]]).ravel()]
    if any(a < 0 for a in axes):
        return None
    return sorted(axes)


def fold_captured_constants(proto: onnx.ModelProto, concrete, tf) -> int:
    """Captured tensors of the trace (a Normalization layer's mean and variance, fixed when the layer
    is built) reach tf2onnx as placeholders and become graph inputs the user would have to feed; turn
    each into an initializer holding the captured value. Returns how many."""
    captured = {}
    for value, placeholder in zip(concrete.captured_inputs, concrete.graph.internal_captures):
        if placeholder.dtype != tf.dtypes.resource:
            captured[placeholder.name] = np.asarray(value)
    inputs = [i for i in proto.graph.input if i.name in captured]
    for vi in inputs:
        proto.graph.initializer.append(numpy_helper.from_array(captured[vi.name], vi.name))
        proto.graph.input.remove(vi)
    return len(inputs)


def _layer_of(text: str, layers) -> str:
    """"Keras layer 'NAME' (Class): " for the layer whose name is a component of the TensorFlow op
    path in `text` (TF names ops by layer, e.g. model/block1_gelu/Erfc), else ""; longest name first
    so 'conv2d_1' wins over 'conv2d'. Keras may suffix a traced name with _N, which is accepted."""
    import re

    parts = set(re.split(r"[/:\s'\"\[\](),]+", text or ""))
    for layer in sorted(layers, key=lambda lyr: -len(lyr.name)):
        name = layer.name
        if name in parts or any(p.startswith(name + "_") and p[len(name) + 1:].isdigit() for p in parts):
            return f"Keras layer '{name}' ({type(layer).__name__}): "
    return ""


def _unknown_op_node(proto: onnx.ModelProto) -> str:
    """Name of the first node whose op ONNX does not define (tf2onnx keeps the TensorFlow op path)."""
    for node in proto.graph.node:
        if node.domain in ("", "ai.onnx") and not onnx.defs.has(node.op_type, node.domain):
            return node.name
    return ""


__all__ = ["convert", "convert_keras_model", "convert_saved_model", "convert_function", "load_keras",
           "batchnorm_in_training_mode", "plain_grouped_convolutions", "keep_duplicate_activations", "split_prelu",
           "fuse_hard_activations"]
