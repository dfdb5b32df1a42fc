"""The network and batch AZ-NAS's and VKDNW's code score: a freshly initialised copy and a random batch.

Both authors call `init_model(model, 'kaiming_norm_fanin')` (Conv/Linear weights N(0, 2/fan_in), biases 0,
BN weight 1 and bias 0) on a network just built (BN running mean 0, variance 1) and feed
`torch.randn(batch_size, 3, H, W)`; their NB201 scripts do not pass real images to these proxies."""
from __future__ import annotations

import numpy as np
import onnx
from onnx import numpy_helper

from onnxscore.graph.init import redraw

PROTOCOL = ("kaiming-normal fan_in weights, zero biases, BN weight 1 / bias 0 / running stats 0 and 1, "
            "random-normal batch from the seed (the authors' protocol; --data and --init do not apply)")


def fresh_network(model: onnx.ModelProto, seed: int) -> onnx.ModelProto:
    """A copy of `model` initialised as the authors' init_model leaves a new network."""
    work = onnx.ModelProto()
    work.CopyFrom(model)
    redraw(work, "kaiming", seed)
    inits = {t.name: i for i, t in enumerate(work.graph.initializer)}
    for node in work.graph.node:
        if node.op_type != "BatchNormalization":
            continue
        for pos, fill in ((1, 1.0), (2, 0.0), (3, 0.0), (4, 1.0)):
            name = node.input[pos] if len(node.input) > pos else ""
            if name in inits:
                t = work.graph.initializer[inits[name]]
                arr = numpy_helper.to_array(t)
                work.graph.initializer[inits[name]].CopyFrom(
                    numpy_helper.from_array(np.full(arr.shape, fill, dtype=arr.dtype), name))
    return work


def random_batch(sample_shape, n: int, seed: int) -> np.ndarray:
    """n rows of N(0, 1) of one sample's shape, from the seed."""
    return np.random.default_rng([seed, 13]).standard_normal((n, *sample_shape)).astype(np.float32)


def shared(ctx, key, compute):
    """`compute()` once per model being scored (the scorer gives each model a fresh ctx.shared dict),
    so a family's proxies share one plan; without that dict (a proxy called directly) it just computes."""
    if ctx.shared is None:
        return compute()
    if key not in ctx.shared:
        ctx.shared[key] = compute()
    return ctx.shared[key]


def on_fresh(model, ctx, family: str, compute):
    """`compute(fresh network, random batch)` once per model being scored: the batch has
    grad_batch_size rows of the model's sample shape, both drawn from the scorer's seed."""
    from onnxscore.inputs import input_spec

    s = ctx.settings
    n = s.grad_batch_size if s is not None else 64

    def run():
        spec = input_spec(model, getattr(s, "input_name", None), getattr(s, "input_shape", None))
        x = random_batch(tuple(spec.sample_shape), n, ctx.seed)
        return compute(fresh_network(model, ctx.seed), x)

    return shared(ctx, family, run)
