"""The model a gradient plan differentiates: static batch shapes, one data input, one logits output."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx
from onnx import TensorProto, helper

from onnxscore.errors import InputError
from onnxscore.graph.batchnorm import use_batch_statistics

LABELS = "onnxscore_gradient_labels"


@dataclass
class Base:
    """`original`: the model with static input shape; `train`: the same with batch-statistics BN."""

    original: onnx.ModelProto
    train: onnx.ModelProto
    data: str
    logits: str
    labels: str = LABELS


def data_input(model: onnx.ModelProto) -> str:
    inits = {t.name for t in model.graph.initializer}
    names = [i.name for i in model.graph.input if i.name not in inits]
    if len(names) != 1:
        raise InputError(f"gradient proxies need a model with one data input; this one has {len(names)}")
    return names[0]


def with_static_input(model: onnx.ModelProto, data: str, shape: tuple[int, ...], elem: int) -> onnx.ModelProto:
    """A copy of `model` whose data input has exactly `shape` and whose only output is its first."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    for i, v in enumerate(m.graph.input):
        if v.name == data:
            m.graph.input[i].CopyFrom(helper.make_tensor_value_info(data, elem, list(shape)))
    first = m.graph.output[0]
    del m.graph.output[1:]
    first.type.tensor_type.ClearField("shape")
    return m


def prepare(model: onnx.ModelProto, x: np.ndarray) -> Base:
    """The base of every gradient graph for batch `x` (the caller's model is not changed)."""
    data = data_input(model)
    original = with_static_input(model, data, x.shape, TensorProto.FLOAT)
    train = onnx.ModelProto()
    train.CopyFrom(original)
    use_batch_statistics(train)
    return Base(original, train, data, original.graph.output[0].name)


def add_labels(model: onnx.ModelProto, n: int, name: str = LABELS) -> str:
    model.graph.input.append(helper.make_tensor_value_info(name, TensorProto.INT64, [n]))
    return name
