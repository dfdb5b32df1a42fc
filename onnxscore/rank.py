"""The ranking engine: score many candidates with the same batch and noise, cache every result in the store.

Candidates are ONNX files (or directories of them) or architectures of a generated search space. The
parent process owns the SQLite store and writes each finished candidate in its own transaction; the
work runs in spawn-started worker processes (one model per worker, so a crash or a hang over the time
limit costs only that candidate: onnxscore.isolate), in-process (workers=0), or on a Ray cluster
(`ray_address`). Budgets are checked on cost metrics before a candidate is scored.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import sys
import time
from collections import Counter, deque
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from onnxscore.edge.pareto import Budget, human, pareto_front
from onnxscore.errors import InputError, MissingExtraError, OnnxscoreError, first_line
from onnxscore.isolate import DEFAULT_TIMEOUT_S, Outcome, failure_reason, limit_reason
from onnxscore.store import content_hash, ResultStore, canonical_json, file_hash, hash_and_find

EDGE_METRIC = "edge"
EDGE_REVISION = 2  # 2: shapes from an onnxruntime run where inference gives up; Linear on 3-D inputs
LATENCY_METRIC = "latency"
LATENCY_GRAPH = "inference"  # latency is timed on onnxscore.edge.inference_graph's form of the model
CRASH_ATTEMPTS = 2  # a candidate whose worker dies is run once more in a fresh worker, then recorded as failed


# ============================================================================ candidates

@dataclass(frozen=True)
class Candidate:
    """One model to rank: a display name, its content hash, and where it comes from (a file or a space)."""

    name: str
    key: str
    path: str | None = None
    space: tuple | None = None  # (space name, kwargs items, encoding string, build seed)


def _version() -> str:
    from onnxscore import __version__

    return __version__


def find_onnx_files(inputs: Iterable[str | os.PathLike]) -> list[Path]:
    """Expand files and directories (recursively, *.onnx) into a sorted, de-duplicated file list."""
    out: list[Path] = []
    seen: set[Path] = set()
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            found = sorted(q for q in p.rglob("*") if q.is_file() and q.suffix.lower() == ".onnx")
        elif p.exists():
            found = [p]
        else:
            raise InputError(f"input '{item}' does not exist; pass ONNX files or directories of them")
        for q in found:
            r = q.resolve()
            if r not in seen:
                seen.add(r)
                out.append(q)
    return out


_EXTERNAL_MARK = b"location"  # the key of every external-data entry; absent from the bytes => no external data


def _data_file_hash(path: str) -> str | None:
    """sha256 of an external-data file; None when it is missing or not a regular file (never opened
    then: a location naming /dev/zero must not be read forever; the loader reports it)."""
    import stat

    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return None
        return file_hash(path)
    except OSError:
        return None


def file_key(path: str | os.PathLike) -> str:
    """The cache key of an ONNX file: the sha256 of its bytes, and when it keeps tensors in external-data
    files, a sha256 over that and each referenced file's (location, sha256) in location order, so new
    weights beside an unchanged .onnx file are scored again. The model is parsed without loading its
    data, and only when its bytes mention external data at all; keys of self-contained models are the
    plain file hash (as before, so existing stores stay valid)."""
    from onnxscore.loaders import external_data_files

    digest, mentions = hash_and_find(path, _EXTERNAL_MARK)
    files = external_data_files(path) if mentions else []
    if not files:
        return digest
    parts = [[loc, _data_file_hash(f)] for loc, f in files]
    return content_hash(canonical_json({"model": digest, "external_data": parts}).encode())


def file_candidates(inputs: Iterable[str | os.PathLike]) -> list[Candidate]:
    """Candidates for ONNX files / directories, keyed by file_key (model bytes and external data).
    A device or FIFO given as an input is refused before it is opened (reading it would never end)."""
    from onnxscore.loaders import special_file_kind

    cands = []
    for p in find_onnx_files(inputs):
        kind = special_file_kind(p)
        if kind:
            raise InputError(f"input '{p}' is {kind}, not a model file; pass ONNX files or directories of them")
        try:
            key = file_key(p)
        except OSError:  # unreadable: still a candidate, it fails in the worker with the reason
            key = "unreadable:" + hashlib.sha256(str(p.resolve()).encode()).hexdigest()
        cands.append(Candidate(str(p), key, path=str(p)))
    return cands


def space_candidates(space: str, sample: int, *, seed: int = 0, build_seed: int = 0,
                     **space_kwargs) -> list[Candidate]:
    """`sample` distinct architectures drawn (seeded) from a registered search space; all of it if smaller."""
    import numpy as np

    from onnxscore.spaces import get_space

    if sample is None or int(sample) < 1:
        raise InputError("--space needs --sample N with N >= 1 (how many architectures to draw)")
    sp = get_space(space, **space_kwargs)
    rng = np.random.default_rng(seed)
    encs: dict[str, None] = {}
    tries = 0
    while len(encs) < sample and tries < 50 * sample + 1000:
        encs.setdefault(sp.to_str(sp.sample(rng)), None)
        tries += 1
    if len(encs) < sample:  # small space: take all of it
        try:
            encs = {sp.to_str(e): None for e in sp.all()}
        except NotImplementedError:
            pass
    return [space_candidate(space, sp, space_kwargs, enc, build_seed) for enc in list(encs)[:sample]]


def space_candidate(space_name: str, space, space_kwargs: dict, encoding: str, build_seed: int) -> Candidate:
    """The Candidate of one space member, keyed by the space, the settings that change the built
    model, the encoding and the weight seed, so `rank --space`, `evaluate --space` and `search`
    share cached scores."""
    ident = dict(space_kwargs)
    for attr in ("dataset", "num_classes", "bn_training"):
        if hasattr(space, attr):
            ident[attr] = getattr(space, attr)
    name = space.name or space_name
    key = "space:" + hashlib.sha256(canonical_json(
        {"space": name, "kwargs": ident, "encoding": encoding, "build_seed": build_seed}).encode()).hexdigest()
    return Candidate(f"{name}:{encoding}", key,
                     space=(space_name, tuple(sorted(space_kwargs.items())), encoding, build_seed))


# ============================================================================ job settings

@dataclass
class RankSettings:
    """Everything a worker needs: proxies, scorer settings, edge/latency settings, budget and the scoring function."""

    proxies: tuple[str, ...] = ("epads",)
    scorer: dict = field(default_factory=dict)  # keyword arguments of onnxscore.Scorer
    threads: int = 1
    input_shape: tuple | None = None
    latency: dict | None = None  # measure_latency kwargs (provider, threads, runs, warmup, batch_size)
    budget: Budget = field(default_factory=Budget)
    score_fn: Callable | None = None  # (model, proxies, settings) -> {"scores", "errors", "info"}

    def score_key(self) -> str:
        """Canonical JSON of every setting that changes a score plus the onnxscore version."""
        from onnxscore import Scorer

        kw = {k: v for k, v in self.scorer.items() if v is not None}
        s = dict(Scorer(**kw).settings())
        data = kw.get("data")
        if isinstance(data, (str, os.PathLike)) and os.path.isfile(data):
            s["data_sha256"] = file_hash(data)
        elif data is not None:  # an in-memory batch: its label is just "array", so key on its bytes
            import numpy as np

            arr = np.ascontiguousarray(data)
            s["data_sha256"] = content_hash(arr.tobytes() + str((arr.dtype, arr.shape)).encode())
        s["onnxscore"] = _version()
        if self.score_fn is not None:
            s["score_fn"] = f"{getattr(self.score_fn, '__module__', '?')}.{getattr(self.score_fn, '__qualname__', '?')}"
        return canonical_json(s)

    def edge_key(self) -> str:
        """Key of the cost metrics; EDGE_REVISION changes whenever their computation does."""
        return canonical_json({"input_shape": self.input_shape, "onnxscore": _version(), "revision": EDGE_REVISION})

    def latency_key(self) -> str | None:
        if self.latency is None:
            return None
        return canonical_json({**self.latency, "input_shape": self.input_shape, "onnxscore": _version(),
                               "graph": LATENCY_GRAPH})


@dataclass
class Task:
    """Work for one candidate: which proxies are missing and which metrics must be measured."""

    candidate: Candidate
    proxies: tuple[str, ...]
    edge: bool
    latency: bool
    check_budget: bool
    known: dict = field(default_factory=dict)  # cached params / macs / latency_ms for the budget check


# ============================================================================ worker side

_WORKER: dict[str, Any] = {}


def _default_score(model, proxies, scorer_kwargs: dict, threads: int) -> dict:
    """Score with a per-process onnxscore.Scorer (built once per worker, reused for every model)."""
    key = canonical_json(scorer_kwargs) + f"|{threads}"
    sc = _WORKER.get("scorer")
    if sc is None or _WORKER.get("scorer_key") != key:
        from onnxscore import Scorer

        sc = Scorer(**{k: v for k, v in scorer_kwargs.items() if v is not None}, threads=threads)
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
    from onnxscore.edge.macs import _load, count_macs_from_shapes, infer_static_shapes
    from onnxscore.edge.memory import peak_from_shapes
    from onnxscore.graph.params import count_params_with_source

    proto = _load(model)
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


def run_task(task: Task, settings: RankSettings) -> dict:
    """Do one candidate's work (never raises): build, measure, check the budget, score the missing proxies."""
    t0 = time.perf_counter()
    res: dict[str, Any] = {"key": task.candidate.key, "scores": {}, "errors": {}, "info": None,
                           "edge": None, "edge_error": None, "latency": None, "latency_error": None,
                           "filtered": None}
    try:
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


