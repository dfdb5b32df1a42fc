"""Exact batch-statistics BatchNorm: candidate ONNX formulations against onnxscore's current arithmetic.

onnxscore rewrites every BatchNormalization into batch-statistics arithmetic (the papers' protocol,
onnxscore/graph/batchnorm.py). This bench writes the same function several other ways and measures,
on NAS-Bench-201 networks (built as bench/overhead.py builds them, B = 128, [X; X+E] = 2B rows):

  exactness  every BN output of the 2B forward against NumPy float64 batch statistics computed from
             that BN's own input in the same run (max abs diff, target <= 1e-6), and whether it is
             bitwise equal to the current rewrite; then the final ePADS/NASWOT/SWAP scores through
             Scorer (relative difference to the current rewrite, target <= 1e-9)
  speed      the whole-model 2B forward, plain InferenceSession, contenders interleaved, as a ratio
             to the current rewrite, to the raw file with the inference BN kernel (running statistics,
             which onnxruntime folds into the convolutions) and to the raw training-mode file as is

    python bench/bn_candidates.py --archs 6 --repeats 5
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import onnx
from onnx import helper, numpy_helper

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import common as C  # noqa: E402
from onnxscore.graph import batchnorm  # noqa: E402
from onnxscore.graph.view import attr, fresh_prefix  # noqa: E402

PROXIES = ("epads", "naswot", "swap")
EXACT_ATOL = 1e-6
SCORE_RTOL = 1e-9


# ----------------------------------------------------------------------------- node emission

class _Emit:
    """Nodes and initializers of one BN replacement, named `<y>__bnc_*` (fresh in the model)."""

    def __init__(self, model: onnx.ModelProto, node: onnx.NodeProto, opset: int, rank: int, dtype: int,
                 names: set[str]):
        self.model, self.opset, self.rank = model, opset, rank
        self.x, self.scale, self.bias = node.input[0], node.input[1], node.input[2]
        self.y = node.output[0]
        self.eps = float(attr(node, "epsilon", 1e-5))
        self.npdt = helper.tensor_dtype_to_np_dtype(dtype)
        self.p = fresh_prefix(names, f"{self.y}__bnc")
        self.axes = [0] + list(range(2, rank))
        self.nodes: list = []
        self.k = 0

    def name(self, tag: str) -> str:
        self.k += 1
        return f"{self.p}_{tag}{self.k}"

    def const(self, value, dtype=None, tag: str = "c") -> str:
        n = self.name(tag)
        arr = np.array(value, dtype=dtype or self.npdt)
        self.model.graph.initializer.append(numpy_helper.from_array(arr, n))
        return n

    def op(self, op_type: str, inputs: list[str], out: str | None = None, **attrs) -> str:
        out = out or self.name(op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [out], **attrs))
        return out

    def reduce(self, op_type: str, src: str, keepdims: int = 1) -> str:
        """ReduceMean / ReduceSumSquare over (N, spatial): axes an input from opset 18 on."""
        if self.opset >= 18:
            return self.op(op_type, [src, self.const(self.axes, np.int64, "axes")], keepdims=keepdims)
        return self.op(op_type, [src], axes=self.axes, keepdims=keepdims)

    def per_channel(self, t: str) -> str:
        """A (C,) tensor as (1, C, 1, ...) for broadcasting against x."""
        return self.op("Reshape", [t, self.const([1, -1] + [1] * (self.rank - 2), np.int64, "cshape")])

    def flat(self, t: str) -> str:
        return self.op("Reshape", [t, self.const([-1], np.int64, "flat")])

    def inv_count(self) -> str:
        """1 / (elements per channel) = C / Size(x), computed at run time (the batch is dynamic)."""
        size = self.op("Cast", [self.op("Size", [self.x])], to=helper.np_dtype_to_tensor_dtype(self.npdt))
        chans = self.op("Cast", [self.op("Shape", [self.scale])], to=helper.np_dtype_to_tensor_dtype(self.npdt))
        return self.op("Div", [chans, size])

    def affine_from_stats(self, mean: str, var: str) -> str:
        """y = x * a + b with a = scale / sqrt(var + eps), b = bias - mean * a (per channel)."""
        a = self.op("Div", [self.per_channel(self.scale), self.op("Sqrt", [self.op("Add", [var, self.const(self.eps)])])])
        b = self.op("Sub", [self.per_channel(self.bias), self.op("Mul", [mean, a])])
        return self.op("Add", [self.op("Mul", [self.x, a]), b], self.y)

    def bn_kernel(self, mean: str, var: str) -> str:
        """onnxruntime's inference BN kernel fed with this batch's statistics (one fused pass over x)."""
        return self.op("BatchNormalization", [self.x, self.scale, self.bias, self.flat(mean), self.flat(var)],
                       self.y, epsilon=self.eps)

    def done(self) -> list:
        return self.nodes


Form = Callable[[_Emit], None]


def _centred_var(e: _Emit) -> tuple[str, str, str]:
    """mean, x - mean and the centred variance, exactly as the current rewrite computes them."""
    mean = e.reduce("ReduceMean", e.x)
    centred = e.op("Sub", [e.x, mean])
    var = e.reduce("ReduceMean", e.op("Mul", [centred, centred]))
    return mean, centred, var


def _one_pass_var(e: _Emit, mean: str, mean_sq: str) -> str:
    """E[x^2] - E[x]^2 (one read of x for both moments; cancels when |mean| >> std)."""
    return e.op("Sub", [mean_sq, e.op("Mul", [mean, mean])])


# ----------------------------------------------------------------------------- candidate forms

def form_divfold(e: _Emit) -> None:
    """The current arithmetic with the scale folded into the divisor: (x - m) / (std / scale) + bias.
    One full-tensor Mul fewer; bitwise equal to the current form when scale = 1 (every untrained BN)."""
    _, centred, var = _centred_var(e)
    std = e.op("Sqrt", [e.op("Add", [var, e.const(e.eps)])])
    e.op("Add", [e.op("Div", [centred, e.op("Div", [std, e.per_channel(e.scale)])]), e.per_channel(e.bias)], e.y)


def form_centred_mul(e: _Emit) -> None:
    """(x - m) * (scale / std) + bias: a multiply by a per-channel factor instead of the division."""
    _, centred, var = _centred_var(e)
    a = e.op("Div", [e.per_channel(e.scale), e.op("Sqrt", [e.op("Add", [var, e.const(e.eps)])])])
    e.op("Add", [e.op("Mul", [centred, a]), e.per_channel(e.bias)], e.y)


def form_centred_sumsq(e: _Emit) -> None:
    """Centred variance through ReduceSumSquare(x - m) / n (no squared tensor), then (x - m) * a + bias."""
    mean = e.reduce("ReduceMean", e.x)
    centred = e.op("Sub", [e.x, mean])
    var = e.op("Mul", [e.reduce("ReduceSumSquare", centred), e.inv_count()])
    a = e.op("Div", [e.per_channel(e.scale), e.op("Sqrt", [e.op("Add", [var, e.const(e.eps)])])])
    e.op("Add", [e.op("Mul", [centred, a]), e.per_channel(e.bias)], e.y)


def form_mvn(e: _Emit) -> None:
    """MeanVarianceNormalization over (N, H, W), then the affine. MVN has no BN epsilon: not exact."""
    z = e.op("MeanVarianceNormalization", [e.x], axes=e.axes)
    e.op("Add", [e.op("Mul", [z, e.per_channel(e.scale)]), e.per_channel(e.bias)], e.y)


def form_instnorm(e: _Emit) -> None:
    """InstanceNormalization of x viewed as (1, C, N*H*W): Transpose, Reshape, normalise, back."""
    perm = [1, 0] + list(range(2, e.rank))
    t = e.op("Transpose", [e.x], perm=perm)
    # (C, N, ...) -> (1, C, N*...): C from Shape(t)[0] (Reshape's 0 would copy the wrong axis)
    c = e.op("Slice", [e.op("Shape", [t]), e.const([0], np.int64, "s0"), e.const([1], np.int64, "s1")])
    shape = e.op("Concat", [e.const([1], np.int64, "one"), c, e.const([-1], np.int64, "m1")], axis=0)
    view = e.op("Reshape", [t, shape])
    z = e.op("InstanceNormalization", [view, e.scale, e.bias], epsilon=e.eps)
    back = e.op("Reshape", [z, e.op("Shape", [t])])
    e.op("Transpose", [back], e.y, perm=perm)


def form_sumsq_affine(e: _Emit) -> None:
    """One-pass moments: ReduceMean(x) and ReduceSumSquare(x) / n, then x * a + b (two passes over x)."""
    mean = e.reduce("ReduceMean", e.x)
    mean_sq = e.op("Mul", [e.reduce("ReduceSumSquare", e.x), e.inv_count()])
    e.affine_from_stats(mean, _one_pass_var(e, mean, mean_sq))


def form_concat_mean(e: _Emit) -> None:
    """Both moments from one ReduceMean over Concat([x, x*x], channels), then x * a + b."""
    both = e.reduce("ReduceMean", e.op("Concat", [e.x, e.op("Mul", [e.x, e.x])], axis=1))
    split = e.op("Shape", [e.scale])
    sizes = e.op("Concat", [split, split], axis=0)
    mean, mean_sq = e.name("mean"), e.name("meansq")
    e.nodes.append(helper.make_node("Split", [both, sizes], [mean, mean_sq], axis=1))
    e.affine_from_stats(mean, _one_pass_var(e, mean, mean_sq))


def form_bnk_centred(e: _Emit) -> None:
    """The current statistics (bitwise) fed to onnxruntime's inference BN kernel as its mean/var."""
    mean, _, var = _centred_var(e)
    e.bn_kernel(mean, var)


