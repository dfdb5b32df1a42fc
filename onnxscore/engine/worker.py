"""The worker side of a ranking job: build one candidate, measure it, check the budget, score it.
run_task never raises; the same function runs in-process, in a pool child or as a Ray task."""
from __future__ import annotations

import time
from typing import Any

from onnxscore.engine.candidates import Candidate
from onnxscore.engine.settings import RankSettings, Task
from onnxscore.errors import OnnxscoreError, first_line
from onnxscore.store import canonical_json

_WORKER: dict[str, Any] = {}


def _default_score(model, proxies, scorer_kwargs: dict, threads: int) -> dict:
    """Score with a per-process onnxscore.Scorer (built once per worker, reused for every model)."""
    key = canonical_json(scorer_kwargs) + f"|{threads}"
    sc = _WORKER.get("scorer")
    if sc is None or _WORKER.get("scorer_key") != key:
        from onnxscore import Scorer

        sc = Scorer(scorer_kwargs, threads=threads)
        _WORKER["scorer"], _WORKER["scorer_key"] = sc, key
    res = sc.score(model, proxies)
    return {"scores": dict(res.scores), "errors": dict(res.errors),
            "info": {"sites": res.sites, "units": res.units, "settings": res.settings,
                     "warnings": list(getattr(res, "warnings", []))}}


def _one_line(exc: BaseException) -> str:
    msg = first_line(exc, "")
    if isinstance(exc, OnnxscoreError):
        return msg or type(exc).__name__
    return f"{type(exc).__name__}: {msg}" if msg else type(exc).__name__


def _build(cand: Candidate):
    """Load the candidate's model (a LoadedModel for files, a ModelProto for space members)."""
    if cand.path is not None:
        from onnxscore.loaders import load_model

        return load_model(cand.path, fmt="onnx")
    name, kwargs, enc, build_seed = cand.space
    spaces = _WORKER.setdefault("spaces", {})
    k = (name, kwargs)
    if k not in spaces:
        from onnxscore.spaces import get_space

        spaces[k] = get_space(name, **dict(kwargs))
    return spaces[k].build(enc, seed=build_seed)


def _edge_metrics(model, settings: RankSettings) -> dict:
    """params, MACs (per op type) and peak activation memory of one model."""
    from onnxscore.edge.macs import load_proto, count_macs_from_shapes, infer_static_shapes
    from onnxscore.edge.memory import peak_from_shapes
    from onnxscore.graph.params import count_params_with_source

    proto = load_proto(model)
    params, params_source = count_params_with_source(proto)
    out: dict[str, Any] = {"params": int(params)}
    try:
        info = infer_static_shapes(model, settings.input_shape)  # keeps the external-data folder
    except Exception as exc:  # noqa: BLE001 - e.g. symbolic sizes without --input-shape: keep params
        out.update(macs=None, peak_activation_bytes=None, shape_error=_one_line(exc))
        return out
    macs = count_macs_from_shapes(info)
    mem = peak_from_shapes(info)
    out.update(macs=macs.total, macs_by_op_type=macs.by_op_type, macs_unknown_nodes=len(macs.unknown),
               peak_activation_bytes=mem.peak_bytes, shape_source=macs.shape_source)
    if params_source:
        out["params_source"] = params_source
    if macs.unknown:  # the total is a lower bound: say so in the row instead of ranking on it silently
        names = ", ".join(macs.unknown[:3]) + (", ..." if len(macs.unknown) > 3 else "")
        out["macs_note"] = (f"macs is a lower bound: {len(macs.unknown)} node(s) without shapes not counted "
                            f"({names})" + (f"; {macs.runtime_error}" if macs.runtime_error else ""))
    return out


def import_modules(settings: RankSettings) -> None:
    """Import the job's user modules in this process (a spawned or Ray worker starts without them)."""
    from onnxscore.modules import import_spec

    for spec in settings.modules:
        import_spec(spec, "module")


def run_task(task: Task, settings: RankSettings) -> dict:
    """Do one candidate's work (never raises): build, measure, check the budget, score the missing proxies."""
    t0 = time.perf_counter()
    res: dict[str, Any] = {"key": task.candidate.key, "scores": {}, "errors": {}, "info": None,
                           "edge": None, "edge_error": None, "latency": None, "latency_error": None,
                           "filtered": None}
    try:
        import_modules(settings)
        model = _build(task.candidate)
    except BaseException as exc:  # noqa: BLE001 - a bad candidate must not stop the run
        if isinstance(exc, KeyboardInterrupt):
            raise
        msg = _one_line(exc)
        res["errors"] = {p: msg for p in task.proxies}
        if task.edge:
            res["edge_error"] = msg
        if task.latency:
            res["latency_error"] = msg
        res["elapsed_s"] = time.perf_counter() - t0
        return res
    if task.edge:
        try:
            res["edge"] = _edge_metrics(model, settings)
        except Exception as exc:  # noqa: BLE001
            res["edge_error"] = _one_line(exc)
    if task.latency:
        try:
            from onnxscore.edge.latency import measure_latency

            res["latency"] = measure_latency(model, input_shape=settings.input_shape, **settings.latency)
        except Exception as exc:  # noqa: BLE001
            res["latency_error"] = _one_line(exc)
    if task.check_budget:
        edge = res["edge"] or {}
        lat = res["latency"] or {}
        known = task.known
        res["filtered"] = settings.budget.violation(
            edge.get("params", known.get("params")), edge.get("macs", known.get("macs")),
            lat.get("median_ms", known.get("latency_ms")))
    if task.proxies and not res["filtered"]:
        try:
            fn = settings.score_fn
            out = (fn(model, task.proxies, settings.scorer) if fn is not None
                   else _default_score(model, task.proxies, settings.scorer, settings.threads))
            res["scores"] = {p: out.get("scores", {}).get(p) for p in task.proxies}
            res["errors"] = {p: e for p, e in out.get("errors", {}).items() if p in task.proxies}
            res["info"] = out.get("info")
        except Exception as exc:  # noqa: BLE001
            msg = _one_line(exc)
            res["errors"] = {p: msg for p in task.proxies}
    res["elapsed_s"] = time.perf_counter() - t0
    return res


def _init_worker(settings: RankSettings) -> None:
    """Worker setup (the parent-death watchdog and the Ctrl-C rule are isolate's, for every child)."""
    _WORKER["settings"] = settings
    import_modules(settings)


def _pool_task(task: Task) -> dict:
    return run_task(task, _WORKER["settings"])
