"""Oracles: what one "training" of a candidate answers (an accuracy, higher is better), for hybrid search.

An oracle is called with an architecture string; `QueryBudget` bounds, counts, times and caches the calls
in the result store (the store is the cache: a rerun never retrains an architecture it already answered).

- `NB201Oracle` answers NAS-Bench-201's CIFAR-10 *validation* accuracy (`cifar10_valid_acc`: 200 epochs on
  the train half, evaluated on the held-out half). It reads no other column: the test accuracy is only
  looked up for what a search found, after the search (searching.benchmark_accuracy).
- `CommandOracle` runs a user's training script on the candidate, written as ONNX, and reads the accuracy
  from the last line the script prints.
- `FunctionOracle` calls a Python function (arch -> accuracy) from the API.
"""
from __future__ import annotations

import math
import os
import shlex
import subprocess
import tempfile
import time
from typing import Any, Callable

from onnxscore.errors import InputError, first_line

ORACLES = ("nb201",)
NB201_COLUMN = "cifar10_valid_acc"


class Oracle:
    """Answers an accuracy (float, higher is better) for an architecture; None when the training failed."""

    name = "oracle"

    def __call__(self, space, arch: str) -> float | None:
        raise NotImplementedError

    def key(self) -> dict:
        """What identifies its answers in the store (a different key never reuses an answer)."""
        return {"oracle": self.name}

    def describe(self) -> str:
        return self.name


class NB201Oracle(Oracle):
    """NAS-Bench-201's CIFAR-10 validation accuracy (%) of an architecture, from the accuracy table."""

    name = "nb201"

    def __init__(self, table: Any = None):
        self._table = table  # a {arch_str: row} dict, a path to nb201_accuracies.csv, or None (shipped)
        self._rows = None

    def rows(self) -> dict:
        if self._rows is None:
            from onnxscore.spaces.nb201 import load_accuracies

            self._rows = self._table if isinstance(self._table, dict) else load_accuracies(self._table)
        return self._rows

    def __call__(self, space, arch):
        from onnxscore.spaces.nb201 import format_arch, to_ops

        row = self.rows().get(format_arch(to_ops(arch)))
        if row is None:
            raise InputError(f"{arch} is not in the NAS-Bench-201 table; --oracle nb201 answers nb201 members only")
        v = row[NB201_COLUMN]
        return None if v is None else float(v)

    def key(self):
        return {"oracle": self.name, "column": NB201_COLUMN}

    def describe(self):
        return f"nb201 ({NB201_COLUMN}: 200-epoch CIFAR-10 validation accuracy, train half / valid half)"


class FunctionOracle(Oracle):
    """A Python callable arch -> accuracy (None or raising = the training failed)."""

    def __init__(self, fn: Callable[[str], float | None], name: str = "function"):
        self.fn, self.name = fn, name

    def __call__(self, space, arch):
        v = self.fn(arch)
        return None if v is None else float(v)


class CommandOracle(Oracle):
    """Runs `template` with {onnx} (the candidate built with the search's weights seed, in a temp folder)
    and {arch} (its string) filled in, shell-quoted; the last non-empty stdout line is the accuracy."""

    name = "train-cmd"

    def __init__(self, template: str, build_seed: int = 0, timeout_s: float | None = None):
        if "{onnx}" not in template and "{arch}" not in template:
            raise InputError("--train-cmd must contain {onnx} (the candidate's ONNX file) or {arch} (its string), "
                             'e.g. --train-cmd "python train.py {onnx}"')
        try:
            template.format(onnx="x", arch="y")
        except (KeyError, IndexError, ValueError) as exc:
            raise InputError(f"--train-cmd {template!r} has a placeholder other than {{onnx}} and {{arch}} "
                             f"({exc}); write literal braces as {{{{ and }}}}") from None
        self.template, self.build_seed, self.timeout_s = template, int(build_seed), timeout_s
        self.last_error: str | None = None

    def key(self):
        return {"oracle": self.name, "cmd": self.template, "build_seed": self.build_seed}

    def describe(self):
        return f"train-cmd {self.template!r} (candidates built with weights seed {self.build_seed})"

    def __call__(self, space, arch):
        self.last_error = None
        with tempfile.TemporaryDirectory(prefix="onnxscore-train-") as tmp:
            path = os.path.join(tmp, "candidate.onnx")
            model = space.build(arch, seed=self.build_seed)
            with open(path, "wb") as f:
                f.write(model.SerializeToString())
            cmd = self.template.format(onnx=shlex.quote(path), arch=shlex.quote(str(arch)))
            try:
                p = subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=self.timeout_s)
            except subprocess.TimeoutExpired:
                self.last_error = f"training command timed out after {self.timeout_s} s"
                return None
        if p.returncode != 0:
            out = (p.stderr or p.stdout or "").strip().splitlines()
            tail = first_line(out[-1]) if out else "no output"
            self.last_error = f"training command exited with code {p.returncode}: {tail}"
            return None
        lines = [ln.strip() for ln in (p.stdout or "").splitlines() if ln.strip()]
        try:
            v = float(lines[-1])
        except (IndexError, ValueError):
            self.last_error = ("training command's last stdout line is not a number "
                               f"({lines[-1][:80]!r})" if lines else "training command printed nothing on stdout")
            return None
        return v if math.isfinite(v) else None