def _pool_task(task: Task) -> dict:
    return run_task(task, _WORKER["settings"])


# ============================================================================ backends

class _ThreadEnv:
    """Set thread-count variables (inherited by spawned workers) for the duration of a pool."""

    def __init__(self, threads: int):
        self.vals = {"ORT_DISABLE_TELEMETRY": "1"}
        if threads > 0:  # 0 = libraries' defaults
            self.vals.update({k: str(threads) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")})
        self.saved: dict[str, str | None] = {}

    def __enter__(self):
        for k, v in self.vals.items():
            self.saved[k] = os.environ.get(k)
            if self.saved[k] is None:
                os.environ[k] = v
        return self

    def __exit__(self, *exc):
        for k, v in self.saved.items():
            if v is None:
                os.environ.pop(k, None)


def default_workers() -> int:
    """CPUs this process may run on (cgroup/affinity aware where the OS tells)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _crash_result(task: Task, why: str) -> dict:
    return {"key": task.candidate.key, "scores": {}, "errors": {p: why for p in task.proxies}, "info": None,
            "edge": None, "edge_error": why if task.edge else None, "latency": None,
            "latency_error": why if task.latency else None, "filtered": None, "elapsed_s": 0.0}


def _outcome_result(task: Task, out: Outcome) -> dict:
    """run_task's result dict, or a failure result naming the signal, the time limit or the exception."""
    return out.value if out.ok else _crash_result(task, failure_reason(out))


def run_inline(tasks: Sequence[Task], settings: RankSettings, on_result: Callable,
               timeout_s: float | None = None) -> None:
    """Run tasks one by one in this process (workers=0: debugging, tests, tiny jobs). No isolation: a crash
    ends the run, and the time limit can only stop onnxruntime runs (isolate.call_with_limit)."""
    from onnxscore.isolate import call_with_limit

    for t in tasks:
        on_result(t, _outcome_result(t, call_with_limit(lambda task: run_task(task, settings), t, timeout_s)))


def run_pool(tasks: Sequence[Task], settings: RankSettings, workers: int, on_result: Callable,
             timeout_s: float | None = None) -> None:
    """Run tasks in `workers` spawn-started processes holding one task each (isolate.Pool): a worker that
    dies or overruns `timeout_s` costs only the task it held, and a fresh worker takes the rest."""
    from onnxscore.isolate import Pool

    with _ThreadEnv(settings.threads), Pool(_pool_task, workers, setup=_init_worker, setup_args=(settings,),
                                            timeout_s=timeout_s, attempts=CRASH_ATTEMPTS) as pool:
        pool.run(tasks, lambda t, out: on_result(t, _outcome_result(t, out)))


def _ray_failure(ray, exc: Exception) -> str:
    """One line for a Ray task that raised: a dead worker is named as such (Ray does not report the signal)."""
    if isinstance(exc, getattr(ray.exceptions, "OutOfMemoryError", ())):
        return "worker process was killed by Ray's memory monitor while scoring this model (out of memory)"
    if isinstance(exc, getattr(ray.exceptions, "WorkerCrashedError", ())):
        return ("worker process died while scoring this model (Ray does not report the signal: a crash in "
                "native code, or out of memory)")
    return f"Ray task failed: {_one_line(exc)}"


def _check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """Refuse a Ray address whose host:port does not answer (ray.init would retry for minutes)."""
    import socket

    if str(address).lower() == "auto":
        return
    hostport = str(address).split("://", 1)[-1]
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise InputError(f"--ray {address!r} is not host:port (e.g. 10.0.0.5:6379), 'auto' or 'local'")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s).close()
    except OSError as exc:
        raise InputError(f"cannot reach the Ray cluster at {address!r} ({exc.strerror or first_line(exc)}); "
                         "start one with `ray start --head` or pass --ray local") from None


def run_ray(tasks: Sequence[Task], settings: RankSettings, address: str, workers: int | None,
            on_result: Callable, timeout_s: float | None = None) -> None:
    """Run tasks as Ray remote functions ('local' starts a private instance, 'auto' joins a running cluster).
    Each task fails alone; one past `timeout_s` (counted from submission) is cancelled with its worker."""
    try:
        import ray
    except ImportError:
        raise MissingExtraError("ray", "ray") from None
    started = False
    if not ray.is_initialized():
        env = {k: "1" for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                                "ORT_DISABLE_TELEMETRY")}
        if str(address).lower() == "local":
            os.environ.setdefault("RAY_AUTH_MODE", "disabled")
            pkg_root = str(Path(__file__).resolve().parent.parent)
            env["PYTHONPATH"] = os.pathsep.join(
                x for x in (pkg_root, os.environ.get("PYTHONPATH", "")) if x)
            ray.init(num_cpus=workers or default_workers(), include_dashboard=False,
                     log_to_driver=False, logging_level=logging.WARNING, runtime_env={"env_vars": env})
        else:
            _check_reachable(address)
            try:
                ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING,
                         runtime_env={"env_vars": env})
            except ConnectionError as exc:
                raise InputError(f"cannot reach the Ray cluster at {address!r} ({_one_line(exc)}); "
                                 "start one with `ray start --head` or pass --ray local") from None
        started = True
    try:
        remote = ray.remote(num_cpus=1, max_retries=CRASH_ATTEMPTS - 1)(run_task)
        sref = ray.put(settings)
        # one task per CPU, so a task starts when it is submitted and its time limit counts from then
        window = max(1, int(ray.cluster_resources().get("CPU", 1)))
        pending = deque(tasks)
        inflight: dict = {}  # ref -> (task, submitted at)
        while pending or inflight:
            while pending and len(inflight) < window:
                t = pending.popleft()
                inflight[remote.remote(t, sref)] = (t, time.monotonic())
            wait_s = None
            if timeout_s:
                wait_s = max(0.0, min(s for _, s in inflight.values()) + timeout_s - time.monotonic())
            done, _ = ray.wait(list(inflight), num_returns=1, timeout=wait_s)
            for ref in done:
                t, _ = inflight.pop(ref)
                try:
                    res = ray.get(ref)
                except Exception as exc:  # noqa: BLE001 - worker died, task error
                    res = _crash_result(t, _ray_failure(ray, exc))
                on_result(t, res)
            if timeout_s:
                now = time.monotonic()
                for ref, (t, s) in list(inflight.items()):
                    if now - s >= timeout_s:
                        ray.cancel(ref, force=True)
                        del inflight[ref]
                        on_result(t, _crash_result(t, limit_reason(timeout_s)))
    finally:
        if started:
            ray.shutdown()