def form_bnk_centred_sumsq(e: _Emit) -> None:
    """Centred variance via ReduceSumSquare(x - m) / n, then the inference BN kernel."""
    mean = e.reduce("ReduceMean", e.x)
    var = e.op("Mul", [e.reduce("ReduceSumSquare", e.op("Sub", [e.x, mean])), e.inv_count()])
    e.bn_kernel(mean, var)


def form_bnk_sumsq(e: _Emit) -> None:
    """One-pass moments (ReduceMean, ReduceSumSquare) then the inference BN kernel: three reads of x."""
    mean = e.reduce("ReduceMean", e.x)
    mean_sq = e.op("Mul", [e.reduce("ReduceSumSquare", e.x), e.inv_count()])
    e.bn_kernel(mean, _one_pass_var(e, mean, mean_sq))


def form_training_unique(e: _Emit) -> None:
    """onnxruntime's training-mode kernel, with running-stat inputs of values no other tensor has.
    Why: ConstantSharing merges equal-valued initializers of at most 8 elements, so with C <= 8 the
    all-ones scale becomes the all-ones running variance (and the zero bias the zero running mean),
    and the kernel's running-statistics update writes into the scale and bias it reads (the README's
    'wrong, differently on each run'); distinct running statistics cannot be merged with anything."""
    c = next(int(t.dims[0]) for t in e.model.graph.initializer if t.name == e.scale)
    rng = np.random.default_rng(abs(hash(e.y)) % 2**32)
    mean = e.const(rng.uniform(10, 20, c), tag="rmean")
    var = e.const(rng.uniform(30, 40, c), tag="rvar")
    e.nodes.append(helper.make_node("BatchNormalization", [e.x, e.scale, e.bias, mean, var],
                                    [e.y, e.name("rmean_out"), e.name("rvar_out")],
                                    epsilon=e.eps, momentum=0.9, training_mode=1))


