"""The rank cache key covers a model's external-data files; where external data is looked for (beside
the path as given, a symlink's folder, as onnx and onnxruntime do); devices and FIFOs are refused unread."""
from __future__ import annotations

import os
import threading

import onnx
import pytest

from onnxscore.cli.main import main
from onnxscore.errors import InputError, ModelLoadError
from onnxscore.loaders import external_data_files, load_model
from onnxscore.engine import RankSettings, file_candidates, file_key, rank
from onnxscore.store import file_hash
from tests.models import ConvNet

SCORER = {"batch_size": 8}


def save_external(model: onnx.ModelProto, path, location="weights.bin") -> None:
    onnx.save(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
              location=location, size_threshold=0)


@pytest.fixture()
def ext_model(tmp_path):
    """A ConvNet whose every initializer lives in weights.bin beside model.onnx."""
    d = tmp_path / "m"
    d.mkdir()
    save_external(ConvNet(seed=0).onnx(), d / "model.onnx")
    return d / "model.onnx"


def replace_weights(model_path, seed: int) -> None:
    """Write other weights into the external file, the .onnx file staying byte for byte the same
    (same tensor sizes, so the offsets in the model are unchanged)."""
    before = model_path.read_bytes()
    tmp = model_path.parent / "tmp"
    tmp.mkdir()
    save_external(ConvNet(seed=seed).onnx(), tmp / "model.onnx")
    assert (tmp / "model.onnx").read_bytes() == before
    os.replace(tmp / "weights.bin", model_path.parent / "weights.bin")


def test_key_covers_the_external_file_and_only_it(ext_model):
    k0 = file_key(ext_model)
    assert k0 != file_hash(ext_model)  # not the .onnx bytes alone
    assert file_key(ext_model) == k0  # deterministic
    replace_weights(ext_model, seed=1)
    assert file_key(ext_model) != k0
    (ext_model.parent / "weights.bin").unlink()
    assert file_key(ext_model) not in (k0, file_hash(ext_model))  # a missing file is part of the key too


def test_self_contained_models_keep_the_plain_file_hash(tmp_path):
    p = tmp_path / "inline.onnx"
    onnx.save(ConvNet().onnx(), str(p))
    assert file_key(p) == file_hash(p)  # keys of existing stores stay valid


def test_changed_weights_are_rescored_unchanged_ones_come_from_the_cache(ext_model, tmp_path):
    store = tmp_path / "r.sqlite"
    settings = RankSettings(proxies=("epads",), scorer=SCORER)

    def run():
        return rank(file_candidates([ext_model]), settings, store=store, workers=0, progress=False)

    first = run()
    assert first.scored == 1 and first.rows[0]["status"] == "ok"
    again = run()
    assert again.scored == 0 and again.cached == 1 and again.rows[0]["epads"] == first.rows[0]["epads"]
    replace_weights(ext_model, seed=1)
    changed = run()
    assert changed.scored == 1 and changed.cached == 0
    assert changed.rows[0]["epads"] != first.rows[0]["epads"]  # really scored with the new weights


def test_external_files_are_listed_in_location_order(tmp_path):
    m = ConvNet().onnx()
    for i, t in enumerate(m.graph.initializer):  # two files, named so that sorted order != tensor order
        onnx.external_data_helper.set_external_data(t, location="b.bin" if i % 2 else "a.bin")
    (tmp_path / "two.onnx").write_bytes(m.SerializeToString())  # only the references: no data file
    files = external_data_files(tmp_path / "two.onnx")
    assert [loc for loc, _ in files] == ["a.bin", "b.bin"]
    assert all(os.path.isabs(f) and os.path.dirname(f) == str(tmp_path) for _, f in files)


# ---------------------------------------------------------------- symlinked models

def test_a_symlinked_model_reads_its_data_beside_the_link(ext_model, tmp_path):
    """onnx.load, onnx.checker and onnxruntime resolve locations from the folder of the path given;
    onnxscore does the same, so the link's folder must hold the data (a copy: onnx refuses linked data)."""
    links = tmp_path / "links"
    links.mkdir()
    (links / "model.onnx").symlink_to(ext_model)
    with pytest.raises(ModelLoadError, match="missing beside the model.*symlinked model.*beside the link"):
        load_model(links / "model.onnx")
    with pytest.raises(onnx.checker.ValidationError):  # what onnx itself does with the same path
        onnx.checker.check_model(str(links / "model.onnx"))
    (links / "weights.bin").write_bytes((ext_model.parent / "weights.bin").read_bytes())
    loaded = load_model(links / "model.onnx")
    assert loaded.external_dir == str(links)
    onnx.checker.check_model(str(links / "model.onnx"))  # and onnx agrees
    assert main([str(links / "model.onnx"), "-b", "8", "--json"]) == 0


def test_a_symlinked_data_file_is_refused_with_the_reason(ext_model, tmp_path):
    links = tmp_path / "links"
    links.mkdir()
    (links / "model.onnx").symlink_to(ext_model)
    (links / "weights.bin").symlink_to(ext_model.parent / "weights.bin")
    with pytest.raises(ModelLoadError, match="symbolic link"):
        load_model(links / "model.onnx")


def test_the_cache_key_follows_the_same_folder(ext_model, tmp_path):
    links = tmp_path / "links"
    links.mkdir()
    (links / "model.onnx").symlink_to(ext_model)
    no_data = file_key(links / "model.onnx")
    (links / "weights.bin").write_bytes((ext_model.parent / "weights.bin").read_bytes())
    assert file_key(links / "model.onnx") != no_data
    assert file_key(links / "model.onnx") == file_key(ext_model)  # same bytes everywhere: same key


# ---------------------------------------------------------------- devices and FIFOs

def _fifo(tmp_path):
    p = tmp_path / "pipe.onnx"
    os.mkfifo(p)
    return p


def _finishes(fn, seconds=20.0):
    """Run fn in a thread; fail the test (instead of hanging) if it blocks on a read."""
    out = {}

    def target():
        try:
            out["value"] = fn()
        except BaseException as exc:  # noqa: BLE001
            out["error"] = exc

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(seconds)
    assert not t.is_alive(), "blocked reading a FIFO or device"
    return out


@pytest.mark.parametrize("kind", ["fifo", "/dev/zero"])
def test_devices_and_fifos_are_refused_without_reading(tmp_path, kind):
    path = _fifo(tmp_path) if kind == "fifo" else "/dev/zero"
    got = _finishes(lambda: load_model(path))
    assert isinstance(got.get("error"), ModelLoadError) and "not a model file" in str(got["error"])
    got = _finishes(lambda: file_candidates([path]))
    assert isinstance(got.get("error"), InputError) and "not a model file" in str(got["error"])


def test_external_data_naming_a_device_is_not_read(tmp_path):
    m = ConvNet().onnx()
    t = m.graph.initializer[0]
    onnx.external_data_helper.set_external_data(t, location="zero")
    (tmp_path / "dev.onnx").write_bytes(m.SerializeToString())
    os.symlink("/dev/zero", tmp_path / "zero")
    got = _finishes(lambda: file_key(tmp_path / "dev.onnx"))
    assert isinstance(got.get("value"), str)
    got = _finishes(lambda: load_model(tmp_path / "dev.onnx"))
    assert isinstance(got.get("error"), ModelLoadError)


def test_cli_dev_zero_is_one_line(capsys):
    code = main(["/dev/zero"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "is a character device, not a model file" in err