# ============================================================================ progress

class Progress:
    """A one-line progress report on stderr: done/total, failures, rate per minute and ETA."""

    def __init__(self, total: int, cached: int = 0, enabled: bool = True, stream=None, interval: float = 5.0):
        self.total, self.cached = total, cached
        self.done = self.failed = self.partial = 0
        self.enabled = enabled and total > 0
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.interval = 0.2 if self.tty else interval
        self.t0 = time.monotonic()
        self._last = 0.0

    def line(self) -> str:
        el = time.monotonic() - self.t0
        rate = self.done / el * 60 if el > 0 else 0.0
        left = self.total - self.done
        eta = left / (self.done / el) if self.done and el > 0 else None
        eta_s = time.strftime("%H:%M:%S", time.gmtime(eta)) if eta is not None else "--:--:--"
        pct = 100.0 * self.done / self.total if self.total else 100.0
        width = 24
        fill = int(width * self.done / self.total) if self.total else width
        bar = "#" * fill + "-" * (width - fill)
        return (f"rank [{bar}] {self.done}/{self.total} {pct:5.1f}%  {rate:6.1f}/min  ETA {eta_s}"
                f"  failed {self.failed}" + (f"  partial {self.partial}" if self.partial else "")
                + f"  cached {self.cached}")

    def update(self, failed: bool = False, partial: bool = False) -> None:
        self.done += 1
        self.failed += bool(failed)
        self.partial += bool(partial)
        now = time.monotonic()
        if self.enabled and (now - self._last >= self.interval or self.done == self.total):
            self._last = now
            end = "" if self.tty else "\n"
            self.stream.write(("\r" if self.tty else "") + self.line() + end)
            self.stream.flush()

    def close(self) -> None:
        if self.enabled and self.tty:
            self.stream.write("\n")
            self.stream.flush()


