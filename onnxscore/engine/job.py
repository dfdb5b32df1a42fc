"""The ranking job: plan what the store lacks, run it on an executor, write each result as it ends,
read the ranked rows back. See onnxscore.engine for the pieces."""
from __future__ import annotations

import time
from collections import Counter
from dataclasses import replace
from typing import Any, Sequence

from onnxscore.engine.candidates import Candidate
from onnxscore.engine.executors import Executor, open_executor
from onnxscore.engine.progress import Progress
from onnxscore.engine.results import RankResult, _assign_ranks, _finite
from onnxscore.engine.settings import EDGE_METRIC, LATENCY_METRIC, RankSettings, Task
from onnxscore.errors import InputError
from onnxscore.isolate import DEFAULT_TIMEOUT_S
from onnxscore.proxies import ensemble
from onnxscore.store import ResultStore


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


def _collect(cands: Sequence[Candidate], store: ResultStore, settings: RankSettings, skey: str,
             shown: Sequence[str] | None = None) -> list[dict]:
    """One output row per candidate, read back from the store, ranked by the first of `shown` (the proxies
    asked for: an ensemble among them is combined here, over the rows that have a score)."""
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
    shown = list(shown or settings.proxies)
    ensemble.add_to_rows(shown, [r for r in rows if r["status"] in ("ok", "partial")])
    for r in rows:
        for p in shown:
            r.setdefault(p, None)
    _assign_ranks(rows, shown)
    first = shown[0]
    rows.sort(key=lambda r: (r[f"{first}_rank"] is None, r[f"{first}_rank"] or 0, r["model"]))
    return rows


def shown_proxies(proxies: Sequence[str]) -> list[str]:
    """The columns of a ranking: the proxies asked for, then the members their ensembles add."""
    from onnxscore.proxies import registry

    return list(dict.fromkeys([*proxies, *registry.computed(list(proxies))]))


def rank(candidates: Sequence[Candidate], settings: RankSettings, *, store: ResultStore | str,
         workers: int | None = None, ray_address: str | None = None, retry_failed: bool = False,
         progress: bool = True, timeout_s: float | None = DEFAULT_TIMEOUT_S, executor: Executor | None = None,
         label: str = "rank") -> RankResult:
    """Score every candidate (only what the store lacks), writing each as it finishes; return ranked rows.

    timeout_s: per-candidate time limit (None or 0: none); a candidate over it is recorded as failed.
    executor: an open Executor to run on (a search holds one for all its candidates); without one, an
    executor for `workers` / `ray_address` is opened for this call. label: the progress line's name."""
    from onnxscore.proxies import registry

    if not candidates:
        raise InputError("no candidates to rank; pass .onnx files, directories of them, or --space NAME --sample N")
    if not settings.proxies:
        raise InputError("no proxy selected; pass --proxy epads (or naswot, swap, reg-swap)")
    if timeout_s is not None and not timeout_s >= 0:
        raise InputError(f"--timeout must be 0 (no limit) or a number of seconds (got {timeout_s})")
    shown = list(settings.proxies)  # a custom score_fn names its own columns
    if settings.score_fn is None:  # registered proxies: an ensemble is scored through its members
        shown = shown_proxies(registry.parse(settings.proxies))
    settings = replace(settings, proxies=tuple(registry.computed(shown) if settings.score_fn is None else shown))
    own_store = not isinstance(store, ResultStore)
    st = ResultStore(store) if own_store else store
    t0 = time.perf_counter()
    try:
        skey = settings.score_key()
        ekey, lkey = settings.edge_key(), settings.latency_key()
        tasks, cached, scores_cached = _plan(candidates, st, settings, skey, retry_failed)
        st.require_writable(len(tasks))  # a read-only store serves what it has; new work could not be kept
        prog = Progress(len(tasks), cached, enabled=progress, label=label)
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
            elif executor is not None:
                if not executor.serves(settings):
                    raise InputError("the executor was opened for other settings than this job's; open one "
                                     "with the job's RankSettings")
                executor.run(tasks, on_result)
            else:
                with open_executor(settings, workers=workers, ray_address=ray_address, timeout_s=timeout_s,
                                   max_tasks=len(tasks)) as ex:
                    ex.run(tasks, on_result)
        finally:
            prog.close()
        rows = _collect(candidates, st, settings, skey, shown)
        return RankResult(rows, tuple(shown), settings.latency is not None, scored=counts["scored"],
                          cached=scores_cached, failed=sum(r["status"] == "error" for r in rows),
                          filtered=sum(r["status"] == "filtered" for r in rows),
                          elapsed_s=time.perf_counter() - t0)
    finally:
        if own_store:
            st.close()
