"""Embedded SQLite result store: one row per (model content hash, proxy, score settings), committed per candidate.

WAL mode + a commit after every candidate means a process killed with SIGKILL loses nothing it finished;
rows are keyed so that a rerun finds exactly what is missing. Cost metrics (params, MACs, memory,
latency) live in a second table keyed by (content hash, metric, metric settings).

A store is marked as onnxscore's (PRAGMA application_id) with its schema version (PRAGMA user_version),
and every file is inspected before anything is written to it: a file that is not SQLite, another
application's database or a store of another schema is refused with a one-line StoreError and left
as it was. Stores written before the marker existed (exactly the two tables, same columns) are stamped
on first use. A store that cannot be written (read-only file, folder or mount) is opened read-only and
still serves cached results; scoring into it is refused before the work starts (require_writable).
SQLite failures a user can fix (disk full, locked, damaged) become StoreErrors naming the store.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import stat
import struct
import time
from pathlib import Path
from typing import Iterable, Iterator, Mapping
from urllib.parse import quote

from onnxscore.errors import StoreError

DEFAULT_STORE = os.path.join(".onnxscore", "results.sqlite")
APPLICATION_ID = 0x6F6E7873  # b"onxs": PRAGMA application_id of every onnxscore store
SCHEMA_VERSION = 1  # PRAGMA user_version; raise it (and migrate in _prepare) when the tables change
_MAGIC = b"SQLite format 3\x00"
_TABLES = ("scores", "metrics")

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
_STAMP = f"PRAGMA application_id={APPLICATION_ID}; PRAGMA user_version={SCHEMA_VERSION};"


def canonical_json(obj) -> str:
    """Deterministic JSON (sorted keys, no spaces) used as a settings key."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def content_hash(data: bytes) -> str:
    """sha256 hex digest of a model's bytes."""
    return hashlib.sha256(data).hexdigest()


def file_hash(path: str | os.PathLike) -> str:
    """sha256 of a file, read in chunks (the model is not parsed)."""
    return hash_and_find(path)[0]


def hash_and_find(path: str | os.PathLike, needle: bytes | None = None, chunk: int = 1 << 20) -> tuple[str, bool]:
    """(sha256 of the file, whether `needle` occurs in it), in one chunked read."""
    h = hashlib.sha256()
    found, tail = False, b""
    with open(path, "rb") as f:
        while True:
            b = f.read(chunk)
            if not b:
                break
            h.update(b)
            if needle and not found:
                found = needle in tail + b
                tail = b[-(len(needle) - 1):] if len(needle) > 1 else b""
    return h.hexdigest(), found


def _table_layout(con: sqlite3.Connection, table: str) -> list[tuple]:
    """(name, declared type, not null, primary-key position) of each column, in order."""
    return [(r[1], r[2].upper(), r[3], r[5]) for r in con.execute(f"PRAGMA table_info({table})")]


def _expected_layout() -> dict[str, list[tuple]]:
    con = sqlite3.connect(":memory:")
    try:
        con.executescript(_SCHEMA)
        return {t: _table_layout(con, t) for t in _TABLES}
    finally:
        con.close()


_LAYOUT = _expected_layout()


def _can_write(path: str) -> bool:
    """Whether SQLite can write the store: the file (if it exists) and its folder (which receives the
    -wal and -shm files) are writable; False on a read-only mount. Without the file, whether the
    nearest existing folder lets it be created."""
    p = Path(path).absolute()
    if p.exists():
        return os.access(p, os.W_OK) and os.access(p.parent, os.W_OK | os.X_OK)
    folder = p.parent
    while not folder.exists():
        folder = folder.parent
    return os.access(folder, os.W_OK | os.X_OK)


