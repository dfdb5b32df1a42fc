"""The scoring pipeline: load -> rewrite graph -> one onnxruntime session -> codes -> proxies."""
from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import time
from dataclasses import dataclass, field
from typing import Any, Sequence, Union

import numpy as np
import onnx
import onnx.inliner  # a submodule: `import onnx` alone does not load it

from onnxscore.errors import InputError, ModelLoadError, OnnxscoreError, ProxyError, first_line
from onnxscore.graph import memory_estimate, validate
from onnxscore.graph.batchnorm import use_batch_statistics
from onnxscore.graph.expose import expose_sites, site_shapes
from onnxscore.graph.init import redraw
from onnxscore.graph.patterns.normalisation import has_normalisation
from onnxscore.graph.params import count_params
from onnxscore.graph.sites import (batch_sites, check_batch_axis, count_by_op, find_sites, input_dependent,
                                   subgraph_activations)
from onnxscore.graph.view import GraphView, infer_tensors
from onnxscore.inputs import (InputSpec, input_spec, load_data, make_batch_dynamic, noise_like,
                              other_inputs, random_batch)
from onnxscore.loaders import LoadedModel, load_model
from onnxscore.proxies import registry
from onnxscore.proxies.codes import ProxyContext, SiteCodes, parallel_map
from onnxscore.proxies.fresh import PROTOCOL as FRESH_PROTOCOL
from onnxscore.proxies.swap import saturation_warning
from onnxscore import runtime, validation

from onnxscore.settings import ScoreSettings  # noqa: E402

# what score() takes: a path, the bytes of an .onnx file, a ModelProto, or a framework model / spec to convert
ModelSource = Union[str, "os.PathLike[str]", bytes, onnx.ModelProto, Any]
BATCH_REDUCERS = {"BatchNormalization", "ReduceMean", "ReduceSum", "ReduceSumSquare"}
# exporters that merge identical activations reading one tensor (torch.onnx's legacy exporter and its
# dynamo optimizer; tf2onnx's merge_duplication); onnxscore's own converters keep every call
MERGING_PRODUCERS = ("pytorch", "tf2onnx")
# the BN rewrite the forward passes run: bitwise the values of the default "arithmetic" form, without its
# identity affine (onnxscore/graph/batchnorm.py; bench/bn_candidates.py measured the alternatives)
BN_FORM = "lean"


@dataclass
class ScoreResult:
    """Scores of one model with everything needed to reproduce them."""

    model: str
    scores: dict[str, float | None]
    errors: dict[str, str]
    sites: int
    units: int
    params: int
    settings: dict
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        """The JSON object printed by `onnxscore --json` (null scores are explained in errors)."""
        return {
            "model": self.model, "scores": self.scores, "errors": self.errors,
            "sites": self.sites, "units": self.units, "params": self.params,
            "settings": self.settings, "warnings": self.warnings,
        }


@dataclass
class Prepared:
    """A rewritten model ready to run: its session, the site outputs and what was found."""

    session: object
    site_outputs: list[str]
    spec: InputSpec
    params: int
    batch_coupled: bool  # BN uses batch statistics, so B and 2B runs differ
    provider: str
    warnings: list[str]
    model: onnx.ModelProto | None = None  # the rewritten model (for inputs besides the scored one)
    seed: int = 0
    packed_units: list[int] | None = None  # set when sites leave onnxruntime as packed bits
    conv: list[bool] | None = None  # per site: 4-D feature map (from shape inference)
    repeats: list[int] | None = None  # per site: how many times it counts (--merged-sites)
    site_nodes: list[str] | None = None  # per site: its node's name, for errors
    value_outputs: list[str] = field(default_factory=list)  # per site: its float pre-activation ("site_values")
    model_outputs: list[str] = field(default_factory=list)  # the model's own outputs ("outputs")

    def extra_feeds(self, rows: int) -> dict:
        if self.model is None or len(GraphView(self.model).graph_inputs) < 2:
            return {}
        return other_inputs(self.model, self.spec.name, rows, self.seed)


