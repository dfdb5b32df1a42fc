"""The ranked rows of a job and their renderings (CSV, JSON, text table, Pareto front)."""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Sequence

from onnxscore.edge.pareto import human, pareto_front
from onnxscore.proxies import registry


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
        first = self.proxies[0]
        if registry.higher_is_better(first):
            return cost, pareto_front(ok, score=first, cost=cost)
        return cost, pareto_front(ok, score=lambda r: None if r.get(first) is None else -r[first], cost=cost)

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
    """Competition ranking per proxy (1 = best score: the highest, or the lowest for a proxy registered
    lower-is-better such as ntk_cond; ties share the lower rank); unscored rows get None."""
    for p in proxies:
        sign = -1.0 if registry.higher_is_better(p) else 1.0
        scored = sorted((r for r in rows if r.get(p) is not None), key=lambda r: sign * r[p])
        prev, rank = None, 0
        for i, r in enumerate(scored, 1):
            if r[p] != prev:
                rank, prev = i, r[p]
            r[f"{p}_rank"] = rank
        for r in rows:
            r.setdefault(f"{p}_rank", None)