CANDIDATES: dict[str, Form] = {
    "divfold": form_divfold,
    "centred_mul": form_centred_mul,
    "centred_sumsq": form_centred_sumsq,
    "mvn": form_mvn,
    "instnorm": form_instnorm,
    "sumsq_affine": form_sumsq_affine,
    "concat_mean": form_concat_mean,
    "bnk_centred": form_bnk_centred,
    "bnk_centred_sumsq": form_bnk_centred_sumsq,
    "bnk_sumsq": form_bnk_sumsq,
    "training_unique": form_training_unique,
}


def decomposer(form: Form) -> batchnorm.Decomposer:
    """A candidate as onnxscore.graph.batchnorm's Decomposer (what use_batch_statistics(form=) takes)."""
    def run(model, node, opset, rank, dtype, names):
        e = _Emit(model, node, opset, rank, dtype, names)
        form(e)
        return e.done()
    run.__doc__ = form.__doc__
    return run


# ----------------------------------------------------------------------------- models

@dataclass
class Variant:
    """One contender: the model bytes to run, how to open it, and whether it claims batch statistics."""

    name: str
    model: onnx.ModelProto
    batch_stats: bool = True
    disabled_optimizers: tuple = ()
    form: object = None  # what Scorer's BN pass is given for the score check (None: no score check)