# ============================================================================ results

@dataclass
class RankResult:
    """Ranked rows (one per candidate) plus run counters."""

    rows: list[dict]
    proxies: tuple[str, ...]
    latency: bool
    scored: int = 0  # candidates whose proxies were computed in this run
    cached: int = 0  # candidates whose scores all came from the store
    failed: int = 0
    filtered: int = 0
    elapsed_s: float = 0.0

    def columns(self) -> list[str]:
        """CSV/JSON columns: model, one per proxy, params, macs, [latency_ms], status, error."""
        cols = ["model", *self.proxies, "params", "macs"]
        if self.latency:
            cols.append("latency_ms")
        return cols + ["status", "error"]

    def records(self) -> list[dict]:
        """Rows restricted to the CSV/JSON columns."""
        cols = self.columns()
        return [{c: r.get(c) for c in cols} for r in self.rows]

    def write_csv(self, path: str | os.PathLike, *, force: bool = True) -> None:
        """The rows as CSV, written atomically (a failed write leaves the previous file intact);
        `force=False` refuses to replace an existing file (OutputError)."""
        import csv
        import io

        from onnxscore.outputs import write_text

        buf = io.StringIO(newline="")
        w = csv.DictWriter(buf, fieldnames=self.columns())
        w.writeheader()
        for rec in self.records():
            w.writerow({k: ("" if v is None else v) for k, v in rec.items()})
        write_text(path, buf.getvalue(), force=force)

    def write_json(self, path: str | os.PathLike, *, force: bool = True) -> None:
        """The rows as a JSON list, written atomically; `force` as in write_csv."""
        import json

        from onnxscore.outputs import write_text

        write_text(path, json.dumps(self.records(), indent=2) + "\n", force=force)

    def pareto(self, cost: str = "auto") -> tuple[str, list[dict]]:
        """Pareto front of the first proxy's score against latency_ms / macs / params ('auto': latency if measured)."""
        if cost == "auto":
            cost = "latency_ms" if self.latency else "macs"
        cost = {"latency": "latency_ms"}.get(cost, cost)
        ok = [r for r in self.rows if r["status"] in ("ok", "partial")]
        return cost, pareto_front(ok, score=self.proxies[0], cost=cost)

    def table(self, top: int | None = None, width: int = 48) -> str:
        """The ranked table as aligned text (first `top` rows)."""
        rows = self.rows[:top] if top else self.rows
        head = ["#", "model"]
        for p in self.proxies:
            head += [p, "rank"]
        head += ["params", "macs", "act_mem"]
        if self.latency:
            head.append("latency_ms")
        head.append("status")
        body = []
        for i, r in enumerate(rows, 1):
            name = r["model"]
            if len(name) > width:
                name = "..." + name[-(width - 3):]
            line = [str(r.get(f"{self.proxies[0]}_rank") or "-"), name]
            for p in self.proxies:
                v = r.get(p)
                line += ["-" if v is None else f"{v:.4f}", str(r.get(f"{p}_rank") or "-")]
            line += [human(r.get("params")), human(r.get("macs")), human(r.get("peak_activation_bytes"), "B")]
            if self.latency:
                v = r.get("latency_ms")
                line.append("-" if v is None else f"{v:.3f}")
            line.append(r["status"])
            body.append(line)
        widths = [max(len(x) for x in col) for col in zip(head, *body)] if body else [len(h) for h in head]
        fmt = lambda cells: "  ".join(c.ljust(w) if j == 1 else c.rjust(w)  # noqa: E731
                                      for j, (c, w) in enumerate(zip(cells, widths)))
        return "\n".join([fmt(head)] + [fmt(b) for b in body])