def make_oracle(oracle: Any = None, train_cmd: str | None = None, *, table: Any = None, build_seed: int = 0,
                timeout_s: float | None = None) -> Oracle | None:
    """The oracle behind --oracle / --train-cmd / a callable (None when neither is given)."""
    if oracle is not None and train_cmd is not None:
        raise InputError("give --oracle or --train-cmd, not both")
    if train_cmd is not None:
        return CommandOracle(train_cmd, build_seed, timeout_s)
    if oracle is None or isinstance(oracle, Oracle):
        return oracle
    if callable(oracle):
        return FunctionOracle(oracle, getattr(oracle, "__name__", "function"))
    if str(oracle).lower() == "nb201":
        return NB201Oracle(table)
    raise InputError(f"unknown --oracle {oracle!r}; use nb201, or --train-cmd \"CMD {{onnx}} {{arch}}\" for your own "
                     "training")


class QueriesExhausted(Exception):
    """An algorithm asked for more oracle answers than --queries allows (a bug of ours, never user input)."""


class QueryBudget:
    """At most `limit` distinct oracle answers per search, cached in the store under the oracle's key.

    `queries` = distinct architectures answered for this search (store hits included); `new_queries` = oracle
    calls actually made; `seconds` = wall time inside those calls. A failed training (None) counts as a query
    and is not stored, so a rerun tries it again.
    """

    def __init__(self, oracle: Oracle, limit: int, space, space_name: str, space_kwargs: dict, store=None):
        if int(limit) < 1:
            raise InputError(f"--queries must be at least 1 (got {limit})")
        self.oracle, self.limit, self.space = oracle, int(limit), space
        from onnxscore.store import canonical_json

        self._space_id = canonical_json({"space": space_name, "space_kwargs": space_kwargs})
        self.settings_key = canonical_json(self.oracle.key())
        self.store = store
        self.answers: dict[str, float | None] = {}
        self.new_queries = 0
        self.seconds = 0.0
        self.errors: dict[str, str] = {}

    @property
    def queries(self) -> int:
        return len(self.answers)

    @property
    def left(self) -> int:
        return self.limit - len(self.answers)

    def _hash(self, arch: str) -> str:
        from onnxscore.store import content_hash

        return content_hash(f"{self._space_id}|{arch}".encode())

    def ask(self, arch: str) -> float | None:
        """The oracle's answer for `arch` (from this search's memory, the store, or a new call)."""
        if arch in self.answers:
            return self.answers[arch]
        if self.left <= 0:
            raise QueriesExhausted(f"asked for a query beyond --queries {self.limit}")
        h = self._hash(arch)
        hit = self.store.get_metric(h, "oracle", self.settings_key) if self.store is not None else None
        if hit is not None and hit["status"] == "ok":
            v = hit["value"]["value"]
        else:
            t0 = time.perf_counter()
            try:
                v = self.oracle(self.space, arch)
            except InputError:
                raise
            except Exception as exc:  # a user's training function failed: this candidate's failure only
                v = None
                self.errors[arch] = first_line(f"{type(exc).__name__}: {exc}")
            self.seconds += time.perf_counter() - t0
            self.new_queries += 1
            err = getattr(self.oracle, "last_error", None)
            if err:
                self.errors[arch] = err
            if v is not None and not math.isfinite(v):
                v = None
            if v is not None and self.store is not None:
                self.store.put_metrics(h, [("oracle", self.settings_key,
                                            {"value": v, "arch": arch, "seconds": time.perf_counter() - t0},
                                            "ok", None)])
        self.answers[arch] = v
        return v

    def best(self) -> tuple[str | None, float | None]:
        """The answered architecture with the highest accuracy (ties: the first asked)."""
        best = (None, None)
        for a, v in self.answers.items():
            if v is not None and (best[1] is None or v > best[1]):
                best = (a, v)
        return best

    def record(self) -> dict:
        return {"oracle": self.oracle.describe(), "queries_limit": self.limit, "queries": self.queries,
                "new_queries": self.new_queries, "oracle_seconds": round(self.seconds, 3)}


__all__ = ["Oracle", "NB201Oracle", "FunctionOracle", "CommandOracle", "make_oracle", "QueryBudget",
           "QueriesExhausted", "ORACLES", "NB201_COLUMN"]
