"""AZ-NAS's three learning-free components: expressivity, progressivity, trainability (Lee & Ham,
CVPR 2024; the authors' NB201/ZeroShotProxy/compute_az_nas_score.py, quirks included).

compute() reads a model already initialised the AZ-NAS way and a batch the caller drew: BN runs on
batch statistics (the authors' model.train()), one forward run gives every feature tap, one run of
the segment graph (onnxscore.proxies.aznas.segments) gives every pair's vector-Jacobian product, and
the formulas (formulas.py) run in float64. Where the authors' value is -inf or NaN the component is
None with a reason: the pipeline stores finite values only, and None ranks last, as -inf does."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx
from onnxruntime.capi.onnxruntime_pybind11_state import InvalidGraph

from onnxscore.errors import InputError
from onnxscore.graph.autodiff import AutodiffError
from onnxscore.graph.autodiff.emitter import tensor_types
from onnxscore.graph.batchnorm import use_batch_statistics
from onnxscore.proxies.aznas import formulas
from onnxscore.proxies.aznas.formulas import rademacher
from onnxscore.proxies.aznas.segments import INDEPENDENT, SAME, backward_model, forward_model, plan
from onnxscore.proxies.aznas.taps import feature_taps
from onnxscore.graph.view import all_names
from onnxscore.proxies.gradient.base import data_input, with_static_input
from onnxscore.proxies.gradient.plan import ORT_ERRORS
from onnxscore.proxies.gradient.runner import Runner

MINUS_INF = "AZ-NAS scores it -inf (ranks last)"
MODEL_ERRORS = (AutodiffError, InvalidGraph, *ORT_ERRORS)  # what a model the pass or onnxruntime rejects raises


@dataclass(frozen=True)
class AzResult:
    """The three components (None where not finite or not computable, `reason` says why) and the
    per-tap entropies / per-pair scores (pair k = taps k -> k+1, in forward order)."""

    expressivity: float | None
    progressivity: float | None
    trainability: float | None
    reason: str | None = None
    entropies: tuple[float, ...] = ()
    pair_scores: tuple[float, ...] = ()
    taps: tuple[str, ...] = ()


def _finite(value: float, what: str, parts: list[float], name: str, reasons: list[str]) -> float | None:
    """`value` if finite; else None and a reason naming the first non-finite part (a tap or a pair)."""
    if np.isfinite(value):
        return float(value)
    bad = next((k for k, v in enumerate(parts) if not np.isfinite(v)), None)
    where = f" ({name} {bad} is {parts[bad]})" if bad is not None else ""
    reasons.append(f"{what}: {MINUS_INF}{where}")
    return None


def _base(model: onnx.ModelProto, x: np.ndarray) -> tuple[onnx.ModelProto, str]:
    """A copy with the batch's static shape, BN not yet rewritten, and its data input's name."""
    data = data_input(model)
    return with_static_input(model, data, x.shape, onnx.TensorProto.FLOAT), data


def compute(model: onnx.ModelProto, x: np.ndarray, seed: int = 0, providers: list[str] | None = None) -> AzResult:
    """AZ-NAS's expressivity, progressivity and trainability of `model` on batch `x` (B, C, H, W).

    The taps are the model's declared features, else taps.fallback_taps (stem, then every residual
    or merge point). `seed` draws the Rademacher cotangents (formulas.rademacher). Model problems
    (too few taps, a tap that is not a 4-D map, an op without a gradient rule, an onnxruntime
    failure) give None values with a reason, never an error; the caller's model is not changed."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    try:
        static, data = _base(model, x)
    except InputError as e:
        return AzResult(None, None, None, str(e))
    taps, source = feature_taps(static)
    if len(taps) < 2:
        return AzResult(None, None, None, f"AZ-NAS needs at least 2 feature taps; found {len(taps)} ({source})")
    known = all_names(static)
    missing = [t for t in taps if t not in known]
    if missing:
        return AzResult(None, None, None, f"feature tap '{missing[0]}' is not a tensor of the model", taps=tuple(taps))
    use_batch_statistics(static)
    runner = Runner(providers)
    pairs = plan(static, taps)
    segs = [p for p in pairs if not isinstance(p, str)]
    feeds = {data: x}
    wanted = [t for t in dict.fromkeys([*taps, *(o for s in segs for o in s.external.values())]) if t not in feeds]
    try:
        fwd = forward_model(static, wanted, tensor_types(static))
        values = {**feeds, **runner.run(runner.session(fwd), wanted, feeds)}
    except MODEL_ERRORS as e:
        return AzResult(None, None, None, f"the forward run failed: {type(e).__name__}: {_line(e)}", taps=tuple(taps))

    flat = next((t for t in taps if values[t].ndim != 4), None)
    if flat is not None:
        return AzResult(None, None, None, f"feature tap '{flat}' has shape {values[flat].shape}, not (B, C, H, W)",
                        taps=tuple(taps))
    reasons: list[str] = []
    entropies = [formulas.entropy(values[t]) for t in taps]
    expr = formulas.expressivity(entropies)
    prog = formulas.progressivity(entropies)
    expr = _finite(expr, "expressivity", entropies, "tap entropy", reasons)
    prog = _finite(prog, "progressivity", entropies, "tap entropy", reasons)

    g_out = rademacher([values[t].shape for t in taps[1:]], seed)
    scores, train = [], None
    try:
        g_in = _vjps(static, taps, pairs, values, g_out, runner)
        scores = [formulas.pair_score(gi, go) for gi, go in zip(g_in, g_out)]
        t = formulas.trainability(scores)
        train = _finite(t, "trainability", scores, "pair score", reasons)
    except MODEL_ERRORS as e:
        reasons.append(f"trainability: {type(e).__name__}: {_line(e)}")
    return AzResult(expr, prog, train, "; ".join(reasons) or None, tuple(entropies), tuple(scores), tuple(taps))


def _vjps(static, taps, pairs, values, g_out, runner) -> list[np.ndarray]:
    """g_in of every pair: g_out itself (SAME), zeros (INDEPENDENT), else from one segment-graph run."""
    grads = {}
    segs = [p for p in pairs if not isinstance(p, str)]
    if segs:
        seeds = {p.g: g_out[k] for k, p in enumerate(pairs) if not isinstance(p, str)}
        model, names = backward_model(static, segs, values)
        feeds = {**seeds, **{s.x: values[s.f_in] for s in segs},
                 **{new: values[old] for s in segs for new, old in s.external.items()}}
        out = runner.run(runner.session(model), [names[s.x] for s in segs], feeds)
        grads = {s.x: out[names[s.x]] for s in segs}
    result = []
    for k, p in enumerate(pairs):
        if p == SAME:
            result.append(g_out[k])
        elif p == INDEPENDENT:
            result.append(np.zeros_like(values[taps[k]]))
        else:
            result.append(grads[p.x])
    return result


def _line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else ""


__all__ = ["AzResult", "compute", "rademacher"]
