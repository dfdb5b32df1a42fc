"""One plan for every requested gradient proxy of a model: the union of their needs, one graph per
section group and run pattern (the full-batch sections, synflow's float64 graph, ntk_cond's seeded
backward), one onnxruntime run each, then each proxy's value from the captured arrays."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import helper

from onnxscore.errors import InputError
from onnxscore.graph.autodiff import AutodiffError
from onnxscore.graph.autodiff.emitter import tensor_types
from onnxscore.graph.vmap import VmapError, vmap_input
from onnxscore.proxies.gradient import registry as R
from onnxscore.proxies.gradient.base import prepare
from onnxscore.proxies.gradient.captured import Captured
from onnxscore.proxies.gradient.fast_weight_grads import speed_up_weight_grads
from onnxscore.proxies.gradient.main_graph import LOSS_NEEDS, build_main_graph
from onnxscore.proxies.gradient.ntk_cond_graph import SEED, build_ntk_cond_graph
from onnxscore.proxies.gradient.runner import Runner
from onnxscore.proxies.gradient.split import bind_inputs, split_at_input
from onnxscore.proxies.gradient.synflow_graph import build_synflow_graph, synflow_input
from onnxscore.proxies.gradient.weights import bn_scales, find_layers, initializer_values, weight_set
from onnxscore.runtime import CPU

ORT_ERRORS: tuple[type[BaseException], ...] = (RuntimeError,)
try:
    from onnxruntime.capi import onnxruntime_pybind11_state as _state
    ORT_ERRORS = (RuntimeError, _state.Fail, _state.InvalidArgument, _state.NotImplemented, _state.RuntimeException)
except ImportError:  # pragma: no cover
    pass


@dataclass(frozen=True)
class GradientScore:
    """A proxy's value, or None with the reason it is undefined."""

    value: float | None
    reason: str | None = None