def _copy(model: onnx.ModelProto) -> onnx.ModelProto:
    out = onnx.ModelProto()
    out.CopyFrom(model)
    return out


def _rewritten(model: onnx.ModelProto, form) -> onnx.ModelProto:
    work = _copy(model)
    batchnorm.use_batch_statistics(work, form=form)
    work.ir_version = min(work.ir_version, 10) if work.ir_version else 10
    return work


def variants(arch: str, dataset: str, only: list[str] | None) -> list[Variant]:
    """Every contender on one NB201 architecture (same weights: build_model(seed=0))."""
    from onnxscore.spaces import nb201

    raw_train = nb201.build_model(arch, dataset, seed=0)
    out = [Variant("current", _rewritten(raw_train, "arithmetic"), form="arithmetic"),
           Variant("lean", _rewritten(raw_train, "lean"), form="lean"),
           Variant("raw_inference", nb201.build_model(arch, dataset, seed=0, bn_training=False), batch_stats=False),
           Variant("raw_training", raw_train),
           Variant("raw_training_no_sharing", raw_train, disabled_optimizers=("ConstantSharing",))]
    for name, form in CANDIDATES.items():
        if only and name not in only:
            continue
        dec = decomposer(form)
        out.append(Variant(name, _rewritten(raw_train, dec), form=dec))
    return out