class ResultStore:
    """SQLite store of proxy scores and cost metrics; safe to reopen after a crash, written by one process.

    read_only: None (default) opens read-only exactly when the file or its folder cannot be written;
    True never writes (a store given only to read from); False insists on writing.
    """

    def __init__(self, path: str | os.PathLike = DEFAULT_STORE, *, read_only: bool | None = None):
        self.path = str(path)
        self._con: sqlite3.Connection | None = None
        if self.path == ":memory:":
            self.read_only = False
            self._con = sqlite3.connect(self.path, isolation_level=None)
            self._con.executescript(_STAMP + _SCHEMA)
            return
        self._check_file()
        writable = _can_write(self.path)
        if read_only is None:
            read_only = not writable
        elif not read_only and not writable:
            raise StoreError(f"the store {self.path} is read-only (file, folder or mount); pass --store elsewhere")
        self.read_only = bool(read_only)
        exists = os.path.exists(self.path)
        if not exists and self.read_only:
            why = "cannot be created here (read-only location)" if not writable else "does not exist"
            raise StoreError(f"the store {self.path} {why} and holds no results; pass --store elsewhere")
        if not exists:
            try:
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"cannot create the folder of the store {self.path} "
                                 f"({(exc.strerror or str(exc)).lower()}); pass --store elsewhere") from None
        with self._sql("opening"):
            self._open()

    # ------------------------------------------------------------------ opening and checking
    def _check_file(self) -> None:
        """Refuse, without opening it with SQLite, a path that is not a file or not an SQLite database."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise StoreError(f"cannot read the store {self.path} ({(exc.strerror or str(exc)).lower()})") from None
        if stat.S_ISDIR(st.st_mode):
            raise StoreError(f"the store {self.path} is a directory; pass the path of a .sqlite file to --store")
        if not stat.S_ISREG(st.st_mode):
            raise StoreError(f"the store {self.path} is not a regular file; pass the path of a .sqlite file to --store")
        if st.st_size == 0:
            return  # SQLite's own reading of an empty file: a new database
        try:
            with open(self.path, "rb") as f:
                head = f.read(100)
        except OSError as exc:
            raise StoreError(f"cannot read the store {self.path} ({(exc.strerror or str(exc)).lower()})") from None
        if not head.startswith(_MAGIC):
            raise StoreError(f"{self.path} is not an onnxscore result store (not an SQLite database); "
                             "it was left untouched: pass --store with another path")
        app = struct.unpack(">i", head[68:72])[0] & 0xFFFFFFFF if len(head) >= 72 else 0
        if app not in (0, APPLICATION_ID):
            raise StoreError(f"{self.path} is another application's SQLite database (application_id {app:#x}), "
                             "not an onnxscore result store; it was left untouched: pass --store with another path")

    def _uri(self, mode: str, immutable: bool = False) -> str:
        uri = f"file:{quote(os.path.abspath(self.path))}?mode={mode}"
        return uri + ("&immutable=1" if immutable else "")

    def _state(self, con: sqlite3.Connection) -> str:
        """'current' (a stamped store of this schema), 'legacy' (the two tables, no stamp yet: a store
        of onnxscore before stamping) or 'empty' (no tables); anything else raises StoreError."""
        app = con.execute("PRAGMA application_id").fetchone()[0] & 0xFFFFFFFF
        version = con.execute("PRAGMA user_version").fetchone()[0]
        tables = sorted(r[0] for r in con.execute(
            "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'"))
        matches = tables == sorted(_TABLES) and all(_table_layout(con, t) == _LAYOUT[t] for t in _TABLES)
        keep = "it was left untouched: pass --store with another path"
        if app == APPLICATION_ID:
            if version > SCHEMA_VERSION:
                raise StoreError(f"the store {self.path} has schema version {version}, written by a newer onnxscore "
                                 f"(this one reads version {SCHEMA_VERSION}); upgrade onnxscore or pass --store "
                                 "with another path")
            if version != SCHEMA_VERSION or not matches:
                raise StoreError(f"the store {self.path} is marked as onnxscore's but its tables are not schema "
                                 f"version {SCHEMA_VERSION} (version {version}, tables: {', '.join(tables) or 'none'}); "
                                 f"{keep}")
            return "current"
        if app != 0:
            raise StoreError(f"{self.path} is another application's SQLite database (application_id {app:#x}), "
                             f"not an onnxscore result store; {keep}")
        if not tables and version == 0:
            return "empty"
        if matches and version == 0:
            return "legacy"
        shown = ", ".join(tables[:6]) + (", ..." if len(tables) > 6 else "") if tables else "none"
        raise StoreError(f"{self.path} is an SQLite database but not an onnxscore result store (tables: {shown}"
                         f"{f'; user_version {version}' if version else ''}); {keep}")

    def _open(self) -> None:
        if not self.read_only and (not os.path.exists(self.path) or os.path.getsize(self.path) == 0):
            self._con = sqlite3.connect(self.path, timeout=60.0, isolation_level=None)
            self._prepare("empty")
            return
        # inspect through a read-only connection first: a foreign file must not be changed in any way
        con = sqlite3.connect(self._uri("ro"), uri=True, timeout=60.0, isolation_level=None)
        try:
            try:
                state = self._state(con)
            except sqlite3.OperationalError:
                if not (self.read_only and not os.path.exists(self.path + "-wal")):
                    raise
                # a WAL store in a read-only folder without its -shm file: SQLite cannot open it
                # shared, but with no pending log the file alone is the whole database
                con.close()
                con = sqlite3.connect(self._uri("ro", immutable=True), uri=True, isolation_level=None)
                state = self._state(con)
        except BaseException:
            con.close()
            raise
        if self.read_only:
            if state == "empty":
                con.close()
                raise StoreError(f"the store {self.path} is read-only and holds no results; pass --store elsewhere")
            self._con = con
            return
        con.close()
        self._con = sqlite3.connect(self.path, timeout=60.0, isolation_level=None)
        self._prepare(state)

    def _prepare(self, state: str) -> None:
        """Create the tables of an empty store and stamp it (or stamp a legacy one), then turn on WAL."""
        con = self._con
        if state != "current":
            con.execute("BEGIN IMMEDIATE")
            try:
                state = self._state(con)  # again under the lock: another process may have created it
                if state == "empty":
                    for stmt in _SCHEMA.split(";"):  # one by one: executescript would commit first
                        if stmt.strip():
                            con.execute(stmt)
                if state != "current":  # empty (just created) or legacy (migrated by stamping)
                    con.execute(f"PRAGMA application_id={APPLICATION_ID}")
                    con.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
                con.execute("COMMIT")
            except BaseException:
                self._rollback()
                raise
        con.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode survives a killed process (not a power cut) and is much faster than FULL
        con.execute("PRAGMA synchronous=NORMAL")

    @contextlib.contextmanager
    def _sql(self, doing: str) -> Iterator[None]:
        """Turn the SQLite failures a user can act on into one-line StoreErrors naming the store."""
        try:
            yield
        except sqlite3.Error as exc:
            self._rollback()
            err = self._error(exc, doing)
            if err is None:
                raise
            raise err from None

    def _error(self, exc: sqlite3.Error, doing: str) -> StoreError | None:
        name = getattr(exc, "sqlite_errorname", "") or ""
        where = f"the store {self.path}"
        if name == "SQLITE_FULL" or "disk is full" in str(exc):
            return StoreError(f"no space left on device writing {where}; free some space or pass --store elsewhere")
        if name.startswith("SQLITE_READONLY"):
            return StoreError(f"{where} is read-only; results cannot be stored: pass --store elsewhere")
        if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
            return StoreError(f"{where} is locked by another process (waited 60 s); wait for it or pass --store elsewhere")
        if name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")):
            return StoreError(f"{where} is damaged or not an SQLite database; move it away or pass --store elsewhere")
        if name.startswith("SQLITE_IOERR"):
            return StoreError(f"input/output error {doing} {where} ({exc}); check the disk or pass --store elsewhere")
        if name.startswith(("SQLITE_CANTOPEN", "SQLITE_PERM", "SQLITE_AUTH")):
            return StoreError(f"cannot open {where} ({exc}); check its permissions or pass --store elsewhere")
        return None  # anything else is a bug of ours, reported as such

    def _rollback(self) -> None:
        """Roll back an open transaction; SQLite may already have (e.g. after a full disk)."""
        con = self._con
        if con is not None and con.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                con.execute("ROLLBACK")

    def require_writable(self, n: int | None = None) -> None:
        """Refuse, before scoring, to compute `n` candidates whose results a read-only store cannot keep
        (n None: refuse any write)."""
        if self.read_only and n is None:
            raise StoreError(f"results cannot be stored: the store {self.path} is read-only; pass --store elsewhere")
        if self.read_only and n:
            raise StoreError(f"{n} candidate(s) must be scored but the store {self.path} is read-only, so the results "
                             "cannot be stored; pass --store elsewhere (a read-only store serves cached results only)")

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
        with self._sql("reading"):
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
        proxies = list(proxies)
        have = self.get_scores(content_hash, settings_key, proxies)
        return [p for p in proxies if p not in have or (retry_failed and have[p]["status"] != "ok")]

    def put_candidate(self, content_hash: str, settings_key: str, model: str,
                      scores: Mapping[str, float | None], errors: Mapping[str, str],
                      info: Mapping | None = None,
                      metrics: Iterable[tuple[str, str, object, str, str | None]] = ()) -> None:
        """Write one candidate's proxy rows and metric rows in a single transaction (all or nothing)."""
        self.require_writable()
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
        with self._sql("writing"):
            con.execute("BEGIN IMMEDIATE")
            try:
                con.executemany("INSERT OR REPLACE INTO scores VALUES (?,?,?,?,?,?,?,?,?)", rows)
                con.executemany("INSERT OR REPLACE INTO metrics VALUES (?,?,?,?,?,?,?)", mrows)
                con.execute("COMMIT")
            except BaseException:
                self._rollback()
                raise

    # ------------------------------------------------------------------ metrics
    def get_metric(self, content_hash: str, metric: str, settings_key: str) -> dict | None:
        """Stored metric {value, status, error} or None."""
        with self._sql("reading"):
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
        if table not in _TABLES:
            raise ValueError(table)
        with self._sql("reading"):
            return int(self._con.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])

    def rows(self, table: str = "scores") -> list[dict]:
        """All rows of a table as dicts (for tests and export)."""
        if table not in _TABLES:
            raise ValueError(table)
        with self._sql("reading"):
            cur = self._con.execute(f"SELECT * FROM {table} ORDER BY created_at")
            cols = [d[0] for d in cur.description]
            return [dict(zip(cols, r)) for r in cur.fetchall()]