class GradientPlan:
    """Builds and runs the graphs for `proxies` on batch (x, y); `runner` counts sessions and runs."""

    def __init__(self, model: onnx.ModelProto, x: np.ndarray, y: np.ndarray | None, proxies: list[str],
                 providers: list[str] | None = None):
        self.specs = [R.get(p) for p in proxies]
        self.x = np.ascontiguousarray(x, dtype=np.float32)
        if self.x.ndim < 2 or self.x.shape[0] < 2:
            raise InputError(f"the batch must be [N, ...] with N >= 2, got shape {self.x.shape}")
        self.y = None if y is None else np.ascontiguousarray(y, dtype=np.int64).reshape(-1)
        if self.y is not None and self.y.shape[0] != self.x.shape[0]:
            raise InputError(f"{self.y.shape[0]} labels for a batch of {self.x.shape[0]}")
        self.needs = set().union(*(s.needs for s in self.specs)) if self.specs else set()
        self.runner = Runner(providers)
        self.failed: dict[str, str] = {}
        self.captured = Captured()
        self.model = model

    def _fail(self, needs, reason: str) -> None:
        for n in needs:
            self.failed.setdefault(n, reason)

    def capture(self) -> Captured:
        if not self.specs:
            return self.captured
        n = self.x.shape[0]
        if self.y is None:
            self._fail(self.needs & R.NEEDS_LABELS, "needs the true labels of the batch (y)")
        base = prepare(self.model, self.x)
        layers = find_layers(base.train)
        weights = weight_set(layers)
        if not weights:
            self._fail(self.needs - {R.PER_SAMPLE_SUM_LOGITS_GRADS, R.INPUT_GRAD_OF_LOGIT_SUM},
                       "the model has no Conv/Gemm/MatMul weight initializer (empty weight set)")
        self.captured.weights = initializer_values(base.train, weights)
        live = self.needs - set(self.failed)
        self._main(base, layers, weights, live, n)
        if R.SYNFLOW_GRAPH in live:
            self._synflow(base, weights)
        if R.PER_SAMPLE_SUM_LOGITS_GRADS in live:
            self._ntk_cond(base, weights, n)
        return self.captured

    def _main(self, base, layers, weights, live, n) -> None:
        wanted = live & MAIN_NEEDS
        if not wanted:
            return
        # one graph (and session) per section group, each with its own forward: onnxruntime's session
        # setup grows faster than the node count, so that on NB201 nets (B = 64) four graphs opened and
        # ran in 5.1-8.5 s where one graph sharing the forward took 6.2-12.8 s; peak memory is the
        # largest section's, and a large forward's graphs also leave the arena (buffers go back after)
        arena = _forward_bytes(base.train) <= ARENA_LIMIT_BYTES
        for group in [g & wanted for g in SECTION_GROUPS if g & wanted]:
            self._main_group(base, layers, weights, group, n, arena=arena)

    def _main_group(self, base, layers, weights, wanted, n, arena: bool) -> None:
        graph = build_main_graph(base, layers, weights, wanted, n, self.y is not None)
        self.failed.update(graph.failed)
        names = graph.outputs()
        if not names:
            return
        try:
            sess = self.runner.session(graph.model, arena=arena)
            feeds = {base.data: self.x}
            if graph.labels:
                feeds[graph.labels] = self.y
            out = self.runner.run(sess, names, feeds)
        except ORT_ERRORS as e:
            self._fail(wanted, f"onnxruntime failed on the gradient graph: {e}")
            return
        c = self.captured
        if graph.loss:
            c.grads = {k: out[v] for k, v in graph.loss.grads.items()}
            c.fisher = [(out[v], fan_in) for v, fan_in in graph.loss.fisher]
            c.hvp = {k: out[v] for k, v in graph.loss.hvp.items()}
        if graph.jacov:
            c.input_grad = out[graph.jacov]
        if graph.ntk_trace:
            c.ntk_trace_sq = out[graph.ntk_trace]
        if graph.halves:
            c.halves = tuple({k: out[v] for k, v in h.items()} for h in graph.halves)

    def _synflow(self, base, weights) -> None:
        try:
            model, grads = build_synflow_graph(base.original, base.data, base.logits, weights)
            sess = self.runner.session(model)
            out = self.runner.run(sess, list(grads.values()), {base.data: synflow_input(self.x)})
        except (AutodiffError, KeyError, TypeError, ValueError) as e:
            return self._fail({R.SYNFLOW_GRAPH}, f"cannot build the synflow graph: {e}")
        except ORT_ERRORS as e:
            return self._fail({R.SYNFLOW_GRAPH}, f"onnxruntime failed on the float64 synflow graph: {e}")
        absolute = {t.name: t for t in model.graph.initializer if t.name in grads}
        self.captured.synflow_weights = {k: onnx.numpy_helper.to_array(absolute[k]) for k in weights}
        self.captured.synflow_grads = {k: out[v] for k, v in grads.items()}

    def _ntk_cond(self, base, weights, n) -> None:
        """One forward run, then the per-sample backward runs on the residuals it left: one run per
        sample, or on a GPU a few samples per run (the backward graph batched over its seed)."""
        params = list(dict.fromkeys(weights + bn_scales(base.original)))
        try:
            model, j = build_ntk_cond_graph(base.train, base.logits, params)
            once, per_sample, residuals = _split_hoisting_weight_grads(model)
            kept = self.runner.run(self.runner.session(once), residuals, {base.data: self.x})
            shape = [d.dim_value for d in next(i for i in per_sample.graph.input if i.name == SEED)
                     .type.tensor_type.shape.dim]
            seeds = np.zeros([n] + shape, dtype=np.float32)
            seeds[np.arange(n), np.arange(n)] = 1.0  # seed i: ones on sample i's logits
            rows = self._batched_rows(per_sample, kept, j, seeds) \
                if seeds_per_run(self.runner.providers, n) > 1 else None
            if rows is None:  # one seed per run
                sess = self.runner.session(per_sample, runs=n)
                rows = np.stack([np.array(self.runner.run(sess, [j], {**kept, SEED: s})[j]) for s in seeds])
            self.captured.jacobian = rows
        except (AutodiffError, KeyError, TypeError, ValueError) as e:
            return self._fail({R.PER_SAMPLE_SUM_LOGITS_GRADS}, f"cannot build the ntk_cond graph: {e}")
        except ORT_ERRORS as e:
            return self._fail({R.PER_SAMPLE_SUM_LOGITS_GRADS}, f"onnxruntime failed on the ntk_cond graph: {e}")

    def _batched_rows(self, per_sample, kept, j, seeds) -> np.ndarray | None:
        """J from runs of seeds_per_run seeds each (vmap over the seed); None when a node has no
        batching rule (the caller then runs one seed per run)."""
        shapes = {k: v for k, v in kept.items() if v.dtype == np.int64}  # constants for shape inference
        try:
            batched = vmap_input(bind_inputs(per_sample, shapes), SEED)
        except VmapError:
            return None
        n = seeds.shape[0]
        m = seeds_per_run(self.runner.providers, n)
        sess = self.runner.session(batched, runs=-(-n // m))
        feeds = {k: v for k, v in kept.items() if k not in shapes}
        return np.concatenate([np.array(self.runner.run(sess, [j], {**feeds, SEED: seeds[a:a + m]})[j])
                               for a in range(0, n, m)])

    def scores(self) -> dict[str, GradientScore]:
        self.capture()
        return {s.name: self._score(s) for s in self.specs}

    def _score(self, spec: R.GradientProxy) -> GradientScore:
        for need in sorted(spec.needs):
            if need in self.failed:
                return GradientScore(None, self.failed[need])
        try:
            value = float(spec.fn(self.captured))
        except (ValueError, ArithmeticError, np.linalg.LinAlgError) as e:
            return GradientScore(None, f"{spec.name} failed: {e}")
        if not math.isfinite(value):
            return GradientScore(None, f"{spec.name} is {value} (non-finite gradients or a degenerate matrix)")
        return GradientScore(value)


MAIN_NEEDS = frozenset({R.LOSS_GRAD_WEIGHTS, R.HVP, R.LAYER_ACTS_AND_GRADS, R.INPUT_GRAD_OF_LOGIT_SUM,
                        R.PER_SAMPLE_TRUE_LOGIT_GRADS, R.HALF_BATCH_GRADS})
SECTION_GROUPS = (LOSS_NEEDS,  # one loss backward
                  frozenset({R.INPUT_GRAD_OF_LOGIT_SUM}), frozenset({R.PER_SAMPLE_TRUE_LOGIT_GRADS}),
                  frozenset({R.HALF_BATCH_GRADS}))
ARENA_LIMIT_BYTES = 2 << 30  # forward tensors above this: the section graphs run without the memory arena


def _forward_bytes(model: onnx.ModelProto) -> float:
    """Bytes of the float tensors the forward computes (static shapes; unknown ones count 0)."""
    inits = {t.name for t in model.graph.initializer}
    floats = (onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE)
    sizes = (_bytes(elem, dims) for name, (elem, dims) in tensor_types(model).items()
             if name not in inits and elem in floats)
    return sum(b for b in sizes if math.isfinite(b))


def _bytes(elem: int, dims) -> float:
    """Bytes of a tensor of element type `elem` and `dims`; inf when a dim is not a static int."""
    if dims is None or not all(isinstance(d, int) for d in dims):
        return math.inf
    return float(np.prod(dims)) * helper.tensor_dtype_to_np_dtype(elem).itemsize


GPU_SEEDS_PER_RUN = 8  # ntk_cond's backward seeds per run on a GPU, where one small run is launch-bound


def seeds_per_run(providers: list[str], n: int) -> int:
    """ntk_cond's seeds per backward run: 1 on the CPU (measured on NB201, B = 64: 8 seeds per run took
    1.83 s per seed against 1.37 s one at a time, its elementwise ops being memory-bound), a few on others."""
    return 1 if providers[0] == CPU else max(1, min(n, GPU_SEEDS_PER_RUN))


HOIST_BUDGET = 2 << 30  # bytes of residuals ntk_cond may keep so as to hoist weight-gradient windows


def _split_hoisting_weight_grads(model: onnx.ModelProto):
    """split_at_input(model, SEED), with the weight-gradient Convs rewritten first when the residuals
    then fit in HOIST_BUDGET: their sliding windows over activations do not depend on the seed, so
    they move into the part run once (NB201 at B = 64: 1.77 -> 1.26 s per backward run, 0.46 -> 1.06 GB)."""
    hoisted_model = onnx.ModelProto()
    hoisted_model.CopyFrom(model)
    if speed_up_weight_grads(hoisted_model):
        hoisted = split_at_input(hoisted_model, SEED)
        if _output_bytes(hoisted[0]) <= HOIST_BUDGET:
            return hoisted
    return split_at_input(model, SEED)


def _output_bytes(model: onnx.ModelProto) -> float:
    """Bytes of the graph outputs, from their declared types (inf when one is not static)."""
    total = 0.0
    for v in model.graph.output:
        t = v.type.tensor_type
        dims = [d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim] if t.HasField("shape") else None
        total += _bytes(t.elem_type, dims)
    return total


def gradient_scores(model: onnx.ModelProto, x: np.ndarray, y: np.ndarray | None, proxies: list[str],
                    providers: list[str] | None = None) -> dict[str, GradientScore]:
    """Every requested gradient proxy of `model` on batch `x` (labels `y`), from one plan."""
    return GradientPlan(model, x, y, proxies, providers).scores()
