"""The result store refuses files that are not onnxscore stores (and leaves them untouched), stamps and
accepts stores of the current layout written before the stamp, serves cached results read-only, and
names the disk when it is full."""
from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import subprocess

import pytest

from onnxscore import store as store_mod
from onnxscore.errors import StoreError
from onnxscore.engine import RankSettings, file_candidates, rank
from onnxscore.store import _SCHEMA, APPLICATION_ID, SCHEMA_VERSION, ResultStore
from tests.models import ConvNet


def digest(path) -> str:
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def folder_listing(path) -> list[str]:
    return sorted(os.listdir(os.path.dirname(path)))


def make_db(path, *statements, user_version=0):
    con = sqlite3.connect(path)
    for s in statements:
        con.execute(s)
    if user_version:
        con.execute(f"PRAGMA user_version={user_version}")
    con.commit()
    con.close()


def stamp(path) -> tuple[int, int]:
    con = sqlite3.connect(path)
    try:
        return (con.execute("PRAGMA application_id").fetchone()[0], con.execute("PRAGMA user_version").fetchone()[0])
    finally:
        con.close()


# ---------------------------------------------------------------- refusing other files

@pytest.mark.parametrize("make,needle", [
    (lambda p: open(p, "w").write("my notes\n" * 50), "not an SQLite database"),
    (lambda p: make_db(p, "CREATE TABLE users (id INTEGER, name TEXT)"), "tables: users"),
    (lambda p: make_db(p, "CREATE TABLE scores (player TEXT, points INTEGER)"), "tables: scores"),
    (lambda p: make_db(p, "PRAGMA application_id=1234"), "another application's"),
    (lambda p: make_db(p, "CREATE TABLE t (x)", user_version=3), "user_version 3"),
])
def test_a_file_that_is_not_an_onnxscore_store_is_refused_and_untouched(tmp_path, make, needle):
    p = tmp_path / "other.db"
    make(str(p))
    before, listing = digest(p), folder_listing(p)
    with pytest.raises(StoreError, match=needle) as e:
        ResultStore(p)
    assert "left untouched" in str(e.value) and "\n" not in str(e.value)
    assert digest(p) == before and folder_listing(p) == listing  # no WAL, no journal, no tables added


def test_another_onnxscore_schema_version_is_refused(tmp_path):
    p = tmp_path / "r.sqlite"
    ResultStore(p).close()
    make_db(p, user_version=SCHEMA_VERSION + 1)
    before = digest(p)
    with pytest.raises(StoreError, match="newer onnxscore"):
        ResultStore(p)
    assert digest(p) == before


def test_a_new_store_is_stamped(tmp_path):
    p = tmp_path / "r.sqlite"
    ResultStore(p).close()
    assert stamp(p) == (APPLICATION_ID, SCHEMA_VERSION)


def test_a_store_from_before_the_stamp_is_migrated_with_its_rows(tmp_path):
    p = tmp_path / "old.sqlite"
    con = sqlite3.connect(p)
    con.executescript(_SCHEMA)  # exactly what the previous onnxscore created
    con.execute("INSERT INTO scores VALUES ('h', 'epads', 'k', 'm.onnx', 1.5, 'ok', NULL, NULL, 0)")
    con.commit()
    con.close()
    assert stamp(p) == (0, 0)
    with ResultStore(p) as st:
        assert st.get_scores("h", "k", ["epads"])["epads"]["score"] == 1.5
    assert stamp(p) == (APPLICATION_ID, SCHEMA_VERSION)
    with ResultStore(p) as st:  # and it opens as a current store afterwards
        assert st.count() == 1


def test_non_files(tmp_path):
    with pytest.raises(StoreError, match="is a directory"):
        ResultStore(tmp_path)
    with pytest.raises(StoreError, match="not a regular file"):
        ResultStore("/dev/zero")


# ---------------------------------------------------------------- read-only stores

