"""SQLite result store: keys, failures, persistence, metrics."""
from __future__ import annotations

import sqlite3

from onnxscore.store import ResultStore, canonical_json, content_hash, file_hash


def test_roundtrip_and_missing(tmp_path):
    path = tmp_path / "s" / "r.sqlite"  # parent folder is created
    key = canonical_json({"seed": 0, "batch_size": 128})
    with ResultStore(path) as st:
        assert st.missing_proxies("h1", key, ["epads", "naswot"]) == ["epads", "naswot"]
        st.put_candidate("h1", key, "a.onnx", {"epads": 1.5}, {})
        assert st.missing_proxies("h1", key, ["epads", "naswot"]) == ["naswot"]
        other = canonical_json({"seed": 1, "batch_size": 128})
        assert st.missing_proxies("h1", other, ["epads"]) == ["epads"]  # settings are part of the key
        got = st.get_scores("h1", key, ["epads"])
        assert got["epads"]["score"] == 1.5 and got["epads"]["status"] == "ok"
    with ResultStore(path) as st:  # persisted
        assert st.count() == 1
        mode = st._con.execute("PRAGMA journal_mode").fetchone()[0]
        assert mode.lower() == "wal"


def test_failures_are_recorded_and_retryable(tmp_path):
    with ResultStore(tmp_path / "r.sqlite") as st:
        st.put_candidate("bad", "k", "bad.onnx", {"epads": None}, {"epads": "not an ONNX model"})
        row = st.get_scores("bad", "k", ["epads"])["epads"]
        assert row["status"] == "error" and row["error"] == "not an ONNX model" and row["score"] is None
        assert st.missing_proxies("bad", "k", ["epads"]) == []
        assert st.missing_proxies("bad", "k", ["epads"], retry_failed=True) == ["epads"]
        st.put_candidate("bad", "k", "bad.onnx", {"epads": 2.0}, {})  # a retry replaces the row
        assert st.count() == 1 and st.get_scores("bad", "k", ["epads"])["epads"]["status"] == "ok"


def test_metrics_and_atomic_candidate(tmp_path):
    p = tmp_path / "r.sqlite"
    with ResultStore(p) as st:
        st.put_candidate("h", "k", "m", {"epads": 1.0}, {}, info={"sites": 3},
                         metrics=[("edge", "e", {"params": 10, "macs": 20}, "ok", None)])
        assert st.get_metric("h", "edge", "e")["value"] == {"params": 10, "macs": 20}
        assert st.get_metric("h", "edge", "other") is None
        assert st.get_scores("h", "k", ["epads"])["epads"]["info"] == {"sites": 3}
    # another connection sees committed rows (what a resumed run relies on)
    con = sqlite3.connect(p)
    assert con.execute("SELECT COUNT(*) FROM scores").fetchone()[0] == 1
    assert con.execute("SELECT COUNT(*) FROM metrics").fetchone()[0] == 1
    con.close()


def test_hashes(tmp_path):
    f = tmp_path / "m.bin"
    f.write_bytes(b"abc" * 1000)
    assert file_hash(f) == content_hash(b"abc" * 1000)
    assert canonical_json({"b": 1, "a": [1, 2]}) == canonical_json({"a": [1, 2], "b": 1})
