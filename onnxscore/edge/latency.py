"""Inference latency of a model with onnxruntime: warm-up runs, then the median of N timed runs.

The provider actually used is read back from the session (onnxruntime silently falls back to CPU when
CUDA cannot load), and the thread count is recorded with the result: latency means nothing without both.
"""

from __future__ import annotations

import statistics
import time
from typing import Sequence

import numpy as np
import onnx

from onnxscore.errors import InputError
from onnxscore.inputs import fill


def _feeds(model: onnx.ModelProto, batch_size: int, input_shape, seed: int) -> dict[str, np.ndarray]:
    """Random inputs for every data input: symbolic batch -> batch_size, other symbolic dims from input_shape."""
    from onnxscore.edge.macs import tensor_dims, data_input_names

    rng = np.random.default_rng(seed)
    names = data_input_names(model.graph)
    feeds = {}
    for idx, vi in enumerate(x for x in model.graph.input if x.name in set(names)):
        dims = tensor_dims(vi.type)
        if idx == 0 and input_shape is not None:
            shp = [int(s) for s in input_shape]
            if dims is None or len(shp) == len(dims) - 1:
                shp = [batch_size] + shp
        else:
            if dims is None:
                raise InputError(f"input '{vi.name}' has no shape; pass input_shape (e.g. 3,32,32)")
            shp = []
            for ax, d in enumerate(dims):
                if isinstance(d, int) and d > 0:
                    shp.append(d)
                elif ax == 0:
                    shp.append(batch_size)
                else:
                    raise InputError(f"input '{vi.name}' has symbolic dim {d!r} at axis {ax}; pass input_shape")
        feeds[vi.name] = fill(shp, vi.type.tensor_type.elem_type, rng)
    return feeds


def measure_latency(
    model,
    *,
    provider: str | None = None,
    threads: int = 1,
    warmup: int = 3,
    runs: int = 10,
    batch_size: int = 1,
    input_shape: Sequence[int] | None = None,
    seed: int = 0,
) -> dict:
    """Median wall-clock ms of `runs` inferences after `warmup` ones; returns median_ms, runs, threads, provider
    and `graph` (timed on the inference form of the model, see onnxscore.edge.inference_graph).

    `provider` as in onnxscore (None/auto: CUDA when it really works, else CPU); threads 0 = onnxruntime's
    default (all cores). The provider reported is the one the session actually used.
    """
    from onnxscore import runtime
    from onnxscore.edge.macs import load_proto

    if runs < 1 or warmup < 0 or threads < 0 or batch_size < 1:
        raise InputError("latency needs runs >= 1, warmup >= 0, threads >= 0 and batch_size >= 1")
    if isinstance(model, (str, bytes, bytearray)) or hasattr(model, "__fspath__"):
        from onnxscore.loaders import load_model

        model = load_model(model)  # keeps the folder that external data lives in
    from onnxscore.edge.inference_graph import inference_graph

    m, graph = inference_graph(load_proto(model))
    feeds = _feeds(m, batch_size, input_shape, seed)
    providers = runtime.choose_providers(provider)
    sess = runtime.make_session(m.SerializeToString(), providers, threads=int(threads),
                                external_dir=getattr(model, "external_dir", None),
                                strict=provider not in (None, "auto"))
    used = sess.get_providers()[0]
    out_names = [sess.get_outputs()[0].name]
    for _ in range(warmup):
        sess.run(out_names, feeds)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        sess.run(out_names, feeds)
        times.append((time.perf_counter() - t0) * 1000.0)
    return {
        "median_ms": float(statistics.median(times)),
        "min_ms": float(min(times)),
        "runs": int(runs),
        "warmup": int(warmup),
        "threads": int(threads),
        "provider": used,
        "batch_size": int(batch_size),
        "onnxruntime": runtime.ort_version(),
        "graph": graph,
    }