@pytest.fixture()
def filled(tmp_path):
    p = tmp_path / "r.sqlite"
    with ResultStore(p) as st:
        st.put_candidate("h", "k", "m.onnx", {"epads": 2.5}, {})
    return p


def pretend_read_only(monkeypatch, path):
    """Tests run as root, where chmod 444 does not stop writes: report the store as unwritable the way
    os.access does for a user (the store then opens SQLite with mode=ro, which SQLite enforces for root too)."""
    real = os.access
    targets = {str(path), str(os.path.dirname(path))}
    monkeypatch.setattr(store_mod.os, "access",
                        lambda p, mode: False if (mode & os.W_OK and str(p) in targets) else real(p, mode))


def test_a_read_only_store_serves_cached_rows_and_refuses_writes(filled, monkeypatch):
    pretend_read_only(monkeypatch, filled)
    before = digest(filled)
    with ResultStore(filled) as st:
        assert st.read_only
        assert st.get_scores("h", "k", ["epads"])["epads"]["score"] == 2.5
        assert st.missing_proxies("h", "k", ["epads", "naswot"]) == ["naswot"]
        st.require_writable(0)  # nothing to score: fine
        with pytest.raises(StoreError, match="must be scored but the store .* is read-only"):
            st.require_writable(3)
        with pytest.raises(StoreError, match="results cannot be stored: the store .* is read-only"):
            st.put_candidate("h2", "k", "n.onnx", {"epads": 1.0}, {})
        with pytest.raises(sqlite3.OperationalError, match="readonly"):  # SQLite itself refuses too
            st._con.execute("DELETE FROM scores")
    assert digest(filled) == before


def test_read_only_store_cannot_be_created(tmp_path, monkeypatch):
    pretend_read_only(monkeypatch, tmp_path / "new.sqlite")
    with pytest.raises(StoreError, match="cannot be created here"):
        ResultStore(tmp_path / "new.sqlite")
    assert not (tmp_path / "new.sqlite").exists()


def test_rank_serves_a_read_only_store_and_refuses_new_work_before_scoring(tmp_path, monkeypatch):
    model = tmp_path / "m.onnx"
    model.write_bytes(ConvNet().onnx().SerializeToString())
    store = tmp_path / "r.sqlite"
    calls = []

    def score_fn(model, proxies, scorer):
        calls.append(1)
        return {"scores": {p: 1.0 for p in proxies}, "errors": {}}

    settings = RankSettings(proxies=("epads",), scorer={"batch_size": 8}, score_fn=score_fn)
    rank(file_candidates([model]), settings, store=store, workers=0, progress=False)
    assert len(calls) == 1
    pretend_read_only(monkeypatch, store)
    res = rank(file_candidates([model]), settings, store=store, workers=0, progress=False)
    assert res.cached == 1 and res.rows[0]["epads"] == 1.0 and len(calls) == 1
    other = tmp_path / "n.onnx"
    other.write_bytes(ConvNet(seed=5).onnx().SerializeToString())
    with pytest.raises(StoreError, match="1 candidate"):
        rank(file_candidates([model, other]), settings, store=store, workers=0, progress=False)
    assert len(calls) == 1  # refused before any scoring


@pytest.fixture()
def ro_mount(tmp_path):
    """A read-only bind mount of a folder holding a filled store (root can make one); else skipped."""
    src, dst = tmp_path / "src", tmp_path / "ro"
    src.mkdir()
    dst.mkdir()
    with ResultStore(src / "r.sqlite") as st:
        st.put_candidate("h", "k", "m.onnx", {"epads": 2.5}, {})
    if shutil.which("mount") is None:
        pytest.skip("no mount command here")
    r = subprocess.run(["mount", "--bind", str(src), str(dst)], capture_output=True)
    if r.returncode != 0:
        pytest.skip(f"cannot bind-mount here: {r.stderr.decode().strip()}")
    try:
        r = subprocess.run(["mount", "-o", "remount,ro,bind", str(dst)], capture_output=True)
        if r.returncode != 0:
            pytest.skip(f"cannot remount read-only here: {r.stderr.decode().strip()}")
        yield dst / "r.sqlite"
    finally:
        subprocess.run(["umount", str(dst)], check=False)


