"""Where a job's tasks run: in this process, in a supervised pool of spawn-started children, or on Ray.

Each executor is a context manager holding its workers for as long as it is open, so a search keeps
one pool for all its candidates instead of starting workers per candidate. `run(tasks, on_result)`
calls on_result(task, result) in this process as each task ends; a task whose worker dies or overruns
the time limit gets a failure result naming why, and the others go on.
"""
from __future__ import annotations

import logging
import os
import time
from collections import deque
from pathlib import Path
from typing import Callable, Sequence

from onnxscore.engine.settings import RankSettings, Task
from onnxscore.engine.worker import _init_worker, _one_line, _pool_task, run_task
from onnxscore.errors import InputError, MissingExtraError, first_line
from onnxscore.isolate import Outcome, failure_reason, limit_reason

CRASH_ATTEMPTS = 2  # a candidate whose worker dies is run once more in a fresh worker, then recorded as failed
OnResult = Callable[[Task, dict], None]


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


class Executor:
    """Base: a context manager with run(tasks, on_result); `settings` is what its workers were given."""

    def __init__(self, settings: RankSettings, timeout_s: float | None = None):
        self.settings, self.timeout_s = settings, timeout_s or None

    def __enter__(self) -> "Executor":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        pass

    def run(self, tasks: Sequence[Task], on_result: OnResult) -> None:
        raise NotImplementedError

    def serves(self, settings: RankSettings) -> bool:
        """True when tasks of a job with `settings` may run here (same settings but the proxy list,
        which each task carries itself)."""
        from dataclasses import replace

        return replace(self.settings, proxies=()) == replace(settings, proxies=())


class InlineExecutor(Executor):
    """Tasks one by one in this process (workers=0: debugging, tests, tiny jobs). No isolation: a crash
    ends the run, and the time limit can only stop onnxruntime runs (isolate.call_with_limit)."""

    def run(self, tasks: Sequence[Task], on_result: OnResult) -> None:
        from onnxscore.isolate import call_with_limit

        for t in tasks:
            out = call_with_limit(lambda task: run_task(task, self.settings), t, self.timeout_s)
            on_result(t, _outcome_result(t, out))


class _ThreadEnv:
    """Set thread-count variables (inherited by spawned workers) while a pool is open."""

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


class PoolExecutor(Executor):
    """`workers` spawn-started children holding one task each (isolate.Pool): a worker that dies or
    overruns the time limit costs only the task it held, and a fresh worker takes the rest. Children
    start on demand and stay up until the executor closes."""

    def __init__(self, settings: RankSettings, workers: int, timeout_s: float | None = None):
        super().__init__(settings, timeout_s)
        self.workers = max(1, int(workers))
        self._env = self._pool = None

    def __enter__(self) -> "PoolExecutor":
        from onnxscore.isolate import Pool

        self._env = _ThreadEnv(self.settings.threads).__enter__()
        self._pool = Pool(_pool_task, self.workers, setup=_init_worker, setup_args=(self.settings,),
                          timeout_s=self.timeout_s, attempts=CRASH_ATTEMPTS)
        return self

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None
        if self._env is not None:
            self._env.__exit__(None, None, None)
            self._env = None

    def run(self, tasks: Sequence[Task], on_result: OnResult) -> None:
        if self._pool is None:
            raise RuntimeError("PoolExecutor.run outside its `with` block")
        self._pool.run(tasks, lambda t, out: on_result(t, _outcome_result(t, out)))


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


class RayExecutor(Executor):
    """Tasks as Ray remote functions ('local' starts a private instance, 'auto' joins a running cluster).
    Each task fails alone; one past the time limit (counted from submission) is cancelled with its worker."""

    def __init__(self, settings: RankSettings, address: str, workers: int | None = None,
                 timeout_s: float | None = None):
        super().__init__(settings, timeout_s)
        self.address, self.workers = address, workers
        self._ray = self._remote = self._sref = None
        self._started = False

    def __enter__(self) -> "RayExecutor":
        try:
            import ray
        except ImportError:
            raise MissingExtraError("ray", "ray") from None
        self._ray = ray
        if not ray.is_initialized():
            self._init(ray)
            self._started = True
        self._remote = ray.remote(num_cpus=1, max_retries=CRASH_ATTEMPTS - 1)(run_task)
        self._sref = ray.put(self.settings)
        return self

    def _init(self, ray) -> None:
        env = {k: "1" for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                                "ORT_DISABLE_TELEMETRY")}
        address = self.address
        if str(address).lower() == "local":
            os.environ.setdefault("RAY_AUTH_MODE", "disabled")
            pkg_root = str(Path(__file__).resolve().parents[2])
            env["PYTHONPATH"] = os.pathsep.join(x for x in (pkg_root, os.environ.get("PYTHONPATH", "")) if x)
            ray.init(num_cpus=self.workers or default_workers(), include_dashboard=False,
                     log_to_driver=False, logging_level=logging.WARNING, runtime_env={"env_vars": env})
            return
        _check_reachable(address)
        try:
            ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING,
                     runtime_env={"env_vars": env})
        except ConnectionError as exc:
            raise InputError(f"cannot reach the Ray cluster at {address!r} ({_one_line(exc)}); "
                             "start one with `ray start --head` or pass --ray local") from None

    def close(self) -> None:
        if self._started and self._ray is not None:
            self._ray.shutdown()
        self._started = False

    def run(self, tasks: Sequence[Task], on_result: OnResult) -> None:
        ray, timeout_s = self._ray, self.timeout_s
        if ray is None:
            raise RuntimeError("RayExecutor.run outside its `with` block")
        # one task per CPU, so a task starts when it is submitted and its time limit counts from then
        window = max(1, int(ray.cluster_resources().get("CPU", 1)))
        pending = deque(tasks)
        inflight: dict = {}  # ref -> (task, submitted at)
        while pending or inflight:
            while pending and len(inflight) < window:
                t = pending.popleft()
                inflight[self._remote.remote(t, self._sref)] = (t, time.monotonic())
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


def open_executor(settings: RankSettings, *, workers: int | None = None, ray_address: str | None = None,
                  timeout_s: float | None = None, max_tasks: int | None = None) -> Executor:
    """The executor for `workers` (0: in-process, None: one per CPU) or a Ray address; use it in `with`.
    `max_tasks` caps the pool at the number of tasks there are (no idle children)."""
    if ray_address:
        return RayExecutor(settings, ray_address, workers, timeout_s)
    if workers == 0:
        return InlineExecutor(settings, timeout_s)
    n = workers or default_workers()
    return PoolExecutor(settings, max(1, min(n, max_tasks)) if max_tasks else n, timeout_s)


__all__ = ["Executor", "InlineExecutor", "PoolExecutor", "RayExecutor", "open_executor", "default_workers",
           "CRASH_ATTEMPTS"]