def _finite(v) -> float | None:
    if v is None:
        return None
    try:
        v = float(v)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _assign_ranks(rows: list[dict], proxies: Sequence[str]) -> None:
    """Competition ranking per proxy (1 = highest score; ties share the lower rank); unscored rows get None."""
    for p in proxies:
        scored = sorted((r for r in rows if r.get(p) is not None), key=lambda r: -r[p])
        prev, rank = None, 0
        for i, r in enumerate(scored, 1):
            if r[p] != prev:
                rank, prev = i, r[p]
            r[f"{p}_rank"] = rank
        for r in rows:
            r.setdefault(f"{p}_rank", None)


# ============================================================================ the job

def _plan(cands: Sequence[Candidate], store: ResultStore, settings: RankSettings, skey: str,
          retry_failed: bool) -> tuple[list[Task], int, int]:
    """Tasks for what the store lacks (one per distinct content hash), the number needing no work at all,
    and the number whose scores were all in the store."""
    ekey, lkey = settings.edge_key(), settings.latency_key()
    tasks: list[Task] = []
    seen: set[str] = set()
    cached = scores_cached = 0
    for c in cands:
        if c.key in seen:
            continue
        seen.add(c.key)
        missing = tuple(store.missing_proxies(c.key, skey, settings.proxies, retry_failed))
        scores_cached += not missing
        edge = store.get_metric(c.key, EDGE_METRIC, ekey)
        lat = store.get_metric(c.key, LATENCY_METRIC, lkey) if lkey else {"status": "ok"}
        need_edge = edge is None or (retry_failed and edge["status"] != "ok")
        need_lat = lat is None or (retry_failed and lat["status"] != "ok")
        ev = ((edge or {}).get("value") or {})
        lv = ((lat or {}).get("value") or {}) if lkey else {}
        known = {"params": ev.get("params"), "macs": ev.get("macs"), "latency_ms": lv.get("median_ms")}
        check = settings.budget.active and bool(missing)
        if check and not need_edge and not need_lat:  # all metrics cached: decide here
            if settings.budget.violation(known["params"], known["macs"], known["latency_ms"]):
                missing = ()  # over budget: nothing to score
            check = False
        if not missing and not need_edge and not need_lat:
            cached += 1
            continue
        tasks.append(Task(c, missing, need_edge, need_lat, check, known))
    return tasks, cached, scores_cached


