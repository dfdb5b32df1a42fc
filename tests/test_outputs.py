"""Output files: refused before any work (exists without force, a file the run reads, a bad folder),
written atomically (a failed write leaves the previous file byte for byte)."""
from __future__ import annotations

import errno
import os

import onnx
import pytest

from onnxscore import outputs
from onnxscore.errors import OutputError
from onnxscore.outputs import atomic_path, check_outputs, model_files, run_inputs, store_files, write_bytes, write_text
from tests.models import ConvNet


def leftovers(folder) -> list[str]:
    return sorted(n for n in os.listdir(folder) if n.startswith(".onnxscore-"))


# ---------------------------------------------------------------- the check before the work

def test_existing_file_needs_force(tmp_path):
    out = tmp_path / "o.csv"
    check_outputs({"--csv": out}, force=False)  # absent: fine
    out.write_text("mine")
    with pytest.raises(OutputError, match=r"--csv .*o\.csv already exists; pass --force"):
        check_outputs({"--csv": out}, force=False)
    check_outputs({"--csv": out}, force=True)
    assert out.read_text() == "mine"  # checking never writes


def test_an_input_is_refused_even_with_force_by_path_symlink_or_hard_link(tmp_path):
    model = tmp_path / "m.onnx"
    model.write_bytes(b"model")
    (tmp_path / "link.onnx").symlink_to(model)
    os.link(model, tmp_path / "hard.onnx")
    reads = {str(model): f"the model {model}"}
    for name in ("m.onnx", "link.onnx", "hard.onnx"):
        with pytest.raises(OutputError, match="is the model .*never overwritten, even with --force"):
            check_outputs({"--json": tmp_path / name}, force=True, inputs=reads)
    assert model.read_bytes() == b"model"


def test_external_data_and_store_files_are_inputs(tmp_path):
    m = tmp_path / "m.onnx"
    onnx.save(ConvNet().onnx(), str(m), save_as_external_data=True, location="m.bin", size_threshold=0)
    files = model_files(m)
    assert files == {str(m): f"the model {m}", str(tmp_path / "m.bin"): f"external data of {m}"}
    store = tmp_path / "r.sqlite"
    assert set(store_files(store)) == {str(store), f"{store}-wal", f"{store}-shm", f"{store}-journal"}
    reads = run_inputs([m], store=store, outputs={"--json": tmp_path / "m.bin"})
    with pytest.raises(OutputError, match="external data of"):
        check_outputs({"--json": tmp_path / "m.bin"}, force=True, inputs=reads)
    with pytest.raises(OutputError, match="the result store"):
        check_outputs({"--csv": store}, force=True, inputs=reads)
    with pytest.raises(OutputError, match="journal file of the result store"):
        check_outputs({"--csv": f"{store}-wal"}, force=True, inputs=reads)


def test_external_data_is_looked_up_only_when_an_output_exists(tmp_path, monkeypatch):
    m = tmp_path / "m.onnx"
    m.write_bytes(b"x")
    calls = []
    monkeypatch.setattr(outputs, "model_files", lambda p: calls.append(p) or {str(p): "the model"})
    run_inputs([m], outputs={"--csv": tmp_path / "new.csv"})
    assert calls == []  # a file that does not exist yet cannot be one the run reads
    (tmp_path / "old.csv").write_text("x")
    run_inputs([m], outputs={"--csv": tmp_path / "old.csv"})
    assert calls == [m]


def test_two_outputs_naming_one_file(tmp_path):
    with pytest.raises(OutputError, match="--csv and --json both name"):
        check_outputs({"--csv": tmp_path / "x", "--json": tmp_path / "x"}, force=True)


def test_folder_missing_not_writable_or_a_directory(tmp_path, monkeypatch):
    with pytest.raises(OutputError, match="its folder .*nope does not exist"):
        check_outputs({"-o": tmp_path / "nope" / "r.json"}, force=False)
    with pytest.raises(OutputError, match="is a directory"):
        check_outputs({"-o": tmp_path}, force=True)
    # tests run as root, where chmod does not stop writes: simulate what os.access reports for a user
    real_access = os.access
    monkeypatch.setattr(outputs.os, "access", lambda p, m: False if str(p) == str(tmp_path) else real_access(p, m))
    with pytest.raises(OutputError, match="is not writable"):
        check_outputs({"-o": tmp_path / "r.json"}, force=False)


def test_a_device_is_written_in_place_and_never_replaced(tmp_path):
    check_outputs({"--json": "/dev/null"}, force=False)  # no --force needed: it is not a file to lose
    write_text("/dev/null", "ignored")
    assert os.path.exists("/dev/null") and not os.path.isfile("/dev/null")  # still the device


# ---------------------------------------------------------------- atomic writes

def test_write_replaces_atomically_and_keeps_the_mode(tmp_path):
    out = tmp_path / "o.csv"
    out.write_text("old")
    os.chmod(out, 0o640)
    write_text(out, "new,content\n")
    assert out.read_text() == "new,content\n"
    assert (os.stat(out).st_mode & 0o777) == 0o640
    assert leftovers(tmp_path) == []


def test_without_force_a_file_that_appeared_meanwhile_is_kept(tmp_path):
    out = tmp_path / "o.json"
    out.write_text("theirs")
    with pytest.raises(OutputError, match="already exists"):
        write_text(out, "ours", force=False)
    assert out.read_text() == "theirs" and leftovers(tmp_path) == []
    write_text(tmp_path / "fresh.json", "ours", force=False)
    assert (tmp_path / "fresh.json").read_text() == "ours"


def test_writing_through_a_symlink_keeps_the_link(tmp_path):
    target = tmp_path / "real.csv"
    target.write_text("old")
    (tmp_path / "link.csv").symlink_to(target)
    write_text(tmp_path / "link.csv", "new")
    assert (tmp_path / "link.csv").is_symlink() and target.read_text() == "new"


def test_full_disk_during_fsync_leaves_the_original(tmp_path, monkeypatch):
    out = tmp_path / "o.csv"
    out.write_text("precious")

    def no_space(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(outputs.os, "fsync", no_space)
    with pytest.raises(OutputError) as e:
        write_text(out, "x" * 10000)
    assert str(e.value) == f"no space left on device writing {out}; the existing {out} is unchanged"
    monkeypatch.undo()
    assert out.read_text() == "precious" and leftovers(tmp_path) == []


def test_library_writer_failure_removes_the_temporary_file(tmp_path):
    out = tmp_path / "p.png"
    with pytest.raises(ValueError):
        with atomic_path(out) as tmp:
            assert tmp.endswith(".png") and os.path.dirname(tmp) == str(tmp_path)  # matplotlib's format
            raise ValueError("the library failed")
    assert not out.exists() and leftovers(tmp_path) == []


def test_dev_full_names_the_disk_problem():
    with pytest.raises(OutputError, match="^no space left on device writing /dev/full$"):
        write_bytes("/dev/full", b"x" * 4096)


@pytest.fixture()
def tiny_disk(tmpfs):
    """A 64 KiB tmpfs."""
    return tmpfs(64)


def test_real_full_disk_leaves_the_original(tiny_disk):
    out = tiny_disk / "o.csv"
    out.write_text("precious\n" * 1000)
    with pytest.raises(OutputError, match=r"^no space left on device writing .*o\.csv; the existing .* is unchanged"):
        write_text(out, "row\n" * 100000)  # 400 kB into 64 kB
    assert out.read_text() == "precious\n" * 1000
    assert leftovers(tiny_disk) == []  # the space is given back too