def _converter_notes(proto: onnx.ModelProto, bn: str) -> list[str]:
    """Warnings a converter stored in the model's metadata, plus one when --bn exported cannot
    apply (the converter wrote batch statistics into the graph itself, as for Keras)."""
    meta = {p.key: p.value for p in proto.metadata_props}
    notes = [w for w in meta.get("onnxscore.warnings", "").splitlines() if w.strip()]
    if bn == "exported" and meta.get("onnxscore.bn") == "batch":
        notes.append("--bn exported has no effect on this model: its converter computes BatchNorm "
                     "batch statistics in the graph itself (Keras training=True trace)")
    return notes


def _bn_kept_by_converter(proto: onnx.ModelProto) -> bool:
    """True when onnxscore's own converter wrote the file with BatchNorm kept (never folded): a net
    without BatchNorm there had none in its source (SqueezeNet), so the folded-BN warning would be false."""
    from onnxscore.converters import META_BN, META_SOURCE

    meta = {p.key: p.value for p in proto.metadata_props}
    return meta.get(META_SOURCE) in ("torch", "paddle", "keras") and meta.get(META_BN) in ("exported", "batch")


def _may_merge(proto: onnx.ModelProto) -> bool:
    """True when the file comes from an exporter that merges activations and not through onnxscore's
    converters: only then can a Relu read by several convolutions be a merge rather than real fan-out."""
    converted = any(p.key.startswith("onnxscore.") for p in proto.metadata_props)
    return proto.producer_name in MERGING_PRODUCERS and not converted


def _no_site_message(view: GraphView, dependent: set[str], label: str, input_name: str, activations: str) -> str:
    """Why there is no site; `--activations extended` is suggested only when it would find some."""
    what = (f"{label} has no activation site (Relu, Clip with min 0, LeakyRelu, PRelu) computed from "
            f"input '{input_name}'")
    if activations == "extended":
        return f"{what}, nor any activation --activations extended counts (GELU, Swish, HardSwish, Mish, ...)"
    extended, _ = batch_sites(find_sites(view, "extended"), dependent)
    if not extended:
        return (f"{what}, nor any other activation (GELU, Swish, HardSwish, Mish, ...): the proxies need "
                "activation sites")
    return (f"{what}; it has {len(extended)} activation sites with --activations extended "
            f"({count_by_op(extended)}), which codes them by the sign of their input (an extension of the "
            "papers, which define ReLU sites only)")