def _collect(cands: Sequence[Candidate], store: ResultStore, settings: RankSettings, skey: str) -> list[dict]:
    """One output row per candidate, read back from the store."""
    ekey, lkey = settings.edge_key(), settings.latency_key()
    rows = []
    for c in cands:
        stored = store.get_scores(c.key, skey, settings.proxies)
        edge = store.get_metric(c.key, EDGE_METRIC, ekey) or {}
        ev = edge.get("value") or {}
        lat = store.get_metric(c.key, LATENCY_METRIC, lkey) if lkey else None
        lv = (lat or {}).get("value") or {}
        row: dict[str, Any] = {"model": c.name, "key": c.key, "params": ev.get("params"), "macs": ev.get("macs"),
                               "peak_activation_bytes": ev.get("peak_activation_bytes"),
                               "macs_by_op_type": ev.get("macs_by_op_type")}
        if lkey:
            row["latency_ms"] = _finite(lv.get("median_ms"))
            row["latency"] = lv or None
        reason = settings.budget.violation(ev.get("params"), ev.get("macs"), lv.get("median_ms")) \
            if settings.budget.active else None
        errs = []
        n_ok = 0
        for p in settings.proxies:
            s = stored.get(p)
            val = _finite(s["score"]) if s and s["status"] == "ok" else None
            row[p] = None if reason else val
            n_ok += val is not None
            if s and s["status"] != "ok" and not reason:
                errs.append(f"{p}: {s['error']}")
        load_failed = bool(stored) and n_ok == 0 and edge.get("status") == "error"
        if reason and not load_failed:
            status = "filtered"
            errs = [reason]
        elif reason:  # e.g. a corrupt file under a budget: report why it failed, not the budget
            status = "error"
            errs = [f"{p}: {stored[p]['error']}" for p in settings.proxies if p in stored]
        elif n_ok == len(settings.proxies):
            status = "ok"
        elif n_ok:
            status = "partial"
        elif stored or edge.get("status") == "error":
            status = "error"
        else:
            status = "missing"
        if status == "error" and not errs and edge.get("error"):
            errs.append(edge["error"])
        # identical per-proxy messages (e.g. a corrupt file) are reported once
        msgs = [e.split(": ", 1)[1] if ": " in e else e for e in errs]
        if len(errs) > 1 and len(set(msgs)) == 1:
            errs = [msgs[0]]
        if ev.get("macs_note"):
            errs.append(ev["macs_note"])
        row["status"], row["error"] = status, ("; ".join(errs) or None)
        rows.append(row)
    _assign_ranks(rows, settings.proxies)
    first = settings.proxies[0]
    rows.sort(key=lambda r: (r[f"{first}_rank"] is None, r[f"{first}_rank"] or 0, r["model"]))
    return rows