def test_a_store_on_a_read_only_mount(ro_mount):
    """No simulation: the folder really cannot be written (no -shm can be created beside the store)."""
    with ResultStore(ro_mount) as st:
        assert st.read_only and st.get_scores("h", "k", ["epads"])["epads"]["score"] == 2.5
        with pytest.raises(StoreError, match="read-only"):
            st.put_candidate("h2", "k", "n", {"epads": 1.0}, {})


# ---------------------------------------------------------------- full disk

def test_full_store_names_the_disk_and_keeps_what_was_committed(tmp_path):
    p = tmp_path / "r.sqlite"
    with ResultStore(p) as st:
        st.put_candidate("h0", "k", "m", {"epads": 1.0}, {})
        pages = st._con.execute("PRAGMA page_count").fetchone()[0]
        st._con.execute(f"PRAGMA max_page_count={pages}")  # SQLite's own SQLITE_FULL, as on a full disk
        with pytest.raises(StoreError) as e:
            for i in range(1, 1000):
                st.put_candidate(f"h{i}", "k" * 500, "m" * 500, {"epads": 1.0}, {"naswot": "x" * 2000})
        assert str(e.value) == f"no space left on device writing the store {p}; free some space or pass --store elsewhere"
        assert not st._con.in_transaction  # rolled back: no "cannot rollback" masking the cause
        assert st.get_scores("h0", "k", ["epads"])["epads"]["score"] == 1.0


@pytest.fixture()
def tiny_disk(tmpfs):
    """A 96 KiB tmpfs."""
    return tmpfs(96)


def test_store_on_a_really_full_disk(tiny_disk):
    p = tiny_disk / "r.sqlite"
    with pytest.raises(StoreError, match="^no space left on device writing the store"):
        with ResultStore(p) as st:
            for i in range(10000):
                st.put_candidate(f"h{i}", "k" * 200, "m" * 200, {"epads": 1.0}, {"naswot": "x" * 2000})
    with ResultStore(p) as st:  # what was committed is still there
        assert st.count() >= 1


# ---------------------------------------------------------------- evaluate on a read-only store

def test_evaluate_answers_from_a_read_only_store(tmp_path, monkeypatch):
    import numpy as np
    import onnx

    from onnxscore import evaluation as ev

    rows = ["model,accuracy"]
    for i in range(2):
        onnx.save(ConvNet(seed=i).onnx(), str(tmp_path / f"n{i}.onnx"))
        rows.append(f"n{i}.onnx,{50 + i}")
    (tmp_path / "acc.csv").write_text("\n".join(rows) + "\n")
    np.save(tmp_path / "b.npy", np.random.default_rng(0).standard_normal((8, 3, 6, 6)).astype(np.float32))
    kw = dict(proxies="epads", batch_size=8, data=str(tmp_path / "b.npy"), workers=0, progress=False,
              store=str(tmp_path / "r.sqlite"))
    first = ev.evaluate_csv(tmp_path / "acc.csv", **kw)
    pretend_read_only(monkeypatch, tmp_path / "r.sqlite")
    again = ev.evaluate_csv(tmp_path / "acc.csv", **kw)
    assert again.scored == 0 and again.results == first.results


def test_the_image_batch_goes_to_a_temporary_folder_beside_a_read_only_store(ro_mount, shared_data):
    import numpy as np

    from onnxscore.evaluation import image_batch

    path, _ = image_batch(ro_mount.parent / "batches", 8, 3)
    assert not path.startswith(str(ro_mount.parent)) and np.load(path).shape == (8, 3, 32, 32)
