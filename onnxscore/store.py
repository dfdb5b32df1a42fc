"""Embedded SQLite result store: one row per (model content hash, proxy, score settings), committed per candidate.

WAL mode + a commit after every candidate means a process killed with SIGKILL loses nothing it finished;
rows are keyed so that a rerun finds exactly what is missing. Cost metrics (params, MACs, memory,
latency) live in a second table keyed by (content hash, metric, metric settings).
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
from pathlib import Path
from typing import Iterable, Mapping

DEFAULT_STORE = os.path.join(".onnxscore", "results.sqlite")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS scores (
    content_hash TEXT NOT NULL,
    proxy        TEXT NOT NULL,
    settings_key TEXT NOT NULL,
    model        TEXT,
    score        REAL,
    status       TEXT NOT NULL,
    error        TEXT,
    info         TEXT,
    created_at   REAL NOT NULL,
    PRIMARY KEY (content_hash, proxy, settings_key)
);
CREATE TABLE IF NOT EXISTS metrics (
    content_hash TEXT NOT NULL,
    metric       TEXT NOT NULL,
    settings_key TEXT NOT NULL,
    value        TEXT,
    status       TEXT NOT NULL,
    error        TEXT,
    created_at   REAL NOT NULL,
    PRIMARY KEY (content_hash, metric, settings_key)
);
"""


def canonical_json(obj) -> str:
    """Deterministic JSON (sorted keys, no spaces) used as a settings key."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def content_hash(data: bytes) -> str:
    """sha256 hex digest of a model's bytes."""
    return hashlib.sha256(data).hexdigest()


def file_hash(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """sha256 of a file, read in chunks (the model is not parsed)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(chunk)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


class ResultStore:
    """SQLite store of proxy scores and cost metrics; safe to reopen after a crash, written by one process."""

    def __init__(self, path: str | os.PathLike = DEFAULT_STORE):
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._con = sqlite3.connect(self.path, timeout=60.0, isolation_level=None)
        self._con.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode survives a killed process (not a power cut) and is much faster than FULL
        self._con.execute("PRAGMA synchronous=NORMAL")
        self._con.executescript(_SCHEMA)

    # ------------------------------------------------------------------ lifecycle
    def close(self) -> None:
        """Close the connection (idempotent)."""
        if self._con is not None:
            self._con.close()
            self._con = None

    def __enter__(self) -> "ResultStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------ scores
    def get_scores(self, content_hash: str, settings_key: str, proxies: Iterable[str]) -> dict[str, dict]:
        """Stored rows {proxy: {score, status, error, model, info}} for the given proxies (missing ones absent)."""
        proxies = list(proxies)
        if not proxies:
            return {}
        q = ",".join("?" * len(proxies))
        rows = self._con.execute(
            f"SELECT proxy, score, status, error, model, info FROM scores "
            f"WHERE content_hash=? AND settings_key=? AND proxy IN ({q})",
            [content_hash, settings_key, *proxies],
        ).fetchall()
        return {
            r[0]: {"score": r[1], "status": r[2], "error": r[3], "model": r[4],
                   "info": json.loads(r[5]) if r[5] else None}
            for r in rows
        }

    def missing_proxies(self, content_hash: str, settings_key: str, proxies: Iterable[str],
                        retry_failed: bool = False) -> list[str]:
        """Proxies with no stored row (or, with retry_failed, no successful row)."""
        have = self.get_scores(content_hash, settings_key, proxies)
        return [p for p in proxies if p not in have or (retry_failed and have[p]["status"] != "ok")]

    def put_candidate(self, content_hash: str, settings_key: str, model: str,
                      scores: Mapping[str, float | None], errors: Mapping[str, str],
                      info: Mapping | None = None,
                      metrics: Iterable[tuple[str, str, object, str, str | None]] = ()) -> None:
        """Write one candidate's proxy rows and metric rows in a single transaction (all or nothing)."""
        now = time.time()
        info_json = canonical_json(dict(info)) if info else None
        rows = []
        for proxy in sorted(set(scores) | set(errors)):
            err = errors.get(proxy)
            val = scores.get(proxy)
            status = "ok" if err is None and val is not None else "error"
            if status == "error" and not err:
                err = "proxy returned no value"
            rows.append((content_hash, proxy, settings_key, model, val if status == "ok" else None,
                         status, err, info_json, now))
        mrows = [(content_hash, metric, key, canonical_json(value) if value is not None else None,
                  status, error, now) for metric, key, value, status, error in metrics]
        con = self._con
        con.execute("BEGIN IMMEDIATE")
        try:
            con.executemany("INSERT OR REPLACE INTO scores VALUES (?,?,?,?,?,?,?,?,?)", rows)
            con.executemany("INSERT OR REPLACE INTO metrics VALUES (?,?,?,?,?,?,?)", mrows)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise

    # ------------------------------------------------------------------ metrics
    def get_metric(self, content_hash: str, metric: str, settings_key: str) -> dict | None:
        """Stored metric {value, status, error} or None."""
        r = self._con.execute(
            "SELECT value, status, error FROM metrics WHERE content_hash=? AND metric=? AND settings_key=?",
            (content_hash, metric, settings_key),
        ).fetchone()
        if r is None:
            return None
        return {"value": json.loads(r[0]) if r[0] else None, "status": r[1], "error": r[2]}

    def put_metrics(self, content_hash: str, metrics: Iterable[tuple[str, str, object, str, str | None]]) -> None:
        """Write metric rows (metric, settings_key, value, status, error) in one transaction."""
        self.put_candidate(content_hash, "", "", {}, {}, metrics=metrics)

    # ------------------------------------------------------------------ inspection
    def count(self, table: str = "scores") -> int:
        """Number of rows in `scores` or `metrics`."""
        if table not in ("scores", "metrics"):
            raise ValueError(table)
        return int(self._con.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])

    def rows(self, table: str = "scores") -> list[dict]:
        """All rows of a table as dicts (for tests and export)."""
        if table not in ("scores", "metrics"):
            raise ValueError(table)
        cur = self._con.execute(f"SELECT * FROM {table} ORDER BY created_at")
        cols = [d[0] for d in cur.description]
        return [dict(zip(cols, r)) for r in cur.fetchall()]