def rank(candidates: Sequence[Candidate], settings: RankSettings, *, store: ResultStore | str,
         workers: int | None = None, ray_address: str | None = None, retry_failed: bool = False,
         progress: bool = True, timeout_s: float | None = DEFAULT_TIMEOUT_S) -> RankResult:
    """Score every candidate (only what the store lacks), writing each as it finishes; return ranked rows.

    timeout_s: per-candidate time limit (None or 0: none); a candidate over it is recorded as failed."""
    from onnxscore.proxies import registry

    if not candidates:
        raise InputError("no candidates to rank; pass .onnx files, directories of them, or --space NAME --sample N")
    if not settings.proxies:
        raise InputError("no proxy selected; pass --proxy epads (or naswot, swap, reg-swap)")
    if timeout_s is not None and not timeout_s >= 0:
        raise InputError(f"--timeout must be 0 (no limit) or a number of seconds (got {timeout_s})")
    proxies = registry.parse(settings.proxies) if settings.score_fn is None else settings.proxies
    settings = replace(settings, proxies=tuple(proxies))
    own_store = not isinstance(store, ResultStore)
    st = ResultStore(store) if own_store else store
    t0 = time.perf_counter()
    try:
        skey = settings.score_key()
        ekey, lkey = settings.edge_key(), settings.latency_key()
        tasks, cached, scores_cached = _plan(candidates, st, settings, skey, retry_failed)
        st.require_writable(len(tasks))  # a read-only store serves what it has; new work could not be kept
        prog = Progress(len(tasks), cached, enabled=progress)
        counts = Counter()
        names = {c.key: c.name for c in candidates}

        def on_result(task: Task, res: dict) -> None:
            key = task.candidate.key
            metrics = []
            if task.edge:
                metrics.append((EDGE_METRIC, ekey, res["edge"], "ok" if res["edge"] else "error", res["edge_error"]))
            if task.latency and lkey:
                metrics.append((LATENCY_METRIC, lkey, res["latency"], "ok" if res["latency"] else "error",
                                res["latency_error"]))
            info = dict(res.get("info") or {})
            info["elapsed_s"] = round(float(res.get("elapsed_s", 0.0)), 4)
            if res["filtered"] or not task.proxies:
                st.put_candidate(key, skey, names[key], {}, {}, metrics=metrics)
            else:
                scores = {p: res["scores"].get(p) for p in task.proxies}
                errors = {p: e for p, e in res["errors"].items() if p in task.proxies}
                st.put_candidate(key, skey, names[key], scores, errors, info=info, metrics=metrics)
                counts["scored"] += 1
            got = [p for p in task.proxies if res["scores"].get(p) is not None]
            # "failed" = the candidate gave no score at all (like a row's status "error"); a proxy that is
            # undefined for one model (e.g. reg-swap without mu) while others scored is "partial", not a failure
            prog.update(failed=bool(res["errors"]) and not got and not res["filtered"],
                        partial=bool(res["errors"]) and bool(got))

        try:
            if not tasks:
                pass
            elif ray_address:
                run_ray(tasks, settings, ray_address, workers, on_result, timeout_s)
            elif workers == 0:
                run_inline(tasks, settings, on_result, timeout_s)
            else:
                n = workers or default_workers()
                run_pool(tasks, settings, max(1, min(n, len(tasks))), on_result, timeout_s)
        finally:
            prog.close()
        rows = _collect(candidates, st, settings, skey)
        return RankResult(rows, settings.proxies, settings.latency is not None, scored=counts["scored"],
                          cached=scores_cached, failed=sum(r["status"] == "error" for r in rows),
                          filtered=sum(r["status"] == "filtered" for r in rows),
                          elapsed_s=time.perf_counter() - t0)
    finally:
        if own_store:
            st.close()