class Scorer:
    """Scores models with fixed settings; the batch and noise depend only on the seed, so every
    model scored by one Scorer (or by two Scorers with equal settings) sees the same inputs."""

    def __init__(self, settings: ScoreSettings | dict | None = None, **kw: Any) -> None:
        """Scorer(ScoreSettings(...)), Scorer(batch_size=64, seed=1, ...) or both (keywords override);
        every setting is checked here (onnxscore.settings), so a bad one fails before any model."""
        self.config = ScoreSettings.of(settings, **kw)
        for f in dataclasses.fields(ScoreSettings):
            setattr(self, f.name, getattr(self.config, f.name))
        self._providers = runtime.choose_providers(self.provider)
        self._input_cache: list | None = None  # [key, X, [X; X+E]] for the last input shape (see _inputs)
        self.clock: dict[str, float] | None = None  # when a dict: seconds per phase are added to it (bench/)

    @contextlib.contextmanager
    def _phase(self, name: str):
        """Time the block into self.clock[name] (summed) when a clock is set; otherwise nothing."""
        if self.clock is None:
            yield
            return
        t = time.perf_counter()
        try:
            yield
        finally:
            self.clock[name] = self.clock.get(name, 0.0) + time.perf_counter() - t

    # -- settings ---------------------------------------------------------------------------
    def data_label(self) -> str:
        return self.config.data_label()

    def settings(self, provider: str | None = None) -> dict:
        """Every setting that changes a score (the store keys results on these)."""
        return self.config.record(provider or self._providers[0])

    # -- preparation -----------------------------------------------------------------------
    def prepare(self, loaded: LoadedModel, proxies=None) -> Prepared:
        """Rewrite a copy of the model (sites exposed, BN mode, init) and open its session, after
        checking that the passes `proxies` need (None: every proxy) fit in memory."""
        work = onnx.ModelProto()
        work.CopyFrom(loaded.proto)
        if work.functions:
            work = onnx.inliner.inline_local_functions(work)
        validate.check_names(work)
        warnings: list[str] = list(_converter_notes(loaded.proto, self.bn))
        view = GraphView(work)
        spec = input_spec(work, self.input_name, self.input_shape)
        dependent = input_dependent(view, spec.name)
        sites, constant = batch_sites(find_sites(view, self.activations), dependent)
        if constant:
            warnings.append(f"{len(constant)} activation(s) compute on weights and constants only, not on input "
                            f"'{spec.name}': their codes are the same for every sample, so they are not sites")
        hidden = subgraph_activations(view)
        if hidden:
            warnings.append(f"{hidden} activation(s) inside If/Loop/Scan bodies cannot be captured and are not sites")
        if not sites:
            raise ProxyError(_no_site_message(view, dependent, loaded.label, spec.name, self.activations))
        if "Conv" in view.op_types() and not has_normalisation(view) and not _bn_kept_by_converter(loaded.proto):
            warnings.append(
                "the model has convolutions but no BatchNormalization: BN was probably folded at "
                "export; re-export with BN kept (PyTorch: torch.onnx.export(..., "
                "training=torch.onnx.TrainingMode.TRAINING) or dynamo=True, optimize=False)"
            )
        merged = sum(s.merged_consumers > 1 for s in sites)
        if merged and self.merged_sites == "once" and _may_merge(loaded.proto):
            warnings.append(
                f"{merged} activation output(s) feed several convolutions or linear layers; if the exporter "
                "merged identical ReLU modules, the papers' hooks would count each: --merged-sites "
                "per-consumer counts them that way"
            )
        params = count_params(work)
        # one shape inference serves the BN pass, the site sizes and the exposure (BN's rewrite keeps
        # every existing tensor's type and shape, so the site tensors' entries stay valid after it)
        info = infer_tensors(work, spec.name, spec.sample_shape)
        check_batch_axis(sites, info, spec.name, loaded.label)
        # --bn exported still rewrites nodes the file itself puts in training mode (see batchnorm.py)
        n_bn = use_batch_statistics(work, only_training_mode=self.bn == "exported", info=info, form=BN_FORM)
        # Samples interact through batch statistics (BN, or BN written as ReduceMean arithmetic by
        # tf2onnx): then the B-sample clean pass cannot be cut out of the 2B ePADS pass.
        coupled = n_bn > 0 or bool(GraphView(work).op_types() & BATCH_REDUCERS)
        redraw(work, self.init, self.seed)
        validate.check_finite_weights(work, loaded.external_dir)  # after re-drawing: the weights that run
        if spec.fixed_batch is not None:
            make_batch_dynamic(work)
        shapes = site_shapes(work, spec.name, spec.sample_shape, sites, info=info)
        units = [math.prod(sh) if sh is not None else None for sh in shapes]
        pack = self._pack_in_graph(units)
        self._check_memory(work, info, spec, sites, units, pack, proxies, loaded.label)
        outputs = expose_sites(work, sites, units if pack else None, info=info)
        needs = self._needs(proxies)
        values = [site.tensor for site in sites] if "site_values" in needs else []
        model_outs = [o.name for o in loaded.proto.graph.output] if "outputs" in needs else []
        present = {o.name for o in work.graph.output}
        for name in dict.fromkeys(values):
            if name not in present:  # untyped: onnxruntime fills in the type of an intermediate tensor
                work.graph.output.append(onnx.ValueInfoProto(name=name))
        work.ir_version = min(work.ir_version, 10) if work.ir_version else 10
        try:
            data = work.SerializeToString()
        except ValueError as exc:
            raise ModelLoadError(f"{loaded.label} is over 2 GB once rewritten; keep weights as external data") from exc
        try:
            with self._phase("session"):
                sess = runtime.make_session(data, self._providers, threads=self.threads,
                                            external_dir=loaded.external_dir,
                                            strict=self.provider not in (None, "auto"),
                                            arena=not pack)  # the memory plan: big models drop the arena
        except OnnxscoreError:
            raise
        except Exception as exc:
            first = first_line(exc)
            raise ModelLoadError(f"onnxruntime cannot load {loaded.label}: {first}") from exc
        repeats = [max(1, site.merged_consumers) if self.merged_sites == "per-consumer" else 1
                   for site in sites]
        return Prepared(sess, outputs, spec, params, coupled, sess.get_providers()[0], warnings,
                        work, self.seed, units if pack else None,
                        [sh is not None and len(sh) == 3 for sh in shapes], repeats, [x.node for x in sites],
                        values, model_outs)

    @staticmethod
    def _needs(proxies) -> set[str]:
        """The union of the requested proxies' needs (None: the clean and paired codes, what capture() reads)."""
        if proxies is None:
            return {"codes", "paired_codes"}
        return {need for name in proxies for need in registry.get(name).needs}

    def _check_memory(self, work, info, spec, sites, units, pack, proxies, label) -> None:
        """Refuse a run whose estimated memory exceeds --max-memory (default: what this process can
        get), naming the estimate and the largest batch size that fits. Host memory only: on a GPU the
        activations live elsewhere."""
        if self.max_memory == 0 or self._providers[0] != runtime.CPU:
            return
        limit = self.max_memory if self.max_memory is not None else memory_estimate.available_bytes()
        if limit is None:
            return
        names = registry.names() if proxies is None else list(proxies)
        known = [u or 0 for u in units]
        footprint = memory_estimate.plan(
            work, info, spec.name, math.prod(spec.sample_shape) * np.dtype(spec.dtype).itemsize,
            {site.tensor: -(-u // 8) if pack else u for site, u in zip(sites, known)},
            paired=any(registry.get(n).paired for n in names), naswot="naswot" in names,
            swap_units=sum(known) if {"swap", "reg-swap"} & set(names) else 0)
        memory_estimate.check(footprint, self.batch_size, limit, self.max_memory is not None, label)

    def _pack_in_graph(self, units: list[int | None]) -> bool:
        """Memory plan: pack bits inside onnxruntime (8x less output memory, slower) only when
        the boolean codes of a 2B batch would exceed `pack_budget_mb`."""
        if self.pack is not None:
            return self.pack and all(u is not None for u in units)
        if any(u is None for u in units):
            return False
        return 2 * self.batch_size * sum(units) > self.pack_budget_mb * 2**20

    # -- running ---------------------------------------------------------------------------
    def batch(self, spec: InputSpec) -> np.ndarray:
        if self.data is None:
            return random_batch(spec, self.batch_size, self.seed)
        return load_data(self.data, spec, self.batch_size)

    def _run(self, prep: Prepared, x: np.ndarray, label: str, keep_dense: bool = False,
             extras: dict | None = None) -> list[SiteCodes]:
        """The site codes of one forward of `x`; with `extras` (a dict, filled in place) the same run also
        returns the sites' float values and the model's outputs that prep exposes."""
        wanted = list(prep.site_outputs)
        if extras is not None:
            wanted += prep.value_outputs + prep.model_outputs
        rows = "2B" if x.shape[0] > self.batch_size else "B"
        try:
            feeds = {prep.spec.name: x, **prep.extra_feeds(x.shape[0])}
            with self._phase(f"forward_{rows}"):
                outs = runtime.run_outputs(prep.session, wanted, feeds)
        except Exception as exc:
            first = first_line(exc)
            hint = ""
            if prep.spec.fixed_batch is not None and prep.spec.fixed_batch != x.shape[0]:
                hint = (f"; the model was exported with a fixed batch of {prep.spec.fixed_batch} baked into "
                        "its graph: re-export with a dynamic batch axis or pass a --batch-size that fits")
            raise InputError(f"onnxruntime failed to run {label} on a batch of {x.shape[0]}: {first}{hint}") from exc
        if extras is not None:
            n, k = len(prep.site_outputs), len(prep.value_outputs)
            extras["site_values"] = outs[n:n + k]
            extras["outputs"] = outs[n + k:]
            outs = outs[:n]
        for k, arr in enumerate(outs):  # shape inference could not tell: onnxruntime's rows decide
            if arr.ndim == 0 or arr.shape[0] != x.shape[0]:
                node = prep.site_nodes[k] if prep.site_nodes else prep.site_outputs[k]
                rows = "no rows (a scalar)" if arr.ndim == 0 else f"{arr.shape[0]} row(s)"
                raise ProxyError(
                    f"activation site '{node}' of {label} has {rows} for {x.shape[0]} input rows: its "
                    "first axis is not the batch; export the model with the batch as the first axis of every activation"
                )
        with self._phase(f"pack_{rows}"):
            if prep.packed_units is None:
                codes = parallel_map(lambda pair: SiteCodes.from_bool(*pair, keep_dense=keep_dense),
                                     list(zip(prep.site_outputs, outs)), self.threads,
                                     0 if keep_dense else sum(a.nbytes for a in outs))
            else:
                codes = [SiteCodes(name, arr, units, conv) for name, arr, units, conv
                         in zip(prep.site_outputs, outs, prep.packed_units, prep.conv)]
        # a merged Relu counted once per consuming convolution: the same codes, listed again
        return [c for c, k in zip(codes, prep.repeats or [1] * len(codes)) for _ in range(k)]

    def _inputs(self, spec: InputSpec, paired: bool) -> tuple[np.ndarray, np.ndarray | None]:
        """The clean batch and [X; X + E], built once per input shape and reused for every model this
        Scorer scores (same seed, data and sigma, so the same arrays; read-only so nothing alters them)."""
        with self._phase("input"):
            return self._build_inputs(spec, paired)

    def _build_inputs(self, spec: InputSpec, paired: bool) -> tuple[np.ndarray, np.ndarray | None]:
        key = (spec.sample_shape, np.dtype(spec.dtype).str)
        cached = self._input_cache
        if cached is None or cached[0] != key:
            x = self.batch(spec)
            x.flags.writeable = False
            cached = self._input_cache = [key, x, None]
        if paired and cached[2] is None:
            x = cached[1]
            x2 = np.concatenate([x, x + noise_like(x, self.sigma, self.seed)])
            x2.flags.writeable = False
            cached[2] = x2
        return cached[1], cached[2]

    def _capture(self, prep: Prepared, label: str, clean_needed: bool, paired_needed: bool,
                 extras: dict | None = None):
        """Run the forwards the proxies need: 2B (clean + perturbed) and/or B clean. `extras` (site values,
        model outputs of the clean batch) come from the clean pass, which then always runs."""
        x, x2 = self._inputs(prep.spec, paired_needed)
        paired = clean = None
        if paired_needed:
            paired = self._run(prep, x2, label)
            if not prep.batch_coupled and extras is None:  # no batch statistics: the clean half is the clean pass
                clean = [SiteCodes(c.name, c.bits[: self.batch_size], c.units, c.conv) for c in paired]
        if (clean_needed or extras is not None) and clean is None:
            # the clean pass stays as onnxruntime's booleans (NASWOT and SWAP read 0/1 codes); the memory
            # plan only leaves codes unpacked when 2B rows of booleans fit its limit, so B rows do too
            clean = self._run(prep, x, label, keep_dense=True, extras=extras)
        return clean, paired

    def capture(self, model, paired: bool = False) -> list[SiteCodes]:
        """The packed activation codes onnxscore computes proxies from (B rows, or 2B if paired)."""
        loaded = load_model(model, fmt=self.fmt, input_shape=self.input_shape)
        clean, pair = self._capture(self.prepare(loaded, ["epads"] if paired else []), loaded.label, not paired, paired)
        return pair if paired else clean

    def check_proxies(self, proxies=("epads",)) -> list[str]:
        """The proxy names of `proxies`; a ProxyError when one is unknown or, asked for by name,
        lacks its settings (an error of the run, not of a model)."""
        names = registry.parse(validation.proxies(proxies))
        registry.refuse_ensembles(names)
        for name in registry.explicit(proxies):
            if any(getattr(self, p) is None for p in registry.get(name).params):
                raise ProxyError(f"{name} needs --mu and --sigma-params (target size in thousands of parameters)")
        return names

    def score(self, model: ModelSource, proxies: str | Sequence[str] = ("epads",)) -> ScoreResult:
        """Score one model (path, bytes, ModelProto or framework model path) with `proxies`: the
        activation proxies from the forwards their needs ask for, the gradient proxies from one plan."""
        names = self.check_proxies(proxies)
        loaded = load_model(model, fmt=self.fmt, input_shape=self.input_shape)
        gradient = [n for n in names if registry.is_gradient(n)]
        structural = [n for n in names if registry.is_structural(n) or registry.runs_itself(n)]
        forward = [n for n in names if n not in gradient and n not in structural]
        scores: dict[str, float | None] = {}
        errors: dict[str, str] = {}
        sites = units = 0
        params, provider, warnings, extra = None, None, [], {}
        if forward:
            prep = self.prepare(loaded, forward)
            clean = self._score_forward(prep, loaded.label, forward, scores, errors)
            some = clean[1] or clean[0]
            sites, units, params, provider = len(some), int(sum(c.units for c in some)), prep.params, prep.provider
            note = self._swap_note(scores, clean[0], prep.params)
            warnings = prep.warnings + ([note] if note else [])
        if gradient:
            params, extra = self._score_gradients(loaded, gradient, scores, errors, params)
        if structural:
            params = params if params is not None else count_params(loaded.proto)
            self._score_structure(loaded, structural, scores, errors, params)
            if any(registry.runs_itself(n) for n in structural):
                extra = {**extra, "fresh_network": FRESH_PROTOCOL, "fresh_batch_size": self.grad_batch_size}
        settings = {**self.settings(provider), **extra}
        return ScoreResult(model=loaded.label, scores={n: scores.get(n) for n in names}, errors=errors,
                           sites=sites, units=units, params=params, settings=settings, warnings=warnings)

    def _score_forward(self, prep: Prepared, label: str, names: list[str], scores: dict, errors: dict):
        """The activation proxies of one prepared model; returns (clean codes, paired codes)."""
        needs = self._needs(names)
        extras = {} if needs & {"site_values", "outputs"} else None
        clean, paired = self._capture(prep, label, "codes" in needs, "paired_codes" in needs, extras)
        captured = {"codes": clean, "paired_codes": paired, **(extras or {})}
        ctx = ProxyContext(self.seed, self.batch_size, prep.params, self.mu, self.sigma_params, self.threads,
                           settings=self.config)
        for name in names:
            spec = registry.get(name)
            try:
                with self._phase(f"proxy_{name}"):
                    value = float(spec.fn(spec.data(captured), ctx))
                if not math.isfinite(value):
                    raise ProxyError(f"{name} is not finite ({value})")
                scores[name] = value
            except OnnxscoreError as exc:
                scores[name], errors[name] = None, str(exc)
            except Exception as exc:  # one failing proxy must not hide the others
                scores[name], errors[name] = None, f"{type(exc).__name__}: {exc}"
        return clean, paired

    def _score_structure(self, loaded: LoadedModel, names: list[str], scores: dict, errors: dict,
                         params: int) -> None:
        """The proxies computed from the model itself: structural ones (layers, flops) from its graph, and
        those making their own runs on the authors' fresh network (AZ-NAS's components, VKDNW)."""
        ctx = ProxyContext(self.seed, self.batch_size, params, self.mu, self.sigma_params, self.threads,
                           settings=self.config, providers=self._providers, shared={})
        for name in names:
            try:
                value = float(registry.get(name).fn(loaded.proto, ctx))
                if not math.isfinite(value):
                    raise ProxyError(f"{name} is not finite ({value})")
                scores[name] = value
            except OnnxscoreError as exc:
                scores[name], errors[name] = None, str(exc)
            except Exception as exc:
                scores[name], errors[name] = None, f"{type(exc).__name__}: {exc}"

    def _score_gradients(self, loaded: LoadedModel, names: list[str], scores: dict, errors: dict,
                         params: int | None) -> tuple[int, dict]:
        """The gradient proxies from one GradientPlan on the batch's first grad_batch_size rows and their
        labels; returns the parameter count and what the result's settings add (the labels' source)."""
        from onnxscore.proxies.gradient import gradient_scores

        spec = input_spec(loaded.proto, self.input_name, self.input_shape)
        x, _ = self._inputs(spec, False)
        n = min(self.grad_batch_size, x.shape[0])
        y, source = self._labels(loaded.proto, n)
        for name, res in gradient_scores(loaded.proto, x[:n], y, names, providers=self._providers).items():
            scores[name] = res.value
            if res.value is None:
                hint = "; pass --labels FILE.npy" if "labels" in (res.reason or "") else ""
                errors[name] = f"{res.reason}{hint}"
        return (params if params is not None else count_params(loaded.proto)), {
            "grad_batch_size": n, "labels": source}

    def _labels(self, proto: onnx.ModelProto, n: int) -> tuple[np.ndarray | None, str]:
        """The first n labels of the batch: --labels, else (random batch) drawn from the seed over the
        model's classes; None when the data is the user's and no labels were given."""
        if self.labels is not None:
            y = np.load(self.labels) if isinstance(self.labels, (str, os.PathLike)) else np.asarray(self.labels)
            if y.ndim != 1 or y.shape[0] < n or not np.issubdtype(y.dtype, np.integer):
                raise InputError(f"labels must be a 1-D integer array with at least {n} entries (one per batch "
                                 f"row), got {y.dtype} {y.shape}")
            return y[:n].astype(np.int64), (str(self.labels) if isinstance(self.labels, (str, os.PathLike)) else "array")
        dims = proto.graph.output[0].type.tensor_type.shape.dim if proto.graph.output else []
        classes = dims[-1].dim_value if len(dims) >= 2 and dims[-1].HasField("dim_value") else 0
        if self.data is None and classes > 1:
            y = np.random.default_rng([self.seed, 5]).integers(0, classes, n).astype(np.int64)
            return y, f"random(seed={self.seed}, classes={classes})"
        return None, "none"

    def _swap_note(self, scores: dict, clean, params: int) -> str | None:
        """The saturation warning for SWAP's count, read from swap or, without it, from reg-swap."""
        count = scores.get("swap")
        if count is None and scores.get("reg-swap"):
            factor = math.exp(-((params / 1000.0 - self.mu) ** 2) / self.sigma_params)
            count = round(scores["reg-swap"] / factor) if factor > 0 else None
        return saturation_warning(int(count), clean, self.batch_size) if count is not None and clean else None


def score(model: ModelSource, proxies: str | Sequence[str] = ("epads",), **settings: Any) -> ScoreResult:
    """Score one model: `onnxscore.score("net.onnx", proxies=["epads", "naswot"], seed=0)`."""
    return Scorer(**settings).score(model, proxies)