def session(v: Variant, providers, threads: int):
    """A plain InferenceSession (default options but threads), optionally with optimisers disabled."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3
    so.intra_op_num_threads, so.inter_op_num_threads = threads, 1
    return ort.InferenceSession(v.model.SerializeToString(), so, providers=list(providers),
                                disabled_optimizers=list(v.disabled_optimizers))


# ----------------------------------------------------------------------------- exactness

def _bn_pairs(reference: onnx.ModelProto) -> list[tuple[str, str, str, str, float]]:
    """(x, y, scale, bias, eps) of every BatchNormalization of the original file."""
    return [(n.input[0], n.output[0], n.input[1], n.input[2], float(attr(n, "epsilon", 1e-5)))
            for n in reference.graph.node if n.op_type == "BatchNormalization"]


def _with_outputs(model: onnx.ModelProto, names: list[str]) -> onnx.ModelProto:
    work = _copy(model)
    have = {o.name for o in work.graph.output}
    for n in names:
        if n not in have:
            work.graph.output.append(helper.make_empty_tensor_value_info(n))
            have.add(n)
    return work


def bn_exactness(v: Variant, reference: onnx.ModelProto, x2: np.ndarray, providers, threads: int,
                 current: dict | None = None) -> dict:
    """Max abs diff of every BN output against float64 batch statistics of that BN's input (same run),
    over two runs of one session (the training kernel's failure changes from run to run); and whether
    the outputs are bitwise those of the current rewrite."""
    pairs = _bn_pairs(reference)
    inits = {t.name: numpy_helper.to_array(t) for t in reference.graph.initializer}
    fetch = [n for p in pairs for n in p[:2]]
    sess = session(Variant(v.name, _with_outputs(v.model, fetch), v.batch_stats, v.disabled_optimizers),
                   providers, threads)
    worst = worst_rel = 0.0
    outs: dict = {}
    for _ in range(2):
        outs = dict(zip(fetch, sess.run(fetch, {C.input_name(v.model): x2})))
        for x, y, s, b, eps in pairs:
            ref = _bn_float64(outs[x], inits[s], inits[b], eps)
            diff = float(np.abs(outs[y].astype(np.float64) - ref).max())
            worst, worst_rel = max(worst, diff), max(worst_rel, diff / max(float(np.abs(ref).max()), 1e-30))
    res = {"bn_max_abs_diff": worst, "bn_max_rel_diff": worst_rel, "bn_exact": worst_rel <= EXACT_ATOL,
           "outputs": outs}
    if current is not None:
        res["bitwise_equal_current"] = all(np.array_equal(outs[y], current[y]) for _, y, *_ in pairs)
    return res


def _bn_float64(x: np.ndarray, scale: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    """Batch-statistics BN in float64 (biased variance, PyTorch train mode)."""
    x = x.astype(np.float64)
    axes = (0,) + tuple(range(2, x.ndim))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    mean, var = x.mean(axis=axes, keepdims=True), x.var(axis=axes, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * scale.reshape(shape) + bias.reshape(shape)


# ----------------------------------------------------------------------------- scores

def scores_with(scorer, model: onnx.ModelProto, form) -> dict:
    """Scorer.score(all three) with its BN pass writing `form` (the scorer module's name is patched)."""
    import onnxscore.scorer as S

    real = S.use_batch_statistics

    def patched(work, **kw):
        return real(work, **{**kw, "form": form})

    S.use_batch_statistics = patched
    try:
        return scorer.score(model, list(PROXIES)).scores
    finally:
        S.use_batch_statistics = real


def max_rel(a: dict, b: dict) -> float:
    """Largest relative difference between two score dicts (inf when one is missing)."""
    worst = 0.0
    for k in PROXIES:
        if a.get(k) is None or b.get(k) is None:
            worst = max(worst, 0.0 if a.get(k) == b.get(k) else float("inf"))
        else:
            worst = max(worst, abs(a[k] - b[k]) / max(abs(a[k]), 1e-300))
    return worst


# ----------------------------------------------------------------------------- one architecture

def measure_arch(arch: str, a, scorer, x2: np.ndarray, dev: dict) -> dict:
    """Exactness, scores and interleaved 2B forward times of every variant on one architecture."""
    from onnxscore.spaces import nb201

    vs = variants(arch, a.dataset, a.only)
    reference = nb201.build_model(arch, a.dataset, seed=0)
    row: dict = {"arch": arch, "variants": {}}
    current = bn_exactness(vs[0], reference, x2, dev["providers"], a.threads)["outputs"]
    base_scores = scores_with(scorer, reference, "arithmetic")
    row["scores_current"] = base_scores
    sessions = {}
    for v in vs:
        entry: dict = {}
        try:
            if v.batch_stats:
                ex = bn_exactness(v, reference, x2, dev["providers"], a.threads, current)
                entry.update({k: ex[k] for k in ("bn_max_abs_diff", "bn_max_rel_diff", "bn_exact", "bitwise_equal_current")})
            if v.form is not None and v.name != "current":
                s = scores_with(scorer, reference, v.form)
                entry["scores"], entry["score_max_rel_diff"] = s, max_rel(base_scores, s)
            sessions[v.name] = session(v, dev["providers"], a.threads)
            C.infer(sessions[v.name], x2)  # warm-up: arena allocation
        except Exception as exc:  # an unsupported form is a result, not a crash
            entry["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}"
        row["variants"][v.name] = entry
    times = C.interleaved({k: (lambda s=s: C.infer(s, x2)) for k, s in sessions.items()},
                          repeats=a.repeats, warmup=0)
    med = {k: C.median(t) for k, t in times.items()}
    for k, t in med.items():
        e = row["variants"][k]
        e["median_s"] = round(t, 4)
        e["vs_current"] = t / med["current"]
        e["vs_raw_inference"] = t / med["raw_inference"]
        e["vs_raw_training"] = t / med["raw_training"]
    row["load_average"] = C.load_average()
    return row


# ----------------------------------------------------------------------------- summary and output

def summarise(rows: list[dict]) -> dict[str, dict]:
    """Per variant: worst exactness over architectures, median speed ratios, any error."""
    out: dict[str, dict] = {}
    for name in rows[0]["variants"]:
        es = [r["variants"][name] for r in rows]
        s: dict = {}
        errors = [e["error"] for e in es if "error" in e]
        if errors:
            s["error"] = errors[0]
        for key in ("bn_max_abs_diff", "bn_max_rel_diff", "score_max_rel_diff"):
            vals = [e[key] for e in es if key in e]
            if vals:
                s[key] = max(vals)
        bits = [e["bitwise_equal_current"] for e in es if "bitwise_equal_current" in e]
        if bits:
            s["bitwise_equal_current"] = all(bits)
        for key in ("median_s", "vs_current", "vs_raw_inference", "vs_raw_training"):
            vals = [e[key] for e in es if key in e]
            if vals:
                s[key] = round(C.median(vals), 3)
                if key != "median_s":
                    s[key + "_max"] = round(max(vals), 3)
        out[name] = s
    return out


def _verdict(s: dict) -> str:
    if "error" in s:
        return "unsupported"
    if "bn_max_abs_diff" not in s:
        return "reference (running statistics, not batch statistics)"
    exact = s["bn_max_rel_diff"] <= EXACT_ATOL
    scores = s.get("score_max_rel_diff")
    if not exact:
        return "WRONG (BN outputs)"
    if scores is not None and scores > SCORE_RTOL:
        return "BN exact, scores move"
    return "exact" + (", bitwise = current" if s.get("bitwise_equal_current") else "")


def _num(v, fmt: str = ".2f") -> str:
    return "" if v is None else (f"{v:{fmt}}" if isinstance(v, float) else str(v))


def markdown(info: dict, dev: dict, a, rows: list[dict], summary: dict) -> str:
    lines = [f"### Batch-statistics BatchNorm candidates: NAS-Bench-201 {a.dataset}, 2B = {2 * a.batch_size} rows, "
             f"{len(rows)} architectures, {a.repeats} interleaved repeats", "",
             f"`{C.command_line()}`  ", C.machine_line(info) + f", load average at end {info.get('load_average_end')}  ",
             dev["message"], "",
             "BN error: max abs diff of every BN output against float64 batch statistics of its own input, "
             "and that diff over the layer's max |output| (worst over architectures, layers and two runs; "
             f"target <= {EXACT_ATOL:g} relative: NB201's BN outputs reach |y| ~ 10, where one float32 ulp is "
             "already ~1e-6, so an absolute 1e-6 is below float32 resolution). Scores: max relative "
             f"difference of ePADS/NASWOT/SWAP to the current rewrite (target <= {SCORE_RTOL:g}). Times: "
             "whole-model 2B forward, median over architectures of per-architecture ratios (max in brackets).", "",
             "| form | BN abs error | BN rel error | bitwise = current | score diff | / current | / raw inference file | "
             "/ raw training file | verdict |", "|---|---|---|---|---|---|---|---|---|"]
    for name, s in summary.items():
        if "error" in s and "vs_current" not in s:
            lines.append(f"| {name} | | | | | | | | unsupported: {s['error']} |")
            continue
        ratio = lambda k: f"{s[k]:.2f} ({s[k + '_max']:.2f})" if k in s else ""  # noqa: E731
        lines.append(f"| {name} | {_num(s.get('bn_max_abs_diff'), '.1e')} | {_num(s.get('bn_max_rel_diff'), '.1e')} | "
                     f"{_num(s.get('bitwise_equal_current'))} | "
                     f"{_num(s.get('score_max_rel_diff'), '.1e')} | {ratio('vs_current')} | "
                     f"{ratio('vs_raw_inference')} | {ratio('vs_raw_training')} | {_verdict(s)} |")
    lines += ["", "Forms (onnxscore/graph/batchnorm.py for `arithmetic`, the rest in bench/bn_candidates.py):", ""]
    lines += [f"- `{n}`: {' '.join((f.__doc__ or '').split())}" for n, f in CANDIDATES.items()]
    lines += ["- `current`: onnxscore's `arithmetic` rewrite (ReduceMean, Sub, Mul, ReduceMean, Add, Sqrt, Div, Mul, Add).",
              "- `lean`: onnxscore's `lean` form (batchnorm.py): `arithmetic` without the Mul by an all-ones scale "
              "and the Add of an all-zeros bias (the identity, so bitwise the same outputs).",
              "- `raw_inference`: the file exported with training_mode=0 (running statistics 0/1): no batch "
              "statistics at all; onnxruntime folds BN into the convolutions. The cost floor.",
              "- `raw_training`: the training-mode file as is (onnxruntime's training BN kernel, default options).",
              "- `raw_training_no_sharing`: the same with the ConstantSharing optimiser disabled (a session option)."]
    return "\n".join(lines) + "\n"


def render(path: Path) -> int:
    """Rewrite <name>.md from <name>.json (same table; the form notes from this file's docstrings)."""
    import json

    data = json.loads(path.read_text())
    a = argparse.Namespace(**data["settings"])
    md = markdown(data["machine"], data["device"], a, data["rows"], data["summary"]).replace(
        f"`{C.command_line()}`", f"`{data['command']}`")
    path.with_suffix(".md").write_text(md.rstrip() + "\n")
    print(md)
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--archs", type=int, default=6)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=C.DEFAULT_THREADS)
    ap.add_argument("--dataset", default="cifar10")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", nargs="*", default=None, help="candidate forms to run (default: all)")
    ap.add_argument("--name", default="bn_candidates")
    ap.add_argument("--out-dir", default=None)
    ap.add_argument("--render", default=None, help="only rewrite the markdown of a saved results JSON")
    a = ap.parse_args(argv)
    if a.render:
        return render(Path(a.render))

    import onnxscore

    dev = C.device()
    info = C.machine(a.threads, dev)
    print(dev["message"], "\n" + C.machine_line(info), flush=True)
    x = C.cifar_batch(a.batch_size)
    x2 = C.paired_batch(x, a.seed)
    scorer = onnxscore.Scorer(batch_size=a.batch_size, data=x, seed=a.seed, threads=a.threads)
    rows = []
    for i, arch in enumerate(C.nb201_archs(a.archs)):
        rows.append(measure_arch(arch, a, scorer, x2, dev))
        v = rows[-1]["variants"]
        print(f"[{i + 1}/{a.archs}] {arch} " + ", ".join(
            f"{k} {e['vs_current']:.2f}" for k, e in v.items() if "vs_current" in e), flush=True)
    info["load_average_end"] = C.load_average()
    summary = summarise(rows)
    md = markdown(info, dev, a, rows, summary)
    print("\n" + md)
    C.save(a.name, {"machine": info, "device": dev, "command": C.command_line(), "settings": vars(a),
                    "summary": summary, "rows": rows}, md, a.out_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
