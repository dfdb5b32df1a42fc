"""Supervised child processes for work that runs third-party native code (onnx, onnxruntime).

Each child holds one task at a time over its own Pipe, so when a child dies (a signal in native code,
an out-of-memory kill) or overruns the time limit, the parent knows the one task it held: only that
task is charged, and a fresh child takes the rest. Children ignore Ctrl-C; the parent stops them.
"""
from __future__ import annotations

import contextlib
import faulthandler
import gc
import os
import pickle
import signal
import sys
import threading
import time
import traceback
from collections import Counter, deque
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from onnxscore.errors import OnnxscoreError, WorkerError, first_line

DEFAULT_TIMEOUT_S = 600.0  # per model: far above any real model's scoring time, low enough to end a hang
NATIVE_CRASHES = ("SIGSEGV", "SIGBUS", "SIGILL", "SIGFPE", "SIGABRT")
STARTUP_LIMIT_S = 300.0  # a child that has not taken its first task by then is stuck starting
STARTUP_FAILURES = 2  # children in a row dying before their first task: the job cannot run in children
_STARTED, _DONE, _RAISED, _SETUP_ERROR = "started", "done", "raised", "setup_error"


# ============================================================================ outcomes

@dataclass
class Raised:
    """An exception a task (or a child's setup) raised, reduced to what the parent reports."""

    type_name: str
    message: str  # first line of the message
    user_error: bool  # an OnnxscoreError: its message is meant for the user as it is
    traceback: str

    @classmethod
    def of(cls, exc: BaseException) -> "Raised":
        return cls(type(exc).__name__, first_line(exc, ""), isinstance(exc, OnnxscoreError),
                   "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))

    def line(self) -> str:
        """One line: the message of a user error, else 'Type: message'."""
        if self.user_error:
            return self.message or self.type_name
        return f"{self.type_name}: {self.message}" if self.message else self.type_name


@dataclass
class Outcome:
    """How one task ended: it returned `value`, raised (`raised`), its child died (`exitcode`), or it
    overran the time limit (`timed_out`, the limit in seconds)."""

    value: Any = None
    raised: Raised | None = None
    exitcode: int | None = None  # of the child that died holding the task; -N = killed by signal N
    timed_out: float | None = None

    @property
    def ok(self) -> bool:
        return self.raised is None and self.exitcode is None and self.timed_out is None


def signal_name(exitcode: int) -> str:
    try:
        return signal.Signals(-exitcode).name
    except ValueError:
        return f"signal {-exitcode}"


def death_reason(exitcode: int) -> str:
    """What happened to a child, as a phrase after its subject: 'crashed in native code (SIGSEGV)'."""
    if exitcode >= 0:
        return f"exited with status {exitcode}"
    name = signal_name(exitcode)
    if name == "SIGKILL":
        return "was killed (SIGKILL: out of memory?)"
    if name in NATIVE_CRASHES:
        return f"crashed in native code ({name})"
    return f"was stopped by {name}"


def limit_reason(timeout_s: float) -> str:
    return f"exceeded the per-model time limit of {timeout_s:g} s (--timeout)"


def failure_reason(out: Outcome, subject: str = "worker process", doing: str = "scoring this model") -> str:
    """One line for a task that did not return: 'worker process crashed in native code (SIGSEGV) while ...'."""
    if out.timed_out is not None:
        return limit_reason(out.timed_out)
    if out.exitcode is not None:
        return f"{subject} {death_reason(out.exitcode)} while {doing}"
    return out.raised.line() if out.raised else "no result"


# ============================================================================ child side

def watch_parent(parent_pid: int) -> None:
    """Exit this child when the parent dies (e.g. kill -9), instead of lingering as an orphan."""
    while True:
        time.sleep(1.0)
        if os.getppid() != parent_pid:
            os._exit(1)


def _serve(conn, job: bytes, parent_pid: int) -> None:
    """A child's life: set up once, then run one task per message until told to stop or orphaned."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    if hasattr(signal, "pthread_sigmask"):  # started with SIGINT blocked (see _sigint_ignored)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    threading.Thread(target=watch_parent, args=(parent_pid,), daemon=True).start()
    try:
        from onnxscore.runtime import DEBUG_ENV

        if os.environ.get(DEBUG_ENV, "") in ("", "0"):
            faulthandler.disable()  # a forked child inherits it; the parent reports the crash in one line
        fn, setup, setup_args = pickle.loads(job)
        if setup is not None:
            setup(*setup_args)
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, which fails the run
        conn.send((_SETUP_ERROR, Raised.of(exc)))
        return
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):  # the parent closed its end
            return
        if task is None:
            return
        try:
            conn.send((_STARTED, None))
            try:
                msg = (_DONE, fn(task))
            except BaseException as exc:  # noqa: BLE001 - one task's failure, not the child's
                msg = (_RAISED, Raised.of(exc))
            try:
                conn.send(msg)
            except (BrokenPipeError, ConnectionError):
                raise
            except Exception as exc:  # noqa: BLE001 - e.g. an unpicklable result (pickled before writing)
                conn.send((_RAISED, Raised.of(exc)))
        except (BrokenPipeError, ConnectionError):  # the parent is gone (killed): nobody to answer
            os._exit(1)


# ============================================================================ parent side

FORK_UNSAFE_MODULES = ("tensorflow", "torch", "paddle", "jax", "ray")


def fork_is_safe() -> bool:
    """Whether forking this process gives a sound child: Linux, no other Python thread, and no live
    onnxruntime session (a forked child would inherit a session whose threads it does not have)."""
    if not sys.platform.startswith("linux") or threading.active_count() > 1:
        return False
    if any(m in sys.modules for m in FORK_UNSAFE_MODULES):  # native thread pools and locks a child would inherit
        return False
    ort = sys.modules.get("onnxruntime")
    if ort is None:
        return True
    kind = getattr(ort, "InferenceSession", None)
    return kind is None or not any(isinstance(o, kind) for o in gc.get_objects())


@contextlib.contextmanager
def _sigint_ignored():
    """Start a child that never runs Python's Ctrl-C handler: SIGINT is ignored (the child inherits
    SIG_IGN) and blocked meanwhile, so a Ctrl-C arriving now reaches the parent when this ends
    instead of being lost."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    blocked = hasattr(signal, "pthread_sigmask")
    if blocked:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)
        if blocked:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


class _Child:
    """One child process and the task it holds (None when idle)."""

    def __init__(self, ctx, job: bytes):
        self.conn, child_end = ctx.Pipe()
        self.proc = ctx.Process(target=_serve, args=(child_end, job, os.getpid()), name="onnxscore-worker")
        for stream in (sys.stdout, sys.stderr):  # a forked child would write our unflushed output again
            with contextlib.suppress(Exception):
                stream.flush()
        with _sigint_ignored():
            self.proc.start()
        child_end.close()
        self.item: tuple[int, Any] | None = None
        self.sent_at = self.started_at = None
        self.served = 0

    def give(self, item: tuple[int, Any]) -> None:
        self.item, self.sent_at, self.started_at = item, time.monotonic(), None
        try:
            self.conn.send(item[1])
        except OSError:  # the child died while idle; Pool._check finds it dead and hands the task on
            pass

    def deadline(self, timeout_s: float | None) -> float | None:
        if self.item is None:
            return None
        if self.started_at is None:
            return self.sent_at + STARTUP_LIMIT_S
        return self.started_at + timeout_s if timeout_s else None

    def kill(self) -> None:
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join(5)
        self.conn.close()


class Pool:
    """`workers` supervised children running `fn(task)` after `setup(*setup_args)`; see the module doc.

    A task whose child dies is run again in a fresh child until it has died `attempts` times, then
    reported with the child's exit code; a task over `timeout_s` (None or 0: no limit) has its child
    killed and is reported as timed out. `start_method`: 'spawn', 'fork', or 'auto' (fork when
    fork_is_safe(), else spawn).
    """

    def __init__(self, fn: Callable, workers: int = 1, *, setup: Callable | None = None, setup_args: tuple = (),
                 timeout_s: float | None = None, attempts: int = 1, start_method: str = "spawn"):
        import multiprocessing as mp

        try:
            self.job = pickle.dumps((fn, setup, setup_args))
        except Exception as exc:  # noqa: BLE001 - e.g. a lambda as score_fn
            raise WorkerError(f"cannot send the job to worker processes ({type(exc).__name__}: "
                              f"{first_line(exc, '')}); use module-level functions, or --workers 0") from None
        if start_method == "auto":
            start_method = "fork" if fork_is_safe() else "spawn"
        self.ctx = mp.get_context(start_method)
        self.workers, self.timeout_s, self.attempts = max(1, int(workers)), timeout_s or None, max(1, int(attempts))
        self.children: list[_Child] = []
        self._startup_failures = 0  # children in a row that died before their first task

    def __enter__(self) -> "Pool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Stop every child (kill: a child may be deep in native code; it holds nothing of the parent's)."""
        for c in self.children:
            c.kill()
        self.children.clear()

    def _start(self) -> _Child:
        c = _Child(self.ctx, self.job)
        self.children.append(c)
        return c

    def _retire(self, c: _Child) -> None:
        c.kill()
        self.children.remove(c)

    def run(self, tasks: Iterable, on_done: Callable[[Any, Outcome], None]) -> None:
        """Run every task, calling on_done(task, outcome) in this process as each one ends."""
        from multiprocessing.connection import wait

        pending = deque(enumerate(tasks))
        deaths: Counter = Counter()
        while pending or any(c.item is not None for c in self.children):
            for c in self.children:
                if c.item is None and pending:
                    c.give(pending.popleft())
            while pending and len(self.children) < self.workers:
                self._start().give(pending.popleft())
            busy = [c for c in self.children if c.item is not None]
            deadlines = [d for d in (c.deadline(self.timeout_s) for c in busy) if d is not None]
            wait_s = max(0.0, min(deadlines) - time.monotonic()) if deadlines else None
            wait([c.conn for c in busy] + [c.proc.sentinel for c in busy], wait_s)
            for c in busy:
                self._check(c, pending, deaths, on_done)

    def _drain(self, c: _Child, on_done: Callable) -> None:
        """Handle every message the child has sent so far."""
        while c.item is not None and c.conn.poll():
            try:
                kind, payload = c.conn.recv()
            except (EOFError, OSError):  # the child died mid-message
                return
            if kind == _SETUP_ERROR:
                self.close()
                raise WorkerError(payload.line() if payload.user_error
                                  else f"a worker process could not start: {payload.line()}")
            if kind == _STARTED:
                c.started_at = time.monotonic()
                self._startup_failures = 0
                continue
            (_, task), c.item = c.item, None
            c.served += 1
            on_done(task, Outcome(value=payload) if kind == _DONE else Outcome(raised=payload))

    def _check(self, c: _Child, pending: deque, deaths: Counter, on_done: Callable) -> None:
        """Read what the child sent; then, if it still holds its task, see whether it died or overran."""
        self._drain(c, on_done)
        if c.item is not None and not c.proc.is_alive():
            self._drain(c, on_done)  # it may have answered just before dying
        if c.item is None:
            return
        index, task = c.item
        if not c.proc.is_alive():
            c.proc.join(5)
            code = c.proc.exitcode if c.proc.exitcode is not None else -getattr(signal, "SIGKILL", 9)
            self._retire(c)
            if c.started_at is None:  # died before taking the task: nothing to charge
                pending.appendleft((index, task))
                if not c.served:  # it never ran anything: starting children fails
                    self._startup_failed(f"a worker process {death_reason(code)} while starting")
                return
            deaths[index] += 1
            if deaths[index] < self.attempts:
                pending.appendleft((index, task))  # once more, in a fresh child
            else:
                on_done(task, Outcome(exitcode=code))
            return
        deadline = c.deadline(self.timeout_s)
        if deadline is not None and time.monotonic() >= deadline:
            self._retire(c)
            if c.started_at is None:
                pending.appendleft((index, task))
                self._startup_failed(f"a worker process did not start within {STARTUP_LIMIT_S:g} s")
            else:
                on_done(task, Outcome(timed_out=self.timeout_s))

    def _startup_failed(self, why: str) -> None:
        self._startup_failures += 1
        if self._startup_failures >= STARTUP_FAILURES:
            self.close()
            raise WorkerError(f"{why}, {self._startup_failures} times in a row; rerun with --workers 0 "
                              "(in this process) to see why")


# ============================================================================ in this process

def call_with_limit(fn: Callable, arg, timeout_s: float | None) -> Outcome:
    """fn(arg) in this process; past timeout_s a watchdog stops its onnxruntime runs (RunOptions.terminate).
    Only onnxruntime runs can be stopped here: a hang elsewhere needs a child process (Pool)."""
    if not timeout_s:
        return Outcome(value=fn(arg))
    from onnxscore import runtime

    fired = threading.Event()
    with runtime.cancellable() as stop:
        timer = threading.Timer(timeout_s, lambda: (fired.set(), stop()))
        timer.daemon = True
        timer.start()
        try:
            value = fn(arg)
        except Exception:
            if fired.is_set():
                return Outcome(timed_out=timeout_s)
            raise
        finally:
            timer.cancel()
    return Outcome(timed_out=timeout_s) if fired.is_set() else Outcome(value=value)
